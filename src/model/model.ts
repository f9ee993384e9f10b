// A model on the GPU: its config, its weights as tensors, the compiled kernels. Weights go up one
// tensor at a time as they are read (a file through a ByteSource: about one tensor in host memory);
// a load that fails frees what it had made. RoPE tables cover the positions in use, not the whole
// context (a 1M-context model would need 512 MB for one).
import type { Gpu } from '../gpu/device';
import { tuneMatmuls } from '../gpu/kernels/matmul';
import { Kernels } from '../gpu/kernels/registry';
import { ropeTable } from '../gpu/kernels/rope';
import { tensor, type Tensor } from '../gpu/tensor';
import { layoutOfGgml, LAYOUTS, uploadF32, uploadWeight, type Weight } from '../gpu/weight';
import { ropeFrequencies, type LlamaConfig, type LlamaModelFile } from '../formats/config';
import { LAYER_TENSORS, memoryTensors, type ModelTensors } from '../formats/model_tensors';
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
}

/** RoPE cos / sin tables of the first `positions` positions: [positions, headDim / 2, 2]. */
export interface RopeTables {
  positions: number;
  global: Tensor;
  local?: Tensor; // the sliding layers' RoPE (Gemma 3's local base)
}

/** Positions of the smallest RoPE table (tables grow by doubling, up to the model's context). */
const MIN_ROPE_POSITIONS = 64;

/** The positions of the table made for a pass reaching `positions` when the largest held covers `have` (0: none; have: enough). */
function ropeRows(c: LlamaConfig, have: number, positions: number): number {
  if (have >= positions) return have;
  let n = Math.max(MIN_ROPE_POSITIONS, 2 * have);
  while (n < positions) n *= 2;
  return Math.min(n, c.seqLen);
}

/** GPU bytes of the RoPE tables a pass reaching `positions` adds to a model holding tables of `have` positions (0 when they cover it). */
export function ropeTableBytes(c: LlamaConfig, have: number, positions: number): number {
  if (have >= positions) return 0;
  return ropeRows(c, have, positions) * c.headDim * 4 * (c.localRope ? 2 : 1);
}

export class Model {
  /** The model's tokenizer (set by loadModel: the file's own, or the llama2.c tokenizer given with it). */
  tokenizer?: TextTokenizer;
  private readonly ropes: RopeTables[] = []; // every table made (passes recorded with one keep using it)

  private constructor(
    readonly gpu: Gpu,
    readonly config: LlamaConfig,
    /** @internal */
    readonly weights: GpuWeights,
    /** @internal */
    readonly kernels: Kernels,
  ) {}

  /**
   * Uploads a model's weights, one tensor at a time as `file` gives them (a parsed file in memory,
   * with `raw` its tensors as stored; or ModelTensors reading a file per tensor), and compiles the
   * kernels (or takes `compiled`, this device's). Matrices stored in a layout the kernels read (F16,
   * BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K) go up in that form; everything else as f32.
   * Weights beyond the device's buffer limits are split by rows (src/gpu/weight.ts). A load that
   * fails destroys every buffer it made. Apps use loadModel (src/model/load.ts).
   * @internal
   */
  static async load(gpu: Gpu, file: LlamaModelFile | ModelTensors, raw?: RawTensors, compiled?: Kernels): Promise<Model> {
    if (compiled && compiled.gpu !== gpu) throw new Error('Model.load: the compiled kernels belong to another device');
    const t: ModelTensors = 'f32' in file ? file : memoryTensors(file, raw);
    const c = t.config;
    const q = c.nHeads * c.headDim;
    const kv = c.nKvHeads * c.headDim;
    const made: { destroy(): void }[] = [];
    const keep = <W extends { destroy(): void }>(w: W): W => (made.push(w), w);
    const up = async (label: string, name: string, shape: number[]) => keep(tensor(gpu, label, shape, 'weights', { data: await t.f32(name) }));
    const opt = async (label: string, name: string, shape: number[]) => (t.has(name) ? up(label, name, shape) : undefined);
    // A matrix stays in its file's layout where the kernels read it (rows a whole number of blocks),
    // else f32 (converted on its read); either splits by rows past the device's limits.
    const mat = async (label: string, name: string, shape: [number, number]): Promise<Weight> => {
      const s = t.stored(name);
      const layout = s && layoutOfGgml(s.type);
      if (s && layout && shape[1] % Math.max(4, LAYOUTS[layout].elements) === 0) return keep(uploadWeight(gpu, label, layout, shape, await t.read(name)));
      return keep(uploadF32(gpu, label, shape, await t.f32(name)));
    };
    try {
      const tokenEmbedding = await mat('token_embedding', 'token_embd.weight', [c.vocabSize, c.dim]);
      const layers: GpuLayer[] = [];
      for (let i = 0; i < c.nLayers; i++) {
        const n = (f: keyof typeof LAYER_TENSORS) => `blk.${i}.${LAYER_TENSORS[f]}`;
        const L = `layers.${i}`;
        layers.push({
          attnNorm: await up(`${L}.attn_norm`, n('attnNorm'), [c.dim]),
          wq: await mat(`${L}.wq`, n('wq'), [q, c.dim]),
          wk: await mat(`${L}.wk`, n('wk'), [kv, c.dim]),
          wv: await mat(`${L}.wv`, n('wv'), [kv, c.dim]),
          wo: await mat(`${L}.wo`, n('wo'), [c.dim, q]),
          ffnNorm: await up(`${L}.ffn_norm`, n('ffnNorm'), [c.dim]),
          w1: await mat(`${L}.w1`, n('w1'), [c.hiddenDim, c.dim]),
          w2: await mat(`${L}.w2`, n('w2'), [c.dim, c.hiddenDim]),
          w3: await mat(`${L}.w3`, n('w3'), [c.hiddenDim, c.dim]),
          bq: await opt(`${L}.bq`, n('bq'), [1, q]),
          bk: await opt(`${L}.bk`, n('bk'), [1, kv]),
          bv: await opt(`${L}.bv`, n('bv'), [1, kv]),
          bo: await opt(`${L}.bo`, n('bo'), [c.dim]),
          qNorm: await opt(`${L}.q_norm`, n('qNorm'), [c.headDim]),
          kNorm: await opt(`${L}.k_norm`, n('kNorm'), [c.headDim]),
          postAttnNorm: await opt(`${L}.post_attn_norm`, n('postAttnNorm'), [c.dim]),
          postFfnNorm: await opt(`${L}.post_ffn_norm`, n('postFfnNorm'), [c.dim]),
        });
      }
      const weights: GpuWeights = {
        tokenEmbedding,
        layers,
        finalNorm: await up('final_norm', 'output_norm.weight', [c.dim]),
        classifier: c.sharedClassifier ? tokenEmbedding : await mat('classifier', 'output.weight', [c.vocabSize, c.dim]),
      };
      const kernels = compiled ?? (await Kernels.load(gpu));
      await tuneMatmuls(kernels, [weights.classifier, ...layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3])]); // once per adapter and shape (GPUs)
      gpu.throwIfFailed('loading the model');
      return new Model(gpu, c, weights, kernels);
    } catch (e) {
      for (const w of made) w.destroy(); // a failed load keeps nothing on the GPU
      throw e;
    }
  }

  /**
   * RoPE tables covering at least `positions` positions (a pass of T tokens, or a KV cache's
   * capacity): made on first need, grown by doubling up to the context; earlier tables stay for
   * the passes recorded with them.
   * @internal
   */
  rope(positions: number): RopeTables {
    const c = this.config;
    if (!Number.isInteger(positions) || positions < 1 || positions > c.seqLen) throw new Error(`rope: ${positions} positions, the model's context is ${c.seqLen}`);
    const last = this.ropes.at(-1);
    if (last && last.positions >= positions) return last;
    const n = ropeRows(c, last?.positions ?? 0, positions);
    const table = (label: string, theta: number, scaling: LlamaConfig['ropeScaling']) =>
      tensor(this.gpu, `${label}[${n}]`, [n, c.headDim / 2, 2], 'weights', { data: ropeTable(n, c.headDim, theta, scaling && ropeFrequencies(c.headDim, theta, scaling)) });
    const r: RopeTables = {
      positions: n,
      global: table('rope_table', c.ropeTheta, c.ropeScaling),
      ...(c.localRope ? { local: table('rope_table_local', c.localRope.theta, c.localRope.scaling) } : {}),
    };
    this.ropes.push(r);
    return r;
  }

  /** Positions the RoPE tables made so far cover (0: none yet). @internal */
  get ropePositions(): number {
    return this.ropes.at(-1)?.positions ?? 0;
  }

  destroy(): void {
    const seen = new Set<Weight>();
    const all: Weight[] = [this.weights.tokenEmbedding, this.weights.finalNorm, this.weights.classifier];
    for (const r of this.ropes.splice(0)) all.push(r.global, ...(r.local ? [r.local] : []));
    for (const l of this.weights.layers) all.push(...Object.values(l).filter((t): t is Weight => t !== undefined));
    for (const t of all) if (!seen.has(t)) (seen.add(t), t.destroy());
  }
}
