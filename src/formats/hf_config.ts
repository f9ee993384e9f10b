// Every config.json field of the supported Hugging Face architectures, and what this engine does
// with it: 'read' (parseHfConfig turns it into the LlamaConfig), 'irrelevant' (does not change the
// logits: bookkeeping, token ids, training or generation knobs), or a value it must have (the math
// this engine implements; any other value is an error naming the field). A field in no table is an
// error too: a field this engine does not know may change the math, so it is never ignored.
//
// RoPE: transformers 5 writes `rope_parameters` { rope_type, rope_theta, factor, ... }; older files
// have `rope_theta` and `rope_scaling` { type | rope_type, factor, ... } at the top level. Both are
// read; when both are given they must agree.

import type { RopeScaling } from './config';

export type Json = Record<string, unknown>;

/** 'read', 'irrelevant', or the only value(s) accepted, as a predicate and what it expects. */
export type FieldRule = 'read' | 'irrelevant' | { accepts: (v: unknown) => boolean; expected: string };

const absentOr = (ok: (v: unknown) => boolean) => (v: unknown) => v === undefined || v === null || ok(v);
const only = (value: unknown, expected = JSON.stringify(value)): FieldRule => ({ accepts: absentOr((v) => v === value), expected });

/** PretrainedConfig's own fields (and legacy generation defaults written by transformers 4). */
const COMMON: Record<string, FieldRule> = {
  architectures: 'read',
  model_type: 'read',
  hidden_size: 'read',
  intermediate_size: 'read',
  num_hidden_layers: 'read',
  num_attention_heads: 'read',
  num_key_value_heads: 'read',
  head_dim: 'read',
  vocab_size: 'read',
  max_position_embeddings: 'read',
  rms_norm_eps: 'read',
  rope_theta: 'read',
  rope_scaling: 'read',
  rope_parameters: 'read',
  tie_word_embeddings: 'read',
  bos_token_id: 'read',
  eos_token_id: 'read',
  hidden_act: only('silu'),
  partial_rotary_factor: only(1),
  quantization_config: { accepts: (v) => v === undefined || v === null, expected: 'absent (quantized HF checkpoints are not read; use a GGUF)' },
  // bookkeeping, ids, dropout (inference has none), generation and training knobs
  ...Object.fromEntries(
    [
      'transformers_version', '_name_or_path', 'name_or_path', 'dtype', 'torch_dtype', 'use_cache', 'initializer_range', 'pad_token_id',
      'sep_token_id', 'decoder_start_token_id', 'attention_dropout', 'output_hidden_states', 'output_attentions', 'return_dict',
      'chunk_size_feed_forward', 'is_encoder_decoder', 'is_decoder', 'add_cross_attention', 'cross_attention_hidden_size',
      'tie_encoder_decoder', 'id2label', 'label2id', 'problem_type', 'tokenizer_class', 'prefix', 'task_specific_params',
      'finetuning_task', 'torchscript', 'tf_legacy_loss', 'use_bfloat16', 'pruned_heads', 'max_length', 'min_length', 'do_sample',
      'early_stopping', 'num_beams', 'num_beam_groups', 'diversity_penalty', 'temperature', 'top_k', 'top_p', 'typical_p',
      'repetition_penalty', 'length_penalty', 'no_repeat_ngram_size', 'encoder_no_repeat_ngram_size', 'bad_words_ids',
      'num_return_sequences', 'output_scores', 'return_dict_in_generate', 'forced_bos_token_id', 'forced_eos_token_id',
      'remove_invalid_values', 'exponential_decay_length_penalty', 'suppress_tokens', 'begin_suppress_tokens', 'use_return_dict',
      'pretraining_tp', // > 1 splits the matmuls into slices with the same result
      // nanotron / transformers.js leftovers in SmolLM2's config.json, which transformers ignores
      'is_llama_config', 'rope_interleaved', 'transformers.js_config',
    ].map((k) => [k, 'irrelevant' as const]),
  ),
};

/** Fields of each architecture beyond COMMON. */
export const HF_CONFIG_FIELDS: Readonly<Record<string, Readonly<Record<string, FieldRule>>>> = {
  LlamaForCausalLM: { ...COMMON, attention_bias: 'read', mlp_bias: only(false) }, // attention_bias: q/k/v/o biases
  MistralForCausalLM: { ...COMMON, sliding_window: 'read' },
  // Qwen2 always has q/k/v biases (no attention_bias field); sliding windows per layer_types
  Qwen2ForCausalLM: { ...COMMON, sliding_window: 'read', use_sliding_window: 'read', max_window_layers: 'read', layer_types: 'read' },
  Qwen3ForCausalLM: {
    ...COMMON, attention_bias: only(false), sliding_window: 'read', use_sliding_window: 'read', max_window_layers: 'read', layer_types: 'read',
  },
  // Gemma 3 (text): sliding layers by layer_types (or the older sliding_window_pattern), the local RoPE
  // base (rope_local_base_freq, or rope_parameters.sliding_attention), query_pre_attn_scalar, final
  // soft-capping; hidden_activation instead of hidden_act
  Gemma3ForCausalLM: {
    ...COMMON,
    hidden_act: { accepts: (v) => v === undefined || v === null, expected: 'absent (Gemma 3 reads hidden_activation)' },
    hidden_activation: only('gelu_pytorch_tanh'),
    attention_bias: only(false),
    query_pre_attn_scalar: 'read',
    sliding_window: 'read',
    layer_types: 'read',
    sliding_window_pattern: 'read',
    _sliding_window_pattern: 'read',
    rope_local_base_freq: 'read',
    final_logit_softcapping: 'read',
    attn_logit_softcapping: { accepts: (v) => v === undefined || v === null, expected: 'null (attention logit soft-capping is not implemented; Gemma 3 has none)' },
    use_bidirectional_attention: only(false),
    cache_implementation: 'irrelevant',
  },
};

/** Keys of rope_parameters / rope_scaling by rope_type, beyond rope_type (and type) themselves. */
const ROPE_KEYS: Record<string, string[]> = {
  default: ['rope_theta'],
  linear: ['rope_theta', 'factor'],
  llama3: ['rope_theta', 'factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
};

/** Throws, naming the field, for a field not in the architecture's table or with a value not implemented. */
export function checkHfConfigFields(c: Json, architecture: string, err: (msg: string) => Error): void {
  const table = HF_CONFIG_FIELDS[architecture];
  for (const [k, v] of Object.entries(c)) {
    const rule = table[k];
    if (rule === undefined) {
      throw err(`field "${k}" (= ${JSON.stringify(v)?.slice(0, 60)}) is not known to this engine for ${architecture}: it may change the math, so it is refused rather than ignored`);
    }
    if (typeof rule === 'object' && !rule.accepts(v)) throw err(`${k} ${JSON.stringify(v)} is not supported (only ${rule.expected})`);
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * RoPE base and scaling from `rope_parameters` (transformers 5) or the top-level `rope_theta` /
 * `rope_scaling` (older files); every key of the RoPE object is read or refused by name.
 */
export function readHfRope(c: Json, err: (msg: string) => Error, defaultTheta = 10000): { theta: number; scaling?: RopeScaling } {
  const obj = (k: string): Json | undefined => {
    const v = c[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw err(`field "${k}" = ${JSON.stringify(v)} is not an object`);
    return v as Json;
  };
  const params = obj('rope_parameters');
  const legacy = obj('rope_scaling');
  const one = (o: Json, where: string) => {
    const kind = o.rope_type ?? o.type ?? 'default';
    if (typeof kind !== 'string' || !(kind in ROPE_KEYS)) {
      throw err(`${where} rope_type ${JSON.stringify(kind)} is not supported (supported: ${Object.keys(ROPE_KEYS).join(', ')}): ${JSON.stringify(o)}`);
    }
    const keys = ROPE_KEYS[kind];
    for (const k of Object.keys(o)) {
      if (k !== 'rope_type' && k !== 'type' && !keys.includes(k)) throw err(`${where}.${k} is not supported with rope_type "${kind}" (read: ${keys.join(', ')}): ${JSON.stringify(o)}`);
    }
    const n = (k: string, required = true) => {
      const v = o[k];
      if (v === undefined || v === null) {
        if (required) throw err(`${where}.${k} is missing (rope_type "${kind}")`);
        return undefined;
      }
      if (!isNum(v)) throw err(`${where}.${k} = ${JSON.stringify(v)} is not a number`);
      return v;
    };
    let scaling: RopeScaling | undefined;
    if (kind === 'linear') scaling = { type: 'linear', factor: n('factor')! };
    if (kind === 'llama3') {
      scaling = {
        type: 'llama3',
        factor: n('factor')!,
        lowFreqFactor: n('low_freq_factor')!,
        highFreqFactor: n('high_freq_factor')!,
        originalMaxPos: n('original_max_position_embeddings')!,
      };
    }
    return { theta: n('rope_theta', false), scaling };
  };
  const top = c.rope_theta;
  if (top !== undefined && top !== null && !isNum(top)) throw err(`field "rope_theta" = ${JSON.stringify(top)} is not a number`);
  const fromParams = params ? one(params, 'rope_parameters') : undefined;
  const fromLegacy = legacy ? one(legacy, 'rope_scaling') : undefined;
  if (fromParams && fromLegacy && JSON.stringify(fromParams.scaling) !== JSON.stringify(fromLegacy.scaling)) {
    throw err(`rope_parameters ${JSON.stringify(params)} and rope_scaling ${JSON.stringify(legacy)} disagree`);
  }
  const thetas = [fromParams?.theta, isNum(top) ? top : undefined, fromLegacy?.theta].filter((t): t is number => t !== undefined);
  if (thetas.some((t) => t !== thetas[0])) throw err(`rope_theta is given as ${thetas.join(' and ')} (rope_parameters / rope_theta / rope_scaling disagree)`);
  const theta = thetas[0] ?? defaultTheta;
  if (!(theta > 0)) throw err(`rope_theta ${theta} is not positive`);
  const scaling = fromParams?.scaling ?? fromLegacy?.scaling;
  return scaling ? { theta, scaling } : { theta };
}

/**
 * Gemma 3's two RoPEs: transformers 5 writes `rope_parameters` { full_attention: {...},
 * sliding_attention: {...} }; older files have the global rope_theta / rope_scaling at the top
 * level and the local base in rope_local_base_freq (defaults 1e6 and 1e4, as Gemma3TextConfig).
 */
export function readGemmaRope(c: Json, err: (msg: string) => Error): { global: { theta: number; scaling?: RopeScaling }; local: { theta: number; scaling?: RopeScaling } } {
  const rp = c.rope_parameters;
  let full: unknown;
  let sliding: unknown;
  if (rp !== undefined && rp !== null) {
    if (typeof rp !== 'object' || Array.isArray(rp)) throw err(`field "rope_parameters" = ${JSON.stringify(rp)} is not an object`);
    const o = rp as Json;
    const perType = 'full_attention' in o || 'sliding_attention' in o;
    if (perType) {
      const extra = Object.keys(o).filter((k) => k !== 'full_attention' && k !== 'sliding_attention');
      if (extra.length) throw err(`rope_parameters.${extra[0]} is not a layer type (Gemma 3: full_attention, sliding_attention)`);
      full = o.full_attention;
      sliding = o.sliding_attention;
    } else full = o; // one object: the global layers'
  }
  const within = (kind: string) => (m: string) => err(`${kind} layers: ${m}`);
  const global = readHfRope({ rope_parameters: full, rope_scaling: c.rope_scaling, rope_theta: c.rope_theta }, within('full_attention'), 1e6);
  const local = readHfRope({ rope_parameters: sliding, rope_theta: c.rope_local_base_freq }, within('sliding_attention'), 1e4);
  return { global, local };
}
