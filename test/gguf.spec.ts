// GGUF: the reader on the real stories260K.gguf (against the llama2.c .bin) and on a hand-crafted v2
// file, its one-line errors, ggml's Q8_0 / Q4_0 blocks, the writer, and quantised models.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { LlamaModelFile } from '../src/formats/config';
import { GGML_TYPES, Q4_0_BLOCK, Q8_0_BLOCK, dequantizeQ4_0, dequantizeQ8_0, parseGguf, tensorBytes, tensorToFloat, type GgufFile, type GgufValue } from '../src/formats/gguf';
import { ggufToModelFile } from '../src/formats/gguf_model';
import { floatToF16Bits, quantizeModelGguf, quantizeQ4_0, quantizeQ8_0, writeGguf, type GgufTensorIn } from '../src/formats/gguf_writer';
import { Model } from '../src/model/model';
import { loadModel } from '../src/model/load';
import { CompressedWeight } from '../src/gpu/weight';
import { f16BitsToFloat } from '../src/formats/safetensors';
import { Tokenizer } from '../src/formats/tokenizer';
import { generateText } from '../src/model/generate';
import { ForwardPass } from '../src/model/forward';
import { assetPath, knownOutput, stories260K } from './assets';
import { gpuFixture, relError } from './gpu';
import { throwsNaming } from './expect';

const SOURCE = 'stories260K.gguf';

/** Float32 weights of a model, by GGUF tensor name (shared classifier: no output.weight). */
function namedWeights(m: LlamaModelFile): Map<string, Float32Array> {
  const w = m.weights;
  const out = new Map<string, Float32Array>([['token_embd.weight', w.tokenEmbedding], ['output_norm.weight', w.finalNorm]]);
  if (!m.config.sharedClassifier) out.set('output.weight', w.classifier);
  w.layers.forEach((l, i) => {
    const p = `blk.${i}.`;
    for (const [k, v] of Object.entries({ attn_norm: l.attnNorm, attn_q: l.wq, attn_k: l.wk, attn_v: l.wv, attn_output: l.wo, ffn_norm: l.ffnNorm, ffn_gate: l.w1, ffn_down: l.w2, ffn_up: l.w3 })) {
      out.set(`${p}${k}.weight`, v);
    }
  });
  return out;
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** ||a - b|| / ||b|| */
function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function seededFloats(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Little-endian byte builder for hand-crafted files; `mark` remembers positions to patch. */
class Bytes {
  parts: number[] = [];
  marks: Record<string, number> = {};
  mark(name: string): this {
    this.marks[name] = this.parts.length;
    return this;
  }
  raw(...b: number[]): this {
    this.parts.push(...b);
    return this;
  }
  u32(x: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, x, true);
    return this.raw(...b);
  }
  u64(x: number | bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(x), true);
    return this.raw(...b);
  }
  f32(x: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, x, true);
    return this.raw(...b);
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u64(b.length).raw(...b);
  }
  kv(key: string, type: number): this {
    return this.str(key).u32(type);
  }
  padTo(a: number): this {
    while (this.parts.length % a) this.parts.push(0);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** A hand-written GGUF v2 file: every metadata type, nested arrays, alignment 64, an F32 and a Q8_0 tensor. */
function craftedV2(): { bytes: Uint8Array; marks: Record<string, number> } {
  const b = new Bytes().raw(0x47, 0x47, 0x55, 0x46).mark('version').u32(2).mark('nTensors').u64(2).mark('nKv').u64(15);
  b.kv('general.architecture', 8).str('llama');
  b.kv('general.alignment', 4).u32(64);
  b.kv('t.u8', 0).raw(250);
  b.kv('t.i8', 1).raw(0xfe); // -2
  b.kv('t.u16', 2).raw(0x34, 0x12);
  b.kv('t.i16', 3).raw(0xff, 0xff); // -1
  b.kv('t.u32', 4).u32(4000000000);
  b.kv('t.i32', 5).u32(0xfffffff6); // -10
  b.kv('t.f32', 6).f32(0.5);
  b.kv('t.bool', 7).raw(1);
  b.kv('t.str', 8).str('héllo ▁ 🦙');
  b.kv('t.u64', 10).u64(2n ** 63n + 5n);
  b.kv('t.i64', 11).raw(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff); // -2
  b.kv('t.f64', 12).mark('f64').raw(...new Uint8Array(new Float64Array([Math.PI]).buffer));
  // array of arrays: [["a", ""], []] then [u8 array [1, 2, 3]]
  b.kv('t.nested', 9).u32(9).u64(3);
  b.u32(8).u64(2).str('a').str('');
  b.u32(0).u64(0);
  b.u32(0).u64(3).raw(1, 2, 3);
  b.mark('tensor0').str('a.weight').u32(2).u64(2).u64(3).mark('type0').u32(0).u64(0); // F32 [3, 2]
  b.mark('tensor1').str('q.weight').u32(1).u64(32).mark('type1').u32(8).mark('offset1').u64(64); // Q8_0 [32]
  b.padTo(64).mark('data');
  for (let i = 0; i < 6; i++) b.f32(i + 0.25);
  b.padTo(64);
  b.raw(0x00, 0x38); // d = 0.5
  for (let j = 0; j < 32; j++) b.raw((j - 16) & 0xff);
  b.padTo(64);
  return { bytes: b.done(), marks: b.marks };
}

function patched(bytes: Uint8Array, at: number, write: (v: DataView) => void): Uint8Array {
  const out = bytes.slice();
  write(new DataView(out.buffer, at));
  return out;
}

describe('GGUF reader: stories260K.gguf', () => {
  const bytes = new Uint8Array(readFileSync(assetPath('models', SOURCE)));
  const bin = stories260K().file;
  let g: GgufFile;

  it('parses: v3, alignment 32, 48 F32 tensors inside the file, llama metadata, the tokenizer', () => {
    g = parseGguf(bytes, SOURCE);
    assert.equal(g.version, 3);
    assert.equal(g.alignment, 32);
    assert.equal(g.dataStart % 32, 0);
    assert.equal(g.tensors.length, 48);
    assert.ok(g.tensors.every((t) => t.type === 'F32' && t.byteOffset % 32 === 0 && t.byteOffset + t.nbytes <= bytes.length));
    const q = g.tensors.find((t) => t.name === 'blk.0.attn_k.weight')!;
    assert.deepEqual(q.dims, [64, 32]); // ne[0] = in first
    assert.deepEqual(q.shape, [32, 64]); // [out, in]
    assert.equal(q.nbytes, 32 * 64 * 4);
    assert.deepEqual(g.metadata.get('general.architecture'), { type: 'STRING', value: 'llama' });
    assert.deepEqual(g.metadata.get('llama.attention.head_count_kv'), { type: 'UINT32', value: 4 });
    const toks = g.metadata.get('tokenizer.ggml.tokens');
    assert.ok(toks?.type === 'ARRAY' && toks.itemType === 'STRING' && toks.value.length === 512);
    assert.equal((toks.value as string[])[259], '▁t');
    const scores = g.metadata.get('tokenizer.ggml.scores');
    assert.ok(scores?.type === 'ARRAY' && scores.value instanceof Float32Array);
  });

  it("its config is the .bin's (but for seqLen: the llama.cpp converter wrote n_ctx 2048)", () => {
    const m = ggufToModelFile(g, bytes, SOURCE);
    assert.equal(m.config.seqLen, 2048);
    assert.equal(bin.config.seqLen, 512);
    assert.deepEqual({ ...m.config, seqLen: 512 }, bin.config);
    assert.equal(m.architecture, 'llama');
    assert.equal(m.config.ropeStyle, 'adjacent');
    assert.equal(m.config.normEps, 1e-5); // the file's float32 9.99999974e-6, read as its shortest decimal
  });

  it("every tensor is bit-identical to the .bin's; output.weight equal to the embedding means a tied classifier", () => {
    const m = ggufToModelFile(g, bytes, SOURCE);
    const want = namedWeights(bin);
    const got = namedWeights(m);
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [name, w] of want) assert.ok(Buffer.from(bytesOf(got.get(name)!)).equals(bytesOf(w)), `${name} differs`);
    assert.equal(m.weights.classifier, m.weights.tokenEmbedding);
    // the GGUF does store output.weight: the same bytes as the embedding
    assert.ok(Buffer.from(m.rawTensors.get('output.weight')!.bytes).equals(bytesOf(bin.weights.tokenEmbedding)));
    assert.equal(m.rawTensors.size, 48);
    const raw = m.rawTensors.get('blk.2.ffn_down.weight')!;
    assert.deepEqual([raw.type, raw.shape], ['F32', [64, 172]]);
    assert.ok(Buffer.from(raw.bytes).equals(bytesOf(bin.weights.layers[2].w2)));
  });

  it('parse -> write reproduces the file byte for byte (and the vocab-only files of the tokenizer tests)', () => {
    for (const [dir, name] of [['models', SOURCE], ['vocab', 'ggml-vocab-llama-spm.gguf'], ['vocab', 'ggml-vocab-gpt-2.gguf']]) {
      const b = new Uint8Array(readFileSync(assetPath(dir, name)));
      const p = parseGguf(b, name);
      const out = writeGguf({ metadata: p.metadata, tensors: p.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, bytes: tensorBytes(t, b) })) });
      assert.ok(Buffer.from(out).equals(b), `${name}: rewritten file differs`);
    }
  });
});

describe('GGUF reader: a crafted v2 file', () => {
  const { bytes, marks } = craftedV2();
  const S = 'crafted.gguf';

  it('parses every value type, nested arrays, alignment 64 and both tensors', () => {
    const g = parseGguf(bytes, S);
    assert.equal(g.version, 2);
    assert.equal(g.alignment, 64);
    assert.equal(g.dataStart, marks.data);
    const m = Object.fromEntries(g.metadata);
    assert.deepEqual(m['t.u8'], { type: 'UINT8', value: 250 });
    assert.deepEqual(m['t.i8'], { type: 'INT8', value: -2 });
    assert.deepEqual(m['t.u16'], { type: 'UINT16', value: 0x1234 });
    assert.deepEqual(m['t.i16'], { type: 'INT16', value: -1 });
    assert.deepEqual(m['t.u32'], { type: 'UINT32', value: 4000000000 });
    assert.deepEqual(m['t.i32'], { type: 'INT32', value: -10 });
    assert.deepEqual(m['t.f32'], { type: 'FLOAT32', value: 0.5 });
    assert.deepEqual(m['t.bool'], { type: 'BOOL', value: true });
    assert.deepEqual(m['t.str'], { type: 'STRING', value: 'héllo ▁ 🦙' });
    assert.deepEqual(m['t.u64'], { type: 'UINT64', value: 2n ** 63n + 5n });
    assert.deepEqual(m['t.i64'], { type: 'INT64', value: -2n });
    assert.deepEqual(m['t.f64'], { type: 'FLOAT64', value: Math.PI });
    assert.deepEqual(m['t.nested'], {
      type: 'ARRAY',
      itemType: 'ARRAY',
      value: [
        { type: 'ARRAY', itemType: 'STRING', value: ['a', ''] },
        { type: 'ARRAY', itemType: 'UINT8', value: new Uint8Array(0) },
        { type: 'ARRAY', itemType: 'UINT8', value: Uint8Array.of(1, 2, 3) },
      ],
    });
    const [a, q] = g.tensors;
    assert.deepEqual([a.name, a.type, a.dims, a.shape, a.byteOffset, a.nbytes], ['a.weight', 'F32', [2, 3], [3, 2], marks.data, 24]);
    assert.deepEqual([q.name, q.type, q.dims, q.shape, q.byteOffset, q.nbytes], ['q.weight', 'Q8_0', [32], [32], marks.data + 64, 34]);
    assert.deepEqual([...tensorToFloat(a, bytes, S)], [0.25, 1.25, 2.25, 3.25, 4.25, 5.25]);
    assert.deepEqual([...tensorToFloat(q, bytes, S)], Array.from({ length: 32 }, (_, j) => (j - 16) * 0.5));
  });

  it('rejects a bad magic and versions other than 2 and 3', () => {
    throwsNaming(() => parseGguf(patched(bytes, 0, (v) => v.setUint8(0, 0x46)), S), S, /not a GGUF file: it starts with bytes 46 47 55 46/);
    throwsNaming(() => parseGguf(new TextEncoder().encode('{"model": 1}'), S), S, /not a GGUF file/);
    throwsNaming(() => parseGguf(patched(bytes, marks.version, (v) => v.setUint32(0, 1, true)), S), S, /GGUF version 1 is not supported: only versions 2 and 3/);
    throwsNaming(() => parseGguf(patched(bytes, marks.version, (v) => v.setUint32(0, 3, false)), S), S, /version 50331648 is not supported \(a big-endian file\?\)/);
  });

  it('rejects the file truncated at every length, saying where', () => {
    const cuts: number[] = [];
    for (let n = 0; n < bytes.length; n++) {
      // The last tensor's padding is not data: cutting it off leaves a valid file.
      if (n >= marks.data + 64 + 34) continue;
      cuts.push(n);
      throwsNaming(() => parseGguf(bytes.subarray(0, n), S), S, /GGUF truncated: .* at byte \d+ needs \d+ bytes, the file ends at \d+|runs past the end of the file|bytes can hold \(a truncated file or a wrong count\)/);
    }
    assert.ok(cuts.length > 500);
    const f64 = marks.f64;
    throwsNaming(() => parseGguf(bytes.subarray(0, f64 + 3), S), S, new RegExp(`GGUF truncated: metadata "t.f64" at byte ${f64} needs 8 bytes, the file ends at ${f64 + 3}`));
    throwsNaming(() => parseGguf(bytes.subarray(0, marks.tensor1 + 5), S), S, /GGUF truncated: tensor info 1 of 2 name length at byte \d+ needs 8 bytes/);
    throwsNaming(() => parseGguf(bytes.subarray(0, marks.data + 10), S), S, /tensor "a.weight" .* runs past the end of the file: the data section holds 10 bytes/);
    assert.equal(parseGguf(bytes.subarray(0, marks.data + 64 + 34), S).tensors.length, 2);
  });

  it('rejects tensor and kv counts that disagree with the content', () => {
    const more = patched(bytes, marks.nTensors, (v) => v.setBigUint64(0, 3n, true));
    throwsNaming(() => parseGguf(more, S), S, /tensor info 2 of 3 .* has 0 dimensions \(1 to 4 allowed; the tensor count or the file is wrong\)/);
    const huge = patched(bytes, marks.nTensors, (v) => v.setBigUint64(0, 2n ** 60n, true));
    throwsNaming(() => parseGguf(huge, S), S, /tensor count at byte 8 is 1152921504606846976, more than the \d+ that \d+ bytes can hold \(a truncated file or a wrong count\)/);
    const moreKv = patched(bytes, marks.nKv, (v) => v.setBigUint64(0, 16n, true));
    throwsNaming(() => parseGguf(moreKv, S), S, /GGUF (metadata|tensor|truncated)/);
    const fewerKv = patched(bytes, marks.nKv, (v) => v.setBigUint64(0, 14n, true));
    throwsNaming(() => parseGguf(fewerKv, S), S, /GGUF (metadata|tensor|truncated)/);
  });

  it('rejects an offset past the end, an unaligned offset and an unknown type (named)', () => {
    throwsNaming(() => parseGguf(patched(bytes, marks.offset1, (v) => v.setBigUint64(0, 640n, true)), S), S, /tensor "q.weight" \(Q8_0 \[32\], 34 bytes at data offset 640\) runs past the end of the file: the data section holds 128 bytes/);
    throwsNaming(() => parseGguf(patched(bytes, marks.offset1, (v) => v.setBigUint64(0, 32n, true)), S), S, /tensor "q.weight" offset 32 is not aligned to 64/);
    throwsNaming(() => parseGguf(patched(bytes, marks.type1, (v) => v.setUint32(0, 99, true)), S), S, /tensor "q.weight" has unknown ggml type id 99/);
    throwsNaming(() => parseGguf(patched(bytes, marks.type1, (v) => v.setUint32(0, 4, true)), S), S, /unknown ggml type id 4/); // Q4_2, removed
    throwsNaming(() => parseGguf(patched(bytes, marks.offset1, (v) => v.setBigUint64(0, 0n, true)), S), S, /tensors "a.weight" and "q.weight" overlap/);
  });

  it('names an unsupported tensor type and an unsupported architecture when building the model', () => {
    const g = parseGguf(bytes, S);
    const iq2 = { ...g.tensors[1], type: 'IQ2_XS' };
    throwsNaming(() => tensorToFloat(iq2, bytes, S), S, /tensor "q.weight" has type IQ2_XS; only F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K are supported/);
    const gpt2 = parseGguf(new Uint8Array(readFileSync(assetPath('vocab', 'ggml-vocab-gpt-2.gguf'))), 'gpt2.gguf');
    throwsNaming(() => ggufToModelFile(gpt2, new Uint8Array(0), 'gpt2.gguf'), 'gpt2.gguf', /architecture "gpt2" is not supported \(supported: llama, qwen2, qwen3, gemma3\)/);
  });
});

describe('GGUF: Q8_0 and Q4_0 blocks', () => {
  it('the block layouts are ggml-common.h', () => {
    assert.deepEqual(Q8_0_BLOCK, { elements: 32, bytes: 34, scaleOffset: 0, quantsOffset: 2 });
    assert.deepEqual(Q4_0_BLOCK, { elements: 32, bytes: 18, scaleOffset: 0, quantsOffset: 2 });
    assert.deepEqual(GGML_TYPES.get('Q8_0'), { name: 'Q8_0', id: 8, blockElements: 32, blockBytes: 34 });
    assert.deepEqual(GGML_TYPES.get('Q4_0'), { name: 'Q4_0', id: 2, blockElements: 32, blockBytes: 18 });
  });

  it('f16 rounding is IEEE round-to-nearest-even, and every f16 survives float -> f16', () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00], [1e9, 0x7c00], [-0, 0x8000], [NaN, 0x7e00],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2 ** -14, 0x0400],
    ];
    for (const [x, h] of cases) assert.equal(floatToF16Bits(x), h, `f16(${x})`);
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN payloads
      assert.equal(floatToF16Bits(f16BitsToFloat(h)), h);
    }
  });

  it('hand-made blocks decode exactly: Q8_0 d * q, Q4_0 nibbles (low = j, high = j + 16)', () => {
    const q8 = new Uint8Array(34);
    q8.set([0x00, 0x38]); // d = 0.5
    for (let j = 0; j < 32; j++) q8[2 + j] = [-128, 127, 0, -1][j % 4] & 0xff;
    assert.deepEqual([...dequantizeQ8_0(q8, 32)], Array.from({ length: 32 }, (_, j) => [-64, 63.5, 0, -0.5][j % 4]));
    const q4 = new Uint8Array(18);
    q4.set([0x00, 0xc0]); // d = -2
    for (let j = 0; j < 16; j++) q4[2 + j] = (j & 0x0f) | ((15 - j) << 4);
    const want = [...Array.from({ length: 16 }, (_, j) => (j - 8) * -2), ...Array.from({ length: 16 }, (_, j) => (7 - j) * -2)];
    assert.deepEqual([...dequantizeQ4_0(q4, 32)], want);
    assert.throws(() => dequantizeQ8_0(q8, 64), /Q8_0: 64 elements need 68 bytes, got 34/);
  });

  it('values on the grid round-trip exactly', () => {
    // Q8_0: amax = 127 d with d a power of two -> d and 1/d exact, q exact.
    const x8 = Float32Array.from({ length: 64 }, (_, i) => (i === 5 || i === 40 ? 127 : ((i * 37) % 255) - 127) * 2 ** -6);
    assert.deepEqual(dequantizeQ8_0(quantizeQ8_0(x8), 64), x8);
    // Q4_0: the value of largest magnitude is -8 d, so d = that / -8 exactly.
    const x4 = Float32Array.from({ length: 64 }, (_, i) => ((i * 7) % 16 - 8) * 0.25); // q in [-8, 7], -8 first
    assert.deepEqual(dequantizeQ4_0(quantizeQ4_0(x4), 64), x4);
    assert.deepEqual(dequantizeQ8_0(quantizeQ8_0(new Float32Array(32)), 32), new Float32Array(32));
  });

  it("quantisation is bit-exact with ggml's reference (golden bytes from gguf-py, incl. a Q4_0 tie at 562.5 / -125 + 8.5)", () => {
    const a = Float32Array.from({ length: 32 }, (_, j) => Math.sin(j * 1.7 + 0.3) * 3.1);
    const b = Float32Array.of(832.5, 627.5, 400.75, 248.5, -270.25, 629, 953.75, 351, -18.75, 417.5, 588, 1000, 562.5, -524.5, 960.5, -184.25,
      -440.75, 428.75, 497.5, 278, -775.75, -640, -388.25, 314.75, -181.5, 917, -431.75, -640, -665.75, -565, -162, -156);
    const x = new Float32Array(64);
    x.set(a);
    x.set(b, 32);
    assert.equal(hex(quantizeQ8_0(x)), '3f262674bd9e5d4a90d27b0e81137acd934f599bc1762082007edf8a3f65a7b26d32e0476a503320de50792dfe354b7f47bd7ae9c8363f239dafcf28e974c9afabb8ebec');
    assert.equal(hex(quantizeQ4_0(x)), '3336ea2f44f2ae0d81f56f19c0e92f35f1bdd0d7c1534566ead3b0559815b3d0d4dc9099');
  });

  it('random data: per-element error within half a step (Q8_0) / one step (Q4_0), relative RMS error bounded', () => {
    // Scales whose f16 step is a normal number (a block of amax < 127 * 2^-14 gets a subnormal, coarse scale).
    for (const scale of [0.05, 1, 300]) {
      const x = seededFloats(32 * 512, 7 + scale, scale);
      const q8 = quantizeQ8_0(x);
      const q4 = quantizeQ4_0(x);
      const y8 = dequantizeQ8_0(q8, x.length);
      const y4 = dequantizeQ4_0(q4, x.length);
      for (let blk = 0; blk < x.length / 32; blk++) {
        const d8 = Math.abs(f16BitsToFloat(q8[blk * 34] | (q8[blk * 34 + 1] << 8)));
        const d4 = Math.abs(f16BitsToFloat(q4[blk * 18] | (q4[blk * 18 + 1] << 8)));
        for (let j = blk * 32; j < blk * 32 + 32; j++) {
          // half a step (one for Q4_0, whose +8 clips to +7), plus |q| times the f16 rounding of the step
          assert.ok(Math.abs(x[j] - y8[j]) <= d8 * (0.5 + 127 * 2 ** -11), `Q8_0 element ${j}: ${x[j]} -> ${y8[j]}, d ${d8}`);
          assert.ok(Math.abs(x[j] - y4[j]) <= d4 * (1 + 8 * 2 ** -11), `Q4_0 element ${j}: ${x[j]} -> ${y4[j]}, d ${d4}`);
        }
      }
      const e8 = relL2(y8, x);
      const e4 = relL2(y4, x);
      assert.ok(e8 < 5e-3, `Q8_0 rel error ${e8}`);
      assert.ok(e4 < 0.1, `Q4_0 rel error ${e4}`);
    }
  });
});

describe('GGUF writer', () => {
  it('writeGguf -> parseGguf round-trips metadata of every type and F32 / Q8_0 / Q4_0 / raw F16 and BF16 tensors', () => {
    const metadata = new Map<string, GgufValue>([
      ['general.architecture', { type: 'STRING', value: 'llama' }],
      ['a.u8', { type: 'UINT8', value: 255 }],
      ['a.i8', { type: 'INT8', value: -128 }],
      ['a.u16', { type: 'UINT16', value: 65535 }],
      ['a.i16', { type: 'INT16', value: -32768 }],
      ['a.u32', { type: 'UINT32', value: 4294967295 }],
      ['a.i32', { type: 'INT32', value: -2147483648 }],
      ['a.f32', { type: 'FLOAT32', value: Math.fround(0.1) }],
      ['a.f64', { type: 'FLOAT64', value: 0.1 }],
      ['a.bool', { type: 'BOOL', value: false }],
      ['a.str', { type: 'STRING', value: '\ufeffbom ▁ 中文 🦙' }],
      ['a.u64', { type: 'UINT64', value: 2n ** 64n - 1n }],
      ['a.i64', { type: 'INT64', value: -(2n ** 63n) }],
      ['a.scores', { type: 'ARRAY', itemType: 'FLOAT32', value: Float32Array.of(-1.5, 0, 2) }],
      ['a.i64s', { type: 'ARRAY', itemType: 'INT64', value: BigInt64Array.of(-1n, 5n) }],
      ['a.bools', { type: 'ARRAY', itemType: 'BOOL', value: [true, false] }],
      ['a.nested', { type: 'ARRAY', itemType: 'ARRAY', value: [{ type: 'ARRAY', itemType: 'STRING', value: ['x', 'yz'] }, { type: 'ARRAY', itemType: 'INT16', value: Int16Array.of(-7) }] }],
    ]);
    const w = seededFloats(64 * 3, 1);
    const tensors: GgufTensorIn[] = [
      { name: 'f', shape: [3, 5], type: 'F32', data: seededFloats(15, 2) },
      { name: 'q8', shape: [3, 64], type: 'Q8_0', data: w },
      { name: 'q4', shape: [3, 64], type: 'Q4_0', data: w },
      { name: 'raw', shape: [2], type: 'F16', bytes: Uint8Array.of(0x00, 0x3c, 0x00, 0xc0) },
      { name: 'bf', shape: [2], type: 'BF16', bytes: Uint8Array.of(0x80, 0x3f, 0x40, 0xc0) },
    ];
    const file = writeGguf({ metadata, tensors });
    assert.equal(file.length % 32, 0);
    const g = parseGguf(file, 'w.gguf');
    assert.equal(g.version, 3);
    assert.deepEqual(g.metadata, metadata);
    assert.deepEqual(g.tensors.map((t) => [t.name, t.type, t.shape, t.dims, t.byteOffset % 32]), [
      ['f', 'F32', [3, 5], [5, 3], 0],
      ['q8', 'Q8_0', [3, 64], [64, 3], 0],
      ['q4', 'Q4_0', [3, 64], [64, 3], 0],
      ['raw', 'F16', [2], [2], 0],
      ['bf', 'BF16', [2], [2], 0],
    ]);
    const [f, q8, q4, raw, bf] = g.tensors;
    assert.deepEqual(tensorToFloat(f, file, 'w.gguf'), (tensors[0] as { data: Float32Array }).data);
    assert.ok(Buffer.from(tensorBytes(q8, file)).equals(quantizeQ8_0(w)));
    assert.deepEqual(tensorToFloat(q4, file, 'w.gguf'), dequantizeQ4_0(quantizeQ4_0(w), w.length));
    assert.deepEqual([...tensorToFloat(raw, file, 'w.gguf')], [1, -2]);
    assert.deepEqual([...tensorToFloat(bf, file, 'w.gguf')], [1, -3]);
  });

  it('rejects what it cannot write', () => {
    const t = (o: Partial<GgufTensorIn>) => writeGguf({ metadata: {}, tensors: [{ name: 'x', shape: [32], type: 'Q8_0', data: new Float32Array(32), ...o } as GgufTensorIn] });
    assert.throws(() => t({ shape: [2, 16] }), /tensor "x" rows of 16 are not a multiple of the Q8_0 block \(32\)/);
    assert.throws(() => t({ shape: [64] }), /tensor "x" has 32 values, shape \[64\] needs 64/);
    assert.throws(() => t({ type: 'Q9_9' } as Partial<GgufTensorIn>), /unknown type Q9_9/);
    assert.throws(() => writeGguf({ metadata: { 'k.v': { type: 'UINT8', value: 300 } }, tensors: [] }), /metadata "k.v" value 300 does not fit type UINT8/);
    assert.throws(() => writeGguf({ metadata: {}, tensors: [{ name: 'a', shape: [1], type: 'F32', data: new Float32Array(1) }, { name: 'a', shape: [1], type: 'F32', data: new Float32Array(1) }] }), /tensor name "a" is empty or repeated/);
  });
});

describe('GGUF: quantised stories260K', function () {
  const bytes = new Uint8Array(readFileSync(assetPath('models', SOURCE)));
  const g = parseGguf(bytes, SOURCE);
  const f32 = ggufToModelFile(g, bytes, SOURCE);
  const bin = stories260K().file;
  const tokenizerMeta = new Map([...g.metadata].filter(([k]) => k.startsWith('tokenizer.')));

  for (const [type, bound] of [['Q8_0', 1e-2], ['Q4_0', 0.2]] as const) {
    it(`${type}: matrices quantised (ffn_down, rows of 172, stays F32), embedding and norms F32; weights within ${bound} of F32; tokenizer carried`, () => {
      const file = quantizeModelGguf({ gguf: g, bytes, source: SOURCE }, type);
      const q = parseGguf(file, `q.gguf`);
      const types = Object.fromEntries(q.tensors.map((t) => [t.name, t.type]));
      assert.equal(types['token_embd.weight'], 'F32');
      assert.equal(types['output.weight'], undefined); // identical to the embedding in the source: tied
      assert.equal(types['blk.0.attn_norm.weight'], 'F32');
      assert.equal(types['blk.0.ffn_down.weight'], 'F32');
      for (const k of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up']) assert.equal(types[`blk.4.${k}.weight`], type);
      assert.deepEqual(q.metadata.get('general.file_type'), { type: 'UINT32', value: type === 'Q8_0' ? 7 : 2 });
      assert.deepEqual(q.metadata.get('general.quantization_version'), { type: 'UINT32', value: 2 });
      for (const [k, v] of tokenizerMeta) assert.deepEqual(q.metadata.get(k), v, k);

      const m = ggufToModelFile(q, file, 'q.gguf');
      assert.deepEqual(m.config, f32.config);
      const want = namedWeights(f32);
      let worst = 0;
      for (const [name, w] of namedWeights(m)) {
        const e = relL2(w, want.get(name)!);
        if (types[name] === 'F32') assert.equal(e, 0, name);
        worst = Math.max(worst, e);
        assert.ok(e < bound, `${name}: relative error ${e}`);
      }
      console.log(`      ${type}: ${file.length} bytes (F32 GGUF ${bytes.length}), worst matrix relative error ${worst.toExponential(2)}`);
      // The raw blocks are what a GPU kernel reads: ggml's quantisation of the F32 weights.
      const raw = m.rawTensors.get('blk.1.attn_q.weight')!;
      assert.equal(raw.type, type);
      assert.ok(Buffer.from(raw.bytes).equals(type === 'Q8_0' ? quantizeQ8_0(bin.weights.layers[1].wq) : quantizeQ4_0(bin.weights.layers[1].wq)));
    });
  }

  it('from a LlamaModelFile plus tokenizer metadata: config and tied classifier kept', () => {
    const file = quantizeModelGguf({ model: bin, metadata: tokenizerMeta }, 'Q8_0');
    const q = parseGguf(file, 'q.gguf');
    const m = ggufToModelFile(q, file, 'q.gguf');
    assert.deepEqual(m.config, bin.config);
    assert.equal(m.weights.classifier, m.weights.tokenEmbedding);
    assert.deepEqual(q.metadata.get('llama.context_length'), { type: 'UINT32', value: 512 });
    for (const [k, v] of tokenizerMeta) assert.deepEqual(q.metadata.get(k), v, k);
  });

  it('tensors the Llama layout has no place for are named; qwen2 means half-split RoPE', () => {
    const meta = new Map(g.metadata);
    const tensors: GgufTensorIn[] = g.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, bytes: tensorBytes(t, bytes) }));
    // an FFN bias (llama.cpp's mlp_bias) has no place here; attention biases do (Qwen2, Llama attention_bias)
    const withBias = writeGguf({ metadata: meta, tensors: [...tensors, { name: 'blk.0.ffn_up.bias', shape: [172], type: 'F32', data: new Float32Array(172) }] });
    throwsNaming(() => ggufToModelFile(parseGguf(withBias, 'b.gguf'), withBias, 'b.gguf'), 'b.gguf', /tensors not supported by the Llama layout: blk.0.ffn_up.bias/);
    assert.ok(ggufToModelFile(parseGguf(withBias, 'b.gguf'), withBias, 'b.gguf', { allowUnused: true }).rawTensors.has('blk.0.ffn_up.bias'));
    // a q bias without its k and v biases: the missing one is named
    const qOnly = writeGguf({ metadata: meta, tensors: [...tensors, { name: 'blk.0.attn_q.bias', shape: [64], type: 'F32', data: new Float32Array(64) }] });
    throwsNaming(() => ggufToModelFile(parseGguf(qOnly, 'q.gguf'), qOnly, 'q.gguf'), 'q.gguf', /GGUF has no tensor "blk\.0\.attn_k\.bias"/);

    const qwen = new Map([...meta].map(([k, v]) => [k.replace(/^llama\./, 'qwen2.'), v]));
    qwen.set('general.architecture', { type: 'STRING', value: 'qwen2' });
    const qf = writeGguf({ metadata: qwen, tensors });
    const m = ggufToModelFile(parseGguf(qf, 'qwen.gguf'), qf, 'qwen.gguf');
    assert.equal(m.config.ropeStyle, 'halfsplit');
    assert.deepEqual({ ...m.config, ropeStyle: 'adjacent' }, f32.config);

    const k4 = writeGguf({ metadata: meta, tensors: tensors.map((t) => (t.name === 'blk.3.ffn_up.weight' ? { ...t, type: 'Q4_K', shape: [43, 256], bytes: new Uint8Array(43 * 144) } : t)) });
    throwsNaming(() => ggufToModelFile(parseGguf(k4, 'k.gguf'), k4, 'k.gguf'), 'k.gguf', /tensor "blk.3.ffn_up.weight" has shape \[43,256\], expected \[172,64\]/);
    const k4ok = writeGguf({ metadata: meta, tensors: tensors.map((t) => (t.name === 'blk.3.attn_q.weight' ? { ...t, type: 'IQ2_XS', shape: [16, 256], bytes: new Uint8Array(16 * 74) } : t)) });
    const gk = parseGguf(k4ok, 'k.gguf');
    gk.tensors.find((t) => t.name === 'blk.3.attn_q.weight')!.shape = [64, 64]; // pretend the shape fits, to reach the type check
    throwsNaming(() => ggufToModelFile(gk, k4ok, 'k.gguf'), 'k.gguf', /tensor "blk.3.attn_q.weight" has type IQ2_XS; only F32, .*, Q6_K are supported/);
  });
});

describe('GGUF models on the GPU', function () {
  const bytes = new Uint8Array(readFileSync(assetPath('models', SOURCE)));
  const g = parseGguf(bytes, SOURCE);
  const tok = stories260K().tok;

  it('stories260K.gguf generates llama2.c run.c known greedy text (200 steps)', async () => {
    const { gpu } = await gpuFixture();
    const model = await Model.load(gpu, ggufToModelFile(g, bytes, SOURCE));
    const r = await generateText(model, tok, { prompt: '', steps: 200, temperature: 0 });
    model.destroy();
    assert.equal(r.text, knownOutput());
  });
});

describe('quantised GGUF on the GPU: weights stay compressed', function () {
  const bytes = new Uint8Array(readFileSync(assetPath('models', SOURCE)));
  const g = parseGguf(bytes, SOURCE);

  it('Q8_0 / Q4_0: ledger weight bytes, logits error and greedy agreement vs F32', async () => {
    const { gpu } = await gpuFixture();
    const tokStr = new Uint8Array(readFileSync(assetPath('models', 'tok512.bin')));
    const tok = Tokenizer.fromLlama2c(tokStr, 512, 'tok512.bin');
    const prompt = tok.encode('Once upon a time, a little dog found a big red ball in the park.', { bos: true, eos: false });
    const results: Record<string, { weights: number; matrices: number; logits: Float32Array; tokens: number[] }> = {};
    for (const type of ['F32', 'Q8_0', 'Q4_0'] as const) {
      const qb = type === 'F32' ? bytes : quantizeModelGguf({ gguf: g, bytes, source: SOURCE }, type);
      const before = gpu.ledger.totalBytes();
      const model = await loadModel(gpu, qb, `${type}.gguf`);
      const weights = gpu.ledger.totalBytes() - before;
      // bytes of the layer matrices that a format can compress (rows a multiple of 32)
      let matrices = 0;
      for (const l of model.weights.layers) for (const w of [l.wq, l.wk, l.wv, l.wo, l.w1, l.w3]) matrices += w instanceof CompressedWeight ? w.bytes : (w as { bytes: number }).bytes;
      const pass = new ForwardPass(model, { B: 1, T: prompt.length, nSelect: prompt.length });
      const logits = await pass.run(prompt, prompt.map((_, i) => i));
      pass.destroy();
      const gen = await generateText(model, tok, { prompt: '', steps: 200, temperature: 0 });
      results[type] = { weights, matrices, logits, tokens: gen.tokens };
      model.destroy();
    }
    const f = results.F32;
    for (const type of ['Q8_0', 'Q4_0'] as const) {
      const r = results[type];
      const err = relL2(r.logits, f.logits); // ||diff|| / ||F32||, the relative error of the logits
      const errMax = relError(r.logits, f.logits); // max |diff| / max |F32|: the stricter element-wise view
      let same = 0;
      while (same < Math.min(r.tokens.length, f.tokens.length) && r.tokens[same] === f.tokens[same]) same++;
      console.log(`      ${type}: matrices ${(f.matrices / r.matrices).toFixed(2)}x smaller, all weights ${(f.weights / r.weights).toFixed(2)}x; logits rel error ${err.toExponential(2)} (max-element ratio ${errMax.toExponential(2)}); greedy tokens equal for ${same - 1} of ${f.tokens.length - 1}`);
      assert.ok(Math.abs(f.matrices / r.matrices - (type === 'Q8_0' ? 32 * 4 / 34 : 32 * 4 / 18)) < 0.01, 'the compressible matrices are held in their block format');
      assert.ok(r.weights < f.weights);
      // Q8_0: the formats issue's bound; Q4_0 has a 16-level grid, an order of magnitude coarser
      assert.ok(err < (type === 'Q8_0' ? 1e-2 : 1.5e-1), `rel error ${err}`);
      assert.ok(errMax < (type === 'Q8_0' ? 2e-2 : 3e-1), `max-element ratio ${errMax}`);
    }
  });
});

describe('stories260K.gguf vs stories260K.bin on the GPU', () => {
  it('the same logits (max |diff| <= 1e-6) through loadModel', async () => {
    const { gpu } = await gpuFixture();
    const tok = stories260K().tok;
    const tokens = tok.encode('Lily and Ben played with a big red ball in the sun.', { bos: true, eos: false });
    const out: Float32Array[] = [];
    for (const f of ['stories260K.gguf', 'stories260K.bin']) {
      const model = await loadModel(gpu, new Uint8Array(readFileSync(assetPath('models', f))), f);
      const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
      out.push(await pass.run(tokens, tokens.map((_, i) => i)));
      pass.destroy();
      model.destroy();
    }
    let maxDiff = 0;
    for (let i = 0; i < out[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[0][i] - out[1][i]));
    console.log(`      max |diff| ${maxDiff}`);
    assert.ok(maxDiff <= 1e-6, `max |diff| ${maxDiff}`);
  });
});
