// The counter-based perturbation RNG: the twin of shaders/rng.wgsl (see there for the maths).
// philox4x32 gives the same words bit for bit; zoNormal / zoNormal4 evaluate the same f32
// formulas (integer range reduction, short polynomials, no fused multiply-add), so Z is the same
// stream on both backends. Twins that perturb or update B import from here.

const M0: u64 = 0xD2511F53;
const M1: u64 = 0xCD9E8D57;
const W0: u32 = 0x9E3779B9;
const W1: u32 = 0xBB67AE85;
const LN2: f32 = <f32>0.6931471805599453;
const PI_2_24: f32 = <f32>(3.141592653589793 / 16777216.0);

/** Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1): the four words as i32x4 lanes. */
export function philox4x32(c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32): v128 {
  for (let i = 0; i < 10; i++) {
    const p0 = M0 * <u64>c0;
    const p1 = M1 * <u64>c2;
    const n0 = <u32>(p1 >> 32) ^ c1 ^ k0;
    const n2 = <u32>(p0 >> 32) ^ c3 ^ k1;
    c1 = <u32>p1;
    c3 = <u32>p0;
    c0 = n0;
    c2 = n2;
    k0 += W0;
    k1 += W1;
  }
  let v = i32x4.splat(<i32>c0);
  v = i32x4.replace_lane(v, 1, <i32>c1);
  v = i32x4.replace_lane(v, 2, <i32>c2);
  return i32x4.replace_lane(v, 3, <i32>c3);
}

/** ln u(a), u(a) = (2m + 1) / 2^25, m = a >> 8 (rng_log_u). */
function logU(a: u32): f32 {
  const w: u32 = ((a >> 8) << 1) | 1;
  let k: u32 = 31 - clz<u32>(w);
  if (<f32>w > <f32>1.4142135 * <f32>(<u32>1 << k)) k += 1;
  const p: u32 = <u32>1 << k;
  const s: f32 = <f32>(<i32>w - <i32>p) / <f32>(w + p);
  const z: f32 = s * s;
  const poly: f32 = <f32>1.0 + z * (<f32>(1.0 / 3.0) + z * (<f32>(1.0 / 5.0) + z * (<f32>(1.0 / 7.0) + z * <f32>(1.0 / 9.0))));
  const atanh2: f32 = <f32>2.0 * s * poly;
  return <f32>(<i32>k - 25) * LN2 + atanh2;
}

// (cos, sin) of 2 pi u(b) (rng_cos_sin_2pi_u), left in these two globals (no tuples in AS).
let cosOut: f32 = 0;
let sinOut: f32 = 0;

function cosSin2PiU(b: u32): void {
  const m: u32 = b >> 8;
  const j: u32 = (m + (<u32>1 << 21)) >> 22;
  const d: i32 = <i32>((m << 1) | 1) - <i32>(j << 23);
  const phi: f32 = <f32>d * PI_2_24;
  const x: f32 = phi * phi;
  const s: f32 = phi * (<f32>1.0 + x * (<f32>(-1.0 / 6.0) + x * (<f32>(1.0 / 120.0) + x * (<f32>(-1.0 / 5040.0) + x * <f32>(1.0 / 362880.0)))));
  const c: f32 = <f32>1.0 + x * (<f32>-0.5 + x * (<f32>(1.0 / 24.0) + x * (<f32>(-1.0 / 720.0) + x * (<f32>(1.0 / 40320.0) + x * <f32>(-1.0 / 3628800.0)))));
  const q = j & 3;
  if (q == 0) {
    cosOut = c;
    sinOut = s;
  } else if (q == 1) {
    cosOut = -s;
    sinOut = c;
  } else if (q == 2) {
    cosOut = -c;
    sinOut = -s;
  } else {
    cosOut = s;
    sinOut = -c;
  }
}

/** Lane `lane & 1` of the Box-Muller pair of words (a, b) (rng_box_muller). */
// @ts-ignore: decorator
@inline function boxMuller(a: u32, b: u32, lane: u32): f32 {
  const r: f32 = Mathf.sqrt(<f32>-2.0 * logU(a));
  cosSin2PiU(b);
  return r * ((lane & 1) == 0 ? cosOut : sinOut);
}

/** Elements 4 quad .. 4 quad + 3 of perturbation `query` of B-tensor `tensor` at step `seed` (f32x4). */
export function zoNormal4(seed: u32, tensor: u32, query: u32, quad: u32): v128 {
  const x = philox4x32(quad, query, 0, 0, seed, tensor);
  const x0 = <u32>i32x4.extract_lane(x, 0);
  const x1 = <u32>i32x4.extract_lane(x, 1);
  const x2 = <u32>i32x4.extract_lane(x, 2);
  const x3 = <u32>i32x4.extract_lane(x, 3);
  const r01: f32 = Mathf.sqrt(<f32>-2.0 * logU(x0));
  cosSin2PiU(x1);
  let v = f32x4.splat(r01 * cosOut);
  v = f32x4.replace_lane(v, 1, r01 * sinOut);
  const r23: f32 = Mathf.sqrt(<f32>-2.0 * logU(x2));
  cosSin2PiU(x3);
  v = f32x4.replace_lane(v, 2, r23 * cosOut);
  return f32x4.replace_lane(v, 3, r23 * sinOut);
}

/** Element `element` of perturbation `query` of B-tensor `tensor` at step `seed`: a standard normal. */
export function zoNormal(seed: u32, tensor: u32, query: u32, element: u32): f32 {
  const x = philox4x32(element >> 2, query, 0, 0, seed, tensor);
  const lane = element & 3;
  if (lane < 2) return boxMuller(<u32>i32x4.extract_lane(x, 0), <u32>i32x4.extract_lane(x, 1), lane);
  return boxMuller(<u32>i32x4.extract_lane(x, 2), <u32>i32x4.extract_lane(x, 3), lane);
}

/**
 * Writes elements first .. first + n - 1 of perturbation `query` of tensor `tensor` to `out`
 * (f32 at byte address out), each Philox block serving its four lanes.
 */
export function zoNormals(seed: u32, tensor: u32, query: u32, first: u32, n: u32, out: usize): void {
  let i: u32 = 0;
  // leading elements up to a block boundary
  while (i < n && ((first + i) & 3) != 0) {
    store<f32>(out + (<usize>i << 2), zoNormal(seed, tensor, query, first + i));
    i++;
  }
  for (; i + 4 <= n; i += 4) v128.store(out + (<usize>i << 2), zoNormal4(seed, tensor, query, (first + i) >> 2));
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), zoNormal(seed, tensor, query, first + i));
}
