// Twins of shaders/matmul_quant.wgsl: y = x W^T (+ y) with W kept compressed in memory as uploaded
// (src/gpu/weight.ts: words, and f16 block scales for some layouts), written to columns
// yColumn .. yColumn + N - 1 of a y with yStride columns (W may be one row block of a split matrix).
// Every entry of a layout computes the same maths; they differ on the GPU only in how many rows of x
// a thread holds (4, 1 with _r1, 8 with _r8) and, for _elem, in how values are decoded.
//
// Blocking: W is decoded a panel of P rows at a time (16 .. 64: matmul_core's column chunk) (each block once) into this thread's scratch as
// f32 rows, then matmul_core.ts's 2 x 4 register block runs every row of x against the panel: the decode
// costs P K per panel, shared by all M rows (a 4 x 4 GPU thread re-decodes per 4 rows). x stays f32 (no
// q8 activations: the WGSL computes in f32 and both backends must agree to ~1e-6). F32 words (the row
// blocks of a split f32 matrix) need no panel. Parts split the columns (groups of 4): a thread decodes
// only its own rows of W.
import { binding, u32At } from './common';
import { chunkCols, columnRange, dotRows, scratch, scratchSize } from './matmul_core';
import { matmul_q8_0_B as B, matmul_quant_Params as P } from './params.gen';
import { BF16, decodeRows, F16, F32, Q2_K, Q3_K, Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K, Q8_0 } from './quant_blocks';

/** Rows of W per panel for rows of K values: matmul_core's column chunk, or the multiple of 4 that fits this thread's scratch. */
function panelRows(K: u32): u32 {
  const want = <u32>chunkCols(K);
  const fit = <u32>(scratchSize() / (<usize>K << 2));
  return fit >= want ? want : max(fit & ~3, 1);
}

/**
 * The dispatch's outputs: rows min(M, rowsCovered), W rows min(N, colsCovered) (as the WGSL guards them;
 * every entry of matmul_quant.wgsl binds params, x4, wq, y, ws at the same indices).
 */
function mmq(bind: usize, t: u32, colsCovered: u32, rowsCovered: u32, part: u32, parts: u32): void {
  const p = binding(bind, B.params);
  const K = u32At(p, P.K);
  const M = min(u32At(p, P.M), rowsCovered);
  const r = columnRange(min(u32At(p, P.N), colsCovered), part, parts);
  const c0 = <u32>r;
  const c1 = <u32>(r >> 32);
  if (M == 0 || c1 <= c0) return;
  const x = binding(bind, B.x4);
  const wq = binding(bind, B.wq);
  const ws = binding(bind, B.ws);
  const acc = u32At(p, P.accumulate) == 1;
  const ys = <usize>u32At(p, P.yStride) << 2;
  const y = binding(bind, B.y) + (<usize>u32At(p, P.yColumn) << 2);
  const ks = <usize>K << 2;
  if (t == F32) {
    dotRows(x, ks, wq + <usize>c0 * ks, ks, y + (<usize>c0 << 2), ys, 0, M, c1 - c0, K, acc);
    return;
  }
  const rows = panelRows(K);
  const panel = scratch(<usize>rows * ks);
  for (let n = c0; n < c1; n += rows) {
    const nr = min(rows, c1 - n);
    decodeRows(t, wq, ws, n, nr, K, panel);
    dotRows(x, ks, panel, ks, y + (<usize>n << 2), ys, 0, M, nr, K, acc);
  }
}

// workgroups of 8 x 8 threads, 4 x 4 outputs each: 32 x 32 tiles
export function matmul_f32_part(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, F32, wx * 32, wy * 32, part, parts); }
export function matmul_bf16(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, BF16, wx * 32, wy * 32, part, parts); }
export function matmul_f16(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, F16, wx * 32, wy * 32, part, parts); }
export function matmul_q8_0(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q8_0, wx * 32, wy * 32, part, parts); }
export function matmul_q4_0(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_0, wx * 32, wy * 32, part, parts); }
export function matmul_q4_1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_1, wx * 32, wy * 32, part, parts); }
export function matmul_q5_0(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_0, wx * 32, wy * 32, part, parts); }
export function matmul_q5_1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_1, wx * 32, wy * 32, part, parts); }
export function matmul_q2_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q2_K, wx * 32, wy * 32, part, parts); }
export function matmul_q3_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q3_K, wx * 32, wy * 32, part, parts); }
export function matmul_q4_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_K, wx * 32, wy * 32, part, parts); }
export function matmul_q5_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_K, wx * 32, wy * 32, part, parts); }
export function matmul_q6_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q6_K, wx * 32, wy * 32, part, parts); }
// 1 row of x per thread, 64 threads along N: 256 x 1 tiles
export function matmul_bf16_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, BF16, wx * 256, wy, part, parts); }
export function matmul_f16_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, F16, wx * 256, wy, part, parts); }
export function matmul_q8_0_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q8_0, wx * 256, wy, part, parts); }
export function matmul_q4_0_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_0, wx * 256, wy, part, parts); }
export function matmul_q4_1_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_1, wx * 256, wy, part, parts); }
export function matmul_q5_0_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_0, wx * 256, wy, part, parts); }
export function matmul_q5_1_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_1, wx * 256, wy, part, parts); }
export function matmul_q2_k_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q2_K, wx * 256, wy, part, parts); }
export function matmul_q3_k_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q3_K, wx * 256, wy, part, parts); }
export function matmul_q4_k_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_K, wx * 256, wy, part, parts); }
export function matmul_q5_k_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_K, wx * 256, wy, part, parts); }
export function matmul_q6_k_r1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q6_K, wx * 256, wy, part, parts); }
// 8 rows of x per thread: 32 x 64 tiles
export function matmul_bf16_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, BF16, wx * 32, wy * 64, part, parts); }
export function matmul_f16_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, F16, wx * 32, wy * 64, part, parts); }
export function matmul_q8_0_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q8_0, wx * 32, wy * 64, part, parts); }
export function matmul_q4_0_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_0, wx * 32, wy * 64, part, parts); }
export function matmul_q4_1_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_1, wx * 32, wy * 64, part, parts); }
export function matmul_q5_0_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_0, wx * 32, wy * 64, part, parts); }
export function matmul_q5_1_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_1, wx * 32, wy * 64, part, parts); }
export function matmul_q2_k_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q2_K, wx * 32, wy * 64, part, parts); }
export function matmul_q3_k_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q3_K, wx * 32, wy * 64, part, parts); }
export function matmul_q4_k_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_K, wx * 32, wy * 64, part, parts); }
export function matmul_q5_k_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_K, wx * 32, wy * 64, part, parts); }
export function matmul_q6_k_r8(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q6_K, wx * 32, wy * 64, part, parts); }
// the per-value decoders of the WGSL (the same values): 32 x 32 tiles
export function matmul_q8_0_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q8_0, wx * 32, wy * 32, part, parts); }
export function matmul_q4_0_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_0, wx * 32, wy * 32, part, parts); }
export function matmul_q4_1_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_1, wx * 32, wy * 32, part, parts); }
export function matmul_q5_0_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_0, wx * 32, wy * 32, part, parts); }
export function matmul_q5_1_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_1, wx * 32, wy * 32, part, parts); }
export function matmul_q2_k_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q2_K, wx * 32, wy * 32, part, parts); }
export function matmul_q3_k_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q3_K, wx * 32, wy * 32, part, parts); }
export function matmul_q4_k_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q4_K, wx * 32, wy * 32, part, parts); }
export function matmul_q5_k_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q5_K, wx * 32, wy * 32, part, parts); }
export function matmul_q6_k_elem(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { mmq(bind, Q6_K, wx * 32, wy * 32, part, parts); }
