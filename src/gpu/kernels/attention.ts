// Causal grouped-query attention over a K/V store of S positions per sequence.
import { grid1d, type Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

export interface AttentionShape {
  B: number; // sequences
  T: number; // query tokens per sequence
  S: number; // positions per sequence in k / v
  pos0: number; // absolute position of the first query token
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

export function attentionParams(s: AttentionShape, stride: number) {
  const { T, S, pos0, nHeads, nKvHeads, headDim } = s;
  return { rows: s.B * T, T, S, pos0, nHeads, nKvHeads, headDim, scale: 1 / Math.sqrt(headDim), stride };
}

export function attention(ks: Kernels, label: string, q: Tensor, k: Tensor, v: Tensor, out: Tensor, s: AttentionShape): Dispatch {
  const who = `attention ${label}`;
  const rows = s.B * s.T;
  expectShape(who, q, [rows, s.nHeads * s.headDim]);
  expectShape(who, out, q.shape);
  expectShape(who, k, [s.B * s.S, s.nKvHeads * s.headDim]);
  expectShape(who, v, k.shape);
  if (s.headDim > 256) throw new Error(`${who}: headDim ${s.headDim} exceeds the kernel's 256`);
  if (s.nHeads % s.nKvHeads !== 0) throw new Error(`${who}: nHeads ${s.nHeads} not a multiple of nKvHeads ${s.nKvHeads}`);
  if (s.pos0 + s.T > s.S) throw new Error(`${who}: positions up to ${s.pos0 + s.T} exceed the ${s.S} stored per sequence`);
  const g = grid1d(rows * s.nHeads);
  return ks.get('attention').dispatch(label, { q, k, v, out }, attentionParams(s, g.stride), g.workgroups);
}
