// Public API of mobizo-webgpu (browser and Node).
export { createGpu, Gpu, type GpuOptions, type Backend, type BackendInfo, type CappedLimit, type GpuLimits } from './gpu/device';
export { MemoryLedger, type MemoryCategory, type LedgerEntry, type SplitEntry } from './gpu/ledger';
export type { LlamaConfig, LlamaModelFile, LlamaWeights, LayerWeights, RopeScaling } from './formats/config';
export { parseLlama2c } from './formats/llama2c';
export { loadModel, type ModelSource, type LoadModelOptions, type TokenizerSource } from './model/load';
// Models by name: Hugging Face references (hf:owner/repo[/file.gguf]) and the known models, downloaded
// with progress and resume, checked against the hub's sha256, cached (a folder in Node, IndexedDB in browsers).
export { parseHubRef, formatHubRef, hubFiles, type HubRef, type HubOptions, type HubFile } from './model/hub';
export { knownModels, knownModel, type ModelEntry, type WeightFile, type WeightsManifest } from './model/known_models';
export { defaultCache, type ModelCache, type CachedFile } from './model/model_cache';
export type { DownloadProgress, PartStore } from './model/transfer';
export { parseModelFile } from './formats/parse';
export { Model, type RawTensors } from './model/model';
export { Tokenizer, StreamDecoder, type TextTokenizer, type EncodeOptions } from './formats/tokenizer';
export { ForwardPass, KvCache, type ForwardShape } from './model/forward';
export { generateText, generateBatch, type GenerateOptions, type GenerateResult } from './model/generate';
export { Sampler, Rng, argmax, type SamplerOptions } from './model/sampler';
export type { LinearAdapters } from './model/targets';
// Fine-tuning (browser and Node): tasks from text, the FineTuner with typed progress events and
// pause / stop / resume, checkpoints (IndexedDB in browsers), adapters in the PEFT layout.
export { FineTuner, finetune, type FineTuneCallbacks, type FineTuneOutput, type FineTuneResult, type FineTunerEventMap, type FineTunerInit, type FineTuneStatus, type StepDetail, type EvalDetail } from './train/finetuner';
export { CLI_DEFAULTS, DEMO_OVERRIDES, OPTION_HELP, defaultOptions, type FineTuneOptions } from './train/defaults';
export { OptionError, type RunOptions, type ZoMode, type ZoOptimizerName, type LrSchedule } from './train/options';
export type { OptionHelp } from './train/defaults';
export type { Divergence, OnDiverge } from './train/divergence';
export type { FitResult, MemoryEstimate, StepShape } from './train/memory_plan';
export type { RunFingerprint, CheckpointManifest } from './train/checkpoint';
export { validateOptions, validateTaskSpec } from './train/validate';
export { prepareTask, presetFiles, type TaskSpec, type DataFile, type PreparedTask, type PreviewRow, type TaskKind, type HeldOut } from './train/task_source';
export type { ClassifyTask, Item, Candidate, TaskLoss } from './data/tasks';
export type { TokenBatch } from './data/batch';
export type { Encoding } from './data/examples';
export type { TaskMetrics, ClassMetrics } from './eval/metrics';
export { IndexedDbCheckpointStore } from './train/session_store';
export { train, parseCheckpoint, type CheckpointFiles, type CheckpointStore, type TrainConfig, type TrainerState, type EvalResult, type TrainData, type TrainSummary, type TrainEvents, type Evaluator } from './train/trainer';
export type { StepResult } from './train/scheduler';
export { LoraState, type LoraConfig } from './adapter/lora';
export { MultiAdapters } from './adapter/multi';
export { writeAdapter, readAdapter, type AdapterFiles, type AdapterTensors, type BaseModelIdentity, type LoraPair } from './adapter/peft';
export { toyModel, toyTokenizerBytes } from './model/toy';
export { PRESETS, type Preset, type DataSpec } from './data/presets';
// A Web Worker engine for pages, as WebLLM's CreateWebWorkerMLCEngine: the worker script is
// `mobizo-webgpu/worker` (dist/worker.js, src/worker/engine_worker.ts); createWorkerEngine drives it
// with typed messages (src/worker/protocol.ts), so loading, fine-tuning and generation stay off the page's thread.
export { createWorkerEngine, WorkerEngine, EngineError, EngineStoppedError, type WorkerEngineOptions, type EngineStopped } from './worker/client';
export type {
  AdapterDownload, AdapterEntry, CheckedModel, ClassifyInfo, Commands, CommandName, DataInfo, Events, EventName, GenerateBatchInfo, GenerateInfo, GpuInfo, Interruption,
  LedgerReport, ModelInfo, ModelRef, ModelSource as WorkerModelSource, NamedBlob, Restored, RunInfo, SampleInfo,
} from './worker/protocol';
