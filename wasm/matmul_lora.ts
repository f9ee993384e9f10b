// Twins of shaders/matmul_lora.wgsl: a target linear with its MP-LoRA term,
//   y[r, :] (+)= x[r, :] W^T + scale * (B + sign * eps * Z_i) (A x)[r, :]
// ax = x A^T given ([M, rank]); row r is in slot p = r / rowsPerSlot, global slot g = slotBase + p,
// query i = g % q, sign + when g < q, - otherwise; g >= 2q and eps = 0 are unperturbed. Z_i is element
// (o, j) = element o * rank + j of zo_normal (rng.ts, the same stream as rng.wgsl), never stored.
//
// Per part (a range of columns of y, groups of 4), per slot and chunk of CB columns: the rows of
// scale (B + sign eps Z_i) are built once in this thread's scratch (one Philox block per 4 elements),
// then matmul_core.ts's 2 x 4 block sums x . w along K and ax . (scale (B + sign eps Z_i)) along rank
// into the same accumulators, one store per output. matmul_lora and matmul_lora_vec4 are one kernel.
import { binding, f32At, u32At } from './common';
import { columnRange, dotRows2, scratch } from './matmul_core';
import { matmul_lora_B as B, matmul_lora_Params as P, matmul_lora_vec4_B as B4, zo_step_StepParams as Z } from './params.gen';
import { zoNormals } from './rng';

const CB: u32 = 64; // columns of y per perturbed-B panel

/** bz[0 .. n) = scale (b[0 .. n) + ze bz[0 .. n)) (bz holds Z on entry when ze != 0): the WGSL's b + ze z, times scale. */
function perturb(b: usize, bz: usize, n: u32, ze: f32, scale: f32): void {
  const zv = f32x4.splat(ze);
  const sv = f32x4.splat(scale);
  let i: u32 = 0;
  const z = ze != 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(b + o);
    v128.store(bz + o, f32x4.mul(sv, z ? f32x4.add(v, f32x4.mul(zv, v128.load(bz + o))) : v));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(b + o);
    store<f32>(bz + o, scale * (z ? v + ze * load<f32>(bz + o) : v));
  }
}

/** sign eps of global slot g: + for g < q, - for q <= g < 2q, 0 beyond (and when eps = 0). */
// @ts-ignore: decorator
@inline function signedEps(g: u32, q: u32, eps: f32): f32 {
  return eps != 0 && g < 2 * q ? (g < q ? eps : -eps) : 0;
}

function run(p: usize, x: usize, w: usize, y: usize, ax: usize, b: usize, zo: usize, wx: u32, wy: u32, part: u32, parts: u32): void {
  const K = u32At(p, P.K);
  const N = u32At(p, P.N);
  const M = min(u32At(p, P.M), wy * 32); // 32 x 32 workgroup tiles, as the WGSL guards them
  const r = columnRange(min(N, wx * 32), part, parts);
  const c0 = <u32>r;
  const c1 = <u32>(r >> 32);
  if (M == 0 || c1 <= c0) return;
  const acc = u32At(p, P.accumulate) == 1;
  const rank = u32At(p, P.rank);
  const rps = max(u32At(p, P.rowsPerSlot), 1);
  const q = u32At(p, P.q);
  const scale = f32At(p, P.scale);
  const tensor = u32At(p, P.tensor);
  const seed = u32At(zo, Z.seed);
  const slotBase = u32At(zo, Z.slotBase);
  const eps = f32At(zo, Z.eps);
  const ks = <usize>K << 2;
  const ys = <usize>N << 2;
  const rs = <usize>rank << 2;
  const bz = scratch(<usize>CB * rs);
  // slots in order; consecutive unperturbed slots (eps = 0, g >= 2q) share one pass (their B is the same)
  let r0: u32 = 0;
  while (r0 < M) {
    const g = slotBase + r0 / rps;
    const ze = signedEps(g, q, eps);
    let r1 = min(r0 + rps, M);
    if (ze == 0) while (r1 < M && signedEps(slotBase + r1 / rps, q, eps) == 0) r1 = min(r1 + rps, M);
    for (let n = c0; n < c1; n += CB) {
      const nc = min(CB, c1 - n);
      if (ze != 0) zoNormals(seed, tensor, g % q, n * rank, nc * rank, bz);
      perturb(b + <usize>n * rs, bz, nc * rank, ze, scale);
      dotRows2(x, ks, w + <usize>n * ks, ks, K, ax, rs, bz, rs, rank, y + (<usize>n << 2), ys, r0, r1, nc, acc);
    }
    r0 = r1;
  }
}

// workgroups of 8 x 8 threads, 4 x 4 outputs each: 32 x 32 tiles
export function matmul_lora(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  run(binding(bind, B.params), binding(bind, B.x), binding(bind, B.w), binding(bind, B.y), binding(bind, B.ax), binding(bind, B.b), binding(bind, B.zo), wx, wy, part, parts);
}

export function matmul_lora_vec4(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  run(binding(bind, B4.params), binding(bind, B4.x4), binding(bind, B4.w4), binding(bind, B4.y), binding(bind, B4.ax), binding(bind, B4.b), binding(bind, B4.zo), wx, wy, part, parts);
}
