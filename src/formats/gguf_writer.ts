// Writer of GGUF version 3 files, ggml's reference Q8_0 / Q4_0 quantisation, and the quantisation of
// a whole Llama-family model.
//
// The file is laid out as ggml's gguf writer lays it out, which llama.cpp's loader requires: the
// header, the metadata in the order given, the tensor infos in the order given, zero padding to the
// alignment, then each tensor's data at the next aligned offset, each one padded to the alignment.
//
// Quantisation is bit-exact with ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref as the C reads:
// float32 arithmetic (each JS double operation rounded with Math.fround, which for one +, *, / gives
// the float32 result exactly), roundf rounding half away from zero, the scale stored as f16 rounded to
// nearest even. Checked against gguf-py's numpy quantisers on 4096 random blocks: Q8_0 identical;
// Q4_0 identical except all-zero blocks, whose scale the C writes as -0 (0/-8) and gguf-py as +0.
// (A compiler that fuses Q4_0's x * id + 8.5 into one FMA can differ in rare ties.) Runs in browsers too.

import { ropeFrequencies, type LlamaModelFile } from './config';
import { GGML_TYPES, GGUF_DEFAULT_ALIGNMENT, GGUF_VALUE_TYPES, Q4_0_BLOCK, Q8_0_BLOCK, sameBytes, tensorBytes, tensorToFloat, type GgufArrayItems, type GgufFile, type GgufValue, type GgufValueType } from './gguf';
import { GGUF_ARCHITECTURES } from './gguf_model';

export type GgufWriteType = 'F32' | 'Q8_0' | 'Q4_0';

/** A tensor to write: float32 values encoded as `type`, or bytes already in ggml type `type`. */
export type GgufTensorIn =
  | { name: string; shape: number[]; type: GgufWriteType; data: Float32Array } // shape row-major [.., out, in]
  | { name: string; shape: number[]; type: string; bytes: Uint8Array };

export interface GgufFileIn {
  metadata: Map<string, GgufValue> | Record<string, GgufValue>;
  tensors: GgufTensorIn[];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a float32 value, rounded to nearest even (ggml GGML_FP32_TO_FP16). */
export function floatToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // the f16 biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry rolls into the exponent correctly
  return sign | half;
}

/** C roundf: half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

function checkQuantLength(x: Float32Array, name: string): void {
  if (x.length % 32 !== 0) throw new Error(`${name}: ${x.length} values are not a whole number of 32-value blocks`);
}

/** ggml quantize_row_q8_0_ref: per block of 32, d = amax / 127, q = roundf(x / d). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  checkQuantLength(x, 'Q8_0');
  const out = new Uint8Array((x.length / 32) * Q8_0_BLOCK.bytes);
  for (let o = 0, b = 0; o < x.length; o += 32, b += Q8_0_BLOCK.bytes) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[o + j]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const h = floatToF16Bits(d);
    out[b] = h & 0xff;
    out[b + 1] = h >>> 8;
    for (let j = 0; j < 32; j++) out[b + 2 + j] = roundf(Math.fround(x[o + j] * id)) & 0xff;
  }
  return out;
}

/** ggml quantize_row_q4_0_ref: d = (the value of largest magnitude, first one on ties) / -8,
 * q = min(15, trunc(x / d + 8.5)); elements j and j + 16 share byte j (low, high nibble). */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  checkQuantLength(x, 'Q4_0');
  const out = new Uint8Array((x.length / 32) * Q4_0_BLOCK.bytes);
  for (let o = 0, b = 0; o < x.length; o += 32, b += Q4_0_BLOCK.bytes) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[o + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    const h = floatToF16Bits(d);
    out[b] = h & 0xff;
    out[b + 1] = h >>> 8;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(Math.fround(Math.fround(x[o + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(Math.fround(Math.fround(x[o + 16 + j] * id) + 8.5)));
      out[b + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** The bytes of float32 values (little-endian). */
function f32Bytes(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < x.length; i++) v.setFloat32(i * 4, x[i], true);
  return out;
}

/** Growable little-endian byte sink. */
class Sink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const b = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      b.set(this.buf.subarray(0, this.length));
      this.buf = b;
      this.view = new DataView(b.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // room() may replace buf and view: call it before reading either.
  bytes(b: Uint8Array): void {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }
  u8(x: number): void {
    const at = this.room(1);
    this.view.setUint8(at, x);
  }
  u32(x: number): void {
    const at = this.room(4);
    this.view.setUint32(at, x, true);
  }
  u64(x: number | bigint): void {
    const at = this.room(8);
    this.view.setBigUint64(at, BigInt(x), true);
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  number(type: GgufValueType, x: number | bigint): void {
    const at = this.room(type === 'UINT8' || type === 'INT8' ? 1 : type === 'UINT16' || type === 'INT16' ? 2 : type === 'UINT64' || type === 'INT64' || type === 'FLOAT64' ? 8 : 4);
    const v = this.view;
    switch (type) {
      case 'UINT8': v.setUint8(at, Number(x)); break;
      case 'INT8': v.setInt8(at, Number(x)); break;
      case 'UINT16': v.setUint16(at, Number(x), true); break;
      case 'INT16': v.setInt16(at, Number(x), true); break;
      case 'UINT32': v.setUint32(at, Number(x), true); break;
      case 'INT32': v.setInt32(at, Number(x), true); break;
      case 'FLOAT32': v.setFloat32(at, Number(x), true); break;
      case 'FLOAT64': v.setFloat64(at, Number(x), true); break;
      case 'UINT64': v.setBigUint64(at, BigInt(x), true); break;
      case 'INT64': v.setBigInt64(at, BigInt(x), true); break;
      default: throw new Error(`not a number type: ${type}`);
    }
  }
  pad(alignment: number): void {
    this.room((alignment - (this.length % alignment)) % alignment); // the buffer is zero-filled
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

// Integer types and their ranges (64-bit ones as far as the check needs: bigints are range-checked exactly by DataView).
const INT_RANGE: Partial<Record<GgufValueType, [number, number]>> = {
  UINT8: [0, 255], INT8: [-128, 127], UINT16: [0, 65535], INT16: [-32768, 32767], UINT32: [0, 4294967295], INT32: [-2147483648, 2147483647],
  UINT64: [0, 2 ** 64 - 1], INT64: [-(2 ** 63), 2 ** 63 - 1],
};

function writeValue(s: Sink, key: string, type: GgufValueType, value: unknown, itemType?: GgufValueType): void {
  const bad = () => new Error(`writeGguf: metadata "${key}" value ${String(value).slice(0, 40)} does not fit type ${type}`);
  switch (type) {
    case 'STRING':
      if (typeof value !== 'string') throw bad();
      s.string(value);
      return;
    case 'BOOL':
      if (typeof value !== 'boolean') throw bad();
      s.u8(value ? 1 : 0);
      return;
    case 'ARRAY': {
      const items = value as GgufArrayItems;
      if (!itemType || !GGUF_VALUE_TYPES.includes(itemType) || items == null || typeof items.length !== 'number') throw bad();
      s.u32(GGUF_VALUE_TYPES.indexOf(itemType));
      s.u64(items.length);
      for (let i = 0; i < items.length; i++) {
        const it = items[i] as unknown;
        if (itemType === 'ARRAY') {
          const nested = it as GgufValue;
          if (nested?.type !== 'ARRAY') throw bad();
          writeValue(s, `${key}[${i}]`, 'ARRAY', nested.value, nested.itemType);
        } else {
          writeValue(s, `${key}[${i}]`, itemType, it);
        }
      }
      return;
    }
    default: {
      const [lo, hi] = INT_RANGE[type] ?? [-Infinity, Infinity];
      if (typeof value === 'bigint' ? value < BigInt(lo) || value > BigInt(hi) : typeof value !== 'number' || (lo !== -Infinity && !Number.isInteger(value)) || value < lo || value > hi) throw bad();
      s.number(type, value as number | bigint);
      return;
    }
  }
}

function encodeTensor(t: GgufTensorIn): { type: string; bytes: Uint8Array } {
  const count = t.shape.reduce((p, d) => p * d, 1);
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 0) || t.shape.length < 1 || t.shape.length > 4) {
    throw new Error(`writeGguf: tensor "${t.name}" shape [${t.shape}] is not 1 to 4 non-negative integers`);
  }
  const info = GGML_TYPES.get(t.type);
  if (!info) throw new Error(`writeGguf: tensor "${t.name}" has unknown type ${t.type}`);
  if (t.shape[t.shape.length - 1] % info.blockElements !== 0) {
    throw new Error(`writeGguf: tensor "${t.name}" rows of ${t.shape[t.shape.length - 1]} are not a multiple of the ${t.type} block (${info.blockElements})`);
  }
  if ('bytes' in t) {
    const need = (count / info.blockElements) * info.blockBytes;
    if (t.bytes.length !== need) throw new Error(`writeGguf: tensor "${t.name}" has ${t.bytes.length} bytes, ${t.type} [${t.shape}] needs ${need}`);
    return { type: t.type, bytes: t.bytes };
  }
  if (!(t.data instanceof Float32Array) || t.data.length !== count) {
    throw new Error(`writeGguf: tensor "${t.name}" has ${t.data?.length} values, shape [${t.shape}] needs ${count}`);
  }
  const bytes = t.type === 'Q8_0' ? quantizeQ8_0(t.data) : t.type === 'Q4_0' ? quantizeQ4_0(t.data) : f32Bytes(t.data);
  return { type: t.type, bytes };
}

/** Serialises metadata and tensors to a GGUF v3 file (alignment `general.alignment`, default 32). */
export function writeGguf(file: GgufFileIn): Uint8Array {
  const meta = file.metadata instanceof Map ? file.metadata : new Map(Object.entries(file.metadata));
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const a = meta.get('general.alignment');
  if (a !== undefined) {
    if (a.type !== 'UINT32' || a.value === 0 || (a.value & (a.value - 1)) !== 0) throw new Error('writeGguf: general.alignment must be a power-of-two UINT32');
    alignment = a.value;
  }
  const names = new Set<string>();
  const encoded = file.tensors.map((t) => {
    if (typeof t.name !== 'string' || t.name.length === 0 || names.has(t.name)) throw new Error(`writeGguf: tensor name ${JSON.stringify(t.name)} is empty or repeated`);
    names.add(t.name);
    return { ...encodeTensor(t), name: t.name, dims: [...t.shape].reverse() };
  });

  const s = new Sink();
  s.bytes(new TextEncoder().encode('GGUF'));
  s.u32(3);
  s.u64(encoded.length);
  s.u64(meta.size);
  for (const [key, v] of meta) {
    if (!GGUF_VALUE_TYPES.includes(v.type)) throw new Error(`writeGguf: metadata "${key}" has unknown type ${String(v.type)}`);
    s.string(key);
    s.u32(GGUF_VALUE_TYPES.indexOf(v.type));
    writeValue(s, key, v.type, v.value, v.type === 'ARRAY' ? v.itemType : undefined);
  }
  let offset = 0;
  for (const t of encoded) {
    s.string(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(GGML_TYPES.get(t.type)!.id);
    s.u64(offset);
    offset += Math.ceil(t.bytes.length / alignment) * alignment;
  }
  if (encoded.length > 0) s.pad(alignment); // ggml writes no padding after the infos of a tensor-less file
  for (const t of encoded) {
    s.bytes(t.bytes);
    s.pad(alignment);
  }
  return s.result();
}

// ---- quantising a model ---------------------------------------------------------------------------

/** A model to quantise: a parsed GGUF file with its bytes, or float32 weights with the metadata to carry (tokenizer.*). */
export type QuantizeSource =
  | { gguf: GgufFile; bytes: Uint8Array; source: string }
  | { model: LlamaModelFile; metadata: Map<string, GgufValue> };

const FILE_TYPE: Record<GgufWriteType, number> = { F32: 0, Q8_0: 7, Q4_0: 2 }; // llama_ftype ALL_F32, MOSTLY_Q8_0, MOSTLY_Q4_0

/**
 * A GGUF file of the model with every 2-D weight matrix in `type`, except:
 * - the token embedding stays F32: the engine gathers its rows as float32, and when the classifier is
 *   tied to it, it is also the LM head, the matrix most sensitive to quantisation;
 * - an untied LM head (output.weight) gets Q8_0 when `type` is Q4_0 (llama.cpp likewise gives it more
 *   bits than the other matrices); one identical to the embedding is dropped (tied);
 * - a matrix whose rows are not a multiple of 32 stays F32 (no 32-value blocks fit; stories260K's
 *   ffn_down, rows of 172);
 * - norms (1-D) stay F32: tiny, and read every token.
 * Metadata is carried over in its order, general.file_type and general.quantization_version set.
 */
export function quantizeModelGguf(src: QuantizeSource, type: GgufWriteType): Uint8Array {
  const tensors: GgufTensorIn[] = [];
  let meta: Map<string, GgufValue>;
  const pick = (name: string, shape: number[]): GgufWriteType => {
    if (shape.length !== 2 || name === 'token_embd.weight' || shape[1] % 32 !== 0) return 'F32';
    return name === 'output.weight' && type === 'Q4_0' ? 'Q8_0' : type;
  };
  if ('gguf' in src) {
    const { gguf: g, bytes, source } = src;
    meta = new Map(g.metadata);
    const embd = g.tensors.find((t) => t.name === 'token_embd.weight');
    for (const t of g.tensors) {
      if (t.name === 'output.weight' && embd && embd.type === t.type && sameBytes(tensorBytes(t, bytes), tensorBytes(embd, bytes))) continue;
      const decodable = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'].includes(t.type);
      if (decodable) tensors.push({ name: t.name, shape: t.shape, type: pick(t.name, t.shape), data: tensorToFloat(t, bytes, source) });
      else tensors.push({ name: t.name, shape: t.shape, type: t.type, bytes: tensorBytes(t, bytes) }); // e.g. K-quants: kept as they are
    }
  } else {
    const { config: c, weights: w } = src.model;
    if (w.layers.some((l) => l.bo)) throw new Error('quantizeModelGguf: an o_proj bias (Llama attention_bias) is not written from the weights');
    // Gemma 3's extras (embedding scale, GELU, post-norms, sliding layers) have no writer here yet
    if (c.embedScale !== undefined || c.ffnActivation === 'gelu_tanh' || c.slidingLayers || c.finalSoftcap !== undefined || w.layers.some((l) => l.postAttnNorm || l.postFfnNorm)) {
      throw new Error('quantizeModelGguf: a Gemma 3 model is not written from its weights (quantize a llama.cpp gemma3 GGUF instead)');
    }
    meta = new Map(src.metadata);
    const given = meta.get('general.architecture');
    const qkNorm = w.layers.some((l) => l.qNorm);
    const arch = given?.type === 'STRING' ? given.value : c.ropeStyle === 'adjacent' ? 'llama' : qkNorm ? 'qwen3' : 'qwen2';
    if (GGUF_ARCHITECTURES[arch] !== c.ropeStyle) throw new Error(`quantizeModelGguf: architecture "${arch}" does not use ${c.ropeStyle} RoPE`);
    const u32v = (value: number): GgufValue => ({ type: 'UINT32', value });
    const f32v = (value: number): GgufValue => ({ type: 'FLOAT32', value });
    meta.set('general.architecture', { type: 'STRING', value: arch });
    meta.set(`${arch}.context_length`, u32v(c.seqLen));
    meta.set(`${arch}.embedding_length`, u32v(c.dim));
    meta.set(`${arch}.block_count`, u32v(c.nLayers));
    meta.set(`${arch}.feed_forward_length`, u32v(c.hiddenDim));
    meta.set(`${arch}.attention.head_count`, u32v(c.nHeads));
    meta.set(`${arch}.attention.head_count_kv`, u32v(c.nKvHeads));
    meta.set(`${arch}.attention.layer_norm_rms_epsilon`, f32v(c.normEps));
    meta.set(`${arch}.rope.freq_base`, f32v(c.ropeTheta));
    meta.set(`${arch}.rope.dimension_count`, u32v(c.headDim));
    // the families' extras (src/formats/gguf.ts reads them back; llama.cpp's names)
    const biased = w.layers.some((l) => l.bq);
    if ((biased && arch !== 'qwen2') || (qkNorm && arch !== 'qwen3')) throw new Error(`quantizeModelGguf: architecture "${arch}" has no ${biased ? 'q/k/v biases' : 'q/k norms'}`);
    if (arch === 'qwen3') (meta.set(`${arch}.attention.key_length`, u32v(c.headDim)), meta.set(`${arch}.attention.value_length`, u32v(c.headDim)));
    const rs = c.ropeScaling;
    if (rs?.type === 'linear') (meta.set(`${arch}.rope.scaling.type`, { type: 'STRING', value: 'linear' }), meta.set(`${arch}.rope.scaling.factor`, f32v(rs.factor)));
    if (rs && rs.type !== 'linear') {
      if (arch !== 'llama') throw new Error(`quantizeModelGguf: ${rs.type} RoPE scaling is written as llama.cpp's rope_freqs, which only the llama architecture reads`);
      const f = ropeFrequencies(c.headDim, c.ropeTheta);
      const scaled = ropeFrequencies(c.headDim, c.ropeTheta, rs);
      tensors.push({ name: 'rope_freqs.weight', shape: [c.headDim / 2], type: 'F32', data: Float32Array.from(f, (x, p) => x / scaled[p]) });
    }
    const add = (name: string, shape: number[], data: Float32Array) => tensors.push({ name, shape, type: pick(name, shape), data });
    const q = c.nHeads * c.headDim;
    const kv = c.nKvHeads * c.headDim;
    add('token_embd.weight', [c.vocabSize, c.dim], w.tokenEmbedding);
    add('output_norm.weight', [c.dim], w.finalNorm);
    if (!c.sharedClassifier) add('output.weight', [c.vocabSize, c.dim], w.classifier);
    w.layers.forEach((l, i) => {
      const b = `blk.${i}.`;
      add(`${b}attn_norm.weight`, [c.dim], l.attnNorm);
      add(`${b}attn_q.weight`, [q, c.dim], l.wq);
      add(`${b}attn_k.weight`, [kv, c.dim], l.wk);
      add(`${b}attn_v.weight`, [kv, c.dim], l.wv);
      add(`${b}attn_output.weight`, [c.dim, q], l.wo);
      if (l.bq && l.bk && l.bv) (add(`${b}attn_q.bias`, [q], l.bq), add(`${b}attn_k.bias`, [kv], l.bk), add(`${b}attn_v.bias`, [kv], l.bv));
      if (l.qNorm && l.kNorm) (add(`${b}attn_q_norm.weight`, [c.headDim], l.qNorm), add(`${b}attn_k_norm.weight`, [c.headDim], l.kNorm));
      add(`${b}ffn_norm.weight`, [c.dim], l.ffnNorm);
      add(`${b}ffn_gate.weight`, [c.hiddenDim, c.dim], l.w1);
      add(`${b}ffn_down.weight`, [c.dim, c.hiddenDim], l.w2);
      add(`${b}ffn_up.weight`, [c.hiddenDim, c.dim], l.w3);
    });
  }
  meta.set('general.file_type', { type: 'UINT32', value: FILE_TYPE[type] });
  if (type !== 'F32') meta.set('general.quantization_version', { type: 'UINT32', value: 2 });
  else meta.delete('general.quantization_version');
  return writeGguf({ metadata: meta, tensors });
}


/**
 * GGUF tokenizer metadata (SentencePiece, `tokenizer.ggml.model = llama`) of a llama2.c tokenizer,
 * as llama.cpp's llama2.c converter writes it: spaces back to U+2581, <unk> / <s> / </s> and
 * <0xXX> byte pieces typed, scores kept.
 */
export function llama2cTokenizerMetadata(tok: { vocabSize: number; pieces: Uint8Array[]; scores: Float32Array }): Map<string, GgufValue> {
  const dec = new TextDecoder();
  const tokens: string[] = [];
  const types = new Int32Array(tok.vocabSize);
  for (let i = 0; i < tok.vocabSize; i++) {
    if (i < 3) {
      tokens.push(['<unk>', '<s>', '</s>'][i]);
      types[i] = i === 0 ? 2 : 3; // unknown, control
      continue;
    }
    const piece = dec.decode(tok.pieces[i]);
    const isByte = /^<0x[0-9A-F]{2}>$/.test(piece);
    tokens.push(isByte ? piece : piece.replaceAll(' ', '\u2581'));
    types[i] = isByte ? 6 : 1; // byte, normal
  }
  const u32 = (value: number): GgufValue => ({ type: 'UINT32', value });
  return new Map<string, GgufValue>([
    ['tokenizer.ggml.model', { type: 'STRING', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', value: tokens }],
    ['tokenizer.ggml.scores', { type: 'ARRAY', itemType: 'FLOAT32', value: Float32Array.from(tok.scores) }],
    ['tokenizer.ggml.token_type', { type: 'ARRAY', itemType: 'INT32', value: types }],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.bos_token_id', u32(1)],
    ['tokenizer.ggml.eos_token_id', u32(2)],
  ]);
}
