// Messages between the app page and the engine worker (src/worker/engine_worker.ts). The page
// sends { id, cmd, args }; the worker answers { id, ok, value | error } and, meanwhile, sends
// events { event, data } (training progress, generated text, memory). Everything is structured-
// cloneable: Files and Blobs travel by reference, typed arrays by copy.
import type { FineTuneOptions } from '../train/defaults';
import type { EvalDetail, FineTuneStatus, StepDetail } from '../train/finetuner';
import type { Divergence } from '../train/divergence';
import type { ModelRef, NamedBlob } from '../train/session_store';
import type { PreviewRow, TaskKind, TaskSpec } from '../train/task_source';
import type { LlamaConfig } from '../formats/config';
import type { ParsedModel } from '../formats/parse';

// The app imports the engine only through this module: these are the parts of the engine's
// vocabulary the page needs on its side of the worker boundary.
export { PRESETS } from '../data/presets';
export { defaultOptions, OPTION_HELP, TASK_OVERRIDES, type FineTuneOptions } from '../train/defaults';
export type { EvalDetail, FineTuneStatus, StepDetail } from '../train/finetuner';
export type { Divergence } from '../train/divergence';
export type { ModelRef, NamedBlob } from '../train/session_store';
export { presetFiles, type PreviewRow, type TaskKind, type TaskSpec } from '../train/task_source';

export interface LedgerReport {
  current: Record<string, number>;
  peak: Record<string, number>;
  peakTotal: number;
}

export interface GpuInfo {
  adapterInfo: string;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  features: string[];
}

export type ModelSource =
  | { kind: 'demo' }
  | { kind: 'files'; model: Blob; modelName: string; tokenizer?: Blob; tokenizerName?: string }
  // a Hugging Face folder (or its files selected together): the files directly in it, by name;
  // the tokenizer file is used only when the folder has no tokenizer.json
  | { kind: 'hf'; name: string; files: NamedBlob[]; tokenizer?: Blob; tokenizerName?: string };

export interface ModelInfo {
  name: string;
  format: 'demo' | ParsedModel['format'];
  config: LlamaConfig;
  params: number; // weights (the classifier counted once when tied)
  fileBytes: number;
  gpuBytes: number; // the ledger's 'weights' after loading
  memory: LedgerReport;
}

export interface DataInfo {
  kind: TaskKind;
  describe: string;
  trainCount: number;
  evalCount: number;
  evalIsTrain: boolean;
  preview: PreviewRow[];
  classify?: { template: string; classes: string[]; labelWords: string[] };
}

export interface RunInfo {
  status: FineTuneStatus;
  step: number;
  steps: number;
  history: { step: number; loss: number }[];
  evals: EvalDetail[];
  hasAdapter: boolean;
  persisted: boolean; // checkpoints go to IndexedDB
  diverged: Divergence | null; // the last run diverged (it stopped there)
}

export interface Restored {
  model: ModelInfo | null; // null: the model was not stored, open it again
  modelRef: ModelRef;
  data: DataInfo | null;
  spec: TaskSpec;
  options: FineTuneOptions;
  run: RunInfo;
  openedAdapters?: number; // the PEFT adapters opened beside the run, opened again
  error?: string; // why the session could not be fully restored
}

/** The name of the trained run's adapter in the worker's list (an opened adapter cannot take it). */
export const TRAINED_ADAPTER = 'trained';

/** An adapter "Try it" can compare: the trained run's, or one opened from PEFT files. */
export interface AdapterEntry {
  name: string; // unique in the list; TRAINED_ADAPTER for the run's
  kind: 'trained' | 'opened';
  rank: number;
  alpha: number;
  targets: string[];
  primary: boolean; // the one Predict and Download use: the last opened, or the run's once it trains
}

/** The stream (token events, a column of "Try it") of a generation row: the base model, or an adapter. */
export function streamOf(adapter: string | null): string {
  return adapter === null ? 'base' : `adapter:${adapter}`;
}

export interface GenerateInfo {
  stream: string; // streamOf(adapter)
  adapter: string | null; // null: the base model
  text: string;
  tokensPerSecond: number;
  generatedTokens: number;
}

/** The rows of one generation: every row went through the same pass per token. */
export interface GenerateBatchInfo {
  rows: GenerateInfo[];
  sequences: number; // rows in each pass (1: the single-adapter path, no packing)
  ms: number;
  tokensPerSecond: number; // positions of all rows per second
}

export interface ClassifyInfo {
  classes: string[];
  labelWords: string[];
  prompt: string;
  base: number[]; // probability per class (softmax of mean log-probs), base model
  adapters: { name: string; primary: boolean; probs: number[] }[]; // with each adapter compared (the primary first; none yet: [])
}

export interface AdapterExport {
  'adapter_config.json': string;
  'adapter_model.safetensors': Uint8Array;
  'trainer_state.json'?: string;
}

export interface Commands {
  init: { args: Record<string, never>; result: GpuInfo };
  restore: { args: Record<string, never>; result: Restored | null };
  loadModel: { args: { source: ModelSource }; result: ModelInfo };
  prepareData: { args: { spec: TaskSpec; seq: number; seed: number; batch: number }; result: DataInfo };
  start: { args: { options: FineTuneOptions }; result: RunInfo };
  resume: { args: { options: FineTuneOptions }; result: RunInfo };
  pause: { args: Record<string, never>; result: void };
  stop: { args: Record<string, never>; result: void };
  // one batched pass per token: the base model (when `base`) and then each named adapter, a row each
  generate: { args: { prompt: string; steps: number; temperature: number; seed: number; base: boolean; adapters: string[] }; result: GenerateBatchInfo };
  // with the primary adapter and the other named ones, scored in one pass
  classify: { args: { text: string; adapters: string[] }; result: ClassifyInfo };
  exportAdapter: { args: Record<string, never>; result: AdapterExport };
  // file: the safetensors file's name (messages, and the default name); name: '' for the default
  // (the file's stem, or "adapter N" for the generic adapter_model.safetensors); the same name replaces
  importAdapter: { args: { config: string; safetensors: Uint8Array; file: string; configFile: string; name: string }; result: { entry: AdapterEntry; replaced: boolean; adapters: AdapterEntry[] } };
  adapters: { args: Record<string, never>; result: AdapterEntry[] };
  removeAdapter: { args: { name: string }; result: AdapterEntry[] };
  memory: { args: Record<string, never>; result: LedgerReport };
  forget: { args: Record<string, never>; result: void };
}

export type CommandName = keyof Commands;

export interface Events {
  step: StepDetail & { memory: LedgerReport };
  eval: EvalDetail;
  checkpoint: { step: number; persisted: boolean };
  session: { persisted: boolean }; // a new run: is it saved in IndexedDB?
  status: { status: FineTuneStatus; step: number; error?: string; diverged?: Divergence };
  diverge: Divergence; // the run diverged: the loss rose well above its start
  phase: { text: string }; // what a running run is doing before its next step ('' when stepping)
  token: { stream: string; text: string };
  log: { message: string };
}

export type EventName = keyof Events;

export type Request = { [K in CommandName]: { id: number; cmd: K; args: Commands[K]['args'] } }[CommandName];

export type Reply =
  | { id: number; ok: true; value: unknown }
  // option: the FineTuneOptions key an OptionError names (the page shows the message beside that field)
  | { id: number; ok: false; error: string; hint?: string; option?: string };

export type EventMessage = { [K in EventName]: { event: K; data: Events[K] } }[EventName];
