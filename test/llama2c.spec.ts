import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseLlama2c } from '../src/formats/llama2c';
import { assetPath } from './assets';
import { throwsNaming } from './expect';

const SOURCE = 'stories260K.bin';

/** A llama2.c file for a tiny config; float k of the body holds k (so every slice is checkable). */
function synthetic(h: number[], classifierFloats: number): { bytes: Uint8Array; floats: number } {
  const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = h;
  const hd = dim / heads;
  const v = Math.abs(vocab);
  const floats =
    v * dim + layers * (2 * dim + dim * dim * 2 + 2 * dim * kvHeads * hd + 3 * dim * hidden) + dim + seqLen * hd + classifierFloats;
  const bytes = new Uint8Array(28 + floats * 4);
  const view = new DataView(bytes.buffer);
  h.forEach((x, i) => view.setInt32(i * 4, x, true));
  for (let k = 0; k < floats; k++) view.setFloat32(28 + k * 4, k, true);
  return { bytes, floats };
}

function withHeader(h: number[], bodyBytes: number): Uint8Array {
  const bytes = new Uint8Array(28 + bodyBytes);
  const view = new DataView(bytes.buffer);
  h.forEach((x, i) => view.setInt32(i * 4, x, true));
  return bytes;
}

/** Seeded xorshift32 bytes. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

describe('llama2.c checkpoint loader', () => {
  const file = new Uint8Array(readFileSync(assetPath('models', 'stories260K.bin')));
  const fileView = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const floatAt = (k: number) => fileView.getFloat32(28 + k * 4, true);

  it('parses stories260K with the facts in the assets README', () => {
    const { config: c, weights: w } = parseLlama2c(file, SOURCE);
    assert.deepEqual(c, {
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      seqLen: 512,
      normEps: 1e-5,
      ropeTheta: 10000,
      ropeStyle: 'adjacent',
      sharedClassifier: true,
    });
    assert.equal(w.tokenEmbedding.length, 512 * 64);
    assert.equal(w.classifier, w.tokenEmbedding, 'shared classifier is the same array');
    assert.equal(w.finalNorm.length, 64);
    assert.equal(w.layers.length, 5);
    for (const l of w.layers) {
      assert.equal(l.attnNorm.length, 64);
      assert.equal(l.wq.length, 64 * 64);
      assert.equal(l.wk.length, 32 * 64);
      assert.equal(l.wv.length, 32 * 64);
      assert.equal(l.wo.length, 64 * 64);
      assert.equal(l.ffnNorm.length, 64);
      assert.equal(l.w1.length, 172 * 64);
      assert.equal(l.w2.length, 64 * 172);
      assert.equal(l.w3.length, 172 * 64);
      assert.notEqual(l.wq.buffer, file.buffer, 'weights are copies, not views of the file');
    }
    // Spot checks against the raw file, at offsets computed from llama2.c's layout.
    const emb = 512 * 64;
    assert.equal(w.tokenEmbedding[0], floatAt(0));
    assert.equal(w.layers[0].attnNorm[0], floatAt(emb));
    const wqStart = emb + 5 * 64;
    assert.equal(w.layers[3].wq[5], floatAt(wqStart + 3 * 4096 + 5));
    const perLayer = 64 + 4096 + 2048 + 2048 + 4096 + 64 + 3 * 172 * 64;
    assert.equal(w.finalNorm[63], floatAt(emb + 5 * perLayer + 63));
    // RMSNorm weights of a trained model are positive-ish and O(1); the embedding is small.
    assert.ok(w.finalNorm.every((x) => Number.isFinite(x) && Math.abs(x) < 100));
  });

  it('does not depend on the alignment of the bytes', () => {
    const padded = new Uint8Array(file.byteLength + 3);
    padded.set(file, 3);
    const a = parseLlama2c(file, SOURCE);
    const b = parseLlama2c(padded.subarray(3), SOURCE);
    assert.deepEqual(b.weights.layers[4].w2, a.weights.layers[4].w2);
    assert.deepEqual(b.weights.tokenEmbedding, a.weights.tokenEmbedding);
  });

  it('places every tensor of a synthetic file, with an unshared classifier after the legacy RoPE block', () => {
    // dim 8, hidden 12, 2 layers, 2 heads (hd 4), 1 kv head, vocab 10 (negative: unshared), seq 6
    const h = [8, 12, 2, 2, 1, -10, 6];
    const { bytes, floats } = synthetic(h, 10 * 8);
    const { config: c, weights: w } = parseLlama2c(bytes, 'tiny.bin');
    assert.equal(c.sharedClassifier, false);
    assert.equal(c.vocabSize, 10);
    assert.equal(c.headDim, 4);
    let k = 0;
    const expectRun = (a: Float32Array, n: number, what: string) => {
      assert.equal(a.length, n, `${what} length`);
      a.forEach((x, i) => assert.equal(x, k + i, `${what}[${i}]`));
      k += n;
    };
    expectRun(w.tokenEmbedding, 80, 'tokenEmbedding');
    const names = ['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'] as const;
    const sizes = { attnNorm: 8, wq: 64, wk: 32, wv: 32, wo: 64, ffnNorm: 8, w1: 96, w2: 96, w3: 96 };
    for (const n of names) for (let l = 0; l < 2; l++) expectRun(w.layers[l][n], sizes[n], `layer ${l} ${n}`);
    expectRun(w.finalNorm, 8, 'finalNorm');
    k += 6 * 4; // legacy RoPE tables: seq_len * head_size / 2, twice
    expectRun(w.classifier, 80, 'classifier');
    assert.equal(k, floats);
    assert.notEqual(w.classifier, w.tokenEmbedding);
  });

  it('rejects an empty file', () => {
    throwsNaming(() => parseLlama2c(new Uint8Array(0), 'empty.bin'), 'empty.bin', /0 bytes, shorter than the 28-byte llama2.c header/);
  });

  it('rejects a truncated file, cut at several points', () => {
    for (const n of [1, 27]) {
      throwsNaming(() => parseLlama2c(file.subarray(0, n), SOURCE), SOURCE, new RegExp(`${n} bytes, shorter than the 28-byte`));
    }
    for (const n of [28, 29, 1000, file.byteLength >> 1, file.byteLength - 4 * 4096, file.byteLength - 4, file.byteLength - 1]) {
      throwsNaming(
        () => parseLlama2c(file.subarray(0, n), SOURCE),
        SOURCE,
        new RegExp(`truncated: the header \\(dim 64, .*\\) implies 1056540 bytes, the file has ${n} bytes`),
      );
    }
  });

  it('rejects a file with bytes after the last tensor', () => {
    const longer = new Uint8Array(file.byteLength + 4);
    longer.set(file);
    throwsNaming(() => parseLlama2c(longer, SOURCE), SOURCE, /4 bytes too long: .* implies 1056540 bytes, the file has 1056544 bytes/);
  });

  it('rejects random bytes at the header or size check', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const n = [16, 28, 100, 4096, 1 << 20][seed % 5];
      throwsNaming(
        () => parseLlama2c(randomBytes(n, seed), 'noise.bin'),
        'noise.bin',
        /shorter than the 28-byte|not a llama2.c checkpoint: header field|header is inconsistent|config field|is not nHeads|is not a multiple of nKvHeads|must be even|truncated|too long/,
      );
    }
  });

  it('rejects a header claiming huge dims without allocating them', () => {
    // Every field in range, but the implied size is about 2^52 bytes.
    const huge = withHeader([1 << 20, 1 << 22, 1 << 10, 1 << 10, 1 << 10, 1 << 16, 1 << 16], 1024);
    throwsNaming(() => parseLlama2c(huge, 'huge.bin'), 'huge.bin', /truncated: the header \(dim 1048576, .*\) implies \d{16,} bytes, the file has 1052 bytes/);
    // Out-of-range fields stop at the header check.
    throwsNaming(() => parseLlama2c(withHeader([1 << 30, 64, 1, 1, 1, 10, 8], 64), 'absurd.bin'), 'absurd.bin', /header field dim = 1073741824 is out of range/);
    throwsNaming(() => parseLlama2c(withHeader([64, 64, 1, 8, 8, -(2 ** 31), 8], 64), 'absurd.bin'), 'absurd.bin', /header field vocab_size = -2147483648 is out of range/);
  });

  it('rejects inconsistent dims', () => {
    const cases: [number[], RegExp][] = [
      [[64, 172, 5, 8, 0, 512, 512], /header field n_kv_heads = 0 is out of range/],
      [[64, 172, 0, 8, 4, 512, 512], /header field n_layers = 0 is out of range/],
      [[64, 172, 5, 8, -4, 512, 512], /header field n_kv_heads = -4 is out of range/],
      [[64, 172, 5, 6, 3, 512, 512], /dim 64 is not a multiple of n_heads 6/],
      [[64, 172, 5, 8, 3, 512, 512], /nHeads 8 is not a multiple of nKvHeads 3/],
      [[64, 172, 5, 8, 16, 512, 512], /nHeads 8 is not a multiple of nKvHeads 16/],
      [[63, 172, 5, 9, 3, 512, 512], /headDim 7 must be even/],
    ];
    for (const [h, problem] of cases) throwsNaming(() => parseLlama2c(withHeader(h, 0), 'bad.bin'), 'bad.bin', problem);
  });
});
