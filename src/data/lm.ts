// Causal-LM data: documents -> one token stream -> fixed-length chunks -> fixed-shape batches.
//
// Stream: each document encoded with BOS in front (and EOS after it with `eos: true`), all
// concatenated in order. Chunks: chunk c covers the T+1 stream tokens [c*T, c*T + T] (consecutive
// chunks share one token); its input is the first T, its labels the last T (next-token prediction:
// labels[j] = stream[c*T + j + 1]). The final partial chunk, when it has at least 2 tokens (one
// input with one label), is right-padded: input PAD_TOKEN (0), label IGNORE_LABEL (-100). So every
// stream token but the first is a label exactly once.
//
// Order: `split` draws the eval chunks by a seeded Fisher-Yates shuffle (mulberry32). Training
// visits an endless sequence of epochs, each a fresh seeded shuffle of the set's chunks; batch `k`
// is rows [k*Bsz, (k+1)*Bsz) of that sequence, so a batch that runs past the end of an epoch wraps
// into the next one and every batch is full (the trainer's shapes are fixed). `batchAt(k)` computes
// batch k directly, so a run resumed at step k sees exactly what the uninterrupted run saw, and
// `batches(Bsz, seed, e)` yields the batches that start in epoch e: epochs 0, 1, 2 ... one after
// another give batchAt(0), batchAt(1), ... with no gap and no repeat.
//
// Browser-safe: no Node imports; the tokenizer comes in as an object.
import { mulberry32 } from '../util/random';
import type { TokenEncoder } from './batch';

/** The input token of padded positions (never attended to: padding is on the right, masking is causal). */
export const PAD_TOKEN = 0;
/** The label of positions that carry no loss (padding). */
export const IGNORE_LABEL = -100;

/** What the dataset needs of a tokenizer. */
export type LmTokenizer = TokenEncoder;

export interface LmOptions {
  /** Append EOS after each document (default false: documents are told apart by their BOS). */
  eos?: boolean;
  /** Name of the data, for error messages (default 'data'). */
  source?: string;
  /** Called as the documents are tokenized (a long text takes seconds): characters done of the total. */
  onProgress?(done: number, total: number): void;
}

/** One chunk: `seqLen` input tokens and their `seqLen` labels. */
export interface LmChunk {
  tokens: Int32Array; // [T]
  labels: Int32Array; // [T], IGNORE_LABEL on padding
}

/** A batch, row-major: row b is tokens[b*T .. (b+1)*T). */
export interface LmBatch {
  tokens: Int32Array; // [Bsz*T]
  labels: Int32Array; // [Bsz*T]
  /** Rows holding data. Always Bsz for training batches; the last `sequentialBatches` batch may have fewer
   * (the rest are all padding: tokens PAD_TOKEN, labels IGNORE_LABEL). */
  rows: number;
  /** The global step (training) or the batch index (sequential). */
  step: number;
  /** The epoch of the batch's first row (training); 0 for sequential batches. */
  epoch: number;
  /** [Bsz] the chunk (index in the token stream's chunk grid) of each row; -1 for padding rows. */
  chunkIds: Int32Array;
}

/** A seeded permutation of 0..n-1: Fisher-Yates driven by mulberry32(seed). */
export function shuffledIndices(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rand = mulberry32(seed >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** The shuffle seed of one training epoch: (seed, epoch) hashed to 32 bits. */
export function epochSeed(seed: number, epoch: number): number {
  return fmix32((seed >>> 0) ^ fmix32((epoch + 0x9e3779b9) >>> 0));
}

/** MurmurHash3's 32-bit finaliser. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got ${v}`);
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
}

/** Chunks of a token stream, and the batches made of them. A `split` gives sets over subsets of the same
 * chunks (sharing the stream). */
export class LmChunkSet {
  readonly seqLen: number;
  readonly source: string;
  protected readonly stream: Int32Array;
  private readonly ids: Int32Array; // [chunks] indices into the stream's chunk grid, ascending
  private readonly perms = new Map<string, Int32Array>(); // the last few epoch shuffles

  /** `stream`: the token stream; `ids`: the chunks of the stream's grid this set holds (default all). */
  constructor(stream: Int32Array, seqLen: number, source = 'data', ids?: Int32Array) {
    if (!(stream instanceof Int32Array)) throw new Error(`${source}: the token stream must be an Int32Array`);
    checkInt(`${source}: seqLen`, seqLen, 1);
    const n = stream.length;
    if (n < seqLen + 1) {
      throw new Error(
        `${source}: data has ${n} tokens, fewer than the ${seqLen + 1} needed for one chunk of ${seqLen} (${seqLen} inputs and the label after the last)`,
      );
    }
    this.stream = stream;
    this.seqLen = seqLen;
    this.source = source;
    const grid = LmChunkSet.gridSize(n, seqLen);
    if (ids) {
      for (let i = 0; i < ids.length; i++) {
        if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= grid) {
          throw new Error(`${source}: chunk id ${ids[i]} is out of range [0, ${grid})`);
        }
      }
      this.ids = ids;
    } else {
      this.ids = new Int32Array(grid);
      for (let i = 0; i < grid; i++) this.ids[i] = i;
    }
  }

  /** Chunks in a stream of n tokens: the full ones, plus a padded last one when >= 2 tokens are left. */
  static gridSize(n: number, seqLen: number): number {
    if (n < 2) return 0;
    return Math.ceil((n - 1) / seqLen);
  }

  /** Number of chunks in this set. */
  get chunks(): number {
    return this.ids.length;
  }

  /** Tokens in the whole token stream the chunks are cut from (shared with the sets `split` makes). */
  get tokenCount(): number {
    return this.stream.length;
  }

  /** Label tokens (those carrying loss) in this set's chunks: what one epoch trains on. */
  get labelCount(): number {
    let total = 0;
    for (let i = 0; i < this.ids.length; i++) total += this.rowLength(this.ids[i]);
    return total;
  }

  /** The grid index (position in the stream's chunk grid) of this set's chunk i. */
  chunkId(i: number): number {
    this.checkIndex(i);
    return this.ids[i];
  }

  /** This set's chunk i (in ascending stream order). */
  chunk(i: number): LmChunk {
    this.checkIndex(i);
    const tokens = new Int32Array(this.seqLen);
    const labels = new Int32Array(this.seqLen);
    this.fillRow(this.ids[i], tokens, labels, 0);
    return { tokens, labels };
  }

  /** Train and eval sets: round(evalFraction * chunks) chunks (at least 1 when evalFraction > 0) drawn by a
   * shuffle seeded with `seed` go to eval, the rest to train. Deterministic in (chunks, evalFraction, seed). */
  split(evalFraction: number, seed: number): { train: LmChunkSet; eval: LmChunkSet } {
    if (!(evalFraction >= 0 && evalFraction < 1)) {
      throw new Error(`${this.source}: evalFraction must be in [0, 1), got ${evalFraction}`);
    }
    checkSeed(seed);
    const n = this.ids.length;
    const nEval = evalFraction === 0 ? 0 : Math.max(1, Math.round(evalFraction * n));
    if (n - nEval < 1) {
      throw new Error(
        `${this.source}: ${n} chunk${n === 1 ? '' : 's'} of ${this.seqLen} tokens cannot be split with evalFraction ${evalFraction}: no chunk would be left to train on`,
      );
    }
    const perm = shuffledIndices(n, seed);
    const evalIds = Int32Array.from(perm.subarray(0, nEval), (p) => this.ids[p]).sort();
    const trainIds = Int32Array.from(perm.subarray(nEval), (p) => this.ids[p]).sort();
    return {
      train: new LmChunkSet(this.stream, this.seqLen, `${this.source} (train)`, trainIds),
      eval: new LmChunkSet(this.stream, this.seqLen, `${this.source} (eval)`, evalIds),
    };
  }

  /** The training batch of global step `step`: rows [step*Bsz, (step+1)*Bsz) of the endless sequence of
   * epoch shuffles (epoch of a row = floor(row / chunks)). */
  batchAt(step: number, batchSize: number, seed: number): LmBatch {
    checkInt('step', step, 0);
    checkInt('batchSize', batchSize, 1);
    checkSeed(seed);
    const n = this.ids.length;
    if (n === 0) throw new Error(`${this.source}: no chunks to make a batch of`);
    const T = this.seqLen;
    const tokens = new Int32Array(batchSize * T);
    const labels = new Int32Array(batchSize * T);
    const chunkIds = new Int32Array(batchSize);
    const first = step * batchSize;
    if (!Number.isSafeInteger(first + batchSize)) throw new Error(`step ${step} x batchSize ${batchSize} is too large`);
    for (let b = 0; b < batchSize; b++) {
      const g = first + b;
      const epoch = Math.floor(g / n);
      const id = this.ids[this.epochOrder(seed, epoch)[g - epoch * n]];
      chunkIds[b] = id;
      this.fillRow(id, tokens, labels, b * T);
    }
    return { tokens, labels, rows: batchSize, step, epoch: Math.floor(first / n), chunkIds };
  }

  /** The global steps [start, end) whose batches start in `epoch`: ceil(epoch*chunks/Bsz) up to
   * ceil((epoch+1)*chunks/Bsz). Empty for some epochs when Bsz > chunks. */
  stepRange(batchSize: number, epoch: number): { start: number; end: number } {
    checkInt('batchSize', batchSize, 1);
    checkInt('epoch', epoch, 0);
    const n = this.ids.length;
    return { start: Math.ceil((epoch * n) / batchSize), end: Math.ceil(((epoch + 1) * n) / batchSize) };
  }

  /** The training batches that start in `epoch` (steps `stepRange(batchSize, epoch)`), each `batchAt(step)`. */
  *batches(batchSize: number, seed: number, epoch = 0): Generator<LmBatch, void, undefined> {
    checkSeed(seed);
    const { start, end } = this.stepRange(batchSize, epoch);
    for (let step = start; step < end; step++) yield this.batchAt(step, batchSize, seed);
  }

  /** Every chunk once, in stream order, Bsz rows a batch; the last batch is filled up with padding rows
   * (`rows` says how many hold data). For evaluation, where wrapping around would count chunks twice. */
  *sequentialBatches(batchSize: number): Generator<LmBatch, void, undefined> {
    checkInt('batchSize', batchSize, 1);
    const T = this.seqLen;
    const n = this.ids.length;
    for (let step = 0, first = 0; first < n; step++, first += batchSize) {
      const rows = Math.min(batchSize, n - first);
      const tokens = new Int32Array(batchSize * T);
      const labels = new Int32Array(batchSize * T).fill(IGNORE_LABEL);
      const chunkIds = new Int32Array(batchSize).fill(-1);
      for (let b = 0; b < rows; b++) {
        chunkIds[b] = this.ids[first + b];
        this.fillRow(chunkIds[b], tokens, labels, b * T);
      }
      yield { tokens, labels, rows, step, epoch: 0, chunkIds };
    }
  }

  /** Inputs carrying a label in grid chunk `id`: T, or fewer for the padded last chunk. */
  private rowLength(id: number): number {
    return Math.min(this.seqLen, this.stream.length - 1 - id * this.seqLen);
  }

  private fillRow(id: number, tokens: Int32Array, labels: Int32Array, offset: number): void {
    const start = id * this.seqLen;
    const len = this.rowLength(id);
    tokens.set(this.stream.subarray(start, start + len), offset);
    labels.set(this.stream.subarray(start + 1, start + 1 + len), offset);
    tokens.fill(PAD_TOKEN, offset + len, offset + this.seqLen);
    labels.fill(IGNORE_LABEL, offset + len, offset + this.seqLen);
  }

  /** The shuffle of this set's chunk positions for (seed, epoch); the last few are kept. */
  private epochOrder(seed: number, epoch: number): Int32Array {
    const key = `${seed}:${epoch}`;
    let p = this.perms.get(key);
    if (!p) {
      p = shuffledIndices(this.ids.length, epochSeed(seed, epoch));
      if (this.perms.size >= 4) this.perms.delete(this.perms.keys().next().value as string);
      this.perms.set(key, p);
    }
    return p;
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.ids.length) {
      throw new Error(`${this.source}: chunk ${i} is out of range [0, ${this.ids.length})`);
    }
  }
}

/** Encodes documents into one stream: BOS + document (+ EOS) each, in order. */
export function encodeDocuments(documents: readonly string[], tokenizer: LmTokenizer, eos = false, onProgress?: (done: number, total: number) => void): Int32Array {
  const parts: number[][] = [];
  let total = 0;
  const chars = onProgress ? documents.reduce((n, d) => n + d.length, 0) : 0;
  let done = 0;
  for (const d of documents) {
    const ids = tokenizer.encode(d, { bos: true, eos });
    parts.push(ids);
    total += ids.length;
    done += d.length;
    onProgress?.(done, chars);
  }
  const stream = new Int32Array(total);
  let o = 0;
  for (const p of parts) {
    stream.set(p, o);
    o += p.length;
  }
  return stream;
}

/** A causal-LM dataset: documents encoded by `tokenizer` and cut into chunks of `seqLen` (see the top of
 * this file). */
export class LmDataset extends LmChunkSet {
  /** Number of documents encoded. */
  readonly documents: number;

  constructor(documents: readonly string[], tokenizer: LmTokenizer, seqLen: number, options: LmOptions = {}) {
    const source = options.source ?? 'data';
    if (documents.length === 0) throw new Error(`${source}: no documents`);
    checkInt(`${source}: seqLen`, seqLen, 1);
    super(encodeDocuments(documents, tokenizer, options.eos ?? false, options.onProgress), seqLen, source);
    this.documents = documents.length;
  }
}
