// Tokenizers from a Hugging Face `tokenizer.json` (the `tokenizers` library's serialisation) of
// model type "BPE", run by GgufTokenizer: the file is translated into the `tokenizer.ggml.*`
// metadata llama.cpp's converter would write, plus the HfExtras for what `tokenizers` does
// differently, and GgufTokenizer.fromMetadata does the rest.
//
// Two families are recognised:
//
// - byte-level BPE (GPT-2, Llama 3.x, Qwen2 / Qwen2.5 / Qwen3, SmolLM): a ByteLevel pre-tokenizer,
//   alone (GPT-2's regex) or after a Split by a known regex (Llama 3's, Qwen2's, GPT-2's) or
//   Digits. Tokens and merges go over as they are (model "gpt2"); the regex picks
//   `tokenizer.ggml.pre`. An NFC normalizer (Qwen) is applied to the text between added tokens.
// - SentencePiece-style BPE with byte fallback (Llama 2, Mistral, TinyLlama, Gemma 3): the
//   normalizer replaces ' ' by '▁' (Llama 2 also prepends '▁'; Gemma 3 does not), or a Metaspace
//   pre-tokenizer does. Gemma 3's Split on " " after that Replace finds no space and is accepted as
//   the no-op it is. The text is merged as tokenizers' BPE does: characters (those not in the
//   vocabulary as their `<0xXX>` byte pieces), then the adjacent pair of lowest merge rank. For a
//   GGUF of it (cli/quantize.ts) the metadata also gives llama.cpp's "llama" model piece scores:
//   -(rank of the first merge that creates the piece); pieces no merge creates score 0 (single
//   characters, bytes, special tokens) or, when longer than one character, below every merge.
//
// Added tokens are matched in the raw text leftmost-longest, as tokenizers does; those with
// "special": true are control tokens (matched only with `encode(.., { special: true })`, printed as
// nothing), the others user-defined (always matched).
//
// BOS: `encode(.., { bos: true })` puts BOS first only when the tokenizer adds one to a text:
// tokenizer_config.json's add_bos_token when it says, else the post-processor (a TemplateProcessing
// with one special token before the text, as Llama 3 and Gemma 3 have; Qwen's ByteLevel
// post-processor adds none). The BOS id is the template's, else tokenizer_config.json's bos_token
// (null: none), else config.json's bos_token_id or a usual name — but only as an id: config.json
// never makes a tokenizer add BOS. EOS: config.json's eos_token_id, else tokenizer_config.json's
// eos_token, else a usual name. Special tokens after the text (a template's or add_eos_token) are
// not supported.
//
// Anything else in the files that changes the token ids is a one-line error naming the source and
// the field. Runs in browsers too.

import type { GgufValue } from './gguf';
import { GgufTokenizer, type HfExtras, TokenType } from './gguf_tokenizer';

export interface HfTokenizerOptions {
  /** tokenizer_config.json's text, when the folder has one. */
  tokenizerConfig?: string;
  /** config.json's bos_token_id: the BOS id when neither tokenizer file names one (never adds it). */
  bosTokenId?: number | null;
  /** config.json's eos_token_id (the first of a list): preferred over the tokenizer's. */
  eosTokenId?: number | number[] | null;
  /** The model's vocabulary size: the token list is padded with unused tokens up to it. */
  vocabSize?: number;
}

export interface HfTokenizerMetadata {
  metadata: Map<string, GgufValue>;
  /** A Unicode normalisation the tokenizer applies to the text before encoding. */
  normalize?: 'NFC';
  /** What GgufTokenizer needs beyond the metadata to tokenize as `tokenizers` does. */
  extras: HfExtras;
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

function describe(p: unknown): string {
  return JSON.stringify(p).slice(0, 120);
}

/** Translates a tokenizer.json (and tokenizer_config.json) into GGUF tokenizer metadata (see the file comment). */
export function hfTokenizerMetadata(tokenizerJson: string, source: string, opts: HfTokenizerOptions = {}): HfTokenizerMetadata {
  return translate(tokenizerJson, source, opts, true);
}

/** hfTokenizerMetadata; `scores` (for a GGUF file): also llama.cpp's piece scores of a SentencePiece-style
 * BPE and the merges of a byte-level one as metadata (else the merges go as HfExtras.merges). */
function translate(tokenizerJson: string, source: string, opts: HfTokenizerOptions, scores: boolean): HfTokenizerMetadata {
  const j = parseJson(tokenizerJson, source, 'tokenizer.json');
  if (!isObject(j) || !isObject(j.model)) throw new Error(`${source}: tokenizer.json has no "model" object`);
  for (const k of ['truncation', 'padding'] as const) {
    if (j[k] !== undefined && j[k] !== null) throw new Error(`${source}: tokenizer.json ${k} ${describe(j[k])} is not supported (token ids are not truncated or padded here)`);
  }
  const model = j.model;
  const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined);
  if (type !== 'BPE') {
    throw new Error(`${source}: tokenizer.json model type ${JSON.stringify(type)} is not supported (only "BPE": byte-level like GPT-2 / Llama 3 / Qwen, or SentencePiece-style like Llama 2 / Gemma 3)`);
  }
  for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (model[k] !== undefined && model[k] !== null && model[k] !== '') throw new Error(`${source}: tokenizer.json BPE ${k} ${JSON.stringify(model[k])} is not supported`);
  }
  if (typeof model.dropout === 'number' && model.dropout > 0) throw new Error(`${source}: tokenizer.json BPE dropout ${model.dropout} is not supported`);
  const normalizers = parts(j.normalizer, 'normalizers', 'normalizer', source);
  for (const p of normalizers) {
    if (p.type !== 'NFC' && p.type !== 'Prepend' && p.type !== 'Replace') throw new Error(`${source}: tokenizer.json normalizer ${describe(p)} is not supported (supported: NFC, Prepend '▁', Replace ' ' -> '▁')`);
  }

  // Vocabulary: model.vocab plus the added tokens (which may lie past it).
  if (!isObject(model.vocab)) throw new Error(`${source}: tokenizer.json model has no "vocab" object`);
  const byId: (string | undefined)[] = [];
  const idOf = new Map<string, number>();
  let used = 0; // 1 + the largest id
  const setToken = (id: unknown, piece: string, what: string) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 1 << 24) throw new Error(`${source}: tokenizer.json ${what} ${JSON.stringify(piece)} has id ${JSON.stringify(id)}, not a non-negative integer`);
    const had = byId[id];
    if (had !== undefined && had !== piece) throw new Error(`${source}: tokenizer.json id ${id} is both ${JSON.stringify(had)} and ${JSON.stringify(piece)}`);
    while (byId.length < id) byId.push(undefined);
    byId[id] = piece;
    if (!idOf.has(piece)) idOf.set(piece, id);
    if (id >= used) used = id + 1;
  };
  for (const piece in model.vocab) setToken(model.vocab[piece], piece, 'vocab token');
  const added = j.added_tokens ?? [];
  if (!Array.isArray(added)) throw new Error(`${source}: tokenizer.json added_tokens is not a list`);
  const addedType = new Map<number, number>(); // id -> TokenType.control | userDefined
  for (const a of added) {
    if (!isObject(a) || typeof a.content !== 'string') throw new Error(`${source}: tokenizer.json added_tokens entry ${describe(a)} has no "content" string`);
    for (const flag of ['single_word', 'lstrip', 'rstrip'] as const) {
      if (a[flag] === true) throw new Error(`${source}: tokenizer.json added token ${JSON.stringify(a.content)} has ${flag} true, which is not supported`);
    }
    // normalized: matched in the normalised text. Here in the raw text: the same when there is no
    // normaliser, or NFC and a token NFC leaves as it is (short of a combining mark composing with
    // its last character).
    const nfcOnly = normalizers.every((p) => p.type === 'NFC') && a.content.normalize('NFC') === a.content;
    if (a.normalized === true && !nfcOnly) {
      throw new Error(`${source}: tokenizer.json added token ${JSON.stringify(a.content)} has normalized true with a normalizer, which is not supported (it is matched in the raw text here)`);
    }
    setToken(a.id, a.content, 'added token');
    addedType.set(a.id as number, a.special === true ? TokenType.control : TokenType.userDefined);
  }
  if (used === 0) throw new Error(`${source}: tokenizer.json has an empty vocabulary`);
  if (opts.vocabSize !== undefined && opts.vocabSize < used) {
    throw new Error(`${source}: tokenizer.json has token ids up to ${used - 1}, past the model's vocab_size ${opts.vocabSize}`);
  }
  const n = Math.max(used, opts.vocabSize ?? 0);
  const tokens: string[] = new Array(n);
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const piece = byId[i];
    tokens[i] = piece ?? `<|unused_token_${i}|>`;
    types[i] = piece === undefined ? TokenType.unused : (addedType.get(i) ?? TokenType.normal);
  }

  // Merges: "a b" strings (tokenizers < 0.20) or [a, b] pairs.
  if (!Array.isArray(model.merges)) throw new Error(`${source}: tokenizer.json BPE model has no "merges" list`);
  const merges: [string, string][] = new Array(model.merges.length);
  for (let i = 0; i < merges.length; i++) {
    const m: unknown = model.merges[i];
    if (typeof m === 'string') {
      const p = m.split(' ');
      if (p.length === 2) {
        merges[i] = [p[0], p[1]];
        continue;
      }
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      merges[i] = m as [string, string];
      continue;
    }
    throw new Error(`${source}: tokenizer.json merge ${i} ${describe(m)} is not a pair of tokens`);
  }

  const pre = parts(j.pre_tokenizer, 'pretokenizers', 'pre_tokenizer', source);
  const byteLevel = pre.some((p) => p.type === 'ByteLevel');
  const spmLike =
    model.byte_fallback === true || pre.some((p) => p.type === 'Metaspace') || normalizers.some((p) => p.type === 'Replace' && p.content === SPACE);

  const meta = new Map<string, GgufValue>();
  const extras: HfExtras = {};
  let unkId = -1;
  if (byteLevel) {
    for (const p of normalizers) {
      if (p.type === 'NFC') extras.normalize = 'NFC';
      else throw new Error(`${source}: tokenizer.json normalizer ${describe(p)} is not supported with a byte-level BPE`);
    }
    const preName = byteLevelPre(pre, source);
    const ignoreMerges = model.ignore_merges === true;
    if (ignoreMerges !== (preName === 'llama3')) {
      throw new Error(`${source}: tokenizer.json ignore_merges ${ignoreMerges} with the ${preName} pre-tokenizer is not supported (only Llama 3's regex ignores merges)`);
    }
    if (model.byte_fallback === true) throw new Error(`${source}: tokenizer.json byte_fallback true with a byte-level BPE is not supported`);
    const joined: string[] = scores ? new Array(merges.length) : [];
    for (let i = 0; i < merges.length; i++) {
      const [a, b] = merges[i];
      if (a.includes(' ') || b.includes(' ')) throw new Error(`${source}: tokenizer.json merge ${describe(merges[i])} holds a space`);
      if (scores) joined[i] = `${a} ${b}`;
    }
    if (!scores) extras.merges = merges;
    checkDecoder(j.decoder, ['ByteLevel'], source);
    meta.set('tokenizer.ggml.model', { type: 'STRING', value: 'gpt2' });
    meta.set('tokenizer.ggml.pre', { type: 'STRING', value: preName });
    if (scores) meta.set('tokenizer.ggml.merges', { type: 'ARRAY', itemType: 'STRING', value: joined });
  } else if (spmLike) {
    let replace = false;
    let prefix = false;
    for (const p of normalizers) {
      if (p.type === 'Prepend' && p.prepend === SPACE) prefix = true;
      else if (p.type === 'Replace' && isObject(p.pattern) && p.pattern.String === ' ' && p.content === SPACE) replace = true;
      else throw new Error(`${source}: tokenizer.json normalizer ${describe(p)} is not supported (a SentencePiece-style BPE takes Prepend '▁' and Replace ' ' -> '▁')`);
    }
    const spacesReplaced = replace; // by the normalizer: no ' ' is left for a pre-tokenizer to see
    for (const p of pre) {
      if (p.type === 'Metaspace' && (p.replacement ?? SPACE) === SPACE && p.split !== true) {
        replace = true;
        const scheme = p.prepend_scheme ?? (p.add_prefix_space === false ? 'never' : 'always');
        if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') throw new Error(`${source}: tokenizer.json Metaspace prepend_scheme ${JSON.stringify(scheme)} is not supported`);
        if (scheme === 'first' && !prefix) extras.prefixFirstOnly = true;
        prefix ||= scheme !== 'never';
      } else if (p.type === 'Split' && spacesReplaced && isObject(p.pattern) && p.pattern.String === ' ' && p.invert !== true) {
        // Gemma 3: splits at ' ', of which the Replace normalizer left none.
      } else {
        throw new Error(`${source}: tokenizer.json pre_tokenizer ${describe(p)} is not supported with a SentencePiece-style BPE (only Metaspace without split, or a Split on " " after Replace ' ' -> '▁')`);
      }
    }
    if (!replace) throw new Error(`${source}: tokenizer.json SentencePiece-style BPE does not replace ' ' by '▁' (no Replace normalizer or Metaspace pre-tokenizer)`);
    if (model.byte_fallback !== true) throw new Error(`${source}: tokenizer.json SentencePiece-style BPE without byte_fallback is not supported`);
    if (model.ignore_merges === true) throw new Error(`${source}: tokenizer.json SentencePiece-style BPE with ignore_merges is not supported`);
    checkDecoder(j.decoder, ['Replace', 'ByteFallback', 'Fuse', 'Strip', 'Metaspace'], source);

    const rank = new Map<string, number>(); // piece -> the rank of the first merge creating it
    for (let i = 0; scores && i < merges.length; i++) {
      const piece = merges[i][0] + merges[i][1];
      if (!rank.has(piece)) rank.set(piece, i);
    }
    const pieceScores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const piece = tokens[i];
      if (types[i] !== TokenType.normal) continue;
      if (piece.length === 6 && /^<0x[0-9A-F]{2}>$/.test(piece)) {
        types[i] = TokenType.byte;
        continue;
      }
      if (!scores) continue;
      const r = rank.get(piece);
      if (r !== undefined) pieceScores[i] = -r;
      else if ([...piece].length > 1) pieceScores[i] = -merges.length;
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
    extras.merges = merges;
    meta.set('tokenizer.ggml.model', { type: 'STRING', value: 'llama' });
    if (scores) meta.set('tokenizer.ggml.scores', { type: 'ARRAY', itemType: 'FLOAT32', value: pieceScores });
    meta.set('tokenizer.ggml.add_space_prefix', { type: 'BOOL', value: prefix });
  } else {
    const kinds = pre.map((p) => String(p.type)).join(', ') || 'none';
    throw new Error(
      `${source}: tokenizer.json BPE is neither byte-level (a ByteLevel pre-tokenizer) nor SentencePiece-style ('▁' normalizer or Metaspace, byte_fallback); pre-tokenizer: ${kinds}`,
    );
  }

  const specials = specialTokens(j, opts, idOf, n, source);
  const int = (value: number): GgufValue => ({ type: 'INT32', value });
  meta.set('tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', value: tokens });
  meta.set('tokenizer.ggml.token_type', { type: 'ARRAY', itemType: 'INT32', value: types });
  meta.set('tokenizer.ggml.bos_token_id', int(specials.bosId));
  meta.set('tokenizer.ggml.eos_token_id', int(specials.eosId));
  meta.set('tokenizer.ggml.unknown_token_id', int(unkId));
  meta.set('tokenizer.ggml.add_bos_token', { type: 'BOOL', value: specials.addBos });
  meta.set('tokenizer.ggml.add_eos_token', { type: 'BOOL', value: false });
  return { metadata: meta, ...(extras.normalize ? { normalize: extras.normalize } : {}), extras };
}

function parseJson(text: string, source: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: ${file} is not JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

/** BOS / EOS ids and whether BOS is added, from the post-processor, tokenizer_config.json and config.json (see the file comment). */
function specialTokens(j: Json, opts: HfTokenizerOptions, idOf: Map<string, number>, n: number, source: string): { bosId: number; eosId: number; addBos: boolean } {
  const template = templateSpecials(j.post_processor, idOf, source);
  if (template.after.length > 0) {
    throw new Error(`${source}: tokenizer.json post_processor TemplateProcessing puts ${JSON.stringify(template.after)} after the text, which is not supported (EOS is appended on request only)`);
  }
  if (template.before.length > 1) {
    throw new Error(`${source}: tokenizer.json post_processor TemplateProcessing puts ${template.before.length} tokens ${JSON.stringify(template.before)} before the text, which is not supported (one BOS at most)`);
  }
  const tc = opts.tokenizerConfig === undefined ? {} : parseJson(opts.tokenizerConfig, source, 'tokenizer_config.json');
  if (!isObject(tc)) throw new Error(`${source}: tokenizer_config.json is not an object`);
  const flag = (k: string): boolean | undefined => {
    const v = tc[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw new Error(`${source}: tokenizer_config.json ${k} ${describe(v)} is not true or false`);
    return v;
  };
  for (const k of ['add_eos_token', 'add_prefix_space', 'do_lower_case'] as const) {
    if (flag(k) === true) throw new Error(`${source}: tokenizer_config.json ${k} true is not supported`);
  }
  // A special token of tokenizer_config.json: a string, an AddedToken object {content}, or null.
  const named = (k: string): number | null | undefined => {
    const v = tc[k];
    if (v === undefined) return undefined;
    if (v === null) return null;
    const content = typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : undefined;
    if (content === undefined) throw new Error(`${source}: tokenizer_config.json ${k} ${describe(v)} is not a token`);
    const id = idOf.get(content);
    if (id === undefined) throw new Error(`${source}: tokenizer_config.json ${k} ${JSON.stringify(content)} is not in tokenizer.json's vocabulary`);
    return id;
  };
  const configId = (v: number | number[] | null | undefined, what: string) => {
    const id = Array.isArray(v) ? v[0] : v;
    if (id === undefined || id === null) return undefined;
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new Error(`${source}: config ${what} ${JSON.stringify(v)} is not a token id below ${n}`);
    return id;
  };
  const byName = (names: string[]) => {
    for (const name of names) {
      const id = idOf.get(name);
      if (id !== undefined) return id;
    }
    return undefined;
  };
  const bosNamed = named('bos_token');
  const eosNamed = named('eos_token');
  const addBos = flag('add_bos_token') ?? template.before.length > 0;
  const bosId = template.before[0] ?? (bosNamed === null ? -1 : (bosNamed ?? configId(opts.bosTokenId, 'bos_token_id') ?? byName(BOS_NAMES) ?? -1));
  if (addBos && bosId < 0) throw new Error(`${source}: tokenizer_config.json add_bos_token is true but the tokenizer names no bos_token`);
  const eosId = configId(opts.eosTokenId, 'eos_token_id') ?? eosNamed ?? byName(EOS_NAMES) ?? -1;
  return { bosId, eosId, addBos };
}

/** Decoders that the model type decodes as: any other is an error naming it. */
function checkDecoder(decoder: unknown, allowed: string[], source: string): void {
  for (const d of parts(decoder, 'decoders', 'decoder', source)) {
    if (!allowed.includes(String(d.type))) throw new Error(`${source}: tokenizer.json decoder ${describe(d)} is not supported (supported here: ${allowed.join(', ')})`);
  }
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

/** Token ids the post-processor puts before and after a single text: a TemplateProcessing's; a
 * ByteLevel post-processor only moves offsets. Any other post-processor is an error. */
function templateSpecials(post: unknown, idOf: Map<string, number>, source: string): { before: number[]; after: number[] } {
  const before: number[] = [];
  const after: number[] = [];
  const all = parts(post, 'processors', 'post_processor', source);
  for (const p of all) {
    if (p.type !== 'ByteLevel' && p.type !== 'TemplateProcessing') throw new Error(`${source}: tokenizer.json post_processor ${describe(p)} is not supported (only TemplateProcessing and ByteLevel)`);
  }
  const templates = all.filter((p) => p.type === 'TemplateProcessing');
  if (templates.length > 1) throw new Error(`${source}: tokenizer.json post_processor has ${templates.length} TemplateProcessing steps, which is not supported`);
  const t = templates[0];
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
    if (typeof name !== 'string') throw new Error(`${source}: tokenizer.json TemplateProcessing item ${describe(item)} is not understood`);
    const entry = specials[name];
    const ids = isObject(entry) && Array.isArray(entry.ids) ? entry.ids : [idOf.get(name)];
    for (const id of ids) {
      if (typeof id !== 'number') throw new Error(`${source}: tokenizer.json TemplateProcessing special token ${JSON.stringify(name)} has no id`);
      (seenText ? after : before).push(id);
    }
  }
  return { before, after };
}

/** The tokenizer of a tokenizer.json (BPE: byte-level or SentencePiece-style), as a GgufTokenizer. */
export function hfTokenizer(tokenizerJson: string, source: string, opts: HfTokenizerOptions = {}): GgufTokenizer {
  const { metadata, extras } = translate(tokenizerJson, source, opts, false);
  return GgufTokenizer.fromMetadata(metadata, source, extras);
}
