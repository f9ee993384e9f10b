// rng: the counter-based perturbation RNG (an include: functions only, no bindings).
//
// Nothing stores the ZO perturbations Z: every kernel that needs an element of Z regenerates it
// from its key. The TypeScript twin is src/zo/philox.ts (philox4x32, zoNormal, zoNormals).
//
// philox4x32(ctr, key): Philox4x32-10 exactly as Salmon et al., "Parallel Random Numbers: As Easy
//   as 1, 2, 3" (SC11) and Random123's philox4x32_R(10, ctr, key). Ten rounds of
//     (hi0, lo0) = mulhilo(M0, c0);  (hi1, lo1) = mulhilo(M1, c2)
//     c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
//   with the key bumped by (W0, W1) between rounds; M0 = 0xD2511F53, M1 = 0xCD9E8D57,
//   W0 = 0x9E3779B9, W1 = 0xBB67AE85. WGSL has no mul-hi, so mulhilo goes through 16-bit limbs.
//   Random123's known-answer vectors hold (test/rng.spec.ts).
//
// zo_normal(seed, tensor, query, element): element `element` of perturbation `query` of B-tensor
//   `tensor` at step seed `seed`, a standard normal. With
//     x = philox4x32(vec4(element >> 2, query, 0, 0), vec2(seed, tensor))
//     u(a) = (f32(a >> 8) + 0.5) / 2^24                (in (0, 1), never 0 or 1)
//   it is lane (element & 3) of the Box-Muller transform of x:
//     lane 0 = r01 cos(2 pi u(x1)),  lane 1 = r01 sin(2 pi u(x1)),  r01 = sqrt(-2 ln u(x0))
//     lane 2 = r23 cos(2 pi u(x3)),  lane 3 = r23 sin(2 pi u(x3)),  r23 = sqrt(-2 ln u(x2))
//   so four consecutive elements share one Philox block (zo_normal4 returns all four).
//
// Accuracy: u(a) above 0.5 is not exactly representable in f32, and WGSL's log/cos/sin carry
// absolute error bounds (2^-21, 2^-11) that are too loose near u = 1 and across vendors. So ln u
// and the angle are reduced exactly in integer arithmetic from the 24-bit value m = a >> 8, and
// finished with short polynomials in f32: every lane is within ~1e-6 of the float64 value of the
// formula above (on any conforming device), not just of some f32 rounding of it.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const RNG_LN2: f32 = 0.6931471805599453;
const RNG_PI_2_24: f32 = 3.141592653589793 / 16777216.0; // pi / 2^24

// (hi, lo) 32-bit halves of the 64-bit product a * b.
fn philox_mulhilo(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu); // < 3 * 2^16: no overflow
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox4x32_round(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
  let p0 = philox_mulhilo(PHILOX_M0, c.x);
  let p1 = philox_mulhilo(PHILOX_M1, c.z);
  return vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}

// Philox4x32-10 of counter `ctr` under key `key`.
fn philox4x32(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key;
  for (var i = 0u; i < 10u; i++) {
    c = philox4x32_round(c, k);
    k += vec2<u32>(PHILOX_W0, PHILOX_W1);
  }
  return c;
}

// ln u(a) = ln((2m + 1) / 2^25), m = a >> 8, to a few f32 ulps (relative) over all of (0, 1).
// Write w = 2m + 1 = 2^k f with f in [sqrt(1/2), sqrt(2)): ln w = k ln 2 + 2 atanh(s),
// s = (w - 2^k) / (w + 2^k), |s| <= 0.1716; the numerator is an exact integer below 2^24.
fn rng_log_u(a: u32) -> f32 {
  let w = ((a >> 8u) << 1u) | 1u;
  var k = firstLeadingBit(w);
  if (f32(w) > 1.4142135 * f32(1u << k)) { k += 1u; }
  let p = 1u << k;
  let s = f32(i32(w) - i32(p)) / f32(w + p);
  let z = s * s;
  let atanh2 = 2.0 * s * (1.0 + z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0)))));
  return f32(i32(k) - 25) * RNG_LN2 + atanh2;
}

// (cos, sin) of 2 pi u(a) = pi (2m + 1) / 2^24. The nearest quadrant j comes off the top bits,
// the rest phi = pi D / 2^24 with D = 2m + 1 - j 2^23 an exact odd integer, |phi| <= pi / 4.
fn rng_cos_sin_2pi_u(a: u32) -> vec2<f32> {
  let m = a >> 8u;
  let j = (m + (1u << 21u)) >> 22u; // 0..4
  let d = i32((m << 1u) | 1u) - i32(j << 23u);
  let phi = f32(d) * RNG_PI_2_24;
  let x = phi * phi;
  // Taylor to phi^9 and phi^10: truncation below 2e-9 on |phi| <= pi / 4.
  let s = phi * (1.0 + x * (-1.0 / 6.0 + x * (1.0 / 120.0 + x * (-1.0 / 5040.0 + x * (1.0 / 362880.0)))));
  let c = 1.0 + x * (-0.5 + x * (1.0 / 24.0 + x * (-1.0 / 720.0 + x * (1.0 / 40320.0 + x * (-1.0 / 3628800.0)))));
  switch (j & 3u) {
    case 0u: { return vec2<f32>(c, s); }
    case 1u: { return vec2<f32>(-s, c); }
    case 2u: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}

// The Box-Muller pair of two Philox words: (r cos(2 pi u(b)), r sin(2 pi u(b))), r = sqrt(-2 ln u(a)).
fn rng_box_muller(a: u32, b: u32) -> vec2<f32> {
  return sqrt(-2.0 * rng_log_u(a)) * rng_cos_sin_2pi_u(b);
}

// Elements 4 quad .. 4 quad + 3 of perturbation `query` of B-tensor `tensor` at step `seed`.
fn zo_normal4(seed: u32, tensor: u32, query: u32, quad: u32) -> vec4<f32> {
  let x = philox4x32(vec4<u32>(quad, query, 0u, 0u), vec2<u32>(seed, tensor));
  return vec4<f32>(rng_box_muller(x.x, x.y), rng_box_muller(x.z, x.w));
}

// Element `element` of perturbation `query` of B-tensor `tensor` at step `seed`: a standard normal.
fn zo_normal(seed: u32, tensor: u32, query: u32, element: u32) -> f32 {
  let x = philox4x32(vec4<u32>(element >> 2u, query, 0u, 0u), vec2<u32>(seed, tensor));
  let lane = element & 3u;
  let pair = select(x.xy, x.zw, lane >= 2u);
  return rng_box_muller(pair.x, pair.y)[lane & 1u];
}
