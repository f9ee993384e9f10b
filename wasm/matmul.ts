// Twins of shaders/matmul.wgsl: y = x W^T (+ y when accumulate = 1), W stored [N, K] (out, in).
// The four WGSL entries differ only in how a GPU walks memory (scalar or vec4 loads, register
// blocks or workgroup tiles); on the CPU they are one kernel, matmul_core.ts's 2 x 4 block along K,
// any K. Parts split the columns of y (groups of 4): each part reads all of x and its rows of W.
import { binding, u32At } from './common';
import { columnRange, dotRows } from './matmul_core';
import { matmul_B, matmul_Params, matmul_tiled_B, matmul_tiled_vec4_B, matmul_vec4_B } from './params.gen';

/** The dispatch's outputs: rows min(M, wy tileM), columns min(N, wx tileN) (as the WGSL guards them). */
function run(p: usize, x: usize, w: usize, y: usize, wx: u32, wy: u32, tile: u32, part: u32, parts: u32): void {
  const K = u32At(p, matmul_Params.K);
  const N = u32At(p, matmul_Params.N);
  const M = min(u32At(p, matmul_Params.M), wy * tile);
  const cols = min(N, wx * tile);
  const r = columnRange(cols, part, parts);
  const c0 = <u32>r;
  const c1 = <u32>(r >> 32);
  if (M == 0 || c1 <= c0) return;
  const ks = <usize>K << 2;
  dotRows(x, ks, w + <usize>c0 * ks, ks, y + (<usize>c0 << 2), <usize>N << 2, 0, M, c1 - c0, K, u32At(p, matmul_Params.accumulate) == 1);
}

// workgroups of 8 x 8 threads, 4 x 4 outputs each: 32 x 32 tiles
export function matmul(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  run(binding(bind, matmul_B.params), binding(bind, matmul_B.x), binding(bind, matmul_B.w), binding(bind, matmul_B.y), wx, wy, 32, part, parts);
}

export function matmul_vec4(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  run(binding(bind, matmul_vec4_B.params), binding(bind, matmul_vec4_B.x4), binding(bind, matmul_vec4_B.w4), binding(bind, matmul_vec4_B.y), wx, wy, 32, part, parts);
}

// workgroups of 16 x 16 threads, 4 x 4 outputs each: 64 x 64 tiles
export function matmul_tiled(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  run(binding(bind, matmul_tiled_B.params), binding(bind, matmul_tiled_B.x), binding(bind, matmul_tiled_B.w), binding(bind, matmul_tiled_B.y), wx, wy, 64, part, parts);
}

export function matmul_tiled_vec4(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  run(binding(bind, matmul_tiled_vec4_B.params), binding(bind, matmul_tiled_vec4_B.x4), binding(bind, matmul_tiled_vec4_B.w4), binding(bind, matmul_tiled_vec4_B.y), wx, wy, 64, part, parts);
}
