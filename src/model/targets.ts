// The linear layers an adapter can target, their shapes, and what the forward pass needs of the
// adapters on them (the adapter layer's LoraState is one such set; the model layer never imports it).
import type { LlamaConfig } from '../formats/config';
import type { Dispatch } from '../gpu/kernel';
import type { Kernels } from '../gpu/kernels/registry';
import type { Tensor } from '../gpu/tensor';
import type { ZoForm } from '../gpu/kernels/mplora';
import type { Weight } from '../gpu/weight';

/** Linear layers an adapter can target, in canonical order. */
export const TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type Target = (typeof TARGETS)[number];

/** The model dimensions the adapter tensors' shapes derive from. */
export type ShapeConfig = Pick<LlamaConfig, 'dim' | 'hiddenDim' | 'nHeads' | 'nKvHeads' | 'headDim'>;

/** Input and output widths of a target's linear layer (its weight is [out, in]). */
export function targetShape(config: ShapeConfig, target: Target): { in: number; out: number } {
  const q = config.nHeads * config.headDim;
  const kv = config.nKvHeads * config.headDim;
  switch (target) {
    case 'q':
      return { in: config.dim, out: q };
    case 'k':
    case 'v':
      return { in: config.dim, out: kv };
    case 'o':
      return { in: q, out: config.dim };
    case 'gate':
    case 'up':
      return { in: config.dim, out: config.hiddenDim };
    case 'down':
      return { in: config.hiddenDim, out: config.dim };
  }
}

/** One target's adapter as the forward pass uses it: y += scale * (B + sign eps Z) (A x). */
export interface LinearAdapter {
  A: Weight; // [r, in] frozen
  B: Tensor; // [out, r]
  id: number; // RNG tensor id of B (the Z of a perturbation is regenerated from it)
  /** The form of Z beside P-RGE's full one (LOZO, HiZOO), set by the ZO optimizer that trains B. */
  zo?: ZoForm;
  /**
   * Records the term added to y from ax = x A^T in place of the MP-LoRA one: each sequence's own
   * adapter when one pass serves many (src/adapter/multi.ts; A then packs every adapter's rows).
   */
  epilogue?: (ks: Kernels, label: string, ax: Tensor, y: Tensor, rowsPerSeq: number) => Dispatch;
}

/** Adapters on the target linears of every layer, with one rank and scale. */
export interface LinearAdapters {
  readonly config: { readonly rank: number };
  readonly scale: number;
  /** @internal */
  readonly layers: readonly Partial<Record<Target, LinearAdapter>>[];
}
