// Twin of shaders/rope.wgsl: rotary position embedding, out of place, one thread per pair of a
// row (i = gid.x + gid.y * groups.x * 64); a position past the table writes NaN.
import { binding, nan32, partBegin, partEnd, u32At } from './common';
import { rope_B, rope_Params } from './params.gen';

export function rope(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, rope_B.params);
  const x = binding(bind, rope_B.x);
  const table = binding(bind, rope_B.table);
  const out = binding(bind, rope_B.out);
  const rows = u32At(p, rope_Params.rows);
  const T = u32At(p, rope_Params.T);
  const pos0 = u32At(p, rope_Params.pos0);
  const nHeads = u32At(p, rope_Params.nHeads);
  const headDim = u32At(p, rope_Params.headDim);
  const style = u32At(p, rope_Params.style);
  const maxPos = u32At(p, rope_Params.maxPos);
  const half = headDim / 2;
  const pairsPerRow = nHeads * half;
  if (pairsPerRow == 0) return;
  const threads = <u64>wx * <u64>wy * 64;
  const all = <u64>rows * <u64>pairsPerRow;
  const n = <u32>(threads < all ? threads : all);
  const i1 = partEnd(n, part, parts);
  for (let i = partBegin(n, part, parts); i < i1; i++) {
    const row = i / pairsPerRow;
    const k = i % pairsPerRow;
    const head = k / half;
    const pp = k % half;
    const pos = pos0 + row % T;
    const base = row * nHeads * headDim + head * headDim;
    let i0 = base + 2 * pp;
    let j0 = i0 + 1;
    if (style == 1) {
      i0 = base + pp;
      j0 = i0 + half;
    }
    const a0 = out + (<usize>i0 << 2);
    const a1 = out + (<usize>j0 << 2);
    if (pos >= maxPos) {
      store<f32>(a0, nan32());
      store<f32>(a1, nan32());
      continue;
    }
    const cs = table + (<usize>(pos * half + pp) << 3);
    const c = load<f32>(cs);
    const s = load<f32>(cs + 4);
    const a = load<f32>(x + (<usize>i0 << 2));
    const b = load<f32>(x + (<usize>j0 << 2));
    store<f32>(a0, a * c - b * s);
    store<f32>(a1, a * s + b * c);
  }
}
