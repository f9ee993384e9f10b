// Twin of shaders/gather.wgsl: out[i, :] = table[index[i], :], one thread per element of out
// (i = gid.x + gid.y * groups.x * 64); an index past the table writes NaN.
import { binding, nan32, partBegin, partEnd, u32At } from './common';
import { gather_B, gather_Params } from './params.gen';

export function gather(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, gather_B.params);
  const table = binding(bind, gather_B.table);
  const index = binding(bind, gather_B.index);
  const out = binding(bind, gather_B.out);
  const rows = u32At(p, gather_Params.rows);
  const width = u32At(p, gather_Params.width);
  const tableRows = u32At(p, gather_Params.tableRows);
  if (width == 0) return;
  const threads = <u64>wx * <u64>wy * 64;
  const all = <u64>rows * <u64>width;
  const n = <u32>(threads < all ? threads : all);
  const e0 = partBegin(n, part, parts);
  const e1 = partEnd(n, part, parts);
  // whole or partial rows of out, each a copy of one table row (or NaN)
  let e = e0;
  while (e < e1) {
    const row = e / width;
    const col = e % width;
    const end = min(e1, (row + 1) * width);
    const count = end - e;
    const dst = out + (<usize>e << 2);
    const src = load<u32>(index + (<usize>row << 2));
    if (src >= tableRows) {
      for (let k: u32 = 0; k < count; k++) store<f32>(dst + (<usize>k << 2), nan32());
    } else {
      memory.copy(dst, table + ((<usize>src * <usize>width + <usize>col) << 2), <usize>count << 2);
    }
    e = end;
  }
}
