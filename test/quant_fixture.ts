// Random ggml blocks and random-weight llama GGUFs of any block type, for the quantisation and split specs.
import { dequantize, QUANT_BLOCKS, type GgmlQuantName } from '../src/formats/ggml_quants';
import { dequantizeQ4_0, dequantizeQ8_0, type GgufValue } from '../src/formats/gguf';
import { floatToF16Bits, quantizeQ4_0, quantizeQ8_0, writeGguf, type GgufTensorIn } from '../src/formats/gguf_writer';
import { f16BitsToFloat } from '../src/formats/safetensors';
import { mulberry32 } from '../src/util/random';
import { randoms } from './gpu';

/** Byte offsets of a block's f16 fields, and whether each is a min (positive), as scripts/fixtures/quants.py. */
const F16_FIELDS: Record<GgmlQuantName, [number, boolean][]> = {
  Q4_1: [[0, false], [2, true]],
  Q5_0: [[0, false]],
  Q5_1: [[0, false], [2, true]],
  Q2_K: [[80, false], [82, true]],
  Q3_K: [[108, false]],
  Q4_K: [[0, false], [2, true]],
  Q5_K: [[0, false], [2, true]],
  Q6_K: [[208, false]],
};

/** Random blocks: random bytes, f16 scales of magnitude 2^lo .. 2^hi (random sign; mins positive). */
export function randomBlocks(type: GgmlQuantName, values: number, seed: number, lo = -8, hi = -4): Uint8Array {
  const b = QUANT_BLOCKS[type];
  const n = values / b.elements;
  const r = mulberry32(seed);
  const out = Uint8Array.from({ length: n * b.bytes }, () => Math.floor(r() * 256));
  for (let i = 0; i < n; i++) {
    for (const [off, positive] of F16_FIELDS[type]) {
      const v = 2 ** (lo + (hi - lo) * r()) * (positive || r() < 0.5 ? 1 : -1);
      const h = floatToF16Bits(v);
      out[i * b.bytes + off] = h & 255;
      out[i * b.bytes + off + 1] = h >> 8;
    }
  }
  return out;
}

/** Every layout the kernels read compressed, as named in files. */
export type RandomLayout = GgmlQuantName | 'Q8_0' | 'Q4_0' | 'F16' | 'BF16';

/** Random weight bytes of a layout (the file's blocks, n values) and their float64 values. */
export function randomWeight(t: RandomLayout, n: number, seed: number): { bytes: Uint8Array; values: ArrayLike<number> } {
  if (t === 'F16' || t === 'BF16') {
    const f = randoms(n, seed, 0.5);
    const h = t === 'F16' ? Uint16Array.from(f, (v) => floatToF16Bits(v)) : Uint16Array.from(new Uint32Array(f.buffer), (b) => b >>> 16);
    const values = t === 'F16' ? Float64Array.from(h, (b) => f16BitsToFloat(b)) : new Float32Array(Uint32Array.from(h, (b) => b << 16).buffer);
    return { bytes: new Uint8Array(h.buffer), values };
  }
  if (t === 'Q8_0' || t === 'Q4_0') {
    const bytes = (t === 'Q8_0' ? quantizeQ8_0 : quantizeQ4_0)(randoms(n, seed, 0.05));
    return { bytes, values: (t === 'Q8_0' ? dequantizeQ8_0 : dequantizeQ4_0)(bytes, n) };
  }
  const bytes = randomBlocks(t, n, seed);
  return { bytes, values: dequantize(t, bytes, n) };
}

/** GGUF metadata of a tiny llama (no tokenizer: the vocabulary is the embedding's rows). */
function llamaMeta(dim: number, hidden: number, layers: number, heads: number, kv: number, ctx: number): Map<string, GgufValue> {
  const u = (value: number): GgufValue => ({ type: 'UINT32', value });
  return new Map<string, GgufValue>([
    ['general.architecture', { type: 'STRING', value: 'llama' }],
    ['llama.context_length', u(ctx)],
    ['llama.embedding_length', u(dim)],
    ['llama.block_count', u(layers)],
    ['llama.feed_forward_length', u(hidden)],
    ['llama.attention.head_count', u(heads)],
    ['llama.attention.head_count_kv', u(kv)],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'FLOAT32', value: 1e-5 }],
  ]);
}

/** f16 block scales 2^lo .. 2^hi per type, so that weights (scale x sub-block scale x quant) are ~0.01 and logits O(1). */
const SCALE_EXPONENTS: Record<GgmlQuantName, [number, number]> = {
  Q4_1: [-11, -8], Q5_0: [-11, -8], Q5_1: [-11, -8], Q2_K: [-13, -10], Q3_K: [-13, -10], Q4_K: [-15, -12], Q5_K: [-15, -12], Q6_K: [-16, -13],
};

/**
 * A random-weight llama GGUF whose matrices (embedding and untied LM head included) are random
 * blocks of `type(name)`; norms F32 near 1. Scales are small, so activations stay O(1).
 */
export function randomQuantGguf(type: (name: string) => GgmlQuantName, seed: number, dims = { dim: 256, hidden: 512, layers: 2, vocab: 96 }): Uint8Array {
  const { dim, hidden, layers, vocab } = dims;
  const [heads, kv] = [4, 2];
  const hd = dim / heads;
  const tensors: GgufTensorIn[] = [];
  let s = seed;
  const mat = (name: string, shape: [number, number]) => {
    const t = type(name);
    const [lo, hi] = SCALE_EXPONENTS[t];
    tensors.push({ name, shape, type: t, bytes: randomBlocks(t, shape[0] * shape[1], s++, lo, hi) });
  };
  const norm = (name: string) => tensors.push({ name, shape: [dim], type: 'F32', data: Float32Array.from(randoms(dim, s++, 0.2), (v) => 1 + v) });
  mat('token_embd.weight', [vocab, dim]);
  norm('output_norm.weight');
  mat('output.weight', [vocab, dim]);
  for (let l = 0; l < layers; l++) {
    norm(`blk.${l}.attn_norm.weight`);
    mat(`blk.${l}.attn_q.weight`, [heads * hd, dim]);
    mat(`blk.${l}.attn_k.weight`, [kv * hd, dim]);
    mat(`blk.${l}.attn_v.weight`, [kv * hd, dim]);
    mat(`blk.${l}.attn_output.weight`, [dim, heads * hd]);
    norm(`blk.${l}.ffn_norm.weight`);
    mat(`blk.${l}.ffn_gate.weight`, [hidden, dim]);
    mat(`blk.${l}.ffn_down.weight`, [dim, hidden]);
    mat(`blk.${l}.ffn_up.weight`, [hidden, dim]);
  }
  return writeGguf({ metadata: llamaMeta(dim, hidden, layers, heads, kv, 32), tensors });
}
