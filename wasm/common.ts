// Helpers every twin uses: reading the ABI (binding table, Params fields) and splitting a
// dispatch's outputs into `parts` contiguous ranges (src/gpu/cpu/: one part per thread).
//
// ABI: export function ENTRY(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void
//   load<u32>(bind + 4 * i) is the address of binding i's buffer (a uniform's bytes as the WGSL
//   struct lays them out); (wx, wy, wz) the dispatch's workgroup counts; the part computes its
//   share of the outputs, in an order that does not depend on `parts`.

/** Address of binding `index` (an <entry>_B constant of params.gen.ts). */
// @ts-ignore: decorator
@inline export function binding(bind: usize, index: u32): usize {
  return <usize>load<u32>(bind + (<usize>index << 2));
}

/** A u32 field of a uniform at `p` (offset: a <file>_<Struct> constant of params.gen.ts). */
// @ts-ignore: decorator
@inline export function u32At(p: usize, offset: usize): u32 {
  return load<u32>(p + offset);
}

/** An f32 field of a uniform at `p`. */
// @ts-ignore: decorator
@inline export function f32At(p: usize, offset: usize): f32 {
  return load<f32>(p + offset);
}

/** First of the n items of part `part` of `parts` (contiguous ranges, sizes differing by at most 1). */
// @ts-ignore: decorator
@inline export function partBegin(n: u32, part: u32, parts: u32): u32 {
  return <u32>((<u64>n * <u64>part) / <u64>parts);
}

/** One past the last item of part `part` of `parts`. */
// @ts-ignore: decorator
@inline export function partEnd(n: u32, part: u32, parts: u32): u32 {
  return <u32>((<u64>n * <u64>(part + 1)) / <u64>parts);
}

/** Threads of a 1-D grid of workgroups of `wg` folded into (wx, wy): the elements it covers is min(n, this). */
// @ts-ignore: decorator
@inline export function gridThreads(wx: u32, wy: u32, wz: u32, wg: u32): u64 {
  return <u64>wx * <u64>wy * <u64>wz * <u64>wg;
}

/** min(n, threads of the grid): the elements a 1-D dispatch with a guard `i < n` writes. */
// @ts-ignore: decorator
@inline export function covered(n: u32, wx: u32, wy: u32, wz: u32, wg: u32): u32 {
  const t = gridThreads(wx, wy, wz, wg);
  return t < <u64>n ? <u32>t : n;
}

/** A quiet NaN (the WGSL kernels' marker for values that must never be read). */
// @ts-ignore: decorator
@inline export function nan32(): f32 {
  return reinterpret<f32>(<u32>0x7fc00000);
}

/** Horizontal sum of an f32x4, lanes added in the order (0 + 1) + (2 + 3). */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** sum of a[i] * b[i] over n floats at byte addresses a, b (f32x4 lanes, then the tail). */
export function dot(a: usize, b: usize, n: u32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + o + 16), v128.load(b + o + 16)));
  }
  if (i + 4 <= n) {
    const o = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    i += 4;
  }
  let s = hsum(f32x4.add(acc0, acc1));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

// ---- Per-thread scratch: the host gives each instance (one per thread) its own region once,
// through the exported setScratch (src/gpu/cpu/device.ts: 1 MiB a thread). Wasm globals are per
// instance, so a twin simply asks for its thread's region.

let scratchBase: usize = 0;
let scratchBytes: usize = 0;

/** Gives this instance (thread) its scratch region: `bytes` at `base`, owned by the host. */
export function setScratch(base: usize, bytes: usize): void {
  scratchBase = base;
  scratchBytes = bytes;
}

/** This thread's scratch region, of at least `bytes` bytes (aborts when the host gave less). */
export function scratch(bytes: usize): usize {
  if (scratchBase == 0 || bytes > scratchBytes) abort();
  return scratchBase;
}

/** Bytes of scratch this instance has. */
export function scratchSize(): usize {
  return scratchBytes;
}

/**
 * Elements of a 1-D dispatch `e = gid.x + gid.y * stride` guarded by `e < n`, with groups of `wg`
 * threads on a (wx, wy) grid: row y of the grid covers [y stride, y stride + wx wg) (clipped to n),
 * each row split into `parts` contiguous ranges. Calls body(begin, end, ctx) for this part's ranges.
 */
export function forEach1d(n: u32, stride: u32, wx: u32, wy: u32, wg: u32, part: u32, parts: u32, body: (b: u32, e: u32, ctx: usize) => void, ctx: usize): void {
  const rowLen = <u64>wx * <u64>wg;
  for (let y: u32 = 0; y < wy; y++) {
    const s = <u64>y * <u64>stride;
    if (s >= <u64>n) break;
    const end = s + rowLen < <u64>n ? s + rowLen : <u64>n;
    const len = <u32>(end - s);
    const b0 = <u32>s + partBegin(len, part, parts);
    const b1 = <u32>s + partEnd(len, part, parts);
    if (b1 > b0) body(b0, b1, ctx);
  }
}

// ---- exp on f32x4 (Cephes' expf: n = round(x log2 e), r = x - n ln 2 in two parts, a degree-5
// polynomial; |relative error| < 2e-7 over the f32 range). 2^n is applied as two factors so
// results down to the subnormals and up to FLT_MAX are right; NaN stays NaN. The scalar expf1 is
// one lane of the same computation, so a value is the same bits whichever path computed it.

// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  const xc = f32x4.max(f32x4.min(x, f32x4.splat(88.72283)), f32x4.splat(-104.0));
  const fx = f32x4.floor(f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), f32x4.splat(0.5)));
  const n = i32x4.trunc_sat_f32x4_s(fx);
  let r = f32x4.sub(xc, f32x4.mul(fx, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  const z = f32x4.mul(r, r);
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), r), f32x4.splat(1.0));
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(y, s1), s2);
}

/** exp(x) as one lane of exp4 (the same bits). */
// @ts-ignore: decorator
@inline export function expf1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** tanh(v) = sign(v) (1 - e) / (1 + e), e = exp(-2 |v|): no overflow for large |v| (swiglu.wgsl's tanhSafe). */
// @ts-ignore: decorator
@inline export function tanh4(v: v128): v128 {
  const e = exp4(f32x4.mul(f32x4.abs(v), f32x4.splat(-2.0)));
  const one = f32x4.splat(1.0);
  const t = f32x4.div(f32x4.sub(one, e), f32x4.add(one, e));
  return v128.bitselect(f32x4.neg(t), t, f32x4.lt(v, f32x4.splat(0)));
}
