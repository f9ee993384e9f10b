// Twins of shaders/gather_quant.wgsl: token embedding rows from a table kept compressed (the layouts of
// quant_blocks.ts), out[i, :] = table[index[i] - rowBase, :]. The table may be one row block of a
// larger one: an index outside it is left for another block; an index past all rows (>= totalRows)
// writes NaN from the block with rowBase 0. Each row is decoded whole (quant_blocks.ts decodeRow).
// Parts split the grid's rows (row = gid.y + gid.z * rowStride, as the WGSL folds them).
import { binding, nan32, partBegin, partEnd, u32At } from './common';
import { scratch } from './matmul_core';
import { gather_q8_0_B as B, gather_quant_Params as P } from './params.gen';
import { BF16, decodeRow, F16, F32, Q2_K, Q3_K, Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K, Q8_0 } from './quant_blocks';

/** Every entry of gather_quant.wgsl binds params, wq, index, out, ws at the same indices. */
function gq(bind: usize, t: u32, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, B.params);
  const rows = u32At(p, P.rows);
  const width = u32At(p, P.width);
  const tableRows = u32At(p, P.tableRows);
  const rowBase = u32At(p, P.rowBase);
  const totalRows = u32At(p, P.totalRows);
  const rowStride = u32At(p, P.rowStride);
  const wq = binding(bind, B.wq);
  const ws = binding(bind, B.ws);
  const index = binding(bind, B.index);
  const out = binding(bind, B.out);
  // 4 columns per thread, 64 threads per workgroup along x
  const cols = <u32>min(<u64>width, <u64>wx * 256) & ~3;
  const cells = <u64>wy * <u64>wz;
  const b = partBegin(<u32>cells, part, parts);
  const e = partEnd(<u32>cells, part, parts);
  for (let i = b; i < e; i++) {
    const row = <u64>(i % wy) + <u64>(i / wy) * <u64>rowStride;
    if (row >= <u64>rows || cols == 0) continue;
    const dst = out + <usize>row * width * 4;
    const src = load<u32>(index + (<usize>row << 2));
    if (src >= totalRows) {
      if (rowBase == 0) {
        const nan = f32x4.splat(nan32());
        for (let c: u32 = 0; c < cols; c += 4) v128.store(dst + (<usize>c << 2), nan);
      }
      continue;
    }
    if (src < rowBase || src - rowBase >= tableRows) continue;
    if (cols == width) {
      decodeRow(t, wq, ws, src - rowBase, width, dst);
    } else {
      const tmp = scratch(<usize>width << 2);
      decodeRow(t, wq, ws, src - rowBase, width, tmp);
      memory.copy(dst, tmp, <usize>cols << 2);
    }
  }
}

export function gather_f32_part(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, F32, wx, wy, wz, part, parts); }
export function gather_bf16(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, BF16, wx, wy, wz, part, parts); }
export function gather_f16(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, F16, wx, wy, wz, part, parts); }
export function gather_q8_0(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q8_0, wx, wy, wz, part, parts); }
export function gather_q4_0(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q4_0, wx, wy, wz, part, parts); }
export function gather_q4_1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q4_1, wx, wy, wz, part, parts); }
export function gather_q5_0(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q5_0, wx, wy, wz, part, parts); }
export function gather_q5_1(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q5_1, wx, wy, wz, part, parts); }
export function gather_q2_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q2_K, wx, wy, wz, part, parts); }
export function gather_q3_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q3_K, wx, wy, wz, part, parts); }
export function gather_q4_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q4_K, wx, wy, wz, part, parts); }
export function gather_q5_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q5_K, wx, wy, wz, part, parts); }
export function gather_q6_k(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void { gq(bind, Q6_K, wx, wy, wz, part, parts); }
