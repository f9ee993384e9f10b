// A model on the GPU: its config, its weights as tensors, the compiled kernels.
import type { Gpu } from '../gpu/device';
import { Kernels } from '../gpu/kernels/registry';
import { ropeTable } from '../gpu/kernels/rope';
import { tensor, type Tensor } from '../gpu/tensor';
import type { LlamaConfig, LlamaModelFile } from './config';

/** Weights of one block on the GPU; shapes as in LayerWeights. */
export interface GpuLayer {
  attnNorm: Tensor; // [dim]
  wq: Tensor; // [nHeads * headDim, dim]
  wk: Tensor; // [nKvHeads * headDim, dim]
  wv: Tensor; // [nKvHeads * headDim, dim]
  wo: Tensor; // [dim, nHeads * headDim]
  ffnNorm: Tensor; // [dim]
  w1: Tensor; // gate [hiddenDim, dim]
  w2: Tensor; // down [dim, hiddenDim]
  w3: Tensor; // up   [hiddenDim, dim]
}

export interface GpuWeights {
  tokenEmbedding: Tensor; // [vocabSize, dim]
  layers: GpuLayer[]; // [nLayers]
  finalNorm: Tensor; // [dim]
  classifier: Tensor; // [vocabSize, dim] (the embedding tensor itself when shared)
  ropeTable: Tensor; // [seqLen, headDim / 2, 2] cos, sin
}

export class Model {
  private constructor(
    readonly gpu: Gpu,
    readonly config: LlamaConfig,
    readonly weights: GpuWeights,
    readonly kernels: Kernels,
  ) {}

  /** Uploads a parsed checkpoint and compiles the kernels. */
  static async load(gpu: Gpu, file: LlamaModelFile): Promise<Model> {
    const c = file.config;
    const w = file.weights;
    const q = c.nHeads * c.headDim;
    const kv = c.nKvHeads * c.headDim;
    const up = (label: string, shape: number[], data: Float32Array) => tensor(gpu, label, shape, 'weights', { data });
    const tokenEmbedding = up('token_embedding', [c.vocabSize, c.dim], w.tokenEmbedding);
    const layers = w.layers.map((l, i) => ({
      attnNorm: up(`layers.${i}.attn_norm`, [c.dim], l.attnNorm),
      wq: up(`layers.${i}.wq`, [q, c.dim], l.wq),
      wk: up(`layers.${i}.wk`, [kv, c.dim], l.wk),
      wv: up(`layers.${i}.wv`, [kv, c.dim], l.wv),
      wo: up(`layers.${i}.wo`, [c.dim, q], l.wo),
      ffnNorm: up(`layers.${i}.ffn_norm`, [c.dim], l.ffnNorm),
      w1: up(`layers.${i}.w1`, [c.hiddenDim, c.dim], l.w1),
      w2: up(`layers.${i}.w2`, [c.dim, c.hiddenDim], l.w2),
      w3: up(`layers.${i}.w3`, [c.hiddenDim, c.dim], l.w3),
    }));
    const weights: GpuWeights = {
      tokenEmbedding,
      layers,
      finalNorm: up('final_norm', [c.dim], w.finalNorm),
      classifier: c.sharedClassifier ? tokenEmbedding : up('classifier', [c.vocabSize, c.dim], w.classifier),
      ropeTable: up('rope_table', [c.seqLen, c.headDim / 2, 2], ropeTable(c.seqLen, c.headDim, c.ropeTheta)),
    };
    const kernels = await Kernels.load(gpu);
    gpu.throwIfFailed('loading the model');
    return new Model(gpu, c, weights, kernels);
  }

  destroy(): void {
    const seen = new Set<Tensor>();
    const all = [this.weights.tokenEmbedding, this.weights.finalNorm, this.weights.classifier, this.weights.ropeTable];
    for (const l of this.weights.layers) all.push(...Object.values(l));
    for (const t of all) if (!seen.has(t)) (seen.add(t), t.destroy());
  }
}
