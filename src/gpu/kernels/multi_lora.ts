// y += scale_i * B_i (A_i x) with each sequence's own adapter i (shaders/multi_lora.wgsl): the
// epilogue of a target linear when one pass serves many adapters (src/adapter/multi.ts).
import type { Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import { shaderConst, type Kernels } from './registry';
import { num, type Costs } from './cost';

/** One target's adapters, packed: what the kernel reads besides ax and y. */
export interface MultiLoraPack {
  b: Tensor; // the B_i [out, rank_i], one after another
  table: Tensor; // u32 [adapters * 4]: aOffset, rank, bOffset, f32 bits of scale
  adapters: number;
  ranks: readonly number[]; // rank of each adapter on this target (0: not adapted)
}

const OT = shaderConst('multi_lora', 'OT');
const RB = shaderConst('multi_lora', 'RB');

/** The table rows of adapters with these ranks and scales on one target, packed in order. */
export function multiLoraTable(ranks: readonly number[], scales: readonly number[], outDim: number): Uint32Array {
  const t = new Uint32Array(ranks.length * 4);
  const f = new Float32Array(t.buffer);
  let a = 0;
  let b = 0;
  ranks.forEach((r, i) => {
    t[4 * i] = a;
    t[4 * i + 1] = r;
    t[4 * i + 2] = b;
    f[4 * i + 3] = r ? scales[i] : 0;
    a += r;
    b += r * outDim;
  });
  return t;
}

/**
 * Records the epilogue on `rows` rows of `rowsPerSeq` tokens per sequence; `seqAdapter` (u32, one per
 * sequence) names each sequence's adapter (>= adapters: none).
 */
export function multiLora(ks: Kernels, label: string, ax: Tensor, pack: MultiLoraPack, seqAdapter: Tensor, y: Tensor, rowsPerSeq: number): Dispatch {
  const [rows, width] = ax.shape;
  const [, outDim] = y.shape;
  const who = `multi_lora ${label}`;
  expectShape(who, y, [rows, outDim]);
  const sum = pack.ranks.reduce((s, r) => s + r, 0);
  if (sum > width) throw new Error(`${who}: the adapters' ranks add up to ${sum}, ax has ${width} columns`);
  expectShape(who, pack.b, [sum * outDim]);
  expectShape(who, pack.table, [pack.adapters * 4]);
  if (!Number.isInteger(rowsPerSeq) || rowsPerSeq < 1 || rows % rowsPerSeq !== 0) throw new Error(`${who}: ${rows} rows are not whole sequences of ${rowsPerSeq}`);
  if (seqAdapter.dtype !== 'u32') throw new Error(`${who}: seqAdapter ${seqAdapter.label} is ${seqAdapter.dtype}, expected u32`);
  const sequences = seqAdapter.numel;
  if (rows / rowsPerSeq > sequences) throw new Error(`${who}: ${rows / rowsPerSeq} sequences, seqAdapter holds ${sequences}`);
  const params = { rows, outDim, width, rowsPerSeq, sequences, adapters: pack.adapters };
  const grid: [number, number, number] = [Math.ceil(outDim / OT), Math.ceil(rows / RB), 1];
  return ks.get('multi_lora').dispatch(label, { ax, b: pack.b, table: pack.table, seqAdapter, y }, params, grid);
}

export const costs: Costs<'multi_lora'> = {
  // counted at the widest case: every row adapted at the mean rank
  multi_lora(p) {
    const [rows, out, w, n] = [num(p, 'rows'), num(p, 'outDim'), num(p, 'width'), num(p, 'adapters')];
    const r = w / Math.max(n, 1);
    return { flops: 2 * rows * out * r + 2 * rows * out, bytes: 4 * (rows * r + out * w + 2 * rows * out) };
  },
};
