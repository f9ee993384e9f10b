// Rotary position embedding of q or k rows; positions pos0 + (row % T).
import { grid1d, type Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';
import { num, type Costs } from './cost';

export type RopeStyle = 'adjacent' | 'halfsplit';

export interface RopeShape {
  T: number; // tokens per sequence
  pos0: number; // position of the first token
  nHeads: number;
  headDim: number;
  style: RopeStyle;
}

/**
 * cos/sin table [maxPos, headDim / 2, 2] computed in float64: angle = pos * frequency p, the
 * frequencies theta^(-2p / headDim) unless given (rescaled ones: formats/config.ts ropeFrequencies).
 */
export function ropeTable(maxPos: number, headDim: number, theta: number, freqs?: ArrayLike<number>): Float32Array {
  const half = headDim / 2;
  if (freqs && freqs.length !== half) throw new Error(`ropeTable: ${freqs.length} frequencies for headDim ${headDim} (need ${half})`);
  const out = new Float32Array(maxPos * half * 2);
  for (let pos = 0; pos < maxPos; pos++) {
    for (let p = 0; p < half; p++) {
      const angle = pos * (freqs ? freqs[p] : Math.pow(theta, (-2 * p) / headDim));
      out[(pos * half + p) * 2] = Math.cos(angle);
      out[(pos * half + p) * 2 + 1] = Math.sin(angle);
    }
  }
  return out;
}

export function ropeParams(rows: number, s: RopeShape, maxPos: number) {
  return { rows, T: s.T, pos0: s.pos0, nHeads: s.nHeads, headDim: s.headDim, style: s.style === 'adjacent' ? 0 : 1, maxPos };
}

export function rope(ks: Kernels, label: string, x: Tensor, table: Tensor, out: Tensor, s: RopeShape): Dispatch {
  const [rows] = x.shape;
  const who = `rope ${label}`;
  expectShape(who, x, [rows, s.nHeads * s.headDim]);
  expectShape(who, out, x.shape);
  const maxPos = table.shape[0];
  expectShape(who, table, [maxPos, s.headDim / 2, 2]);
  if (rows % s.T !== 0) throw new Error(`${who}: ${rows} rows are not a whole number of sequences of T = ${s.T}`);
  const k = ks.get('rope');
  const g = grid1d((rows * s.nHeads * s.headDim) / 2, k.workgroupSize[0]); // a thread per rotated pair
  return k.dispatch(label, { x, table, out }, ropeParams(rows, s, maxPos), g.workgroups);
}

export const costs: Costs<'rope'> = {
  rope(p) {
    const n = num(p, 'rows') * num(p, 'nHeads') * num(p, 'headDim');
    return { flops: 3 * n, bytes: 4 * (2 * n + n) };
  },
};
