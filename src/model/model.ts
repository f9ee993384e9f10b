// A model on the GPU: its config, its weights as tensors, the compiled kernels.
import type { Gpu } from '../gpu/device';
import { Kernels } from '../gpu/kernels/registry';
import { ropeTable } from '../gpu/kernels/rope';
import { tensor, type Tensor } from '../gpu/tensor';
import { uploadCompressed, type CompressedType, type Weight } from '../gpu/weight';
import type { LlamaConfig, LlamaModelFile } from '../formats/config';

/** Tensors as stored in the file (GGUF), by GGUF name: compressed ones are uploaded as they are. */
export type RawTensors = Map<string, { type: string; shape: number[]; bytes: Uint8Array }>;

const COMPRESSED: Record<string, CompressedType> = { F16: 'f16', Q8_0: 'q8_0', Q4_0: 'q4_0' };

/** Weights of one block on the GPU; shapes as in LayerWeights. */
export interface GpuLayer {
  attnNorm: Tensor; // [dim]
  wq: Weight; // [nHeads * headDim, dim]
  wk: Weight; // [nKvHeads * headDim, dim]
  wv: Weight; // [nKvHeads * headDim, dim]
  wo: Weight; // [dim, nHeads * headDim]
  ffnNorm: Tensor; // [dim]
  w1: Weight; // gate [hiddenDim, dim]
  w2: Weight; // down [dim, hiddenDim]
  w3: Weight; // up   [hiddenDim, dim]
}

export interface GpuWeights {
  tokenEmbedding: Tensor; // [vocabSize, dim]
  layers: GpuLayer[]; // [nLayers]
  finalNorm: Tensor; // [dim]
  classifier: Weight; // [vocabSize, dim] (the embedding tensor itself when shared)
  ropeTable: Tensor; // [seqLen, headDim / 2, 2] cos, sin
}

export class Model {
  private constructor(
    readonly gpu: Gpu,
    readonly config: LlamaConfig,
    readonly weights: GpuWeights,
    readonly kernels: Kernels,
  ) {}

  /**
   * Uploads a parsed checkpoint and compiles the kernels. With `raw` (GGUF), matrices stored as
   * F16 / Q8_0 / Q4_0 are uploaded in that form; everything else as f32.
   */
  static async load(gpu: Gpu, file: LlamaModelFile, raw?: RawTensors): Promise<Model> {
    const c = file.config;
    const w = file.weights;
    const q = c.nHeads * c.headDim;
    const kv = c.nKvHeads * c.headDim;
    const up = (label: string, shape: number[], data: Float32Array) => tensor(gpu, label, shape, 'weights', { data });
    const mat = (label: string, ggufName: string, shape: [number, number], data: Float32Array): Weight => {
      const r = raw?.get(ggufName);
      const type = r && COMPRESSED[r.type];
      if (r && type && (type === 'f16' ? shape[1] % 4 === 0 : shape[1] % 32 === 0)) return uploadCompressed(gpu, label, type, shape, r.bytes);
      return up(label, shape, data);
    };
    const tokenEmbedding = up('token_embedding', [c.vocabSize, c.dim], w.tokenEmbedding);
    const layers = w.layers.map((l, i) => ({
      attnNorm: up(`layers.${i}.attn_norm`, [c.dim], l.attnNorm),
      wq: mat(`layers.${i}.wq`, `blk.${i}.attn_q.weight`, [q, c.dim], l.wq),
      wk: mat(`layers.${i}.wk`, `blk.${i}.attn_k.weight`, [kv, c.dim], l.wk),
      wv: mat(`layers.${i}.wv`, `blk.${i}.attn_v.weight`, [kv, c.dim], l.wv),
      wo: mat(`layers.${i}.wo`, `blk.${i}.attn_output.weight`, [c.dim, q], l.wo),
      ffnNorm: up(`layers.${i}.ffn_norm`, [c.dim], l.ffnNorm),
      w1: mat(`layers.${i}.w1`, `blk.${i}.ffn_gate.weight`, [c.hiddenDim, c.dim], l.w1),
      w2: mat(`layers.${i}.w2`, `blk.${i}.ffn_down.weight`, [c.dim, c.hiddenDim], l.w2),
      w3: mat(`layers.${i}.w3`, `blk.${i}.ffn_up.weight`, [c.hiddenDim, c.dim], l.w3),
    }));
    const weights: GpuWeights = {
      tokenEmbedding,
      layers,
      finalNorm: up('final_norm', [c.dim], w.finalNorm),
      classifier: c.sharedClassifier ? tokenEmbedding : mat('classifier', 'output.weight', [c.vocabSize, c.dim], w.classifier),
      ropeTable: up('rope_table', [c.seqLen, c.headDim / 2, 2], ropeTable(c.seqLen, c.headDim, c.ropeTheta)),
    };
    const kernels = await Kernels.load(gpu);
    gpu.throwIfFailed('loading the model');
    return new Model(gpu, c, weights, kernels);
  }

  destroy(): void {
    const seen = new Set<Weight>();
    const all: Weight[] = [this.weights.tokenEmbedding, this.weights.finalNorm, this.weights.classifier, this.weights.ropeTable];
    for (const l of this.weights.layers) all.push(...Object.values(l));
    for (const t of all) if (!seen.has(t)) (seen.add(t), t.destroy());
  }
}
