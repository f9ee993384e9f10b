// Loader for Karpathy's llama2.c checkpoint format (`.bin`, fp32, little-endian).
//
// Layout (run.c `read_checkpoint` / `memory_map_weights`):
//   header: 7 x int32  dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//           (vocab_size < 0 means the classifier is not shared and is stored at the end)
//   then fp32 tensors, each stacked over layers, row-major [out, in]:
//     token_embedding [vocab, dim]
//     rms_att         [layers, dim]
//     wq              [layers, nHeads * headDim, dim]
//     wk              [layers, nKvHeads * headDim, dim]
//     wv              [layers, nKvHeads * headDim, dim]
//     wo              [layers, dim, nHeads * headDim]
//     rms_ffn         [layers, dim]
//     w1 (gate)       [layers, hidden, dim]
//     w2 (down)       [layers, dim, hidden]
//     w3 (up)         [layers, hidden, dim]
//     rms_final       [dim]
//     legacy RoPE tables: seq_len * headDim / 2 floats (freq_cis_real) + the same (imag); skipped
//     classifier      [vocab, dim]   only when vocab_size < 0
//
// Runs in browsers too: takes bytes, never touches the file system.

import { validateConfig, type LayerWeights, type LlamaConfig, type LlamaModelFile } from './config';

const HEADER_INTS = 7;
const HEADER_BYTES = HEADER_INTS * 4;
const MAX_HEADER_VALUE = 1 << 24; // the same bound as validateConfig: larger is never a real model

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Parses a llama2.c `.bin` checkpoint. `source` names the file in error messages. */
export function parseLlama2c(bytes: Uint8Array, source: string): LlamaModelFile {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new Error(`${source}: file is ${bytes.byteLength} bytes, shorter than the ${HEADER_BYTES}-byte llama2.c header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'] as const;
  const raw = names.map((_, i) => view.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = raw;
  const header = names.map((n, i) => `${n} ${raw[i]}`).join(', ');

  // Header sanity, before any size arithmetic or allocation: random bytes stop here or at the size check.
  for (let i = 0; i < names.length; i++) {
    const v = i === 5 ? Math.abs(raw[i]) : raw[i];
    if (v <= 0 || v > MAX_HEADER_VALUE) {
      throw new Error(`${source}: not a llama2.c checkpoint: header field ${names[i]} = ${raw[i]} is out of range (header: ${header})`);
    }
  }
  if (dim % nHeads !== 0) {
    throw new Error(`${source}: llama2.c header is inconsistent: dim ${dim} is not a multiple of n_heads ${nHeads}`);
  }
  const sharedClassifier = rawVocab > 0;
  const vocabSize = Math.abs(rawVocab);
  const headDim = dim / nHeads;
  const config: LlamaConfig = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    seqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'adjacent',
    sharedClassifier,
  };
  validateConfig(config, source);

  // Sizes in floats, in file order. BigInt: the products of absurd headers exceed 2^53.
  const B = BigInt;
  const L = B(nLayers);
  const qDim = B(nHeads * headDim);
  const kvDim = B(nKvHeads * headDim);
  const sizes = {
    tokenEmbedding: B(vocabSize) * B(dim),
    attnNorm: L * B(dim),
    wq: L * qDim * B(dim),
    wk: L * kvDim * B(dim),
    wv: L * kvDim * B(dim),
    wo: L * B(dim) * qDim,
    ffnNorm: L * B(dim),
    w1: L * B(hiddenDim) * B(dim),
    w2: L * B(dim) * B(hiddenDim),
    w3: L * B(hiddenDim) * B(dim),
    finalNorm: B(dim),
    legacyRope: 2n * (B(seqLen) * B(headDim) / 2n), // run.c skips seq_len * head_size / 2 twice
    classifier: sharedClassifier ? 0n : B(vocabSize) * B(dim),
  };
  const totalFloats = Object.values(sizes).reduce((a, b) => a + b, 0n);
  const expected = B(HEADER_BYTES) + 4n * totalFloats;
  const actual = B(bytes.byteLength);
  if (actual !== expected) {
    const what = actual < expected ? 'truncated' : `${actual - expected} bytes too long`;
    throw new Error(
      `${source}: llama2.c checkpoint ${what}: the header (${header}) implies ${expected} bytes, the file has ${actual} bytes`,
    );
  }

  // Every tensor is a copy, so the alignment of `bytes` never matters.
  let offset = HEADER_BYTES;
  const take = (count: number): Float32Array => {
    const out = new Float32Array(count);
    const start = offset;
    offset += count * 4;
    if (littleEndianHost) {
      new Uint8Array(out.buffer).set(bytes.subarray(start, start + count * 4));
    } else {
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(start + i * 4, true);
    }
    return out;
  };
  const perLayer = (rowsTimesCols: number): Float32Array[] => Array.from({ length: nLayers }, () => take(rowsTimesCols));

  const q = nHeads * headDim;
  const kv = nKvHeads * headDim;
  const tokenEmbedding = take(vocabSize * dim);
  const attnNorm = perLayer(dim);
  const wq = perLayer(q * dim);
  const wk = perLayer(kv * dim);
  const wv = perLayer(kv * dim);
  const wo = perLayer(dim * q);
  const ffnNorm = perLayer(dim);
  const w1 = perLayer(hiddenDim * dim);
  const w2 = perLayer(dim * hiddenDim);
  const w3 = perLayer(hiddenDim * dim);
  const finalNorm = take(dim);
  offset += Number(sizes.legacyRope) * 4;
  const classifier = sharedClassifier ? tokenEmbedding : take(vocabSize * dim);
  if (offset !== bytes.byteLength) {
    throw new Error(`${source}: internal error: parsed ${offset} of ${bytes.byteLength} bytes`);
  }

  const layers: LayerWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    layers.push({
      attnNorm: attnNorm[l],
      wq: wq[l],
      wk: wk[l],
      wv: wv[l],
      wo: wo[l],
      ffnNorm: ffnNorm[l],
      w1: w1[l],
      w2: w2[l],
      w3: w3[l],
    });
  }
  return { config, weights: { tokenEmbedding, layers, finalNorm, classifier } };
}
