// Model presets of the bench: stories260K is the real checkpoint (../shared/assets); the others
// are random-initialised weights with the published shapes, enough for timing (not for text).
// A preset whose tensors exceed the adapter's limits, or whose weights exceed the bench's memory
// budget, is skipped with the reason.
import type { LlamaConfig, LlamaModelFile } from '../src/formats/config';
import { toyModel } from '../src/model/toy';

export type PresetName = 'stories260K' | 'stories15M' | 'stories110M' | 'tinyllama';

const llama2c = (dim: number, hiddenDim: number, nLayers: number, nHeads: number, nKvHeads: number, vocabSize: number, seqLen: number): LlamaConfig => ({
  dim,
  hiddenDim,
  nLayers,
  nHeads,
  nKvHeads,
  headDim: dim / nHeads,
  vocabSize,
  seqLen,
  normEps: 1e-5,
  ropeTheta: 10000,
  ropeStyle: 'adjacent',
  sharedClassifier: true,
});

/** Shapes of each preset (stories260K's are read from its checkpoint header, repeated here). */
export const PRESETS: Record<PresetName, { config: LlamaConfig; checkpoint?: string }> = {
  stories260K: { config: llama2c(64, 172, 5, 8, 4, 512, 512), checkpoint: 'models/stories260K.bin' },
  stories15M: { config: llama2c(288, 768, 6, 6, 6, 32000, 256) },
  stories110M: { config: llama2c(768, 2048, 12, 12, 12, 32000, 1024) },
  tinyllama: {
    // TinyLlama-1.1B: GQA 32/4 heads, untied LM head, Hugging Face RoPE pairs
    config: { ...llama2c(2048, 5632, 22, 32, 4, 32000, 2048), sharedClassifier: false, ropeStyle: 'halfsplit' },
  },
};

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function isPreset(name: string): name is PresetName {
  return (PRESET_NAMES as string[]).includes(name);
}

/** Parameters and bytes of the weights, and the largest single tensor. */
export function weightSizes(c: LlamaConfig): { params: number; bytes: number; largest: { name: string; bytes: number } } {
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const perLayer = 2 * c.dim + 2 * q * c.dim + 2 * kv * c.dim + 3 * c.hiddenDim * c.dim;
  const embed = c.vocabSize * c.dim;
  const params = embed * (c.sharedClassifier ? 1 : 2) + c.nLayers * perLayer + c.dim;
  const tensors: [string, number][] = [
    ['token_embedding', embed],
    ['wq', q * c.dim],
    ['w1', c.hiddenDim * c.dim],
  ];
  const [name, n] = tensors.reduce((a, b) => (b[1] > a[1] ? b : a));
  return { params, bytes: 4 * params, largest: { name, bytes: 4 * n } };
}

/**
 * Why `config` cannot run here, or null. `limits` are the device's; `budgetBytes` caps the
 * weights (host copy + GPU copy must fit in memory).
 */
export function whyNotFits(name: string, c: LlamaConfig, limits: { maxStorageBufferBindingSize: number; maxBufferSize: number }, budgetBytes: number): string | null {
  const s = weightSizes(c);
  const lim = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  if (s.largest.bytes > lim) return `${name}: tensor ${s.largest.name} needs ${mib(s.largest.bytes)}, more than this adapter's storage-buffer limit ${mib(lim)}`;
  if (s.bytes > budgetBytes) return `${name}: ${mib(s.bytes)} of weights exceed the bench's budget of ${mib(budgetBytes)} (raise --max-weight-mib)`;
  return null;
}

/** Random weights with the preset's shapes (seeded, uniform +-1/sqrt(fan-in) as the toy model). */
export function randomPreset(name: PresetName, seed = 1234): LlamaModelFile {
  return toyModel(seed, PRESETS[name].config);
}
