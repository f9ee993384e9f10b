// Hugging Face model directories built from stories260K.bin, shared by test/hf.spec.ts and the
// app's test (test/browser/app_hf.spec.ts): the tensors under their HF names with q/k rows permuted
// the way transformers' convert_llama_weights_to_hf.py permutes them, config.json, safetensors in
// F32 / F16 / BF16 (or two shards with an index), and a Llama-2-style tokenizer.json made from
// tok512.bin the way transformers' LlamaConverter makes one.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LlamaModelFile } from '../src/formats/config';
import { floatToF16Bits } from '../src/formats/gguf_writer';
import { writeSafetensors, type Float32TensorIn } from '../src/formats/safetensors';
import type { Tokenizer } from '../src/formats/tokenizer';
import { stories260K } from './assets';

/**
 * convert_llama_weights_to_hf.py's permute, written as the torch ops it does:
 * w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2).
 */
export function permuteForHf(w: Float32Array, nHeads: number, rows: number, cols: number): Float32Array {
  const half = rows / nHeads / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = ((h * half + i) * 2 + j) * cols; // view index [h, i, j]
        const dst = ((h * 2 + j) * half + i) * cols; // after transpose(1, 2): [h, j, i]
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/** The tensors of a llama2.c model under their HF names, q/k rows in HF order. */
export function hfTensors(m: LlamaModelFile, opts: { lmHead?: boolean } = {}): Float32TensorIn[] {
  const c = m.config;
  const w = m.weights;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const out: Float32TensorIn[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, c.dim], data: w.tokenEmbedding }];
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    out.push(
      { name: `${p}input_layernorm.weight`, shape: [c.dim], data: l.attnNorm },
      { name: `${p}self_attn.q_proj.weight`, shape: [q, c.dim], data: permuteForHf(l.wq, c.nHeads, q, c.dim) },
      { name: `${p}self_attn.k_proj.weight`, shape: [kv, c.dim], data: permuteForHf(l.wk, c.nKvHeads, kv, c.dim) },
      { name: `${p}self_attn.v_proj.weight`, shape: [kv, c.dim], data: l.wv },
      { name: `${p}self_attn.o_proj.weight`, shape: [c.dim, q], data: l.wo },
      { name: `${p}post_attention_layernorm.weight`, shape: [c.dim], data: l.ffnNorm },
      { name: `${p}mlp.gate_proj.weight`, shape: [c.hiddenDim, c.dim], data: l.w1 },
      { name: `${p}mlp.down_proj.weight`, shape: [c.dim, c.hiddenDim], data: l.w2 },
      { name: `${p}mlp.up_proj.weight`, shape: [c.hiddenDim, c.dim], data: l.w3 },
    );
  });
  out.push({ name: 'model.norm.weight', shape: [c.dim], data: w.finalNorm });
  if (opts.lmHead) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, c.dim], data: w.classifier.slice() });
  return out;
}

export function hfConfig(m: LlamaModelFile, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const c = m.config;
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.seqLen,
    vocab_size: c.vocabSize,
    tie_word_embeddings: c.sharedClassifier,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
    rope_scaling: null,
    torch_dtype: 'float32',
    ...extra,
  };
}

export function bf16Bits(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16; // round to nearest even (no NaN here)
}
export const bf16ToFloat = (h: number) => new Float32Array(new Uint32Array([h << 16]).buffer)[0];

export type Dtype = 'F32' | 'F16' | 'BF16' | 'I8';

/** A safetensors file in any dtype (the repo's writer writes F32 only): header by hand, names sorted. */
export function writeSafetensorsAs(tensors: Float32TensorIn[], dtype: Dtype): Uint8Array {
  if (dtype === 'F32') return writeSafetensors(tensors, { format: 'pt' });
  const size = dtype === 'I8' ? 1 : 2;
  const ordered = [...tensors].sort((a, b) => (a.name < b.name ? -1 : 1));
  let offset = 0;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  for (const t of ordered) {
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * size] };
    offset += t.data.length * size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  out.set(new TextEncoder().encode(json), 8);
  let pos = 8 + json.length;
  for (const t of ordered) {
    for (let i = 0; i < t.data.length; i++) {
      if (dtype === 'I8') view.setInt8(pos + i, Math.max(-128, Math.min(127, Math.round(t.data[i] * 100))));
      else view.setUint16(pos + i * 2, dtype === 'F16' ? floatToF16Bits(t.data[i]) : bf16Bits(t.data[i]), true);
    }
    pos += t.data.length * size;
  }
  return out;
}

/**
 * transformers' SentencePieceExtractor.extract(vocab_scores): for every piece (in id order), each
 * split into two pieces of the vocabulary, ordered by the ids of the halves; then all of them
 * stably sorted by the piece's score, best first.
 */
export function extractMerges(pieces: string[], scores: ArrayLike<number>): [string, string][] {
  const vocab = new Map<string, number>();
  pieces.forEach((p, i) => vocab.set(p, i));
  const merges: { l: string; r: string; score: number }[] = [];
  pieces.forEach((piece, i) => {
    const cps = Array.from(piece);
    const local: { l: string; r: string; score: number }[] = [];
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join('');
      const r = cps.slice(k).join('');
      if (vocab.has(l) && vocab.has(r)) local.push({ l, r, score: scores[i] });
    }
    local.sort((a, b) => vocab.get(a.l)! - vocab.get(b.l)! || vocab.get(a.r)! - vocab.get(b.r)!);
    merges.push(...local);
  });
  merges.sort((a, b) => b.score - a.score);
  return merges.map((m) => [m.l, m.r]);
}

/** A tokenizer.json as transformers' LlamaConverter writes it (legacy Llama 2 layout). */
export function llamaTokenizerJson(pieces: string[], scores: ArrayLike<number>, mergesAsPairs = false): string {
  const merges = extractMerges(pieces, scores);
  const special = (id: number) => ({ id, content: pieces[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0), special(1), special(2)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(pieces.map((p, i) => [p, i])),
      merges: mergesAsPairs ? merges : merges.map(([a, b]) => `${a} ${b}`),
    },
  });
}

/** tok512.bin's pieces as SentencePiece writes them ('▁' for spaces, "<s>" rather than "\n<s>\n"). */
export function tok512Pieces(tok: Tokenizer): string[] {
  const d = new TextDecoder('utf-8', { fatal: true });
  return tok.pieces.map((p, i) => (i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : d.decode(p).replaceAll(' ', '▁')));
}

/** stories260K.bin and tok512.bin from the shared assets (./assets.ts), and tok512 as a tokenizer.json. */
export function hfStories260K(): { bin: LlamaModelFile; tok512: Tokenizer; tokenizerJson: string } {
  const { file: bin, tok: tok512 } = stories260K();
  return { bin, tok512, tokenizerJson: llamaTokenizerJson(tok512Pieces(tok512), tok512.scores) };
}

export type HfLayout = 'F32' | 'F16' | 'BF16' | 'sharded';

export const SHARDS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];

/**
 * The files of a Hugging Face directory holding `m`, by name: config.json, model.safetensors in a
 * dtype, and tokenizer.json; or ('sharded') an untied config with an lm_head that is a copy of the
 * embedding, in two shards (the embedding and layers 0-2, the rest) with
 * model.safetensors.index.json.
 */
export function hfDirContents(m: LlamaModelFile, tokenizerJson: string, layout: HfLayout): Record<string, string | Uint8Array> {
  if (layout !== 'sharded') {
    return { 'config.json': JSON.stringify(hfConfig(m), null, 2), 'model.safetensors': writeSafetensorsAs(hfTensors(m), layout), 'tokenizer.json': tokenizerJson };
  }
  const all = hfTensors(m, { lmHead: true });
  const first = all.filter((t) => t.name === 'model.embed_tokens.weight' || /^model\.layers\.[0-2]\./.test(t.name));
  const second = all.filter((t) => !first.includes(t));
  const weightMap = Object.fromEntries([...first.map((t) => [t.name, SHARDS[0]]), ...second.map((t) => [t.name, SHARDS[1]])].sort());
  const total = all.reduce((s, t) => s + t.data.byteLength, 0);
  return {
    'config.json': JSON.stringify(hfConfig(m, { tie_word_embeddings: false })),
    [SHARDS[0]]: writeSafetensors(first, { format: 'pt' }),
    [SHARDS[1]]: writeSafetensors(second, { format: 'pt' }),
    'model.safetensors.index.json': JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
    'tokenizer.json': tokenizerJson,
  };
}

/** Writes `files` (name -> content) into a new directory `dir`; returns `dir`. */
export function writeDir(dir: string, files: Record<string, string | Uint8Array>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(path.join(dir, name), data);
  return dir;
}
