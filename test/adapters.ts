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
