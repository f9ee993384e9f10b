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
  const i0 = partBegin(n, part, parts);
  const i1 = partEnd(n, part, parts);
  if (i0 >= i1) return;
  // walk the pairs i0 .. i1 - 1 with running (row, head, pair) counters: no division per pair
  let row = i0 / pairsPerRow;
  let head = (i0 % pairsPerRow) / half;
  let pp = (i0 % pairsPerRow) % half;
  const rowLen = nHeads * headDim;
  // pair p of a head: elements p stepA and p stepA + stepB (style 0: 2p, 2p + 1; style 1: p, p + half)
  const stepA: u32 = style == 1 ? 1 : 2;
  const stepB: u32 = style == 1 ? half : 1;
  for (let i = i0; i < i1; ) {
    const pos = pos0 + row % T;
    const base = row * rowLen + head * headDim;
    const cnt = min(half - pp, i1 - i);
    const xa = x + (<usize>base << 2);
    const oa = out + (<usize>base << 2);
    if (pos >= maxPos) {
      for (let k: u32 = 0; k < cnt; k++) {
        const e0 = (pp + k) * stepA;
        store<f32>(oa + (<usize>e0 << 2), nan32());
        store<f32>(oa + (<usize>(e0 + stepB) << 2), nan32());
      }
    } else {
      const cs = table + (<usize>(pos * half) << 3);
      for (let k: u32 = 0; k < cnt; k++) {
        const p = pp + k;
        const e0 = <usize>(p * stepA) << 2;
        const e1 = e0 + (<usize>stepB << 2);
        const c = load<f32>(cs + (<usize>p << 3));
        const sn = load<f32>(cs + (<usize>p << 3) + 4);
        const a = load<f32>(xa + e0);
        const bb = load<f32>(xa + e1);
        store<f32>(oa + e0, a * c - bb * sn);
        store<f32>(oa + e1, a * sn + bb * c);
      }
    }
    i += cnt;
    pp += cnt;
    if (pp == half) {
      pp = 0;
      head++;
      if (head == nHeads) {
        head = 0;
        row++;
      }
    }
  }
}
