// Causal grouped-query attention over a K/V store of S positions per sequence, optionally within a
// sliding window (each query sees its own key and the window - 1 before it).
import { isCpuAdapter, kernelOverride } from '../autotune';
import { grid1d, type Dispatch, type Params } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import { shaderConst, type Kernels } from './registry';
import { num, type Costs } from './cost';

export interface AttentionShape {
  B: number; // sequences
  T: number; // query tokens per sequence
  S: number; // positions per sequence in k / v
  pos0: number; // absolute position of the first query token
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  window?: number; // sliding window (keys a query sees); absent or 0: every earlier key
  scale?: number; // score scale; default 1 / sqrt(headDim)
}

export function attentionParams(s: AttentionShape, stride: number) {
  const { T, S, pos0, nHeads, nKvHeads, headDim } = s;
  const window = s.window ?? 0;
  if (!Number.isInteger(window) || window < 0) throw new Error(`attention: window ${window} is not a non-negative integer`);
  return { rows: s.B * T, T, S, pos0, nHeads, nKvHeads, headDim, scale: s.scale ?? 1 / Math.sqrt(headDim), stride, window };
}

/** attention_flash's limits (shaders/attention.wgsl): headDim, and query slots per workgroup (fewer: the keys are split). */
export const FLASH_HEAD_DIM = shaderConst('attention', 'FLASH_HEAD_DIM');
const FLASH_SLOTS = shaderConst('attention', 'FLASH_SLOTS');

/**
 * attention_flash (tiled; GQA heads share K/V tiles; few queries split the keys) on GPUs, the
 * thread-per-(row, head) `attention` on CPU drivers, where it is several times faster, and past
 * FLASH_HEAD_DIM. MOBIZO_KERNEL naming either one forces it where it applies.
 */
export function chooseAttention(ks: Kernels, s: AttentionShape): 'attention' | 'attention_flash' {
  const flashOk = s.headDim <= FLASH_HEAD_DIM && ks.has('attention_flash');
  const forced = kernelOverride()?.find((n) => n === 'attention' || (n === 'attention_flash' && flashOk));
  if (forced) return forced as 'attention' | 'attention_flash';
  return flashOk && !isCpuAdapter(ks.gpu) ? 'attention_flash' : 'attention';
}

/** Records causal GQA attention; `kernel` forces a variant (tests, the bench). */
export function attention(ks: Kernels, label: string, q: Tensor, k: Tensor, v: Tensor, out: Tensor, s: AttentionShape, kernel?: 'attention' | 'attention_flash'): Dispatch {
  const who = `attention ${label}`;
  const rows = s.B * s.T;
  expectShape(who, q, [rows, s.nHeads * s.headDim]);
  expectShape(who, out, q.shape);
  expectShape(who, k, [s.B * s.S, s.nKvHeads * s.headDim]);
  expectShape(who, v, k.shape);
  if (s.nHeads % s.nKvHeads !== 0) throw new Error(`${who}: nHeads ${s.nHeads} not a multiple of nKvHeads ${s.nKvHeads}`);
  if (s.pos0 + s.T > s.S) throw new Error(`${who}: positions up to ${s.pos0 + s.T} exceed the ${s.S} stored per sequence`);
  const name = kernel ?? chooseAttention(ks, s);
  if (name === 'attention_flash') {
    if (s.headDim > FLASH_HEAD_DIM) throw new Error(`${who}: attention_flash takes headDim <= ${FLASH_HEAD_DIM}, got ${s.headDim}`);
    const grid: [number, number, number] = [Math.ceil((s.T * s.nHeads) / s.nKvHeads / FLASH_SLOTS), s.nKvHeads, s.B];
    return ks.get('attention_flash').dispatch(label, { q, k, v, out }, attentionParams(s, 0), grid);
  }
  const kern = ks.get('attention');
  const g = grid1d(rows * s.nHeads, kern.workgroupSize[0]); // a thread per (query row, head)
  return kern.dispatch(label, { q, k, v, out }, attentionParams(s, g.stride), g.workgroups);
}

/** (query, key) pairs under the causal mask: a dot product and a weighted sum of headDim each. */
const attentionCost = (p: Params) => {
  const [rows, T, nH, nKv, hd, pos0] = [num(p, 'rows'), num(p, 'T'), num(p, 'nHeads'), num(p, 'nKvHeads'), num(p, 'headDim'), num(p, 'pos0')];
  const seqs = rows / T;
  const pairs = seqs * (T * pos0 + (T * (T + 1)) / 2);
  const keys = seqs * (pos0 + T);
  return { flops: nH * pairs * (4 * hd + 6), bytes: 4 * (2 * rows * nH * hd + 2 * keys * nKv * hd) };
};

export const costs: Costs<'attention' | 'attention_flash'> = { attention: attentionCost, attention_flash: attentionCost };
