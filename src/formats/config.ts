// Model configuration and host-side weights of a Llama-family transformer.
// Shapes are written [rows, cols] row-major; a linear layer's weight is [out, in] (y = x W^T).

/** Hyper-parameters of a Llama-family model. */
export interface LlamaConfig {
  dim: number; // model width
  hiddenDim: number; // FFN inner width
  nLayers: number;
  nHeads: number; // query heads
  nKvHeads: number; // key/value heads (grouped-query attention when < nHeads)
  headDim: number; // dim / nHeads
  vocabSize: number;
  seqLen: number; // maximum context length
  normEps: number; // RMSNorm epsilon
  ropeTheta: number; // RoPE base frequency
  ropeStyle: 'adjacent' | 'halfsplit'; // llama2.c pairs (2i, 2i+1) | HF pairs (i, i + headDim/2)
  sharedClassifier: boolean; // LM head tied to the token embedding
}

/** Weights of one transformer block, float32, row-major. */
export interface LayerWeights {
  attnNorm: Float32Array; // [dim]
  wq: Float32Array; // [nHeads * headDim, dim]
  wk: Float32Array; // [nKvHeads * headDim, dim]
  wv: Float32Array; // [nKvHeads * headDim, dim]
  wo: Float32Array; // [dim, nHeads * headDim]
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
  if (c.dim !== c.nHeads * c.headDim) throw new Error(`${source}: dim ${c.dim} is not nHeads ${c.nHeads} x headDim ${c.headDim}`);
  if (c.nHeads % c.nKvHeads !== 0) throw new Error(`${source}: nHeads ${c.nHeads} is not a multiple of nKvHeads ${c.nKvHeads}`);
  if (c.headDim % 2 !== 0) throw new Error(`${source}: headDim ${c.headDim} must be even for RoPE`);
}
