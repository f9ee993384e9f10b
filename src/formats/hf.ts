// Hugging Face checkpoints: a model directory's config.json, its safetensors weights (one
// model.safetensors, or shards listed by model.safetensors.index.json) and tokenizer.json, as a
// LlamaModelFile with its tokenizer.
//
// Architectures with the Llama tensor layout: LlamaForCausalLM (Llama 2/3.x, SmolLM2; RoPE scaling
// linear / llama3), MistralForCausalLM (full attention up to the sliding window, which caps the
// context), Qwen2ForCausalLM (+ q/k/v biases) and Qwen3ForCausalLM (explicit head_dim, + per-head
// q/k RMSNorm). Every config.json field is read, irrelevant or refused by name: ./hf_config.ts.
// Tensors, [out, in] row-major:
//   model.embed_tokens.weight                       [vocab, hidden]
//   model.layers.N.input_layernorm.weight           [hidden]
//   model.layers.N.self_attn.{q,k,v,o}_proj.weight  [heads*hd, hidden], [kv*hd, hidden] x 2, [hidden, heads*hd]
//   model.layers.N.self_attn.{q,k,v}_proj.bias      [heads*hd], [kv*hd] x 2 (Qwen2; Llama with attention_bias)
//   model.layers.N.self_attn.o_proj.bias            [hidden] (Llama with attention_bias)
//   model.layers.N.self_attn.{q,k}_norm.weight      [hd] (Qwen3)
//   model.layers.N.post_attention_layernorm.weight  [hidden]
//   model.layers.N.mlp.{gate,up}_proj.weight        [intermediate, hidden]
//   model.layers.N.mlp.down_proj.weight             [hidden, intermediate]
//   model.norm.weight                               [hidden]
//   lm_head.weight                                  [vocab, hidden]; absent or tied: the embedding
// F32, F16 and BF16 are read (exactly) into float32.
//
// RoPE: transformers rotates pairs (i, i + hd/2) of each head (rotate_half) on the q/k rows as
// stored, which convert_llama_weights_to_hf.py permuted from Meta's interleaved order. So the
// model is 'halfsplit' with the rows kept as they are: no permutation back.
//
// Every error is one line naming the source (and the tensor, field or file). Runs in browsers.

import { validateConfig, type LayerWeights, type LlamaConfig } from './config';
import { checkHfConfigFields, readGemmaRope, readHfRope } from './hf_config';
import { hfTokenizer } from './hf_tokenizer';
import type { ParsedModel } from './parse';
import { ggufNameOfHf, hfRawTensors } from './raw_tensors';
import { blockCount } from './gguf_model';
import { parseSafetensors, readSafetensorsHeader, tensorToFloat32, type SafetensorsEntry, type SafetensorsTensor } from './safetensors';
import type { ByteSource } from './byte_source';
import { LAYER_TENSORS, sameRanges, sourceTensors, type ModelTensors, type SourceTensor } from './model_tensors';
import type { TextTokenizer } from './tokenizer';

export interface HfModelFiles {
  config: string; // config.json
  safetensors: { name: string; bytes: Uint8Array }[]; // model.safetensors, or the shards
  index?: string; // model.safetensors.index.json, when sharded
  tokenizerJson?: string; // tokenizer.json
  tokenizerConfig?: string; // tokenizer_config.json (add_bos_token, bos_token ...), when present
}

/** Architectures read, by config.json `architectures[0]` (and `model_type` when that is absent). */
export const HF_ARCHITECTURES: Readonly<Record<string, string>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  Gemma3ForCausalLM: 'gemma3_text',
};

export interface HfConfig {
  architecture: string;
  biases: 'none' | 'qkv' | 'qkvo'; // Qwen2: q/k/v; Llama with attention_bias: q/k/v/o
  config: LlamaConfig;
  tieWordEmbeddings: boolean;
  bosTokenId?: number | null;
  eosTokenId?: number | number[] | null;
}

type Json = Record<string, unknown>;

function parseJson(text: string, what: string, source: string): Json {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: ${what} is not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new Error(`${source}: ${what} is not a JSON object`);
  return j as Json;
}

/** Reads config.json into our LlamaConfig (ropeStyle 'halfsplit'), rejecting what the engine cannot run. */
export function parseHfConfig(configJson: string, source: string, opts: { layersPresent?: number } = {}): HfConfig {
  const c = parseJson(configJson, 'config.json', source);
  const err = (msg: string) => new Error(`${source}: config.json: ${msg}`);
  const archs = c.architectures;
  let architecture: string | undefined;
  if (Array.isArray(archs) && archs.length > 0 && typeof archs[0] === 'string') {
    architecture = archs[0];
  } else if (typeof c.model_type === 'string') {
    architecture = Object.keys(HF_ARCHITECTURES).find((a) => HF_ARCHITECTURES[a] === c.model_type) ?? `model_type "${c.model_type}"`;
  }
  if (architecture === undefined) throw err('no "architectures" (or "model_type") names the model');
  if (!(architecture in HF_ARCHITECTURES)) {
    throw err(`architecture "${architecture}" is not supported (supported: ${Object.keys(HF_ARCHITECTURES).join(', ')})`);
  }

  const num = (key: string, integer: boolean, fallback?: number): number => {
    const v = c[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw err(`field "${key}" is missing`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw err(`field "${key}" = ${JSON.stringify(v)} is not ${integer ? 'an integer' : 'a number'}`);
    }
    return v;
  };
  const dim = num('hidden_size', true);
  const nHeads = num('num_attention_heads', true);
  const maxPos = num('max_position_embeddings', true);

  checkHfConfigFields(c, architecture, err);
  const gemma = architecture === 'Gemma3ForCausalLM';
  const gemmaRope = gemma ? readGemmaRope(c, err) : undefined;
  const rope = gemmaRope ? gemmaRope.global : readHfRope(c, err);
  const headDim = num('head_dim', true, dim / nHeads);
  if (!Number.isInteger(headDim)) throw err(`hidden_size ${dim} is not a multiple of num_attention_heads ${nHeads} (and no head_dim is given)`);
  // Sliding-window attention equals full attention over a context no longer than the window.
  let seqLen = maxPos;
  const window = c.sliding_window;
  const layerTypes = c.layer_types;
  if (layerTypes !== undefined && layerTypes !== null) {
    if (!Array.isArray(layerTypes) || !layerTypes.every((t) => t === 'full_attention' || t === 'sliding_attention')) {
      throw err(`layer_types ${JSON.stringify(layerTypes)} is not a list of "full_attention" / "sliding_attention"`);
    }
  }
  const windowed = architecture === 'MistralForCausalLM'
    ? typeof window === 'number'
    : c.use_sliding_window === true || (Array.isArray(layerTypes) && layerTypes.includes('sliding_attention'));
  // Gemma 3 runs its sliding layers as such; elsewhere the window caps the context
  if (!gemma && windowed && typeof window === 'number' && window > 0) seqLen = Math.min(seqLen, window);
  const nLayers = num('num_hidden_layers', true);

  const config: LlamaConfig = {
    dim,
    hiddenDim: num('intermediate_size', true),
    nLayers,
    nHeads,
    nKvHeads: num('num_key_value_heads', true, nHeads),
    headDim,
    vocabSize: num('vocab_size', true),
    seqLen,
    normEps: num('rms_norm_eps', false, 1e-6),
    ropeTheta: rope.theta,
    ropeStyle: 'halfsplit',
    sharedClassifier: false, // decided by the tensors
    ...(rope.scaling ? { ropeScaling: rope.scaling } : {}),
  };
  // the counts are checked (against the tensors present too, when given) before anything is sized by them
  validateConfig(config, `${source}: config.json`);
  if (opts.layersPresent !== undefined && nLayers !== opts.layersPresent) {
    throw err(`num_hidden_layers is ${nLayers}, but the safetensors hold the tensors of ${opts.layersPresent} layer${opts.layersPresent === 1 ? '' : 's'}`);
  }
  if (gemmaRope) Object.assign(config, gemmaConfig(c, dim, nLayers, gemmaRope.local, err));
  validateConfig(config, `${source}: config.json`);
  const tie = c.tie_word_embeddings;
  if (tie !== undefined && typeof tie !== 'boolean') throw err(`field "tie_word_embeddings" = ${JSON.stringify(tie)} is not a boolean`);
  const ids = (k: string) => {
    const v = c[k];
    return typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number')) ? (v as number | number[]) : undefined;
  };
  const bos = ids('bos_token_id');
  const attentionBias = c.attention_bias;
  if (attentionBias !== undefined && attentionBias !== null && typeof attentionBias !== 'boolean') throw err(`field "attention_bias" = ${JSON.stringify(attentionBias)} is not a boolean`);
  return {
    architecture,
    biases: architecture === 'Qwen2ForCausalLM' ? 'qkv' : architecture === 'LlamaForCausalLM' && attentionBias === true ? 'qkvo' : 'none',
    config,
    tieWordEmbeddings: tie === true,
    bosTokenId: Array.isArray(bos) ? bos[0] : bos,
    eosTokenId: ids('eos_token_id'),
  };
}

/** Gemma 3's fields of the LlamaConfig: embedding scale, GELU, query_pre_attn_scalar, sliding layers, soft-capping. */
function gemmaConfig(c: Json, dim: number, nLayers: number, localRope: LlamaConfig['localRope'], err: (msg: string) => Error): Partial<LlamaConfig> {
  const positive = (k: string, fallback?: number) => {
    const v = c[k] ?? fallback;
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw err(`field "${k}" = ${JSON.stringify(v)} is not a positive number`);
    return v;
  };
  const types = c.layer_types;
  let sliding: boolean[];
  if (Array.isArray(types)) {
    if (types.length !== nLayers) throw err(`layer_types has ${types.length} entries for ${nLayers} layers`);
    sliding = types.map((t) => t === 'sliding_attention');
  } else {
    // Gemma3TextConfig: layer i slides unless (i + 1) % sliding_window_pattern == 0 (default 6)
    const period = positive('sliding_window_pattern') ?? positive('_sliding_window_pattern') ?? 6;
    if (!Number.isInteger(period)) throw err(`sliding_window_pattern ${period} is not an integer`);
    sliding = Array.from({ length: nLayers }, (_, i) => (i + 1) % period !== 0);
  }
  const window = positive('sliding_window');
  const anySliding = sliding.some((x) => x);
  if (anySliding && (window === undefined || !Number.isInteger(window))) throw err(`sliding layers need an integer "sliding_window", got ${JSON.stringify(c.sliding_window)}`);
  const softcap = positive('final_logit_softcapping');
  return {
    embedScale: Math.fround(Math.sqrt(dim)), // Gemma3TextScaledWordEmbedding: hidden_size ** 0.5 as a float32 tensor
    attnScale: positive('query_pre_attn_scalar', 256)! ** -0.5,
    ffnActivation: 'gelu_tanh',
    ...(anySliding ? { slidingWindow: window, slidingLayers: sliding, localRope } : {}),
    ...(softcap !== undefined ? { finalSoftcap: softcap } : {}),
  };
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A tensor of a shard: its dtype and shape, and where (file) it is. */
interface ShardTensor {
  dtype: string;
  shape: number[];
  file: string;
}

/** The tensors of all shards by name (`shards`: each file's tensors), checked against the index when there is one. */
function collectTensors<T extends { dtype: string; shape: number[] }>(files: { index?: string }, shards: ReadonlyMap<string, ReadonlyMap<string, T>>, source: string): Map<string, T & { file: string }> {
  if (shards.size === 0) throw new Error(`${source}: no safetensors file given (model.safetensors or the shards of model.safetensors.index.json)`);
  let weightMap: Record<string, string> | undefined;
  if (files.index !== undefined) {
    const idx = parseJson(files.index, 'model.safetensors.index.json', source);
    const wm = idx.weight_map;
    if (wm === null || typeof wm !== 'object' || Array.isArray(wm) || !Object.values(wm).every((v) => typeof v === 'string')) {
      throw new Error(`${source}: model.safetensors.index.json has no "weight_map" object of file names`);
    }
    weightMap = wm as Record<string, string>;
    const names = [...new Set(Object.values(weightMap))];
    const missing = names.filter((n) => !shards.has(n));
    if (missing.length > 0) {
      throw new Error(`${source}: model.safetensors.index.json references shard${missing.length > 1 ? 's' : ''} that ${missing.length > 1 ? 'are' : 'is'} absent: ${missing.join(', ')} (of ${names.length})`);
    }
  }
  const tensors = new Map<string, T & { file: string }>();
  for (const [name, st] of shards) {
    for (const [tname, t] of st) {
      const had = tensors.get(tname);
      if (had) throw new Error(`${source}: tensor "${tname}" is in both ${had.file} and ${name}`);
      if (weightMap && weightMap[tname] !== undefined && weightMap[tname] !== name) {
        throw new Error(`${source}: tensor "${tname}" is in ${name}, but model.safetensors.index.json puts it in ${weightMap[tname]}`);
      }
      tensors.set(tname, { ...t, file: name });
    }
  }
  if (weightMap) {
    for (const [tname, file] of Object.entries(weightMap)) {
      if (!tensors.has(tname)) throw new Error(`${source}: tensor "${tname}" is not in ${file}, where model.safetensors.index.json puts it`);
    }
  }
  return tensors;
}

/** Where each weight of the model is: by GGUF name, its HF tensor, and whether it is a Gemma norm (stored w, used as 1 + w). */
type HfPlan = Map<string, { hf: string; norm: boolean }>;

/**
 * The model in an HF folder's config and tensors (their dtypes and shapes): the config, checked
 * against the tensors present, and the plan of its weights (each tensor checked: present, its
 * shape, its dtype). `tiedBytes`: does lm_head.weight hold the embedding's bytes.
 */
function hfLayout(configJson: string, tensors: ReadonlyMap<string, ShardTensor>, tiedBytes: boolean, source: string, where: string): { hf: HfConfig; plan: HfPlan } {
  const hf = parseHfConfig(configJson, source, { layersPresent: blockCount(tensors.keys(), /^model\.layers\.(\d+)\./, source) });
  const config = hf.config;
  // Tensors of the architecture's layout beyond the Llama one: Qwen2's q/k/v biases, Qwen3's q/k norms.
  const biased = hf.biases !== 'none';
  const oBias = hf.biases === 'qkvo';
  const gemma = hf.architecture === 'Gemma3ForCausalLM';
  const qkNorm = hf.architecture === 'Qwen3ForCausalLM' || gemma;
  const ignorable = (n: string) => /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(n);
  const unused = [...tensors.keys()].filter((n) => !ignorable(n) && !isLayoutTensor(n, config.nLayers, { biased, oBias, qkNorm, gemma }));
  if (unused.length > 0) {
    const list = unused.slice(0, 4).join(', ') + (unused.length > 4 ? `, ... (${unused.length} in all)` : '');
    throw new Error(`${source}: tensors not in the ${hf.architecture} layout of ${config.nLayers} layers: ${list}`);
  }

  const { dim, hiddenDim, nHeads, nKvHeads, headDim, vocabSize } = config;
  const sizes = `hidden_size ${dim}, intermediate_size ${hiddenDim}, heads ${nHeads}/${nKvHeads}, vocab_size ${vocabSize}`;
  const plan: HfPlan = new Map();
  const take = (gguf: string, name: string, shape: number[], norm = false) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${source}: tensor "${name}" is missing (from ${where})`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${source}: tensor "${name}" has shape ${fmt(t.shape)}, expected ${fmt(shape)} (config.json: ${sizes})`);
    }
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') {
      throw new Error(`${source}: tensor "${name}" has dtype ${t.dtype}, not supported (only F32, F16 and BF16)`);
    }
    plan.set(gguf, { hf: name, norm });
  };
  // Gemma3RMSNorm multiplies by (1 + w), computed in float32: the multiplier is what is kept
  const norm = (gguf: string, name: string, shape: number[]) => take(gguf, name, shape, gemma);
  const q = nHeads * headDim;
  const kv = nKvHeads * headDim;
  take('token_embd.weight', 'model.embed_tokens.weight', [vocabSize, dim]);
  for (let l = 0; l < config.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const g = (f: keyof typeof LAYER_TENSORS) => `blk.${l}.${LAYER_TENSORS[f]}`;
    norm(g('attnNorm'), `${p}input_layernorm.weight`, [dim]);
    take(g('wq'), `${p}self_attn.q_proj.weight`, [q, dim]);
    take(g('wk'), `${p}self_attn.k_proj.weight`, [kv, dim]);
    take(g('wv'), `${p}self_attn.v_proj.weight`, [kv, dim]);
    take(g('wo'), `${p}self_attn.o_proj.weight`, [dim, q]);
    // Gemma: post_attention_layernorm normalises the attention output; pre_feedforward_layernorm the FFN input
    norm(g('ffnNorm'), gemma ? `${p}pre_feedforward_layernorm.weight` : `${p}post_attention_layernorm.weight`, [dim]);
    take(g('w1'), `${p}mlp.gate_proj.weight`, [hiddenDim, dim]);
    take(g('w2'), `${p}mlp.down_proj.weight`, [dim, hiddenDim]);
    take(g('w3'), `${p}mlp.up_proj.weight`, [hiddenDim, dim]);
    if (biased) {
      take(g('bq'), `${p}self_attn.q_proj.bias`, [q]);
      take(g('bk'), `${p}self_attn.k_proj.bias`, [kv]);
      take(g('bv'), `${p}self_attn.v_proj.bias`, [kv]);
    }
    if (oBias) take(g('bo'), `${p}self_attn.o_proj.bias`, [dim]);
    if (qkNorm) {
      norm(g('qNorm'), `${p}self_attn.q_norm.weight`, [headDim]);
      norm(g('kNorm'), `${p}self_attn.k_norm.weight`, [headDim]);
    }
    if (gemma) {
      norm(g('postAttnNorm'), `${p}post_attention_layernorm.weight`, [dim]);
      norm(g('postFfnNorm'), `${p}post_feedforward_layernorm.weight`, [dim]);
    }
  }
  norm('output_norm.weight', 'model.norm.weight', [dim]);
  const head = tensors.get('lm_head.weight');
  const embed = tensors.get('model.embed_tokens.weight')!;
  // Tied, absent, or a byte-for-byte copy of the embedding: one shared matrix.
  const shared = hf.tieWordEmbeddings || !head || (head.dtype === embed.dtype && tiedBytes);
  if (shared && head && (head.shape.length !== 2 || head.shape[0] !== vocabSize || head.shape[1] !== dim)) {
    throw new Error(`${source}: tensor "lm_head.weight" has shape ${fmt(head.shape)}, expected ${fmt([vocabSize, dim])} (config.json: ${sizes})`);
  }
  if (!shared) take('output.weight', 'lm_head.weight', [vocabSize, dim]);
  config.sharedClassifier = shared;
  return { hf, plan };
}

/** A tensor's float32 values (Gemma norms: 1 + w). */
function hfFloats(t: SafetensorsTensor, name: string, norm: boolean, source: string): Float32Array {
  const w = tensorToFloat32(t, name, source);
  return norm ? w.map((v) => 1 + v) : w;
}

/** The tokenizer of an HF folder (tokenizer.json), when there is one. */
function hfFolderTokenizer(files: { tokenizerJson?: string; tokenizerConfig?: string }, hf: HfConfig, source: string) {
  return files.tokenizerJson === undefined
    ? undefined
    : hfTokenizer(files.tokenizerJson, `${source}/tokenizer.json`, { tokenizerConfig: files.tokenizerConfig, bosTokenId: hf.bosTokenId, eosTokenId: hf.eosTokenId, vocabSize: hf.config.vocabSize });
}

/** A Hugging Face model directory's files as a model (and its tokenizer when tokenizer.json is given). */
export function parseHfModel(files: HfModelFiles, source: string): ParsedModel {
  const shards = new Map<string, Map<string, SafetensorsTensor>>();
  for (const f of files.safetensors) {
    if (shards.has(f.name)) throw new Error(`${source}: safetensors file ${f.name} given twice`);
    shards.set(f.name, parseSafetensors(f.bytes, `${source}/${f.name}`).tensors);
  }
  const tensors = collectTensors(files, shards, source);
  const where = files.safetensors.length === 1 ? files.safetensors[0].name : `${files.safetensors.length} shards`;
  const head = tensors.get('lm_head.weight');
  const embed = tensors.get('model.embed_tokens.weight');
  const { hf, plan } = hfLayout(files.config, tensors, !!head && !!embed && sameBytes(head.data, embed.data), source, where);
  const config = hf.config;
  const get = (gguf: string): Float32Array => {
    const p = plan.get(gguf)!;
    const e = tensors.get(p.hf)!;
    return hfFloats(e, p.hf, p.norm, `${source}/${e.file}`);
  };
  const opt = (gguf: string) => (plan.has(gguf) ? get(gguf) : undefined);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const layer: Partial<LayerWeights> = {};
    for (const [field, name] of Object.entries(LAYER_TENSORS) as [keyof LayerWeights, string][]) {
      const v = opt(`blk.${l}.${name}`);
      if (v) layer[field] = v;
    }
    layers.push(layer as LayerWeights);
  }
  const tokenEmbedding = get('token_embd.weight');
  const classifier = config.sharedClassifier ? tokenEmbedding : get('output.weight');
  const tokenizer = hfFolderTokenizer(files, hf, source);
  const raw = hfRawTensors(tensors); // F16 / BF16 matrices stay 16-bit on the GPU
  return { file: { config, weights: { tokenEmbedding, layers, finalNorm: get('output_norm.weight'), classifier } }, format: 'hf', raw, ...(tokenizer ? { tokenizer } : {}) };
}

/** The files of an HF folder read through ByteSources: the small JSON texts, and the safetensors files (headers now, tensors per upload). */
export interface HfModelSources {
  config: string;
  safetensors: ByteSource[]; // each named by its file name (model.safetensors, or the shards)
  index?: string;
  tokenizerJson?: string;
  tokenizerConfig?: string;
}

/** An HF folder read through ByteSources: the same checks as parseHfModel; each tensor read when it is uploaded. */
export async function hfSourceModel(files: HfModelSources, source: string): Promise<{ tensors: ModelTensors; tokenizer?: TextTokenizer }> {
  const shards = new Map<string, Map<string, SafetensorsEntry & { at: number }>>();
  const srcs = new Map<string, ByteSource>();
  for (const src of files.safetensors) {
    const name = src.name.slice(src.name.lastIndexOf('/') + 1);
    if (shards.has(name)) throw new Error(`${source}: safetensors file ${name} given twice`);
    const h = await readSafetensorsHeader({ name: `${source}/${name}`, size: src.size, read: (o, n) => src.read(o, n) });
    shards.set(name, new Map([...h.tensors].map(([n, e]) => [n, { ...e, at: h.dataStart + e.begin }])));
    srcs.set(name, src);
  }
  const tensors = collectTensors(files, shards, source);
  const where = files.safetensors.length === 1 ? 'model.safetensors' : `${files.safetensors.length} shards`;
  const range = (e: { file: string; at: number; begin: number; end: number }) => ({ src: srcs.get(e.file)!, offset: e.at, nbytes: e.end - e.begin });
  const head = tensors.get('lm_head.weight');
  const embed = tensors.get('model.embed_tokens.weight');
  const tied = !!head && !!embed && head.dtype === embed.dtype && (await sameRanges(range(head), range(embed)));
  const { hf, plan } = hfLayout(files.config, tensors, tied, source, where);
  const out = new Map<string, SourceTensor>();
  for (const [gguf, p] of plan) {
    const e = tensors.get(p.hf)!;
    out.set(gguf, {
      ...range(e),
      type: e.dtype,
      shape: e.shape,
      storedLayout: e.shape.length === 2 && (e.dtype === 'F16' || e.dtype === 'BF16') && ggufNameOfHf(p.hf) !== undefined,
      toF32: (bytes) => hfFloats({ dtype: e.dtype, shape: e.shape, data: bytes }, p.hf, p.norm, `${source}/${e.file}`),
    });
  }
  const tokenizer = hfFolderTokenizer(files, hf, source);
  return { tensors: sourceTensors(hf.config, out), ...(tokenizer ? { tokenizer } : {}) };
}

/** A tensor name of the architecture's layout (any layer below nLayers). */
function isLayoutTensor(name: string, nLayers: number, extra: { biased: boolean; oBias: boolean; qkNorm: boolean; gemma: boolean }): boolean {
  if (name === 'model.embed_tokens.weight' || name === 'model.norm.weight' || name === 'lm_head.weight') return true;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (m === null || Number(m[1]) >= nLayers || String(Number(m[1])) !== m[1]) return false;
  const t = m[2];
  if (/^(input_layernorm|post_attention_layernorm|self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.weight$/.test(t)) return true;
  if (extra.biased && /^self_attn\.[qkv]_proj\.bias$/.test(t)) return true;
  if (extra.oBias && t === 'self_attn.o_proj.bias') return true;
  if (extra.gemma && /^(pre_feedforward_layernorm|post_feedforward_layernorm)\.weight$/.test(t)) return true;
  return extra.qkNorm && /^self_attn\.[qk]_norm\.weight$/.test(t);
}
