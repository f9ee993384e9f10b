// A built-in deterministic toy model: random weights from a fixed seed and a character-level
// tokenizer (llama2.c layout: <unk>, <s>, </s>, one piece per byte, then printable ASCII). It lets every command
// run on a machine with no checkpoint; its text is noise until it is fine-tuned.
import type { LlamaConfig, LlamaModelFile, LayerWeights } from '../formats/config';
import { mulberry32 } from '../util/random';

export const TOY_CONFIG: LlamaConfig = {
  dim: 64,
  hiddenDim: 172,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 16,
  vocabSize: 354, // <unk> <s> </s>, 256 byte pieces, 95 printable ASCII characters
  seqLen: 256,
  normEps: 1e-5,
  ropeTheta: 10000,
  ropeStyle: 'adjacent',
  sharedClassifier: false, // a tied head on random weights predicts the input token (BOS) forever
};

export function toyModel(seed = 1234, config: LlamaConfig = TOY_CONFIG): LlamaModelFile {
  const rand = mulberry32(seed);
  const c = config;
  const uniform = (n: number, fanIn: number) => {
    const bound = 1 / Math.sqrt(fanIn);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * bound;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    layers.push({
      attnNorm: ones(c.dim),
      wq: uniform(q * c.dim, c.dim),
      wk: uniform(kv * c.dim, c.dim),
      wv: uniform(kv * c.dim, c.dim),
      wo: uniform(c.dim * q, q),
      ffnNorm: ones(c.dim),
      w1: uniform(c.hiddenDim * c.dim, c.dim),
      w2: uniform(c.dim * c.hiddenDim, c.hiddenDim),
      w3: uniform(c.hiddenDim * c.dim, c.dim),
    });
  }
  const tokenEmbedding = uniform(c.vocabSize * c.dim, 1);
  const classifier = c.sharedClassifier ? tokenEmbedding : uniform(c.vocabSize * c.dim, c.dim);
  return { config: c, weights: { tokenEmbedding, layers, finalNorm: ones(c.dim), classifier } };
}

/** The toy tokenizer as llama2.c tokenizer bytes: <unk>, <s>, </s>, <0x00> .. <0xFF>, ' ' .. '~'. */
export function toyTokenizerBytes(): Uint8Array {
  const pieces = ['<unk>', '\n<s>\n', '\n</s>\n'];
  for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  for (let c = 32; c < 127; c++) pieces.push(String.fromCharCode(c));
  const enc = new TextEncoder();
  const parts = pieces.map((p) => enc.encode(p));
  const size = 4 + parts.reduce((s, p) => s + 8 + p.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, Math.max(...parts.map((p) => p.length)), true);
  let o = 4;
  for (const p of parts) {
    view.setFloat32(o, 0, true);
    view.setInt32(o + 4, p.length, true);
    out.set(p, o + 8);
    o += 8 + p.length;
  }
  return out;
}
