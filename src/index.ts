// Public API of mobizo-webgpu (browser and Node).
export { createGpu, Gpu, type GpuOptions } from './gpu/device';
export { MemoryLedger, type MemoryCategory } from './gpu/ledger';
export type { LlamaConfig, LlamaModelFile } from './model/config';
export { parseLlama2c } from './model/llama2c';
export { loadModel, parseModelFile } from './model/load';
export { Model } from './model/model';
export { Tokenizer, StreamDecoder } from './model/tokenizer';
export { ForwardPass, KvCache, type ForwardShape } from './model/transformer';
export { generateText, type GenerateOptions, type GenerateResult } from './model/generate';
export { Sampler, Rng, argmax } from './model/sampler';
