// Tokenizers described by GGUF metadata (`tokenizer.ggml.*`), reproducing llama.cpp (llama-vocab.cpp):
//
// - model "llama": SentencePiece BPE (llm_tokenizer_spm). Spaces become '▁', a '▁' is prefixed when
//   `add_space_prefix` (default true), the text is split into code points, and adjacent symbols are
//   merged, best piece score first (leftmost on ties), while their concatenation is a piece. A symbol
//   left that is no piece is emitted as its UTF-8 bytes through the `<0xXX>` byte pieces.
// - model "gpt2": byte-level BPE (llm_tokenizer_bpe). The text is pre-split by the pre-tokenizer's
//   regexes (`tokenizer.ggml.pre`: GPT-2's by default), each word's UTF-8 bytes are mapped to
//   printable characters (GPT-2's bytes_to_unicode), and adjacent symbols are merged by the rank of
//   the pair in `tokenizer.ggml.merges` (lowest first, leftmost on ties).
//
// User-defined tokens are matched in the text before either algorithm, as llama.cpp does; control
// tokens only when `encode(.., { special: true })`. BOS is put before a text (`encode(.., { bos:
// true })`) only when the tokenizer adds one (`add_bos_token`; llama.cpp's default: true for SPM
// and the Llama 3 pre-tokenizer, false for the other BPEs).
//
// A tokenizer.json (hf_tokenizer.ts) comes here as the same metadata plus `HfExtras`, for what
// Hugging Face `tokenizers` does differently: a SentencePiece-style vocabulary merged by the rank of
// its merges (not by piece score), added tokens matched leftmost-longest, an NFC normaliser, and a
// Metaspace prefix only at the start of the text. Decoding is llama.cpp's token_to_piece without
// special tokens (control and unknown tokens decode to nothing), with no clean-up of spaces, so
// decode(encode(text)) is the text. Runs in browsers too.

import type { GgufFile, GgufValue } from './gguf';
import type { EncodeOptions } from './tokenizer';

import { AddedTrie, mergeSymbols, rankMap } from './bpe_merge';
import { decodeTokens, type TextTokenizer } from './tokenizer';
export type { TextTokenizer };

/** llama.cpp's LLAMA_TOKEN_TYPE_* (`tokenizer.ggml.token_type`). */
export const TokenType = { undefined: 0, normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** How a tokenizer.json differs from llama.cpp's reading of the same metadata (see the file comment). */
export interface HfExtras {
  /** The merges as pairs. SentencePiece-style vocabulary ("llama"): merge the adjacent pair of lowest
   * rank in them, as tokenizers' BPE does (characters not in the vocabulary become byte pieces
   * first); "gpt2": instead of `tokenizer.ggml.merges`. */
  merges?: readonly (readonly [string, string])[];
  /** Unicode normalisation of the text between added tokens. */
  normalize?: 'NFC';
  /** The '▁' prefix only for text at the very start (Metaspace prepend_scheme "first"). */
  prefixFirstOnly?: boolean;
}

// Pre-tokenizer regexes (llama-vocab.cpp, by `tokenizer.ggml.pre`). `\s` is written as the White_Space
// class that llama.cpp's tables use (Python's \s), so JS's own \s (which adds U+FEFF) is never used.
const WS = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const GPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`;
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|[${WS}]*[\\r\\n]+|[${WS}]+(?![^${WS}])|[${WS}]+`;
const QWEN2 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|[${WS}]*[\\r\\n]+|[${WS}]+(?![^${WS}])|[${WS}]+`;
const PRE_TOKENIZERS: Record<string, { regexes: string[]; ignoreMerges?: boolean }> = {
  'gpt-2': { regexes: [GPT2] },
  default: { regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'] },
  llama3: { regexes: [LLAMA3], ignoreMerges: true },
  qwen2: { regexes: [QWEN2] },
  smollm: { regexes: ['\\p{N}', GPT2] },
};
const PRE_ALIASES: Record<string, string> = {
  'phi-2': 'gpt-2', mpt: 'gpt-2', olmo: 'gpt-2', jais: 'gpt-2', 'llama-v3': 'llama3', 'llama-bpe': 'llama3',
  'deepseek-r1-qwen': 'qwen2', stablelm2: 'qwen2', starcoder: 'smollm', refact: 'smollm',
};

// tokenizer.ggml.* keys read, or without effect on the ids of "llama" and "gpt2" vocabularies in
// llama.cpp (remove_extra_whitespaces and precompiled_charsmap serve its UGM / T5 tokenizer). Any
// *_token_id names a special token, which is added only by the flags read here.
const TOKENIZER_KEYS = new Set([
  'model', 'pre', 'tokens', 'scores', 'token_type', 'token_type_count', 'merges', 'add_bos_token', 'add_eos_token', 'add_sep_token',
  'add_space_prefix', 'remove_extra_whitespaces', 'precompiled_charsmap',
]);

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 upwards. */
const BYTE_TO_CHAR: string[] = [];
const CHAR_TO_BYTE = new Map<string, number>();
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    BYTE_TO_CHAR[b] = String.fromCodePoint(printable ? b : 256 + n++);
    CHAR_TO_BYTE.set(BYTE_TO_CHAR[b], b);
  }
}

const utf8Encoder = new TextEncoder();

/** Code points of a string as strings; a lone surrogate becomes U+FFFD (as UTF-8 encoding does). */
function codePoints(s: string): string[] {
  const out: string[] = [];
  for (const ch of s) out.push(ch.length === 1 && ch >= '\ud800' && ch <= '\udfff' ? '\ufffd' : ch);
  return out;
}

type Fragment = string | number; // raw text, or a token matched as a special/user-defined token

function arrayOf(meta: Map<string, GgufValue>, key: string, source: string): ArrayLike<unknown> | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'ARRAY') throw new Error(`${source}: GGUF metadata "${key}" is ${v.type}, expected an array`);
  return v.value as ArrayLike<unknown>;
}

function scalarOf(meta: Map<string, GgufValue>, key: string): number | boolean | string | undefined {
  const v = meta.get(key);
  if (v === undefined || v.type === 'ARRAY') return undefined;
  return typeof v.value === 'bigint' ? Number(v.value) : v.value;
}

export class GgufTokenizer implements TextTokenizer {
  readonly model: 'llama' | 'gpt2';
  readonly vocabSize: number;
  readonly bosId: number; // -1 when the vocabulary has none
  readonly eosId: number;
  readonly unkId: number;
  readonly addBos: boolean; // the model expects BOS before a text (tokenizer.ggml.add_bos_token)
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly pieces: string[]; // [vocabSize] as stored: '▁' for spaces (llama), byte-mapped chars (gpt2)
  readonly scores: Float32Array; // [vocabSize]
  readonly types: Int32Array; // [vocabSize] TokenType
  private readonly lookup = new Map<string, number>(); // piece -> id (the first id of a duplicate)
  private readonly ranks: Map<string, number> = new Map(); // "left\0right" -> merge rank (gpt2)
  private readonly regexes: RegExp[] = [];
  private readonly ignoreMerges: boolean = false;
  private readonly byteIds = new Int32Array(256).fill(-1); // [256] the piece of each byte
  private readonly specials: number[]; // user-defined and control ids, longest text first
  private readonly wordCache = new Map<string, number[]>();
  private readonly hf: HfExtras | undefined;
  private readonly spmRanks: Map<string, number> | undefined; // "left\0right" -> rank (HfExtras.merges)
  private readonly tries: (AddedTrie | undefined)[] = [undefined, undefined]; // [without, with control tokens] (hf)

  private constructor(meta: Map<string, GgufValue>, source: string, hf?: HfExtras) {
    this.hf = hf;
    const model = scalarOf(meta, 'tokenizer.ggml.model');
    if (model !== 'llama' && model !== 'gpt2') {
      throw new Error(`${source}: GGUF tokenizer model ${JSON.stringify(model)} is not supported (supported: llama, gpt2)`);
    }
    this.model = model;
    const tokens = arrayOf(meta, 'tokenizer.ggml.tokens', source);
    if (!tokens || tokens.length === 0 || typeof tokens[0] !== 'string') throw new Error(`${source}: GGUF has no tokenizer.ggml.tokens string array`);
    const n = tokens.length;
    this.vocabSize = n;
    this.pieces = Array.from(tokens as ArrayLike<string>);
    const scores = arrayOf(meta, 'tokenizer.ggml.scores', source);
    const types = arrayOf(meta, 'tokenizer.ggml.token_type', source);
    for (const [k, a] of [['scores', scores], ['token_type', types]] as const) {
      if (a && a.length < n) throw new Error(`${source}: GGUF tokenizer.ggml.${k} has ${a.length} entries for ${n} tokens`);
    }
    this.scores = new Float32Array(n);
    this.types = new Int32Array(n).fill(TokenType.normal);
    for (let i = 0; scores && i < n; i++) this.scores[i] = Number(scores[i]);
    for (let i = 0; types && i < n; i++) this.types[i] = Number(types[i]);
    for (let i = 0; i < n; i++) if (!this.lookup.has(this.pieces[i])) this.lookup.set(this.pieces[i], i);

    const id = (key: string, fallback: number) => {
      const v = scalarOf(meta, `tokenizer.ggml.${key}`);
      const x = typeof v === 'number' && v < n ? v : fallback;
      return x < n ? x : -1;
    };
    const flag = (key: string, fallback: boolean) => {
      const v = scalarOf(meta, `tokenizer.ggml.${key}`);
      return typeof v === 'boolean' ? v : fallback;
    };
    const spm = model === 'llama';
    this.bosId = id('bos_token_id', spm ? 1 : 11);
    this.eosId = id('eos_token_id', spm ? 2 : 11);
    this.unkId = id('unknown_token_id', spm ? 0 : -1);
    const preName = scalarOf(meta, 'tokenizer.ggml.pre');
    const pre = typeof preName === 'string' ? (PRE_ALIASES[preName] ?? preName) : 'gpt-2';
    this.addBos = flag('add_bos_token', spm || pre === 'llama3');
    this.addEos = flag('add_eos_token', false);
    for (const key of ['add_eos_token', 'add_sep_token']) {
      if (flag(key, false)) throw new Error(`${source}: GGUF tokenizer.ggml.${key} true is not supported (EOS is appended on request only)`);
    }
    for (const key of meta.keys()) {
      const name = key.startsWith('tokenizer.ggml.') ? key.slice('tokenizer.ggml.'.length) : undefined;
      if (name !== undefined && !TOKENIZER_KEYS.has(name) && !name.endsWith('_token_id')) {
        throw new Error(`${source}: GGUF metadata "${key}" is not supported (a tokenizer key this reader does not know may change the token ids)`);
      }
    }
    this.addSpacePrefix = spm && flag('add_space_prefix', true);

    if (spm) {
      if (hf?.merges) this.spmRanks = rankMap(hf.merges);
      for (let b = 0; b < 256; b++) {
        const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
        this.byteIds[b] = this.lookup.get(hex) ?? (b < 0x80 ? (this.lookup.get(String.fromCharCode(b)) ?? -1) : -1);
      }
    } else {
      const merges = arrayOf(meta, 'tokenizer.ggml.merges', source);
      if (hf?.merges) this.ranks = rankMap(hf.merges);
      else if (!merges) throw new Error(`${source}: GGUF gpt2 tokenizer has no tokenizer.ggml.merges`);
      for (let i = 0; !hf?.merges && i < merges!.length; i++) {
        const m = merges![i] as string;
        const pos = m.indexOf(' ', 1);
        const key = pos < 0 ? '\0' : `${m.slice(0, pos)}\0${m.slice(pos + 1)}`;
        if (!this.ranks.has(key)) this.ranks.set(key, i);
      }
      const spec = PRE_TOKENIZERS[pre];
      if (!spec) throw new Error(`${source}: GGUF pre-tokenizer "${String(preName)}" is not supported (supported: ${Object.keys(PRE_TOKENIZERS).join(', ')})`);
      this.regexes = spec.regexes.map((r) => new RegExp(r, 'gu'));
      this.ignoreMerges = spec.ignoreMerges ?? false;
      for (let b = 0; b < 256; b++) this.byteIds[b] = this.lookup.get(BYTE_TO_CHAR[b]) ?? -1;
    }
    this.specials = [];
    for (let i = 0; i < n; i++) if (this.types[i] === TokenType.userDefined || this.types[i] === TokenType.control) this.specials.push(i);
    this.specials.sort((a, b) => this.pieces[b].length - this.pieces[a].length || a - b);
  }

  /** The tokenizer in a parsed GGUF file's metadata. */
  static fromGguf(g: GgufFile, source: string): GgufTokenizer {
    return new GgufTokenizer(g.metadata, source);
  }

  /** The tokenizer of `tokenizer.ggml.*` metadata; `hf`: what a tokenizer.json adds (hf_tokenizer.ts). */
  static fromMetadata(metadata: Map<string, GgufValue>, source: string, hf?: HfExtras): GgufTokenizer {
    return new GgufTokenizer(metadata, source, hf);
  }

  /** The id of a piece as stored in the vocabulary, or -1. */
  pieceId(piece: string): number {
    return this.lookup.get(piece) ?? -1;
  }

  /** Tokens of `text`: BOS first when `bos` and the tokenizer adds one (addBos), EOS last when `eos`;
   * `special: true` also matches control tokens such as "<|endoftext|>" in the text. */
  encode(text: string, opts: EncodeOptions & { special?: boolean }): number[] {
    const out: number[] = [];
    if (opts.bos && this.addBos) {
      if (this.bosId < 0) throw new Error('tokenizer adds a BOS token but has none');
      out.push(this.bosId);
    }
    let prevSpecial = true;
    let first = true;
    const special = opts.special ?? false;
    for (const f of text.length > 0 ? (this.hf ? this.partitionHf(text, special) : this.partition(text, special)) : []) {
      if (typeof f === 'number') {
        out.push(f);
        prevSpecial = true;
      } else {
        const t = this.hf?.normalize ? f.normalize(this.hf.normalize) : f;
        if (this.model === 'llama') {
          const prefix = this.addSpacePrefix && prevSpecial && (first || !this.hf?.prefixFirstOnly);
          this.encodeSpm((prefix ? ' ' : '') + t, out);
          prevSpecial = false;
        } else {
          this.encodeBpe(t, out);
        }
      }
      first = false;
    }
    if (opts.eos) {
      if (this.eosId < 0) throw new Error('tokenizer has no EOS token');
      out.push(this.eosId);
    }
    return out;
  }

  /** llama.cpp tokenizer_st_partition: cut the text at occurrences of special tokens, longest first. */
  private partition(text: string, withControl: boolean): Fragment[] {
    let frags: Fragment[] = [text];
    for (const id of this.specials) {
      if (this.types[id] === TokenType.control && !withControl) continue;
      const piece = this.pieces[id];
      const next: Fragment[] = [];
      for (const f of frags) {
        if (typeof f === 'number' || !f.includes(piece)) {
          next.push(f);
          continue;
        }
        const parts = f.split(piece);
        parts.forEach((p, i) => {
          if (i > 0) next.push(id);
          if (p.length > 0) next.push(p);
        });
      }
      frags = next;
    }
    return frags;
  }

  /** tokenizers' AddedVocabulary: cut the text at added tokens, leftmost first, the longest there. */
  private partitionHf(text: string, withControl: boolean): Fragment[] {
    const k = withControl ? 1 : 0;
    let trie = this.tries[k];
    if (!trie) {
      trie = new AddedTrie();
      for (const id of this.specials) if (withControl || this.types[id] !== TokenType.control) trie.add(this.pieces[id], id);
      this.tries[k] = trie;
    }
    const out: Fragment[] = [];
    let last = 0;
    for (let i = 0; i < text.length; ) {
      const m = trie.longestAt(text, i);
      if (!m) {
        i++;
        continue;
      }
      if (i > last) out.push(text.slice(last, i));
      out.push(m.id);
      i += m.length;
      last = i;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  private encodeSpm(text: string, out: number[]): void {
    if (this.spmRanks) {
      this.encodeSpmRanked(text, out);
      return;
    }
    const symbols = codePoints(text.replaceAll(' ', '\u2581'));
    const merged = mergeSymbols(symbols, (a, b) => {
      const id = this.lookup.get(a + b);
      return id === undefined ? undefined : -this.scores[id];
    });
    for (const s of merged) {
      const id = this.lookup.get(s);
      if (id !== undefined) out.push(id);
      else for (const b of utf8Encoder.encode(s)) out.push(this.byteToken(b));
    }
  }

  /** tokenizers' BPE over a SentencePiece-style vocabulary: characters (not in the vocabulary: their
   * byte pieces), then merges by rank, leftmost on ties. */
  private encodeSpmRanked(text: string, out: number[]): void {
    const symbols: string[] = [];
    for (const ch of codePoints(text.replaceAll(' ', '\u2581'))) {
      if (this.lookup.has(ch)) symbols.push(ch);
      else for (const b of utf8Encoder.encode(ch)) symbols.push(this.pieces[this.byteToken(b)]);
    }
    const ranks = this.spmRanks!;
    for (const s of mergeSymbols(symbols, (a, b) => ranks.get(`${a}\0${b}`))) {
      const id = this.lookup.get(s);
      if (id === undefined) throw new Error(`tokenizer merged ${JSON.stringify(s)}, which is not in its vocabulary`);
      out.push(id);
    }
  }

  private byteToken(b: number): number {
    const id = this.byteIds[b] >= 0 ? this.byteIds[b] : this.unkId;
    if (id < 0) throw new Error(`tokenizer has no piece for byte 0x${b.toString(16).padStart(2, '0')}`);
    return id;
  }

  private encodeBpe(text: string, out: number[]): void {
    // Pre-split: each regex in turn cuts every piece into its matches and the text between them.
    let words = [text];
    for (const re of this.regexes) {
      const next: string[] = [];
      for (const w of words) {
        let last = 0;
        for (const m of w.matchAll(re)) {
          if (m[0].length === 0) continue;
          if (m.index! > last) next.push(w.slice(last, m.index));
          next.push(m[0]);
          last = m.index! + m[0].length;
        }
        if (last < w.length) next.push(w.slice(last));
      }
      words = next;
    }
    for (const w of words) {
      let ids = this.wordCache.get(w);
      if (!ids) {
        ids = this.bpeWord(w);
        if (this.wordCache.size < 65536) this.wordCache.set(w, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  private bpeWord(word: string): number[] {
    let mapped = '';
    for (const b of utf8Encoder.encode(word)) mapped += BYTE_TO_CHAR[b];
    const whole = this.lookup.get(mapped);
    if (this.ignoreMerges && whole !== undefined) return [whole];
    const merged = mergeSymbols(codePoints(mapped), (a, b) => this.ranks.get(`${a}\0${b}`));
    const ids: number[] = [];
    for (const s of merged) {
      const id = this.lookup.get(s);
      if (id !== undefined) ids.push(id);
      else for (const ch of s) if (ch < '\x80' && this.lookup.has(ch)) ids.push(this.lookup.get(ch)!);
    }
    return ids;
  }

  /** The bytes `token` prints after `prev`: control, unknown and unused tokens print nothing, byte
   * pieces their byte, user-defined ones their text (from a tokenizer.json, '▁' as ' ' for SPM);
   * with add_space_prefix, the leading space of the piece after BOS is dropped. */
  decodeBytes(prev: number, token: number): Uint8Array {
    if (!Number.isInteger(token) || token < 0 || token >= this.vocabSize) {
      throw new Error(`token id ${token} is out of range [0, ${this.vocabSize})`);
    }
    const type = this.types[token];
    const piece = this.pieces[token];
    // llama.cpp prints only normal, byte and user-defined tokens (special ones with special = true).
    if (type !== TokenType.normal && type !== TokenType.byte && type !== TokenType.userDefined) return new Uint8Array(0);
    // tokenizers' decoders see added tokens too ('▁' -> ' '); llama.cpp prints them as they are.
    if (type === TokenType.userDefined && !(this.hf && this.model === 'llama')) return utf8Encoder.encode(piece);
    if (type === TokenType.byte) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (m) return Uint8Array.of(parseInt(m[1], 16));
    }
    if (this.model === 'llama') {
      let text = piece.replaceAll('\u2581', ' ');
      if (this.addSpacePrefix && prev === this.bosId && text.startsWith(' ')) text = text.slice(1);
      return utf8Encoder.encode(text);
    }
    const bytes: number[] = [];
    for (const ch of piece) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b !== undefined) bytes.push(b);
      else for (const u of utf8Encoder.encode(ch)) bytes.push(u);
    }
    return Uint8Array.from(bytes);
  }

  /** Text of a token sequence, each token decoded after the one before it, UTF-8 decoded once. */
  decode(tokens: number[]): string {
    return decodeTokens(this, tokens);
  }
}
