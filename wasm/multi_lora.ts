// Twin of shaders/multi_lora.wgsl: y[r, o] += scale_i sum_j B_i[o, j] ax[r, aOffset_i + j], where
// adapter i = seqAdapter[r / rowsPerSeq]; no adapter (i >= adapters) or rank 0 adds nothing.
// Workgroups cover outputs o < wx 64 and rows r < wy 8; each part takes whole rows.
import { binding, partBegin, partEnd, u32At } from './common';
import { multi_lora_B, multi_lora_Params } from './params.gen';

export function multi_lora(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, multi_lora_B.params);
  const ax = binding(bind, multi_lora_B.ax);
  const b = binding(bind, multi_lora_B.b);
  const table = binding(bind, multi_lora_B.table);
  const seqAdapter = binding(bind, multi_lora_B.seqAdapter);
  const y = binding(bind, multi_lora_B.y);
  const rowsP = u32At(p, multi_lora_Params.rows);
  const outDim = u32At(p, multi_lora_Params.outDim);
  const width = u32At(p, multi_lora_Params.width);
  const rowsPerSeq = u32At(p, multi_lora_Params.rowsPerSeq);
  const sequences = u32At(p, multi_lora_Params.sequences);
  const adapters = u32At(p, multi_lora_Params.adapters);
  const rows = <u32>min(<u64>rowsP, <u64>wy * 8);
  const outs = <u32>min(<u64>outDim, <u64>wx * 64);
  const r1 = partEnd(rows, part, parts);
  for (let r = partBegin(rows, part, parts); r < r1; r++) {
    const s = r / rowsPerSeq;
    if (s >= sequences) continue;
    const i = load<u32>(seqAdapter + (<usize>s << 2));
    if (i >= adapters) continue;
    const e = table + (<usize>i << 4);
    const aOffset = load<u32>(e);
    const rank = load<u32>(e + 4);
    const bOffset = load<u32>(e + 8);
    const scale = load<f32>(e + 12);
    if (rank == 0) continue;
    const axRow = ax + ((<usize>r * <usize>width + <usize>aOffset) << 2);
    const yRow = y + ((<usize>r * <usize>outDim) << 2);
    // the sum runs over j in order, as the WGSL's and as mplora's twin (a solo adapter's pass): a
    // sequence gets the same bits in a multi-adapter pass as alone
    for (let o: u32 = 0; o < outs; o++) {
      const bRow = b + ((<usize>bOffset + <usize>o * <usize>rank) << 2);
      let acc: f32 = 0;
      for (let j: u32 = 0; j < rank; j++) acc += load<f32>(bRow + (<usize>j << 2)) * load<f32>(axRow + (<usize>j << 2));
      store<f32>(yRow + (<usize>o << 2), load<f32>(yRow + (<usize>o << 2)) + scale * acc);
    }
  }
}
