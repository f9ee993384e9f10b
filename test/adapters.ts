// Random PEFT adapters for tests: A and B random (B not 0, so the adapter changes the output),
// seeded per layer, in the layout readAdapter / writeAdapter use.
import { baseModelOf, type AdapterTensors } from '../src/adapter/peft';
import type { LlamaConfig } from '../src/formats/config';
import { LoraState } from '../src/adapter/lora';
import { targetShape, type Target } from '../src/model/targets';
import { zoNormals } from '../src/util/philox';
import { randoms } from './gpu';

/** An adapter of `rank` on `targets` with random A (scale 1/sqrt(in)) and B (scale `bScale`) drawn from `seed`. */
export function randomAdapter(config: LlamaConfig, seed: number, rank: number, alpha: number, targets: Target[], bScale: number): AdapterTensors {
  const layers = Array.from({ length: config.nLayers }, (_, l) => {
    const e: AdapterTensors['layers'][number] = {};
    for (const t of targets) {
      const s = targetShape(config, t);
      e[t] = { A: randoms(rank * s.in, seed * 101 + l * 7 + 1, 1 / Math.sqrt(s.in)), B: randoms(s.out * rank, seed * 103 + l * 7 + 2, bScale) };
    }
    return e;
  });
  return { rank, alpha, targets: [...targets], layers, baseModel: baseModelOf(config) };
}

/**
 * The float64 reference's adapter layers of perturbation slot g of a prge step (DESIGN.md's slot
 * order: + for queries 0..q-1, then -): B + sign eps Z, Z regenerated from the step's seed.
 */
export function perturbedLayers(host: Pick<AdapterTensors, 'layers'>, targets: readonly Target[], stepSeed: number, g: number, q: number, eps: number) {
  const sign = g < q ? 1 : -1;
  return host.layers.map((e, l) =>
    Object.fromEntries(
      targets.map((t) => {
        const z = zoNormals(stepSeed, LoraState.tensorId(l, t), g % q, e[t]!.B.length);
        return [t, { A: e[t]!.A, B: Float64Array.from(e[t]!.B, (v, i) => v + sign * eps * z[i]) }];
      }),
    ),
  );
}

/**
 * The float64 reference of a target linear with its MP-LoRA term (shaders/matmul_lora.wgsl):
 *   y[r, :] = y0[r, :] + x[r, :] W^T + scale (B + sign eps Z_i) ax[r, :]
 * row r in global slot g = slotBase + r / rowsPerSlot, query i = g % q, sign + when g < q, - otherwise,
 * unperturbed when g >= 2q or eps = 0; Z_i drawn from the TypeScript Philox twin (element o rank + j).
 */
export function matmulLoraReference(a: {
  x: ArrayLike<number>; // [M, K]
  w: ArrayLike<number>; // [N, K]
  ax: ArrayLike<number>; // [M, rank]
  b: ArrayLike<number>; // [N, rank]
  y0?: ArrayLike<number>; // [M, N] when accumulating
  M: number; N: number; K: number; rank: number; rowsPerSlot: number; q: number; slotBase: number;
  seed: number; tensor: number; eps: number; scale: number;
}): Float64Array {
  const { M, N, K, rank, q, eps } = a;
  const want = new Float64Array(M * N);
  for (let r = 0; r < M; r++) {
    const g = a.slotBase + Math.floor(r / a.rowsPerSlot);
    const ze = eps !== 0 && g < 2 * q ? (g < q ? 1 : -1) * eps : 0;
    const z = ze === 0 ? null : zoNormals(a.seed, a.tensor, g % q, N * rank);
    for (let o = 0; o < N; o++) {
      let mm = 0;
      for (let k = 0; k < K; k++) mm += a.x[r * K + k] * a.w[o * K + k];
      let lo = 0;
      for (let j = 0; j < rank; j++) lo += (a.b[o * rank + j] + (z ? ze * z[o * rank + j] : 0)) * a.ax[r * rank + j];
      want[r * N + o] = (a.y0 ? a.y0[r * N + o] : 0) + mm + a.scale * lo;
    }
  }
  return want;
}
