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
import type { ByteSource } from './byte_source';
import { LAYER_TENSORS, MODEL_TENSORS, sourceTensors, type ModelTensors, type SourceTensor } from './model_tensors';

const HEADER_INTS = 7;
const HEADER_BYTES = HEADER_INTS * 4;
const MAX_HEADER_VALUE = 1 << 24; // the same bound as validateConfig: larger is never a real model

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The tensors of a llama2.c file: where each lies (bytes from the start of the file) and its floats. */
interface Llama2cLayout {
  config: LlamaConfig;
  /** By GGUF name (one per layer for the stacked ones): byte offset and float count. */
  tensors: Map<string, { offset: number; count: number }>;
}

/**
 * Reads the 28-byte header and lays out every tensor, checking the file's size (`fileSize`) against
 * what the header implies before anything is sized by it. `source` names the file in errors.
 */
function llama2cLayout(header: Uint8Array, fileSize: number, source: string): Llama2cLayout {
  if (fileSize < HEADER_BYTES || header.byteLength < HEADER_BYTES) {
    throw new Error(`${source}: file is ${fileSize} bytes, shorter than the ${HEADER_BYTES}-byte llama2.c header`);
  }
  const view = new DataView(header.buffer, header.byteOffset, HEADER_BYTES);
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'] as const;
  const raw = names.map((_, i) => view.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = raw;
  const headerText = names.map((n, i) => `${n} ${raw[i]}`).join(', ');

  // Header sanity, before any size arithmetic or allocation: random bytes stop here or at the size check.
  for (let i = 0; i < names.length; i++) {
    const v = i === 5 ? Math.abs(raw[i]) : raw[i];
    if (v <= 0 || v > MAX_HEADER_VALUE) {
      throw new Error(`${source}: not a llama2.c checkpoint: header field ${names[i]} = ${raw[i]} is out of range (header: ${headerText})`);
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
  const actual = B(fileSize);
  if (actual !== expected) {
    const what = actual < expected ? 'truncated' : `${actual - expected} bytes too long`;
    throw new Error(
      `${source}: llama2.c checkpoint ${what}: the header (${headerText}) implies ${expected} bytes, the file has ${actual} bytes`,
    );
  }

  // The file is as long as the header says: every offset below is a safe integer.
  const tensors = new Map<string, { offset: number; count: number }>();
  let offset = HEADER_BYTES;
  const one = (name: string, count: number) => {
    tensors.set(name, { offset, count });
    offset += count * 4;
  };
  const stacked = (field: keyof typeof LAYER_TENSORS, count: number) => {
    for (let l = 0; l < nLayers; l++) one(`blk.${l}.${LAYER_TENSORS[field]}`, count);
  };
  const q = nHeads * headDim;
  const kv = nKvHeads * headDim;
  one(MODEL_TENSORS.tokenEmbedding, vocabSize * dim);
  stacked('attnNorm', dim);
  stacked('wq', q * dim);
  stacked('wk', kv * dim);
  stacked('wv', kv * dim);
  stacked('wo', dim * q);
  stacked('ffnNorm', dim);
  stacked('w1', hiddenDim * dim);
  stacked('w2', dim * hiddenDim);
  stacked('w3', hiddenDim * dim);
  one(MODEL_TENSORS.finalNorm, dim);
  offset += Number(sizes.legacyRope) * 4;
  if (!sharedClassifier) one(MODEL_TENSORS.classifier, vocabSize * dim);
  if (offset !== fileSize) throw new Error(`${source}: internal error: laid out ${offset} of ${fileSize} bytes`);
  return { config, tensors };
}

/** Little-endian floats of `bytes` as a fresh Float32Array (a copy: the alignment of `bytes` never matters). */
function floats(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  if (littleEndianHost) new Uint8Array(out.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** Parses a llama2.c `.bin` checkpoint. `source` names the file in error messages. */
export function parseLlama2c(bytes: Uint8Array, source: string): LlamaModelFile {
  const { config, tensors } = llama2cLayout(bytes.subarray(0, HEADER_BYTES), bytes.byteLength, source);
  const take = (name: string): Float32Array => {
    const t = tensors.get(name)!;
    return floats(bytes.subarray(t.offset, t.offset + t.count * 4));
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const layer = {} as LayerWeights;
    for (const field of ['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'] as const) layer[field] = take(`blk.${l}.${LAYER_TENSORS[field]}`);
    layers.push(layer);
  }
  const tokenEmbedding = take(MODEL_TENSORS.tokenEmbedding);
  return {
    config,
    weights: {
      tokenEmbedding,
      layers,
      finalNorm: take(MODEL_TENSORS.finalNorm),
      classifier: config.sharedClassifier ? tokenEmbedding : take(MODEL_TENSORS.classifier),
    },
  };
}

/** A llama2.c checkpoint read through a ByteSource: its header now, each tensor when it is uploaded. */
export async function llama2cSourceModel(src: ByteSource): Promise<ModelTensors> {
  const { config, tensors } = llama2cLayout(await src.read(0, Math.min(HEADER_BYTES, src.size)), src.size, src.name);
  const out = new Map<string, SourceTensor>();
  for (const [name, t] of tensors) out.set(name, { src, offset: t.offset, nbytes: t.count * 4, type: 'F32', shape: [t.count], storedLayout: false, toF32: floats });
  return sourceTensors(config, out);
}
