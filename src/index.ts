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
// Fine-tuning (browser and Node): tasks from text, the FineTuner with typed progress events and
// pause / stop / resume, checkpoints (IndexedDB in browsers), adapters in the PEFT layout.
export { FineTuner, finetune, type FineTuneResult, type FineTunerEventMap, type FineTunerInit, type FineTuneStatus, type StepDetail, type EvalDetail } from './app/finetuner';
export { CLI_DEFAULTS, DEMO_OVERRIDES, OPTION_HELP, defaultOptions, type FineTuneOptions } from './zo/defaults';
export { prepareTask, presetFiles, type TaskSpec, type DataFile, type PreparedTask, type PreviewRow, type TaskKind } from './data/task_source';
export { IndexedDbCheckpointStore } from './app/session_store';
export { train, parseCheckpoint, type CheckpointFiles, type CheckpointStore, type TrainConfig, type TrainerState, type EvalResult } from './zo/trainer';
export { LoraState } from './zo/lora';
export { writeAdapter, readAdapter, type AdapterFiles } from './zo/peft';
export { toyModel, toyTokenizerBytes } from './model/toy';
export { PRESETS } from './data/presets';
