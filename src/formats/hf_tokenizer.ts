// Tokenizers from a Hugging Face `tokenizer.json` (the `tokenizers` library's serialisation) of
// model type "BPE", run by GgufTokenizer: the file is translated into the `tokenizer.ggml.*`
// metadata llama.cpp's converter would write, and GgufTokenizer.fromMetadata does the rest.
//
// Two families are recognised:
//
// - byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM): a ByteLevel pre-tokenizer, alone (GPT-2's
//   regex) or after a Split by a known regex (Llama 3's, Qwen2's, GPT-2's) or Digits. Tokens and
//   merges go over as they are (model "gpt2"); the regex picks `tokenizer.ggml.pre`. An NFC
//   normalizer (Qwen2) is applied to the text before encoding.
// - SentencePiece-style BPE (Llama 2, Mistral, TinyLlama: what transformers' LlamaConverter
//   writes): the normalizer replaces ' ' by '▁' (and prepends '▁'), or a Metaspace pre-tokenizer
//   does, and byte_fallback is on. Model "llama" merges the adjacent pair whose concatenation has
//   the best score; the score of a piece is -(rank of the first merge that creates it), so the
//   merge order is the file's. Pieces no merge creates score 0 (single characters, bytes, special
//   tokens) or, when longer than one character, below every merge (tokenizers never forms them;
//   here they merge last).
//
// BOS / EOS: the special tokens a TemplateProcessing post-processor puts before / after the text
// (which also set add_bos / add_eos), else the ids from config.json, else the usual names
// ("<s>", "<|begin_of_text|>", "</s>", "<|end_of_text|>", "<|endoftext|>", ...). Added tokens
// with "special": true are control tokens (matched in the text only with `special: true`, printed
// as nothing), the other added tokens user-defined. Anything else is a one-line error naming the
// source and the part. Runs in browsers too.

import type { GgufValue } from './gguf';
import { GgufTokenizer, TokenType } from './gguf_tokenizer';
import type { EncodeOptions, TextTokenizer } from './tokenizer';

export interface HfTokenizerOptions {
  /** config.json's bos_token_id: the BOS when the post-processor adds none. */
  bosTokenId?: number | null;
  /** config.json's eos_token_id (the first of a list): preferred over the template's. */
  eosTokenId?: number | number[] | null;
  /** The model's vocabulary size: the token list is padded with unused tokens up to it. */
  vocabSize?: number;
}

export interface HfTokenizerMetadata {
  metadata: Map<string, GgufValue>;
  /** A Unicode normalisation the tokenizer applies to the text before encoding. */
  normalize?: 'NFC';
}

type Json = Record<string, unknown>;

const SPACE = '\u2581'; // SentencePiece's '▁'

// Split regexes of tokenizer.json pre-tokenizers, as the files write them, and the llama.cpp
// pre-tokenizer (GgufTokenizer's `tokenizer.ggml.pre`) that implements each.
const HF_GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const HF_LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const HF_QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const SPLIT_REGEXES: Record<string, string> = { [HF_GPT2_REGEX]: 'gpt-2', [HF_LLAMA3_REGEX]: 'llama3', [HF_QWEN2_REGEX]: 'qwen2' };

const BOS_NAMES = ['<s>', '<|begin_of_text|>', '<|startoftext|>', '<bos>', '<|endoftext|>'];
const EOS_NAMES = ['</s>', '<|end_of_text|>', '<|endoftext|>', '<eos>', '<|im_end|>'];

function isObject(x: unknown): x is Json {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/** The parts of a component that may be a "Sequence" of them (normalizers, pre-tokenizers, ...). */
function parts(x: unknown, listKey: string, what: string, source: string): Json[] {
  if (x === null || x === undefined) return [];
  if (!isObject(x)) throw new Error(`${source}: tokenizer.json ${what} is not an object`);
  if (x.type !== 'Sequence') return [x];
  const list = x[listKey];
  if (!Array.isArray(list) || !list.every(isObject)) throw new Error(`${source}: tokenizer.json ${what} Sequence has no "${listKey}" list of objects`);
  return list.flatMap((p) => parts(p, listKey, what, source));
}

function describe(p: Json): string {
  return JSON.stringify(p).slice(0, 120);
}

/** Translates a tokenizer.json into GGUF tokenizer metadata (see the file comment). */
export function hfTokenizerMetadata(tokenizerJson: string, source: string, opts: HfTokenizerOptions = {}): HfTokenizerMetadata {
  let j: unknown;
  try {
    j = JSON.parse(tokenizerJson);
  } catch (e) {
    throw new Error(`${source}: tokenizer.json is not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObject(j) || !isObject(j.model)) throw new Error(`${source}: tokenizer.json has no "model" object`);
  const model = j.model;
  const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined);
  if (type !== 'BPE') {
    throw new Error(`${source}: tokenizer.json model type ${JSON.stringify(type)} is not supported (only "BPE": byte-level like GPT-2 / Llama 3, or SentencePiece-style like Llama 2)`);
  }
  for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (model[k] !== undefined && model[k] !== null && model[k] !== '') throw new Error(`${source}: tokenizer.json BPE ${k} ${JSON.stringify(model[k])} is not supported`);
  }
  if (typeof model.dropout === 'number' && model.dropout > 0) throw new Error(`${source}: tokenizer.json BPE dropout ${model.dropout} is not supported`);

  // Vocabulary: model.vocab plus the added tokens (which may lie past it).
  if (!isObject(model.vocab)) throw new Error(`${source}: tokenizer.json model has no "vocab" object`);
  const byId = new Map<number, string>();
  const idOf = new Map<string, number>();
  const setToken = (id: unknown, piece: string, what: string) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 1 << 24) throw new Error(`${source}: tokenizer.json ${what} ${JSON.stringify(piece)} has id ${JSON.stringify(id)}, not a non-negative integer`);
    const had = byId.get(id);
    if (had !== undefined && had !== piece) throw new Error(`${source}: tokenizer.json id ${id} is both ${JSON.stringify(had)} and ${JSON.stringify(piece)}`);
    byId.set(id, piece);
    if (!idOf.has(piece)) idOf.set(piece, id);
  };
  for (const [piece, id] of Object.entries(model.vocab)) setToken(id, piece, 'vocab token');
  const added = j.added_tokens ?? [];
  if (!Array.isArray(added)) throw new Error(`${source}: tokenizer.json added_tokens is not a list`);
  const addedType = new Map<number, number>(); // id -> TokenType.control | userDefined
  for (const a of added) {
    if (!isObject(a) || typeof a.content !== 'string') throw new Error(`${source}: tokenizer.json added_tokens entry ${JSON.stringify(a).slice(0, 80)} has no "content" string`);
    setToken(a.id, a.content, 'added token');
    addedType.set(a.id as number, a.special === true ? TokenType.control : TokenType.userDefined);
  }
  const used = byId.size === 0 ? 0 : Math.max(...byId.keys()) + 1;
  if (used === 0) throw new Error(`${source}: tokenizer.json has an empty vocabulary`);
  if (opts.vocabSize !== undefined && opts.vocabSize < used) {
    throw new Error(`${source}: tokenizer.json has token ids up to ${used - 1}, past the model's vocab_size ${opts.vocabSize}`);
  }
  const n = Math.max(used, opts.vocabSize ?? 0);
  const tokens: string[] = [];
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const piece = byId.get(i);
    tokens.push(piece ?? `<|unused_token_${i}|>`);
    types[i] = piece === undefined ? TokenType.unused : (addedType.get(i) ?? TokenType.normal);
  }

  // Merges: "a b" strings (tokenizers < 0.20) or [a, b] pairs.
  if (!Array.isArray(model.merges)) throw new Error(`${source}: tokenizer.json BPE model has no "merges" list`);
  const merges: [string, string][] = model.merges.map((m: unknown, i: number) => {
    if (typeof m === 'string') {
      const p = m.split(' ');
      if (p.length === 2) return [p[0], p[1]] as [string, string];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      return [m[0], m[1]] as [string, string];
    }
    throw new Error(`${source}: tokenizer.json merge ${i} ${JSON.stringify(m)} is not a pair of tokens`);
  });

  const normalizers = parts(j.normalizer, 'normalizers', 'normalizer', source);
  const pre = parts(j.pre_tokenizer, 'pretokenizers', 'pre_tokenizer', source);
  const byteLevel = pre.some((p) => p.type === 'ByteLevel');
  const spmLike =
    model.byte_fallback === true || pre.some((p) => p.type === 'Metaspace') || normalizers.some((p) => p.type === 'Replace' && p.content === SPACE);

  const meta = new Map<string, GgufValue>();
  let normalize: 'NFC' | undefined;
  let unkId = -1;
  if (byteLevel) {
    for (const p of normalizers) {
      if (p.type === 'NFC') normalize = 'NFC';
      else throw new Error(`${source}: tokenizer.json normalizer ${describe(p)} is not supported with a byte-level BPE`);
    }
    const preName = byteLevelPre(pre, source);
    const ignoreMerges = model.ignore_merges === true;
    if (ignoreMerges !== (preName === 'llama3')) {
      throw new Error(`${source}: tokenizer.json ignore_merges ${ignoreMerges} with the ${preName} pre-tokenizer is not supported (only Llama 3's regex ignores merges)`);
    }
    for (const [a, b] of merges) {
      if (a.includes(' ') || b.includes(' ')) throw new Error(`${source}: tokenizer.json merge ${JSON.stringify([a, b])} holds a space`);
    }
    meta.set('tokenizer.ggml.model', { type: 'STRING', value: 'gpt2' });
    meta.set('tokenizer.ggml.pre', { type: 'STRING', value: preName });
    meta.set('tokenizer.ggml.merges', { type: 'ARRAY', itemType: 'STRING', value: merges.map(([a, b]) => `${a} ${b}`) });
  } else if (spmLike) {
    let replace = false;
    let prefix = false;
    for (const p of normalizers) {
      if (p.type === 'Prepend' && p.prepend === SPACE) prefix = true;
      else if (p.type === 'Replace' && isObject(p.pattern) && p.pattern.String === ' ' && p.content === SPACE) replace = true;
      else throw new Error(`${source}: tokenizer.json normalizer ${describe(p)} is not supported (a SentencePiece-style BPE takes Prepend '▁' and Replace ' ' -> '▁')`);
    }
    for (const p of pre) {
      if (p.type === 'Metaspace' && (p.replacement ?? SPACE) === SPACE && p.split !== true) {
        replace = true;
        const scheme = p.prepend_scheme ?? (p.add_prefix_space === false ? 'never' : 'always');
        if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') throw new Error(`${source}: tokenizer.json Metaspace prepend_scheme ${JSON.stringify(scheme)} is not supported`);
        prefix ||= scheme !== 'never';
      } else {
        throw new Error(`${source}: tokenizer.json pre_tokenizer ${describe(p)} is not supported with a SentencePiece-style BPE (only Metaspace without split)`);
      }
    }
    if (!replace) throw new Error(`${source}: tokenizer.json SentencePiece-style BPE does not replace ' ' by '▁' (no Replace normalizer or Metaspace pre-tokenizer)`);
    if (model.byte_fallback !== true) throw new Error(`${source}: tokenizer.json SentencePiece-style BPE without byte_fallback is not supported`);
    if (model.ignore_merges === true) throw new Error(`${source}: tokenizer.json SentencePiece-style BPE with ignore_merges is not supported`);

    const rank = new Map<string, number>(); // piece -> the rank of the first merge creating it
    merges.forEach(([a, b], i) => {
      const piece = a + b;
      if (!rank.has(piece)) rank.set(piece, i);
    });
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const piece = tokens[i];
      if (types[i] !== TokenType.normal) continue;
      if (/^<0x[0-9A-F]{2}>$/.test(piece)) {
        types[i] = TokenType.byte;
        continue;
      }
      const r = rank.get(piece);
      if (r !== undefined) scores[i] = -r;
      else if ([...piece].length > 1) scores[i] = -merges.length;
    }
    const unk = model.unk_token;
    if (typeof unk === 'string') {
      unkId = idOf.get(unk) ?? -1;
      if (unkId < 0) throw new Error(`${source}: tokenizer.json unk_token ${JSON.stringify(unk)} is not in the vocabulary`);
      types[unkId] = TokenType.unknown;
    }
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      if (!idOf.has(hex)) throw new Error(`${source}: tokenizer.json byte_fallback is on but the vocabulary has no byte token ${hex}`);
    }
    meta.set('tokenizer.ggml.model', { type: 'STRING', value: 'llama' });
    meta.set('tokenizer.ggml.scores', { type: 'ARRAY', itemType: 'FLOAT32', value: scores });
    meta.set('tokenizer.ggml.add_space_prefix', { type: 'BOOL', value: prefix });
  } else {
    const kinds = pre.map((p) => String(p.type)).join(', ') || 'none';
    throw new Error(
      `${source}: tokenizer.json BPE is neither byte-level (a ByteLevel pre-tokenizer) nor SentencePiece-style ('▁' normalizer or Metaspace, byte_fallback); pre-tokenizer: ${kinds}`,
    );
  }

  // BOS / EOS.
  const named = (names: string[]) => {
    for (const name of names) {
      const id = idOf.get(name);
      if (id !== undefined) return id;
    }
    return undefined;
  };
  const configId = (v: number | number[] | null | undefined, what: string) => {
    const id = Array.isArray(v) ? v[0] : v;
    if (id === undefined || id === null) return undefined;
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new Error(`${source}: config ${what} ${JSON.stringify(v)} is not a token id below ${n}`);
    return id;
  };
  const template = templateSpecials(j.post_processor, idOf, source);
  const bosId = template.before[0] ?? configId(opts.bosTokenId, 'bos_token_id') ?? named(BOS_NAMES) ?? -1;
  const eosId = configId(opts.eosTokenId, 'eos_token_id') ?? template.after[0] ?? named(EOS_NAMES) ?? -1;
  const int = (value: number): GgufValue => ({ type: 'INT32', value });
  meta.set('tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', value: tokens });
  meta.set('tokenizer.ggml.token_type', { type: 'ARRAY', itemType: 'INT32', value: types });
  meta.set('tokenizer.ggml.bos_token_id', int(bosId));
  meta.set('tokenizer.ggml.eos_token_id', int(eosId));
  meta.set('tokenizer.ggml.unknown_token_id', int(unkId));
  meta.set('tokenizer.ggml.add_bos_token', { type: 'BOOL', value: template.before.length > 0 });
  meta.set('tokenizer.ggml.add_eos_token', { type: 'BOOL', value: template.after.length > 0 });
  return { metadata: meta, normalize };
}

/** The llama.cpp pre-tokenizer name of a byte-level tokenizer.json's pre-tokenizers. */
function byteLevelPre(pre: Json[], source: string): string {
  const unsupported = (why: string) => new Error(`${source}: tokenizer.json pre_tokenizer ${why} is not supported (supported: ByteLevel alone, or after a Split by GPT-2's, Llama 3's or Qwen2's regex, or after Digits)`);
  const last = pre[pre.length - 1];
  if (last.type !== 'ByteLevel') throw unsupported(`${describe(last)} after ByteLevel`);
  if (last.add_prefix_space === true) throw unsupported('ByteLevel with add_prefix_space');
  const regex = last.use_regex !== false;
  if (pre.length === 1) {
    if (!regex) throw unsupported('ByteLevel without a regex');
    return 'gpt-2';
  }
  if (pre.length === 2) {
    const first = pre[0];
    if (first.type === 'Split' && !regex && first.invert !== true && (first.behavior ?? 'Isolated') === 'Isolated' && isObject(first.pattern)) {
      const name = typeof first.pattern.Regex === 'string' ? SPLIT_REGEXES[first.pattern.Regex] : undefined;
      if (name) return name;
      throw unsupported(`Split by ${JSON.stringify(first.pattern).slice(0, 100)}`);
    }
    if (first.type === 'Digits' && first.individual_digits === true && regex) return 'smollm';
  }
  throw unsupported(pre.map(describe).join(' then '));
}

/** Token ids the TemplateProcessing post-processor puts before and after a single text. */
function templateSpecials(post: unknown, idOf: Map<string, number>, source: string): { before: number[]; after: number[] } {
  const before: number[] = [];
  const after: number[] = [];
  const t = parts(post, 'processors', 'post_processor', source).find((p) => p.type === 'TemplateProcessing');
  if (!t) return { before, after };
  if (!Array.isArray(t.single)) throw new Error(`${source}: tokenizer.json TemplateProcessing has no "single" template`);
  const specials = isObject(t.special_tokens) ? t.special_tokens : {};
  let seenText = false;
  for (const item of t.single) {
    if (isObject(item) && isObject(item.Sequence)) {
      seenText = true;
      continue;
    }
    const name = isObject(item) && isObject(item.SpecialToken) ? item.SpecialToken.id : undefined;
    if (typeof name !== 'string') throw new Error(`${source}: tokenizer.json TemplateProcessing item ${JSON.stringify(item)} is not understood`);
    const entry = specials[name];
    const ids = isObject(entry) && Array.isArray(entry.ids) ? entry.ids : [idOf.get(name)];
    for (const id of ids) {
      if (typeof id !== 'number') throw new Error(`${source}: tokenizer.json TemplateProcessing special token ${JSON.stringify(name)} has no id`);
      (seenText ? after : before).push(id);
    }
  }
  return { before, after };
}

/** A tokenizer that normalises the text (NFC) before the wrapped one encodes it. */
class NormalizingTokenizer implements TextTokenizer {
  constructor(
    readonly inner: GgufTokenizer,
    private readonly form: 'NFC',
  ) {}
  get vocabSize(): number {
    return this.inner.vocabSize;
  }
  get bosId(): number {
    return this.inner.bosId;
  }
  get eosId(): number {
    return this.inner.eosId;
  }
  encode(text: string, opts: EncodeOptions & { special?: boolean }): number[] {
    return this.inner.encode(text.normalize(this.form), opts);
  }
  decodeBytes(prev: number, token: number): Uint8Array {
    return this.inner.decodeBytes(prev, token);
  }
  decode(tokens: number[]): string {
    return this.inner.decode(tokens);
  }
}

/** The tokenizer of a tokenizer.json (BPE: byte-level or SentencePiece-style), as a GgufTokenizer. */
export function hfTokenizer(tokenizerJson: string, source: string, opts: HfTokenizerOptions = {}): TextTokenizer {
  const { metadata, normalize } = hfTokenizerMetadata(tokenizerJson, source, opts);
  const tok = GgufTokenizer.fromMetadata(metadata, source);
  return normalize ? new NormalizingTokenizer(tok, normalize) : tok;
}
