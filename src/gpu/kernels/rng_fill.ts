// The perturbation normals of one (step seed, B-tensor, query), materialised: rngFill writes
// zo_normal for elements first.., rngBits the raw Philox4x32-10 words of counters first...
// (Training kernels regenerate Z themselves through shaders/rng.wgsl; these serve tests and debugging.)
import { grid1d, type Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';
import { num, type Costs } from './cost';

/** Which perturbation: step seed S (key word 0), B-tensor id (key word 1), query i (counter word 1). */
export interface RngKey {
  seed: number;
  tensor: number;
  query: number;
}

function expectDtype(who: string, t: Tensor, dtype: Tensor['dtype']): void {
  if (t.dtype !== dtype) throw new Error(`${who}: tensor ${t.label} is ${t.dtype}, expected ${dtype}`);
}

/** out (any shape, f32, n = numel) = zo_normal(key, first + e) for e < n. */
export function rngFill(ks: Kernels, label: string, out: Tensor, key: RngKey, first = 0): Dispatch {
  expectDtype(`rng_fill ${label}`, out, 'f32');
  const k = ks.get('rng_fill');
  const g = grid1d(out.numel, k.workgroupSize[0]);
  return k.dispatch(label, { out }, { n: out.numel, stride: g.stride, first, seed: key.seed, tensor: key.tensor, query: key.query }, g.workgroups);
}

/** bits [n, 4] u32 = philox4x32((first + e, query, 0, 0), (seed, tensor)) for e < n. */
export function rngBits(ks: Kernels, label: string, bits: Tensor, key: RngKey, first = 0): Dispatch {
  const who = `rng_bits ${label}`;
  expectDtype(who, bits, 'u32');
  const n = bits.shape[0];
  expectShape(who, bits, [n, 4]);
  const k = ks.get('rng_bits');
  const g = grid1d(n, k.workgroupSize[0]);
  return k.dispatch(label, { bits }, { n, stride: g.stride, first, seed: key.seed, tensor: key.tensor, query: key.query }, g.workgroups);
}

/** Philox rounds are integer work: 0 FLOPs; the bytes are the outputs. */
export const costs: Costs<'rng_fill' | 'rng_bits'> = {
  rng_fill: (p) => ({ flops: 0, bytes: 4 * num(p, 'n') }),
  rng_bits: (p) => ({ flops: 0, bytes: 16 * num(p, 'n') }),
};
