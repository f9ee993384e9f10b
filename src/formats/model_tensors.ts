// A model's weights as Model.load reads them: one tensor at a time, by its llama.cpp (GGUF) name,
// either as stored (for the layouts the GPU reads compressed) or as float32. A parsed file in
// memory answers from its arrays (memoryTensors); a file read through a ByteSource answers with a
// read of that tensor's bytes (gguf_source.ts, hf_source.ts, llama2c_source.ts), so a model larger
// than one JS buffer loads and host memory holds about one tensor at a time.
import type { LayerWeights, LlamaConfig, LlamaModelFile, LlamaWeights } from './config';
import type { ByteSource } from './byte_source';

export interface ModelTensors {
  config: LlamaConfig;
  /** Is the tensor in the model (optional ones: biases, q/k norms, Gemma's post-norms, output.weight)? */
  has(name: string): boolean;
  /** The tensor as stored, when its type may be read by the kernels as is (F16, BF16, ggml blocks). */
  stored(name: string): { type: string; shape: number[] } | undefined;
  /** The stored bytes of a tensor that `stored` describes. */
  read(name: string): Promise<Uint8Array>;
  /** The tensor's values as float32 (converted or dequantised; Gemma norms already 1 + w). */
  f32(name: string): Promise<Float32Array>;
}

/** The fields of a layer (LayerWeights) and their names in a GGUF file (blk.N.<name>). */
export const LAYER_TENSORS: Readonly<Record<keyof LayerWeights, string>> = {
  attnNorm: 'attn_norm.weight',
  wq: 'attn_q.weight',
  wk: 'attn_k.weight',
  wv: 'attn_v.weight',
  wo: 'attn_output.weight',
  bq: 'attn_q.bias',
  bk: 'attn_k.bias',
  bv: 'attn_v.bias',
  bo: 'attn_output.bias',
  qNorm: 'attn_q_norm.weight',
  kNorm: 'attn_k_norm.weight',
  postAttnNorm: 'post_attention_norm.weight',
  postFfnNorm: 'post_ffw_norm.weight',
  ffnNorm: 'ffn_norm.weight',
  w1: 'ffn_gate.weight',
  w2: 'ffn_down.weight',
  w3: 'ffn_up.weight',
};

/** The model-wide tensors and their GGUF names. */
export const MODEL_TENSORS: Readonly<Record<Exclude<keyof LlamaWeights, 'layers'>, string>> = {
  tokenEmbedding: 'token_embd.weight',
  finalNorm: 'output_norm.weight',
  classifier: 'output.weight',
};

const BY_NAME = new Map(Object.entries(LAYER_TENSORS).map(([field, name]) => [name, field as keyof LayerWeights]));
const TOP_BY_NAME = new Map(Object.entries(MODEL_TENSORS).map(([field, name]) => [name, field as Exclude<keyof LlamaWeights, 'layers'>]));

/** The field of LlamaWeights a GGUF name stands for: a layer's field, or a model-wide one. */
export function weightField(name: string): { layer: number; field: keyof LayerWeights } | { layer: null; field: Exclude<keyof LlamaWeights, 'layers'> } | null {
  const top = TOP_BY_NAME.get(name);
  if (top) return { layer: null, field: top };
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  const field = m && BY_NAME.get(m[2]);
  return field ? { layer: Number(m[1]), field } : null;
}

/** A model parsed into memory (and, for GGUF / HF, its tensors as stored) as ModelTensors. */
export function memoryTensors(file: LlamaModelFile, raw?: ReadonlyMap<string, { type: string; shape: number[]; bytes: Uint8Array }>): ModelTensors {
  const w = file.weights;
  const values = (name: string): Float32Array | undefined => {
    const f = weightField(name);
    if (!f) return undefined;
    if (f.layer === null) return f.field === 'classifier' && file.config.sharedClassifier ? undefined : w[f.field];
    return w.layers[f.layer]?.[f.field];
  };
  return {
    config: file.config,
    has: (name) => values(name) !== undefined,
    stored: (name) => {
      const r = raw?.get(name);
      return r && { type: r.type, shape: r.shape };
    },
    read: async (name) => {
      const r = raw?.get(name);
      if (!r) throw new Error(`model tensor "${name}" is not stored in a file layout`);
      return r.bytes;
    },
    f32: async (name) => {
      const v = values(name);
      if (!v) throw new Error(`the model has no tensor "${name}"`);
      return v;
    },
  };
}

/** One tensor of a file read through a ByteSource: where its bytes are, and how they become float32. */
export interface SourceTensor {
  src: ByteSource;
  offset: number; // of its bytes in the file
  nbytes: number;
  type: string; // as stored (ggml type name, or a safetensors dtype)
  shape: number[];
  /** The kernels may read it as stored (Model.load then checks the layout); else it goes up as f32. */
  storedLayout: boolean;
  toF32(bytes: Uint8Array): Float32Array;
}

/** ModelTensors reading each tensor from its file when asked (by GGUF name). */
export function sourceTensors(config: LlamaConfig, tensors: ReadonlyMap<string, SourceTensor>): ModelTensors {
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`the model has no tensor "${name}"`);
    return t;
  };
  return {
    config,
    has: (name) => tensors.has(name),
    stored: (name) => {
      const t = tensors.get(name);
      return t?.storedLayout ? { type: t.type, shape: t.shape } : undefined;
    },
    read: (name) => {
      const t = get(name);
      return t.src.read(t.offset, t.nbytes);
    },
    f32: async (name) => {
      const t = get(name);
      return t.toF32(await t.src.read(t.offset, t.nbytes));
    },
  };
}

/** The GGUF names of the tensors a model file's weights hold (its lazy fields are listed, never read). */
export function presentTensors(file: LlamaModelFile): string[] {
  const names: string[] = [MODEL_TENSORS.tokenEmbedding, MODEL_TENSORS.finalNorm];
  if (!file.config.sharedClassifier) names.push(MODEL_TENSORS.classifier);
  file.weights.layers.forEach((layer, i) => {
    for (const field of Object.keys(layer) as (keyof LayerWeights)[]) names.push(`blk.${i}.${LAYER_TENSORS[field]}`);
  });
  return names;
}

/** Do two ranges of two sources hold the same bytes? Read in chunks (a tied output.weight is a copy of the embedding). */
export async function sameRanges(a: { src: ByteSource; offset: number; nbytes: number }, b: { src: ByteSource; offset: number; nbytes: number }): Promise<boolean> {
  if (a.nbytes !== b.nbytes) return false;
  const chunk = 16 << 20;
  for (let at = 0; at < a.nbytes; at += chunk) {
    const n = Math.min(chunk, a.nbytes - at);
    const [x, y] = [await a.src.read(a.offset + at, n), await b.src.read(b.offset + at, n)];
    for (let i = 0; i < n; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}
