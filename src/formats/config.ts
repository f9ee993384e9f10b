// Model configuration and host-side weights of a Llama-family transformer.
// Shapes are written [rows, cols] row-major; a linear layer's weight is [out, in] (y = x W^T).

/** Hyper-parameters of a Llama-family model. */
export interface LlamaConfig {
  dim: number; // model width
  hiddenDim: number; // FFN inner width
  nLayers: number;
  nHeads: number; // query heads
  nKvHeads: number; // key/value heads (grouped-query attention when < nHeads)
  headDim: number; // width of a head (dim / nHeads, or Qwen3's explicit head_dim)
  vocabSize: number;
  seqLen: number; // maximum context length
  normEps: number; // RMSNorm epsilon
  ropeTheta: number; // RoPE base frequency
  ropeStyle: 'adjacent' | 'halfsplit'; // llama2.c pairs (2i, 2i+1) | HF pairs (i, i + headDim/2)
  sharedClassifier: boolean; // LM head tied to the token embedding
  ropeScaling?: RopeScaling; // absent: plain RoPE
  // Gemma 3 (each absent: the Llama behaviour)
  embedScale?: number; // token embeddings multiplied by this (Gemma: sqrt(dim) in float32)
  attnScale?: number; // attention score scale (default 1 / sqrt(headDim); Gemma: query_pre_attn_scalar^-0.5)
  ffnActivation?: 'silu' | 'gelu_tanh'; // the gate's activation (default silu; Gemma: GELU, tanh approximation)
  slidingWindow?: number; // keys a sliding layer sees: its own position and the window - 1 before
  slidingLayers?: boolean[]; // [nLayers] the layers that use the window and localRope (absent: none)
  localRope?: { theta: number; scaling?: RopeScaling }; // RoPE of the sliding layers
  finalSoftcap?: number; // logits = c tanh(logits / c)
}

/**
 * How RoPE frequencies are rescaled for a longer context (transformers' rope_type; llama.cpp's
 * rope_freqs). Frequency p (of headDim / 2) is inv_p = theta^(-2p / headDim), then:
 *   linear: inv_p / factor
 *   llama3: wavelength w = 2 pi / inv_p; w < original / highFreqFactor: inv_p; w > original /
 *           lowFreqFactor: inv_p / factor; between: (1 - s) inv_p / factor + s inv_p with
 *           s = (original / w - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
 *   factors: inv_p / factors[p] (a GGUF's rope_freqs.weight, as llama.cpp's converter writes llama3)
 */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPos: number }
  | { type: 'factors'; factors: number[] }; // [headDim / 2]

/** The RoPE frequency of each pair p < headDim / 2, rescaled as `scaling` says (see RopeScaling). float64. */
export function ropeFrequencies(headDim: number, theta: number, scaling?: RopeScaling): Float64Array {
  const half = headDim / 2;
  const f = new Float64Array(half);
  for (let p = 0; p < half; p++) {
    const inv = Math.pow(theta, (-2 * p) / headDim);
    if (!scaling) f[p] = inv;
    else if (scaling.type === 'linear') f[p] = inv / scaling.factor;
    else if (scaling.type === 'factors') f[p] = inv / scaling.factors[p];
    else {
      const { factor, lowFreqFactor, highFreqFactor, originalMaxPos } = scaling;
      const wavelen = (2 * Math.PI) / inv;
      if (wavelen < originalMaxPos / highFreqFactor) f[p] = inv;
      else if (wavelen > originalMaxPos / lowFreqFactor) f[p] = inv / factor;
      else {
        const smooth = (originalMaxPos / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        f[p] = ((1 - smooth) * inv) / factor + smooth * inv;
      }
    }
  }
  return f;
}

/** Weights of one transformer block, float32, row-major. */
export interface LayerWeights {
  attnNorm: Float32Array; // [dim]
  wq: Float32Array; // [nHeads * headDim, dim]
  wk: Float32Array; // [nKvHeads * headDim, dim]
  wv: Float32Array; // [nKvHeads * headDim, dim]
  wo: Float32Array; // [dim, nHeads * headDim]
  bq?: Float32Array; // [nHeads * headDim] q bias (Qwen2)
  bk?: Float32Array; // [nKvHeads * headDim] k bias
  bv?: Float32Array; // [nKvHeads * headDim] v bias
  bo?: Float32Array; // [dim] o bias (Llama with attention_bias)
  qNorm?: Float32Array; // [headDim] RMSNorm of each q head before RoPE (Qwen3)
  kNorm?: Float32Array; // [headDim] RMSNorm of each k head before RoPE
  // Gemma: RMSNorm of the attention and FFN outputs before the residual add. Every norm weight
  // here is the multiplier itself (Gemma's stored w is read as 1 + w; llama.cpp stores 1 + w).
  postAttnNorm?: Float32Array; // [dim]
  postFfnNorm?: Float32Array; // [dim]
  ffnNorm: Float32Array; // [dim]
  w1: Float32Array; // gate [hiddenDim, dim]
  w2: Float32Array; // down [dim, hiddenDim]
  w3: Float32Array; // up   [hiddenDim, dim]
}

/** All weights of a model, on the host. */
export interface LlamaWeights {
  tokenEmbedding: Float32Array; // [vocabSize, dim]
  layers: LayerWeights[]; // [nLayers]
  finalNorm: Float32Array; // [dim]
  classifier: Float32Array; // [vocabSize, dim]; the same array as tokenEmbedding when shared
}

export interface LlamaModelFile {
  config: LlamaConfig;
  weights: LlamaWeights;
}

/** Checks a config for values that make no sense, naming the field and the source. */
export function validateConfig(c: LlamaConfig, source: string): void {
  const positive: (keyof LlamaConfig)[] = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize', 'seqLen'];
  for (const k of positive) {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v <= 0 || v > 1 << 24) {
      throw new Error(`${source}: config field ${k} = ${v} is not a positive integer in range`);
    }
  }
  if (c.nHeads % c.nKvHeads !== 0) throw new Error(`${source}: nHeads ${c.nHeads} is not a multiple of nKvHeads ${c.nKvHeads}`);
  if (c.headDim % 2 !== 0) throw new Error(`${source}: headDim ${c.headDim} must be even for RoPE`);
  const r = c.ropeScaling;
  if (r?.type === 'factors' && (r.factors.length !== c.headDim / 2 || !r.factors.every((f) => Number.isFinite(f) && f > 0))) {
    throw new Error(`${source}: RoPE frequency factors must be ${c.headDim / 2} positive numbers (headDim / 2), got ${r.factors.length}`);
  }
  if (r && r.type !== 'factors' && !(Number.isFinite(r.factor) && r.factor > 0)) throw new Error(`${source}: RoPE scaling factor ${r.factor} is not a positive number`);
  if (c.slidingLayers && (c.slidingLayers.length !== c.nLayers || !(Number.isInteger(c.slidingWindow) && c.slidingWindow! > 0))) {
    throw new Error(`${source}: sliding layers need ${c.nLayers} flags and a positive integer window, got ${c.slidingLayers.length} and ${c.slidingWindow}`);
  }
  for (const k of ['embedScale', 'attnScale', 'finalSoftcap'] as const) {
    const v = c[k];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new Error(`${source}: config field ${k} = ${v} is not a positive number`);
  }
  if (r?.type === 'llama3' && !(r.highFreqFactor > r.lowFreqFactor && r.lowFreqFactor > 0 && r.originalMaxPos > 0)) {
    throw new Error(`${source}: llama3 RoPE scaling needs high_freq_factor > low_freq_factor > 0 and original_max_position_embeddings > 0`);
  }
}
