// SentencePiece-style BPE tokenizer in llama2.c's format (`tokenizer.bin`, e.g. tok512.bin).
//
// File layout (run.c `build_tokenizer`): int32 max_token_length, then exactly vocab_size entries of
// { float32 score, int32 byte length, the piece's bytes }. The file holds no token count: the model
// header's vocab_size says how many entries to read. Pieces use ' ' for SentencePiece's '▁'; pieces
// `<0xXX>` stand for raw bytes; BOS is "\n<s>\n", EOS "\n</s>\n".
//
// `encode` and `decodeBytes` reproduce run.c's `encode` and `decode`. Pieces are handled as bytes,
// keyed in maps as "binary strings" (one char per byte, code 0..255).
//
// Two deliberate differences from the C code, both where C strings cannot go: a NUL byte in the text
// is encoded like any other byte (byte fallback <0x00>, id 3) instead of ending the text, and
// `decodeBytes` of <0x00> gives the byte 0 instead of an empty C string.

const utf8 = new TextEncoder();

/** Bytes as a string with one char per byte (the key of the piece map). */
function binary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** run.c: `sscanf(piece, "<0x%02hhX>", &byte_val) == 1`. Returns the byte, or -1 when it does not match. */
function rawByteOf(piece: Uint8Array): number {
  // "<0x" literally, then %02hhX: leading white space skipped, then at most 2 chars of [+-]?hex.
  // The trailing '>' does not affect sscanf's count of conversions.
  if (piece.length < 4 || piece[0] !== 0x3c || piece[1] !== 0x30 || piece[2] !== 0x78) return -1;
  let i = 3;
  while (i < piece.length && (piece[i] === 0x20 || (piece[i] >= 0x09 && piece[i] <= 0x0d))) i++;
  const end = Math.min(piece.length, i + 2);
  let sign = 1;
  if (i < end && (piece[i] === 0x2b || piece[i] === 0x2d)) {
    if (piece[i] === 0x2d) sign = -1;
    i++;
  }
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = piece[i];
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) break;
    value = value * 16 + d;
    digits++;
  }
  if (digits === 0) return -1;
  return (sign * value) & 0xff;
}

/** A binary heap of candidate merges, ordered as run.c's scan picks them: best score, then leftmost. */
class MergeHeap {
  private score = new Float64Array(64);
  private left = new Int32Array(64); // the pair's left node (its original index: order = position)
  private right = new Int32Array(64); // the right node when pushed (to detect stale entries)
  private id = new Int32Array(64); // the merged piece
  size = 0;

  private before(a: number, b: number): boolean {
    return this.score[a] > this.score[b] || (this.score[a] === this.score[b] && this.left[a] < this.left[b]);
  }

  private swap(a: number, b: number): void {
    let t = this.score[a];
    this.score[a] = this.score[b];
    this.score[b] = t;
    t = this.left[a];
    this.left[a] = this.left[b];
    this.left[b] = t;
    t = this.right[a];
    this.right[a] = this.right[b];
    this.right[b] = t;
    t = this.id[a];
    this.id[a] = this.id[b];
    this.id[b] = t;
  }

  push(score: number, left: number, right: number, id: number): void {
    if (this.size === this.score.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.score = grow(this.score);
      this.left = grow(this.left);
      this.right = grow(this.right);
      this.id = grow(this.id);
    }
    let i = this.size++;
    this.score[i] = score;
    this.left[i] = left;
    this.right[i] = right;
    this.id[i] = id;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the top entry into `top` (left, right, id). */
  pop(top: { left: number; right: number; id: number }): void {
    top.left = this.left[0];
    top.right = this.right[0];
    top.id = this.id[0];
    const n = --this.size;
    this.swap(0, n);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.before(l, m)) m = l;
      if (r < n && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}

/** What generation, training and the CLI need from a tokenizer; `Tokenizer` (llama2.c) has it too. */
export interface TextTokenizer {
  readonly vocabSize: number;
  readonly bosId: number; // -1 when the tokenizer has none (Qwen)
  readonly eosId: number;
  /** Whether `encode(.., { bos: true })` puts BOS first: the tokenizer adds one to a text (its
   * post-processor / add_bos_token; llama2.c: always). */
  readonly addBos: boolean;
  encode(text: string, opts: EncodeOptions): number[];
  /** The bytes that `token` prints when it follows `prev`. */
  decodeBytes(prev: number, token: number): Uint8Array;
  decode(tokens: number[]): string;
}

/**
 * Text of a token sequence: each token's bytes after the token before it, UTF-8 decoded once.
 * Tokens for which `silent` holds print nothing but still count as the previous token.
 */
export function decodeTokens(tok: Pick<TextTokenizer, 'decodeBytes'>, tokens: number[], silent: (t: number) => boolean = () => false): string {
  const parts: Uint8Array[] = [];
  let prev = -1;
  for (const t of tokens) {
    if (!silent(t)) parts.push(tok.decodeBytes(prev, t));
    prev = t;
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (all.set(p, o), (o += p.length));
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(all); // a leading U+FEFF is text too
}

export interface EncodeOptions {
  bos: boolean; // begin as the model's input: BOS first when the tokenizer adds one (addBos)
  eos: boolean; // append EOS
}

export class Tokenizer implements TextTokenizer {
  readonly bosId = 1;
  readonly eosId = 2;
  readonly addBos = true;
  readonly vocabSize: number;
  readonly maxTokenLength: number;
  readonly pieces: Uint8Array[]; // [vocabSize] the bytes of each piece
  readonly scores: Float32Array; // [vocabSize] merge priority (higher merges first)
  private readonly keys: string[]; // [vocabSize] binary(pieces[i])
  private readonly lookup: Map<string, number>; // piece -> id (the lowest id for a duplicate piece)
  private readonly pairCache = new Map<number, number>(); // a * vocabSize + b -> pairMerge(a, b)
  private readonly singleByte = new Int32Array(256); // [256] the piece of one byte, or -1

  private constructor(pieces: Uint8Array[], scores: Float32Array, maxTokenLength: number) {
    this.vocabSize = pieces.length;
    this.pieces = pieces;
    this.scores = scores;
    this.maxTokenLength = maxTokenLength;
    this.keys = pieces.map(binary);
    this.lookup = new Map();
    for (let i = 0; i < this.keys.length; i++) if (!this.lookup.has(this.keys[i])) this.lookup.set(this.keys[i], i);
    for (let b = 0; b < 256; b++) this.singleByte[b] = this.lookup.get(String.fromCharCode(b)) ?? -1;
  }

  /** Reads a llama2.c tokenizer file holding exactly `vocabSize` pieces. */
  static fromLlama2c(bytes: Uint8Array, vocabSize: number, source: string): Tokenizer {
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
      throw new Error(`${source}: vocab size ${vocabSize} is not a positive integer`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < 4) {
      throw new Error(`${source}: file is ${bytes.byteLength} bytes, shorter than the 4-byte llama2.c tokenizer header`);
    }
    const maxTokenLength = view.getInt32(0, true);
    // Reads one entry at `offset`; null when the bytes left do not hold a whole entry.
    const entryAt = (offset: number): { score: number; start: number; end: number } | null => {
      if (offset + 8 > bytes.byteLength) return null;
      const score = view.getFloat32(offset, true);
      const len = view.getInt32(offset + 4, true);
      if (len < 0 || offset + 8 + len > bytes.byteLength) return null;
      return { score, start: offset + 8, end: offset + 8 + len };
    };

    // each entry takes at least 8 bytes: a vocabulary the file cannot hold is refused before it is sized
    if (vocabSize > (bytes.byteLength - 4) / 8) {
      let whole = 0;
      for (let e = entryAt(4); e; e = entryAt(e.end)) whole++;
      throw new Error(`${source}: tokenizer file ends early: it holds ${whole} whole tokens (${bytes.byteLength} bytes), the model's vocab size is ${vocabSize}`);
    }
    const pieces: Uint8Array[] = [];
    const scores = new Float32Array(vocabSize);
    let offset = 4;
    for (let i = 0; i < vocabSize; i++) {
      const e = entryAt(offset);
      if (!e) {
        throw new Error(
          `${source}: tokenizer file ends early: it holds ${i} whole tokens (${bytes.byteLength} bytes), the model's vocab size is ${vocabSize}`,
        );
      }
      scores[i] = e.score;
      pieces.push(bytes.slice(e.start, e.end));
      offset = e.end;
    }
    if (offset !== bytes.byteLength) {
      // Count what follows, to say how many tokens the file seems to hold.
      let extra = 0;
      let o = offset;
      for (let e = entryAt(o); e; e = entryAt(o)) {
        extra++;
        o = e.end;
      }
      const holds =
        o === bytes.byteLength
          ? `it holds ${vocabSize + extra} tokens`
          : `it holds ${vocabSize + extra} whole tokens then ${bytes.byteLength - o} stray bytes`;
      throw new Error(
        `${source}: tokenizer file has ${bytes.byteLength - offset} bytes left over after ${vocabSize} tokens: ${holds}, the model's vocab size is ${vocabSize}`,
      );
    }
    return new Tokenizer(pieces, scores, maxTokenLength);
  }

  /** The id of a piece given as text (UTF-8), or -1. */
  pieceId(piece: string): number {
    return this.lookup.get(binary(utf8.encode(piece))) ?? -1;
  }

  /** run.c `encode`: dummy-prefix space, one piece per UTF-8 code point (bytes + 3 as fallback), then
   * repeatedly merge the adjacent pair whose concatenation is the piece with the best score (the
   * leftmost such pair on ties) until no pair is a piece. */
  encode(text: string, opts: EncodeOptions): number[] {
    const bytes = utf8.encode(text);
    const initial: number[] = [];
    if (opts.bos) initial.push(this.bosId);
    if (bytes.length > 0) {
      const space = this.lookup.get(' ');
      if (space === undefined) throw new Error(`tokenizer has no " " piece for the dummy prefix`);
      initial.push(space);
    }
    // Split into code points as run.c does: a code point is a non-continuation byte and the
    // continuation bytes after it, at most 4 bytes in all.
    let start = 0;
    while (start < bytes.length) {
      let end = start + 1;
      while (end < bytes.length && (bytes[end] & 0xc0) === 0x80 && end - start < 4) end++;
      const id = end === start + 1 ? this.singleByte[bytes[start]] : (this.lookup.get(binary(bytes.subarray(start, end))) ?? -1);
      if (id >= 0) initial.push(id);
      else for (let i = start; i < end; i++) initial.push(bytes[i] + 3);
      start = end;
    }
    const merged = this.merge(initial);
    if (opts.eos) merged.push(this.eosId);
    return merged;
  }

  /** The merge loop of run.c's `encode`, with a heap and a linked list instead of O(n) scans. */
  private merge(tokens: number[]): number[] {
    const n = tokens.length;
    const id = Int32Array.from(tokens);
    const next = new Int32Array(n); // [n] the next live node, -1 at the end
    const prev = new Int32Array(n); // [n] the previous live node, -1 at the start, -2 once merged away
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MergeHeap();
    const consider = (left: number): void => {
      const right = next[left];
      if (right < 0) return;
      const merged = this.pairMerge(id[left], id[right]);
      if (merged >= 0) heap.push(this.scores[merged], left, right, merged);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    const top = { left: 0, right: 0, id: 0 };
    while (heap.size > 0) {
      heap.pop(top);
      const right = next[top.left];
      // Stale: the left node was merged away (prev < -1), its right neighbour changed, or its piece did.
      if (prev[top.left] < -1 || right !== top.right || this.pairMerge(id[top.left], id[right]) !== top.id) continue;
      id[top.left] = top.id;
      next[top.left] = next[right];
      if (next[right] >= 0) prev[next[right]] = top.left;
      prev[right] = -2; // merged away
      if (prev[top.left] >= 0) consider(prev[top.left]);
      consider(top.left);
    }
    const out: number[] = [];
    for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push(id[i]);
    return out;
  }

  /** The piece that pair (a, b) merges into, or -1: the piece a+b, if its score can win in run.c
   * (it starts from best_score = -1e10 and needs a strictly greater score). */
  private pairMerge(a: number, b: number): number {
    const key = a * this.vocabSize + b;
    let merged = this.pairCache.get(key);
    if (merged === undefined) {
      merged = this.lookup.get(this.keys[a] + this.keys[b]) ?? -1;
      if (merged >= 0 && !(this.scores[merged] > Math.fround(-1e10))) merged = -1;
      this.pairCache.set(key, merged);
    }
    return merged;
  }

  /** run.c `decode`: the bytes of `token` printed after `prev` (a leading space is dropped after
   * BOS; `<0xXX>` pieces are the raw byte). */
  decodeBytes(prev: number, token: number): Uint8Array {
    if (!Number.isInteger(token) || token < 0 || token >= this.vocabSize) {
      throw new Error(`token id ${token} is out of range [0, ${this.vocabSize})`);
    }
    let piece = this.pieces[token];
    if (prev === this.bosId && piece[0] === 0x20) piece = piece.subarray(1);
    const raw = rawByteOf(piece);
    return raw >= 0 ? Uint8Array.of(raw) : piece;
  }

  /** Text of a token sequence: each token decoded after the one before it, control tokens (BOS,
   * EOS) skipped, the bytes UTF-8 decoded once at the end (malformed bytes become U+FFFD). */
  decode(tokens: number[]): string {
    return decodeTokens(this, tokens, (t) => t === this.bosId || t === this.eosId);
  }
}

/** Turns tokens into text as they are generated; a code point split over tokens is held back until
 * it is whole. Skips BOS and EOS like `Tokenizer.decode`. */
export class StreamDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  private prev: number;

  /** `prev`: the token before the first one pushed (BOS when generation starts from BOS). */
  constructor(
    private readonly tokenizer: TextTokenizer,
    prev = -1,
  ) {
    this.prev = prev;
  }

  /** The text that `token` completes (possibly empty). */
  push(token: number): string {
    const prev = this.prev;
    this.prev = token;
    if (token === this.tokenizer.bosId || token === this.tokenizer.eosId) return '';
    return this.decoder.decode(this.tokenizer.decodeBytes(prev, token), { stream: true });
  }

  /** Whatever is held back (an incomplete code point decodes to U+FFFD). */
  flush(): string {
    return this.decoder.decode();
  }
}
