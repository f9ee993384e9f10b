// A model on the GPU: its config, its weights as tensors, the compiled kernels.
import type { Gpu } from '../gpu/device';
import { tuneMatmuls } from '../gpu/kernels/matmul';
import { Kernels } from '../gpu/kernels/registry';
import { ropeTable } from '../gpu/kernels/rope';
import { tensor, type Tensor } from '../gpu/tensor';
import { layoutOfGgml, LAYOUTS, uploadF32, uploadWeight, type Weight } from '../gpu/weight';
import { ropeFrequencies, type LlamaConfig, type LlamaModelFile } from '../formats/config';
import type { TextTokenizer } from '../formats/tokenizer';

/** Tensors as stored in the file (GGUF), by GGUF name: compressed ones are uploaded as they are. */
export type RawTensors = Map<string, { type: string; shape: number[]; bytes: Uint8Array }>;

/** Weights of one block on the GPU; shapes as in LayerWeights. */
export interface GpuLayer {
  attnNorm: Tensor; // [dim]
  wq: Weight; // [nHeads * headDim, dim]
  wk: Weight; // [nKvHeads * headDim, dim]
  wv: Weight; // [nKvHeads * headDim, dim]
  wo: Weight; // [dim, nHeads * headDim]
  bq?: Tensor; // [1, nHeads * headDim] q bias (Qwen2), frozen: a one-row table the pass gathers into every row
  bk?: Tensor; // [1, nKvHeads * headDim]
  bv?: Tensor; // [1, nKvHeads * headDim]
  bo?: Tensor; // [dim] o bias (Llama attention_bias), added to every row after the o projection
  qNorm?: Tensor; // [headDim] per-head RMSNorm of q before RoPE (Qwen3)
  kNorm?: Tensor; // [headDim] per-head RMSNorm of k
  postAttnNorm?: Tensor; // [dim] Gemma: RMSNorm of the attention output before the residual add
  postFfnNorm?: Tensor; // [dim] Gemma: of the FFN output
  ffnNorm: Tensor; // [dim]
  w1: Weight; // gate [hiddenDim, dim]
  w2: Weight; // down [dim, hiddenDim]
  w3: Weight; // up   [hiddenDim, dim]
}

export interface GpuWeights {
  tokenEmbedding: Weight; // [vocabSize, dim], gathered by row (compressed or split like any matrix)
  layers: GpuLayer[]; // [nLayers]
  finalNorm: Tensor; // [dim]
  classifier: Weight; // [vocabSize, dim] (the embedding tensor itself when shared)
  ropeTable: Tensor; // [seqLen, headDim / 2, 2] cos, sin
  ropeTableLocal?: Tensor; // the same for the sliding layers' RoPE (Gemma 3's local base)
}

export class Model {
  /** The model's tokenizer (set by loadModel: the file's own, or the llama2.c tokenizer given with it). */
  tokenizer?: TextTokenizer;

  private constructor(
    readonly gpu: Gpu,
    readonly config: LlamaConfig,
    /** @internal */
    readonly weights: GpuWeights,
    /** @internal */
    readonly kernels: Kernels,
  ) {}

  /**
   * Uploads a parsed checkpoint and compiles the kernels (or takes `compiled`, this device's). With
   * `raw` (GGUF), matrices stored in a layout the kernels read (F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
   * Q2_K..Q6_K) are uploaded in that form; everything else as f32. Weights beyond the device's
   * buffer limits are split by rows (src/gpu/weight.ts). Apps use loadModel (src/model/load.ts).
   * @internal
   */
  static async load(gpu: Gpu, file: LlamaModelFile, raw?: RawTensors, compiled?: Kernels): Promise<Model> {
    if (compiled && compiled.gpu !== gpu) throw new Error('Model.load: the compiled kernels belong to another device');
    const c = file.config;
    const w = file.weights;
    const q = c.nHeads * c.headDim;
    const kv = c.nKvHeads * c.headDim;
    const up = (label: string, shape: number[], data: Float32Array) => tensor(gpu, label, shape, 'weights', { data });
    // A matrix stays in its file's layout where the kernels read it (F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
    // K-quants; rows a whole number of blocks), else f32; either splits by rows past the device's limits.
    // `data` is read only when the matrix goes up as f32 (a GGUF file converts on first read).
    const mat = (label: string, ggufName: string, shape: [number, number], data: () => Float32Array): Weight => {
      const r = raw?.get(ggufName);
      const layout = r && layoutOfGgml(r.type);
      if (r && layout && shape[1] % Math.max(4, LAYOUTS[layout].elements) === 0) return uploadWeight(gpu, label, layout, shape, r.bytes);
      return uploadF32(gpu, label, shape, data());
    };
    const tokenEmbedding = mat('token_embedding', 'token_embd.weight', [c.vocabSize, c.dim], () => w.tokenEmbedding);
    const opt = (label: string, shape: number[], data?: Float32Array) => (data ? up(label, shape, data) : undefined);
    const layers: GpuLayer[] = w.layers.map((l, i) => ({
      attnNorm: up(`layers.${i}.attn_norm`, [c.dim], l.attnNorm),
      wq: mat(`layers.${i}.wq`, `blk.${i}.attn_q.weight`, [q, c.dim], () => l.wq),
      wk: mat(`layers.${i}.wk`, `blk.${i}.attn_k.weight`, [kv, c.dim], () => l.wk),
      wv: mat(`layers.${i}.wv`, `blk.${i}.attn_v.weight`, [kv, c.dim], () => l.wv),
      wo: mat(`layers.${i}.wo`, `blk.${i}.attn_output.weight`, [c.dim, q], () => l.wo),
      ffnNorm: up(`layers.${i}.ffn_norm`, [c.dim], l.ffnNorm),
      w1: mat(`layers.${i}.w1`, `blk.${i}.ffn_gate.weight`, [c.hiddenDim, c.dim], () => l.w1),
      w2: mat(`layers.${i}.w2`, `blk.${i}.ffn_down.weight`, [c.dim, c.hiddenDim], () => l.w2),
      w3: mat(`layers.${i}.w3`, `blk.${i}.ffn_up.weight`, [c.hiddenDim, c.dim], () => l.w3),
      bq: opt(`layers.${i}.bq`, [1, q], l.bq),
      bk: opt(`layers.${i}.bk`, [1, kv], l.bk),
      bv: opt(`layers.${i}.bv`, [1, kv], l.bv),
      bo: opt(`layers.${i}.bo`, [c.dim], l.bo),
      qNorm: opt(`layers.${i}.q_norm`, [c.headDim], l.qNorm),
      kNorm: opt(`layers.${i}.k_norm`, [c.headDim], l.kNorm),
      postAttnNorm: opt(`layers.${i}.post_attn_norm`, [c.dim], l.postAttnNorm),
      postFfnNorm: opt(`layers.${i}.post_ffn_norm`, [c.dim], l.postFfnNorm),
    }));
    const table = (label: string, theta: number, scaling: LlamaConfig['ropeScaling']) =>
      up(label, [c.seqLen, c.headDim / 2, 2], ropeTable(c.seqLen, c.headDim, theta, scaling && ropeFrequencies(c.headDim, theta, scaling)));
    const weights: GpuWeights = {
      tokenEmbedding,
      layers,
      finalNorm: up('final_norm', [c.dim], w.finalNorm),
      classifier: c.sharedClassifier ? tokenEmbedding : mat('classifier', 'output.weight', [c.vocabSize, c.dim], () => w.classifier),
      ropeTable: table('rope_table', c.ropeTheta, c.ropeScaling),
      ...(c.localRope ? { ropeTableLocal: table('rope_table_local', c.localRope.theta, c.localRope.scaling) } : {}),
    };
    const kernels = compiled ?? (await Kernels.load(gpu));
    await tuneMatmuls(kernels, [weights.classifier, ...layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3])]); // once per adapter and shape (GPUs)
    gpu.throwIfFailed('loading the model');
    return new Model(gpu, c, weights, kernels);
  }

  destroy(): void {
    const seen = new Set<Weight>();
    const all: Weight[] = [this.weights.tokenEmbedding, this.weights.finalNorm, this.weights.classifier, this.weights.ropeTable];
    if (this.weights.ropeTableLocal) all.push(this.weights.ropeTableLocal);
    for (const l of this.weights.layers) all.push(...Object.values(l).filter((t): t is Weight => t !== undefined));
    for (const t of all) if (!seen.has(t)) (seen.add(t), t.destroy());
  }
}
