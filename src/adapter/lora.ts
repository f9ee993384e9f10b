// MP-LoRA state: one LoRA-FA adapter per target linear of each layer. A [r, in] is frozen (seeded
// like PyTorch's kaiming_uniform_(a = sqrt(5)): U(-1/sqrt(in), 1/sqrt(in))), B [out, r] is the
// only trainable tensor (initialised to 0). Each B has an RNG id used to regenerate its Z.
import type { Gpu } from '../gpu/device';
import { MAX_RANK, type ZoForm } from '../gpu/kernels/mplora';
import { tensor, type Tensor } from '../gpu/tensor';
import type { LlamaConfig } from '../formats/config';
import { mulberry32 } from '../util/random';
import { baseModelOf, type AdapterTensors } from './peft';
import { TARGETS, targetShape, type Target } from '../model/targets';

export interface LoraConfig {
  rank: number; // r
  alpha: number; // scale = alpha / r
  targets: Target[];
}

export interface LoraAdapter {
  target: Target;
  layer: number;
  A: Tensor; // [r, in] frozen
  B: Tensor; // [out, r] trainable
  id: number; // RNG tensor id: layer * 7 + index of the target
  zo?: ZoForm; // the form of Z while a ZO optimizer other than sgd trains B (src/train/optimizer.ts)
}

export function validateLoraConfig(c: LoraConfig): void {
  if (!Number.isInteger(c.rank) || c.rank < 1 || c.rank > MAX_RANK) throw new Error(`--rank must be an integer in 1..${MAX_RANK}, got ${c.rank}`);
  if (!(c.alpha > 0)) throw new Error(`--alpha must be > 0, got ${c.alpha}`);
  if (!c.targets.length) throw new Error('no LoRA targets');
}

export class LoraState {
  /** @internal */
  readonly layers: Partial<Record<Target, LoraAdapter>>[];
  readonly scale: number;

  private constructor(
    readonly gpu: Gpu,
    readonly config: LoraConfig,
    readonly model: LlamaConfig,
    layers: Partial<Record<Target, LoraAdapter>>[],
  ) {
    this.layers = layers;
    this.scale = config.alpha / config.rank;
  }

  /** Fresh adapters: A from `seed` (Kaiming-uniform), B = 0. */
  static create(gpu: Gpu, model: LlamaConfig, config: LoraConfig, seed: number): LoraState {
    validateLoraConfig(config);
    const host = LoraState.initHost(model, config, seed);
    return LoraState.upload(gpu, model, config, host);
  }

  /** The host arrays of fresh adapters (A seeded per tensor id, B zeros). */
  static initHost(model: LlamaConfig, config: LoraConfig, seed: number): AdapterTensors {
    const layers: AdapterTensors['layers'] = [];
    for (let l = 0; l < model.nLayers; l++) {
      const entry: AdapterTensors['layers'][number] = {};
      for (const t of config.targets) {
        const { in: fanIn, out } = targetShape(model, t);
        const rand = mulberry32((seed * 7919 + LoraState.tensorId(l, t) * 104729) >>> 0);
        const bound = 1 / Math.sqrt(fanIn);
        const A = new Float32Array(config.rank * fanIn);
        for (let i = 0; i < A.length; i++) A[i] = (rand() * 2 - 1) * bound;
        entry[t] = { A, B: new Float32Array(out * config.rank) };
      }
      layers.push(entry);
    }
    return { rank: config.rank, alpha: config.alpha, targets: [...config.targets], layers, baseModel: baseModelOf(model) };
  }

  static tensorId(layer: number, target: Target): number {
    return layer * TARGETS.length + TARGETS.indexOf(target);
  }

  /** Uploads host adapters (fresh, or read from a PEFT directory). */
  static upload(gpu: Gpu, model: LlamaConfig, config: LoraConfig, host: AdapterTensors): LoraState {
    validateLoraConfig(config);
    const layers = host.layers.map((entry, l) => {
      const out: Partial<Record<Target, LoraAdapter>> = {};
      for (const t of config.targets) {
        const h = entry[t];
        if (!h) throw new Error(`adapter has no ${t} tensors for layer ${l}`);
        const s = targetShape(model, t);
        out[t] = {
          target: t,
          layer: l,
          A: tensor(gpu, `lora.${l}.${t}.A`, [config.rank, s.in], 'adapters', { data: h.A }),
          B: tensor(gpu, `lora.${l}.${t}.B`, [s.out, config.rank], 'adapters', { data: h.B }),
          id: LoraState.tensorId(l, t),
        };
      }
      return out;
    });
    return new LoraState(gpu, config, model, layers);
  }

  static fromAdapter(gpu: Gpu, model: LlamaConfig, a: AdapterTensors): LoraState {
    return LoraState.upload(gpu, model, { rank: a.rank, alpha: a.alpha, targets: a.targets }, a);
  }

  /** Every adapter pair, in layer and target order. @internal */
  adapters(): LoraAdapter[] {
    return this.layers.flatMap((e) => this.config.targets.map((t) => e[t]!));
  }

  /** Reads A and B back to the host (for checkpoints and PEFT files). */
  async toHost(): Promise<AdapterTensors> {
    const layers: AdapterTensors['layers'] = [];
    for (const entry of this.layers) {
      const h: AdapterTensors['layers'][number] = {};
      for (const t of this.config.targets) h[t] = { A: await entry[t]!.A.read(), B: await entry[t]!.B.read() };
      layers.push(h);
    }
    const c = this.config;
    return { rank: c.rank, alpha: c.alpha, targets: [...c.targets], layers, baseModel: baseModelOf(this.model) };
  }

  /** Writes A and B back from the host (a run going back to its last checkpoint): this state's shapes. */
  write(host: AdapterTensors): void {
    this.layers.forEach((entry, l) => {
      for (const t of this.config.targets) {
        const h = host.layers[l]?.[t];
        if (!h) throw new Error(`LoraState.write: no ${t} pair for layer ${l}`);
        entry[t]!.A.write(h.A);
        entry[t]!.B.write(h.B);
      }
    });
  }

  destroy(): void {
    for (const a of this.adapters()) (a.A.destroy(), a.B.destroy());
  }
}
