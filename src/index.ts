// Public API of mobizo-webgpu (browser and Node).
export { createGpu, Gpu, type GpuOptions } from './gpu/device';
export { MemoryLedger, type MemoryCategory } from './gpu/ledger';
export type { LlamaConfig, LlamaModelFile } from './formats/config';
export { parseLlama2c } from './formats/llama2c';
export { loadModel } from './model/load';
export { parseModelFile } from './formats/parse';
export { Model } from './model/model';
export { Tokenizer, StreamDecoder } from './formats/tokenizer';
export { ForwardPass, KvCache, type ForwardShape } from './model/forward';
export { generateText, generateBatch, type GenerateOptions, type GenerateResult } from './model/generate';
export { Sampler, Rng, argmax } from './model/sampler';
// Fine-tuning (browser and Node): tasks from text, the FineTuner with typed progress events and
// pause / stop / resume, checkpoints (IndexedDB in browsers), adapters in the PEFT layout.
export { FineTuner, finetune, type FineTuneResult, type FineTunerEventMap, type FineTunerInit, type FineTuneStatus, type StepDetail, type EvalDetail } from './train/finetuner';
export { CLI_DEFAULTS, DEMO_OVERRIDES, OPTION_HELP, defaultOptions, type FineTuneOptions } from './train/defaults';
export { prepareTask, presetFiles, type TaskSpec, type DataFile, type PreparedTask, type PreviewRow, type TaskKind } from './train/task_source';
export { IndexedDbCheckpointStore } from './train/session_store';
export { train, parseCheckpoint, type CheckpointFiles, type CheckpointStore, type TrainConfig, type TrainerState, type EvalResult } from './train/trainer';
export { LoraState } from './adapter/lora';
export { MultiAdapters } from './adapter/multi';
export { writeAdapter, readAdapter, type AdapterFiles } from './adapter/peft';
export { toyModel, toyTokenizerBytes } from './model/toy';
export { PRESETS } from './data/presets';
