// A GGUF file as a model: its architecture's metadata read into a LlamaConfig (every key checked
// by gguf_config.ts) and its tensors by llama.cpp's names into the typed model file; quantised
// tensors are also kept as stored, for the GPU to read in their own layout.
import type { LayerWeights, LlamaConfig, LlamaModelFile, LlamaWeights } from './config';
import { validateConfig } from './config';
import { checkGgufKeys } from './gguf_config';
import { GGUF_READ_TYPES, metaNumber, metaString, sameBytes, tensorBytes, tensorToFloat, type GgufFile, type GgufTensor } from './gguf';

export interface GgufRawTensor {
  type: string; // ggml type name
  shape: number[]; // row-major [.., out, in]
  bytes: Uint8Array; // a view into the file's bytes
}

export interface GgufModelFile extends LlamaModelFile {
  architecture: string;
  rawTensors: Map<string, GgufRawTensor>; // every tensor of the file, by GGUF name
}

/** Architectures with the Llama tensor layout, and the RoPE pairing llama.cpp uses for each. */
export const GGUF_ARCHITECTURES: Readonly<Record<string, LlamaConfig['ropeStyle']>> = {
  llama: 'adjacent', // LLAMA_ROPE_TYPE_NORM: GGUF keeps Q/K rows in the Meta (llama2.c) order
  qwen2: 'halfsplit', // LLAMA_ROPE_TYPE_NEOX; + blk.N.attn_{q,k,v}.bias
  qwen3: 'halfsplit', // LLAMA_ROPE_TYPE_NEOX; attention.key_length heads, + blk.N.attn_{q,k}_norm.weight
  gemma3: 'halfsplit', // LLAMA_ROPE_TYPE_NEOX; + q/k norms, blk.N.post_{attention_norm,ffw_norm}.weight (norms stored as 1 + w)
};

/**
 * The model in a parsed GGUF file, converted to float32: the Llama layout, plus Qwen2's q/k/v
 * biases, Qwen3's q/k norms (and attention.key_length heads) and llama's rope_freqs (Llama 3.x
 * RoPE scaling) or linear rope.scaling. Every metadata key is read, irrelevant or refused by name
 * (./gguf_config.ts). Tensors the architecture has no place for are an error naming them, unless
 * `allowUnused` (they are then only in `rawTensors`).
 */
export function ggufToModelFile(g: GgufFile, bytes: Uint8Array, source: string, opts: { allowUnused?: boolean } = {}): GgufModelFile {
  const io: GgufTensorIo = {
    f32: (t) => tensorToFloat(t, bytes, source),
    same: (a, b) => a.type === b.type && sameBytes(tensorBytes(a, bytes), tensorBytes(b, bytes)),
    bytes: (t) => tensorBytes(t, bytes),
  };
  return ggufModel(g, io, source, opts);
}

/** How ggufModel reaches tensor data: in memory, or (gguf_source.ts) answers read through a ByteSource beforehand. */
export interface GgufTensorIo {
  f32(t: GgufTensor): Float32Array; // a tensor's values (read lazily, only for the weights asked for)
  same(a: GgufTensor, b: GgufTensor): boolean; // the same bytes (an output.weight that copies the embedding)
  bytes?(t: GgufTensor): Uint8Array; // a tensor as stored (rawTensors), when the file is in memory
}

/** ggufToModelFile over a GgufTensorIo (see there). */
export function ggufModel(g: GgufFile, io: GgufTensorIo, source: string, opts: { allowUnused?: boolean } = {}): GgufModelFile {
  const arch = metaString(g, 'general.architecture', source);
  if (arch === undefined) throw new Error(`${source}: GGUF has no general.architecture`);
  const ropeStyle = GGUF_ARCHITECTURES[arch];
  if (!ropeStyle) throw new Error(`${source}: GGUF architecture "${arch}" is not supported (supported: ${Object.keys(GGUF_ARCHITECTURES).join(', ')})`);
  const num = (k: string) => metaNumber(g, `${arch}.${k}`, source);
  const req = (k: string) => {
    const v = num(k);
    if (v === undefined) throw new Error(`${source}: GGUF metadata "${arch}.${k}" is missing`);
    return v;
  };
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const embd = byName.get('token_embd.weight');
  if (!embd) throw new Error(`${source}: GGUF has no tensor "token_embd.weight"`);
  const output = byName.get('output.weight');
  const tokens = g.metadata.get('tokenizer.ggml.tokens');
  const vocabSize = tokens?.type === 'ARRAY' ? tokens.value.length : embd.shape[0];

  checkGgufKeys(g.metadata.keys(), arch, (k) => {
    const v = g.metadata.get(k);
    return v === undefined || v.type === 'ARRAY' ? undefined : typeof v.value === 'bigint' ? Number(v.value) : v.value;
  }, source);
  // Counts are checked against the tensors present before anything is sized by them (a hostile
  // block_count of 4294967295 must not reach an array of that length).
  const nLayers = req('block_count');
  const blocks = blockCount(g.tensors.map((t) => t.name), /^blk\.(\d+)\./, source);
  if (nLayers !== blocks) {
    throw new Error(`${source}: GGUF ${arch}.block_count is ${nLayers}, but the file holds the tensors of ${blocks} block${blocks === 1 ? '' : 's'}${blocks ? ` (blk.0 .. blk.${blocks - 1})` : ''}`);
  }
  const dim = req('embedding_length');
  const nHeads = req('attention.head_count');
  const headDim = num('attention.key_length') ?? dim / nHeads;
  // llama.cpp's converter writes Llama 3.x's rope_type llama3 as per-frequency divisors (LLM_TENSOR_ROPE_FREQS);
  // elsewhere the tensor is unused here, and so an error naming it
  const rf = arch === 'llama' ? byName.get('rope_freqs.weight') : undefined;
  const scalingType = metaString(g, `${arch}.rope.scaling.type`, source);
  const ropeScaling: LlamaConfig['ropeScaling'] = rf
    ? { type: 'factors', factors: Array.from(io.f32(rf)) }
    : scalingType === 'linear'
      ? { type: 'linear', factor: req('rope.scaling.factor') }
      : undefined;
  if (rf && scalingType !== undefined && scalingType !== 'none') throw new Error(`${source}: GGUF has both rope_freqs.weight and ${arch}.rope.scaling.type "${scalingType}"`);
  const config: LlamaConfig = {
    dim,
    hiddenDim: req('feed_forward_length'),
    nLayers,
    nHeads,
    nKvHeads: num('attention.head_count_kv') ?? nHeads,
    headDim,
    vocabSize,
    seqLen: req('context_length'),
    normEps: num('attention.layer_norm_rms_epsilon') ?? 1e-5,
    ropeTheta: num('rope.freq_base') ?? 10000,
    ropeStyle,
    // An output.weight identical to the embedding (as llama.cpp's llama2.c converter writes) is the tied classifier.
    sharedClassifier: !output || io.same(output, embd),
    ...(ropeScaling ? { ropeScaling } : {}),
    ...(arch === 'gemma3' ? gemma3Config(num, dim, nHeads, headDim, nLayers, source) : {}),
  };
  if (!Number.isInteger(headDim)) throw new Error(`${source}: GGUF ${arch}.embedding_length ${dim} is not a multiple of ${arch}.attention.head_count ${nHeads} (and no ${arch}.attention.key_length is given)`);
  validateConfig(config, source);
  const unsupported = (what: string) => { throw new Error(`${source}: GGUF ${what} is not supported`); };
  const valueLen = num('attention.value_length');
  if (valueLen !== undefined && valueLen !== headDim) unsupported(`${arch}.attention.value_length ${valueLen} other than the key length ${headDim}`);
  const vocabKey = num('vocab_size');
  if (vocabKey !== undefined && vocabKey !== vocabSize) throw new Error(`${source}: GGUF ${arch}.vocab_size ${vocabKey} disagrees with the ${vocabSize} tokens / embedding rows`);
  const ropeDims = num('rope.dimension_count');
  if (ropeDims !== undefined && ropeDims !== config.headDim) unsupported(`partial RoPE (${arch}.rope.dimension_count ${ropeDims} of headDim ${config.headDim})`);

  const used = new Set<string>();
  const take = (name: string, shape: number[]): (() => Float32Array) => {
    const t = byName.get(name);
    if (!t) throw new Error(`${source}: GGUF has no tensor "${name}"`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${source}: GGUF tensor "${name}" has shape [${t.shape}], expected [${shape}]`);
    }
    used.add(name);
    if (!(GGUF_READ_TYPES as readonly string[]).includes(t.type)) throw new Error(`${source}: tensor "${t.name}" has type ${t.type}; only ${GGUF_READ_TYPES.join(', ')} are supported`);
    // converted to f32 on first read only: Model.load keeps the kernels' layouts compressed and never
    // reads them (a Llama-3.2-1B Q4_K_M took 721 s and ~9.5 GB of host memory converting them all)
    let f32: Float32Array | undefined;
    return () => (f32 ??= io.f32(t));
  };
  /** An object whose Float32Array fields are converted on first read (and may be replaced). */
  const lazyFields = <T>(fields: Record<string, (() => Float32Array) | undefined>): T => {
    const o: Record<string, Float32Array> = {};
    for (const [k, read] of Object.entries(fields)) {
      if (!read) continue;
      let v: Float32Array | undefined;
      Object.defineProperty(o, k, { enumerable: true, configurable: true, get: () => (v ??= read()), set: (x: Float32Array) => void (v = x) });
    }
    return o as T;
  };
  if (rf) used.add(rf.name);
  const { hiddenDim, nKvHeads } = config;
  const q = nHeads * headDim;
  const kv = nKvHeads * headDim;
  const tokenEmbedding = take('token_embd.weight', [vocabSize, dim]);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const b = `blk.${l}.`;
    layers.push(lazyFields<LayerWeights>({
      attnNorm: take(`${b}attn_norm.weight`, [dim]),
      wq: take(`${b}attn_q.weight`, [q, dim]),
      wk: take(`${b}attn_k.weight`, [kv, dim]),
      wv: take(`${b}attn_v.weight`, [kv, dim]),
      wo: take(`${b}attn_output.weight`, [dim, q]),
      ffnNorm: take(`${b}ffn_norm.weight`, [dim]),
      w1: take(`${b}ffn_gate.weight`, [hiddenDim, dim]),
      w2: take(`${b}ffn_down.weight`, [dim, hiddenDim]),
      w3: take(`${b}ffn_up.weight`, [hiddenDim, dim]),
      // llama.cpp reads Qwen2's and llama's biases when present (TENSOR_NOT_REQUIRED); q/k/v all three or none
      ...((arch === 'qwen2' || arch === 'llama') && byName.has(`${b}attn_q.bias`) ? { bq: take(`${b}attn_q.bias`, [q]), bk: take(`${b}attn_k.bias`, [kv]), bv: take(`${b}attn_v.bias`, [kv]) } : {}),
      ...(arch === 'llama' && byName.has(`${b}attn_output.bias`) ? { bo: take(`${b}attn_output.bias`, [dim]) } : {}),
      ...(arch === 'qwen3' || arch === 'gemma3' ? { qNorm: take(`${b}attn_q_norm.weight`, [headDim]), kNorm: take(`${b}attn_k_norm.weight`, [headDim]) } : {}),
      ...(arch === 'gemma3' ? { postAttnNorm: take(`${b}post_attention_norm.weight`, [dim]), postFfnNorm: take(`${b}post_ffw_norm.weight`, [dim]) } : {}),
    }));
  }
  const finalNorm = take('output_norm.weight', [dim]);
  if (config.sharedClassifier && output) used.add(output.name);
  const classifier = config.sharedClassifier ? tokenEmbedding : take('output.weight', [vocabSize, dim]);
  const unused = g.tensors.filter((t) => !used.has(t.name)).map((t) => t.name);
  if (unused.length > 0 && !opts.allowUnused) {
    const list = unused.slice(0, 4).join(', ') + (unused.length > 4 ? `, ... (${unused.length} in all)` : '');
    throw new Error(`${source}: GGUF tensors not supported by the Llama layout: ${list}`);
  }
  const rawTensors = new Map(io.bytes ? g.tensors.map((t) => [t.name, { type: t.type, shape: t.shape, bytes: io.bytes!(t) }]) : []);
  const weights = lazyFields<LlamaWeights>({ tokenEmbedding, finalNorm, classifier });
  weights.layers = layers;
  return { config, weights, architecture: arch, rawTensors };
}

/**
 * The number of layers (blocks) whose tensors are present, by the index in their names (`pattern`'s
 * first group): n when the indices are exactly 0 .. n - 1. A gap is an error naming the first
 * missing block, so a count from a header can be checked against it before anything is sized.
 */
export function blockCount(names: Iterable<string>, pattern: RegExp, source: string): number {
  const seen = new Set<number>();
  for (const n of names) {
    const m = pattern.exec(n);
    if (m && String(Number(m[1])) === m[1]) seen.add(Number(m[1]));
  }
  let n = 0;
  while (seen.has(n)) n++;
  if (n !== seen.size) {
    let max = 0;
    for (const i of seen) max = Math.max(max, i);
    throw new Error(`${source}: the tensors hold layers up to ${max} but none of layer ${n}: a file with missing layers`);
  }
  return n;
}

/**
 * llama.cpp's gemma3 hyper-parameters beyond the Llama ones (llama-model.cpp, LLM_ARCH_GEMMA3):
 * embeddings times sqrt(n_embd), GELU-tanh, attention scale 1 / sqrt(head_dim) (1 / sqrt(n_embd /
 * n_head) for the 62-layer 27B: its query_pre_attn_scalar), and with attention.sliding_window > 0
 * layer il sliding when il % pattern < pattern - 1 (every layer when the pattern is 0), at RoPE
 * base rope.freq_base_swa (default 1e4) without scaling.
 */
function gemma3Config(num: (k: string) => number | undefined, dim: number, nHeads: number, headDim: number, nLayers: number, source: string): Partial<LlamaConfig> {
  const window = num('attention.sliding_window') ?? 0;
  const period = num('attention.sliding_window_pattern') ?? 6;
  if (!Number.isInteger(period) || period < 0) throw new Error(`${source}: GGUF gemma3.attention.sliding_window_pattern ${period} is not a non-negative integer`);
  const sliding = Array.from({ length: nLayers }, (_, il) => period === 0 || il % period < period - 1);
  return {
    embedScale: Math.fround(Math.sqrt(dim)),
    attnScale: (nLayers === 62 ? dim / nHeads : headDim) ** -0.5,
    ffnActivation: 'gelu_tanh',
    ...(window > 0 && sliding.some((x) => x) ? { slidingWindow: window, slidingLayers: sliding, localRope: { theta: num('rope.freq_base_swa') ?? 10000 } } : {}),
  };
}
