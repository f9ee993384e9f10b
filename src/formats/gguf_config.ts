// Every GGUF metadata key of the supported architectures, and what ggufToModelFile does with it
// (llama.cpp's names, src/llama-arch.cpp LLM_KV_*): 'read' (into the LlamaConfig), 'irrelevant'
// (does not change the logits), or the only value(s) this engine implements (any other value is
// an error naming the key). A key under the architecture's prefix that is in no table is an error
// too, as is a key outside general.*, tokenizer.*, quantize.* and the architecture's own: a key
// this engine does not know may change the math, so it is never ignored.

import type { FieldRule } from './hf_config';

const absentOr = (ok: (v: unknown) => boolean) => (v: unknown) => v === undefined || ok(v);
const only = (value: unknown): FieldRule => ({ accepts: absentOr((v) => v === value), expected: JSON.stringify(value) });

/** Keys `${arch}.<key>` of the Llama-layout architectures. */
const LLAMA_LAYOUT: Record<string, FieldRule> = {
  context_length: 'read',
  embedding_length: 'read',
  block_count: 'read',
  feed_forward_length: 'read',
  vocab_size: 'read',
  'attention.head_count': 'read',
  'attention.head_count_kv': 'read',
  'attention.layer_norm_rms_epsilon': 'read',
  'attention.key_length': 'read',
  'attention.value_length': 'read',
  'rope.freq_base': 'read',
  'rope.dimension_count': 'read',
  'rope.scaling.type': { accepts: absentOr((v) => v === 'none' || v === 'linear'), expected: '"none" or "linear"' },
  'rope.scaling.factor': 'read',
  'rope.scaling.original_context_length': 'irrelevant', // YaRN's; linear scaling does not use it
  'rope.scaling.finetuned': 'irrelevant',
  'attention.causal': only(true),
  expert_count: only(0),
  expert_used_count: only(0),
};

export const GGUF_ARCH_KEYS: Readonly<Record<string, Readonly<Record<string, FieldRule>>>> = {
  llama: LLAMA_LAYOUT,
  qwen2: LLAMA_LAYOUT,
  qwen3: LLAMA_LAYOUT,
  // llama.cpp's gemma3 (llama-model.cpp): sliding layers every `pattern` (default 6), their RoPE base
  // (default 1e4); rope.scaling.* applies to the global layers only. No soft-capping key is read there.
  gemma3: { ...LLAMA_LAYOUT, 'attention.sliding_window': 'read', 'attention.sliding_window_pattern': 'read', 'rope.freq_base_swa': 'read' },
};

/** Namespaces that never change the math: the file's description, the tokenizer, the quantizer's notes. */
const IRRELEVANT_PREFIXES = ['general.', 'tokenizer.', 'quantize.'];

/**
 * Throws, naming the key, for a metadata key this engine does not implement. `value(key)` gives
 * the key's value as a plain JS value (numbers, strings, booleans).
 */
export function checkGgufKeys(keys: Iterable<string>, arch: string, value: (key: string) => unknown, source: string): void {
  const table = GGUF_ARCH_KEYS[arch];
  for (const key of keys) {
    if (IRRELEVANT_PREFIXES.some((p) => key.startsWith(p))) continue;
    const rule = key.startsWith(`${arch}.`) ? table[key.slice(arch.length + 1)] : undefined;
    if (rule === undefined) {
      throw new Error(`${source}: GGUF metadata "${key}" is not known to this engine for architecture "${arch}": it may change the math, so it is refused rather than ignored`);
    }
    if (typeof rule === 'object' && !rule.accepts(value(key))) {
      throw new Error(`${source}: GGUF metadata "${key}" = ${JSON.stringify(value(key))} is not supported (only ${rule.expected})`);
    }
  }
}
