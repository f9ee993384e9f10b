// Messages between a page and the engine worker (src/worker/engine_worker.ts). The page sends
// { id, cmd, args }; the worker answers { id, ok, value | error } and, meanwhile, sends events
// { event, data } (training progress, generated text, memory). Everything is structured-
// cloneable: Files and Blobs travel by reference, typed arrays by copy. The typed client of this
// protocol is ./client.ts (createWorkerEngine), which the app and any other page use.
import type { FineTuneOptions } from '../train/defaults';
import type { EvalDetail, FineTuneStatus, StepDetail } from '../train/finetuner';
import type { Divergence } from '../train/divergence';
import type { ModelRef, NamedBlob } from '../train/session_store';
import type { PreviewRow, TaskKind, TaskSpec } from '../train/task_source';
import type { LlamaConfig } from '../formats/config';
import type { ParsedModel } from '../formats/parse';
import type { Backend } from '../gpu/device';

// The app imports the engine only through this module (and ./client.ts): these are the parts of
// the engine's vocabulary a page needs on its side of the worker boundary.
export { PRESETS } from '../data/presets';
export { DEMO_PROMPT } from '../data/demo';
export { defaultOptions, OPTION_HELP, TASK_OVERRIDES, DEMO_OVERRIDES, type FineTuneOptions, type OptionHelp } from '../train/defaults';
export type { EvalDetail, FineTuneStatus, StepDetail } from '../train/finetuner';
export type { Divergence } from '../train/divergence';
export type { ModelRef, NamedBlob } from '../train/session_store';
export { presetFiles, type PreviewRow, type TaskKind, type TaskSpec } from '../train/task_source';

/** Which compute backend the engine asks for: 'auto' picks WebGPU on a real GPU, WASM on the CPU. */
export { BACKENDS, type Backend } from '../gpu/device';

export interface LedgerReport {
  current: Record<string, number>;
  peak: Record<string, number>;
  peakTotal: number;
}

export interface GpuInfo {
  backend: 'webgpu' | 'wasm';
  describe: string; // the device's own line: backend, adapter or threads, and why auto chose it
  threads: number; // WASM: worker threads (1 without cross-origin isolation); WebGPU: 1
  adapterInfo: string;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  features: string[];
  crossOriginIsolated: boolean; // SharedArrayBuffer (WASM threads) available to the worker
}

/** Where the bundled demo model lives, relative to the worker script (dist/worker.js -> weights/). */
export const BUNDLED_MODEL = { name: 'stories260K', model: '../weights/stories260K.bin', tokenizer: '../weights/tok512.bin' } as const;

export type ModelSource =
  // the bundled stories260K (a 260K-parameter TinyStories model) with its tokenizer
  | { kind: 'demo' }
  | { kind: 'files'; model: Blob; modelName: string; tokenizer?: Blob; tokenizerName?: string }
  // a Hugging Face folder (or its files selected together): the files directly in it, by name;
  // the tokenizer file is used only when the folder has no tokenizer.json
  | { kind: 'hf'; name: string; files: NamedBlob[]; tokenizer?: Blob; tokenizerName?: string }
  // a model file on the web (same origin, or served with CORS), and a llama2.c tokenizer beside it
  | { kind: 'url'; url: string; tokenizerUrl?: string };

/** What a model file is, read before anything is replaced (checkModel). */
export interface CheckedModel {
  name: string;
  format: ParsedModel['format'];
  fileBytes: number;
  config: LlamaConfig;
}

export interface ModelInfo {
  name: string;
  format: ParsedModel['format'];
  bundled: boolean; // the bundled demo model (its own defaults: DEMO_OVERRIDES)
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
  demo: boolean; // the built-in keeper's log
}

/** Why a run is not going on although it was: the engine's own account, shown by the page. */
export interface Interruption {
  cause: 'gpu-lost';
  step: number; // where the run was when it happened
  kept: number; // the checkpoint it went back to (0: the start)
  message: string;
}

export interface RunInfo {
  sessionId: string; // the saved session this run belongs to ('' when not saved)
  status: FineTuneStatus;
  step: number;
  steps: number;
  history: { step: number; loss: number }[];
  evals: EvalDetail[];
  hasAdapter: boolean;
  persisted: boolean; // checkpoints go to IndexedDB
  savedStep: number | null; // the step of the last checkpoint saved in the browser (null: none)
  saveProblem?: string; // why the last checkpoint was not saved (storage full, another tab)
  diverged: Divergence | null; // the last run diverged (it stopped there)
  msPerStep: number; // measured wall time per step of this run (0: none yet)
  lr: number;
  interrupted?: Interruption;
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
  trainingElsewhere: boolean; // another tab of this app is training this session now
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

/** The base model and the run's adapter, greedy, on a prompt from the held-out text. */
export interface SampleInfo {
  prompt: string;
  source: string; // where the prompt comes from, in words
  base: string; // the continuations (prompt excluded)
  adapter: string;
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

/** The adapter as one download: a zip of the PEFT files, named after the run. */
export interface AdapterDownload {
  name: string; // e.g. mobizo-stories260K-keepers-log-step100.zip
  zip: Uint8Array;
  files: string[]; // the files in it
}

export interface Commands {
  init: { args: { backend?: Backend }; result: GpuInfo };
  ping: { args: Record<string, never>; result: number };
  restore: { args: Record<string, never>; result: Restored | null };
  // reads and checks a model file without touching the loaded one; loadModel { checked: true } then loads it
  checkModel: { args: { source: ModelSource }; result: CheckedModel };
  loadModel: { args: { source: ModelSource } | { checked: true }; result: ModelInfo };
  prepareData: { args: { spec: TaskSpec; seq: number; seed: number; batch: number }; result: DataInfo };
  // options left out take the defaults (the demo model's, the task's, the app's cadence); `data`
  // (prepared with the run's seq and seed) replaces the data prepareData chose
  start: { args: { options: Partial<FineTuneOptions>; data?: TaskSpec }; result: RunInfo };
  // lr: a lower learning rate for a run that diverged (its other options stay)
  resume: { args: { options: Partial<FineTuneOptions>; lr?: number }; result: RunInfo };
  pause: { args: Record<string, never>; result: void };
  stop: { args: Record<string, never>; result: void };
  // one batched pass per token: the base model (when `base`) and then each named adapter, a row each;
  // newTokens: tokens generated after the prompt
  generate: { args: { prompt: string; newTokens: number; temperature: number; seed: number; base: boolean; adapters: string[] }; result: GenerateBatchInfo };
  // the base model and the run's adapter on a prompt from the held-out data (or `prompt`)
  sample: { args: { newTokens: number; prompt?: string }; result: SampleInfo };
  // with the primary adapter and the other named ones, scored in one pass
  classify: { args: { text: string; adapters: string[] }; result: ClassifyInfo };
  exportAdapter: { args: Record<string, never>; result: AdapterDownload };
  // a zip (as exportAdapter makes it) or the two PEFT files; name: '' for the default (the file's stem,
  // or "adapter N" for the generic adapter_model.safetensors); the same name replaces
  importAdapter: {
    args: { zip?: Uint8Array; config?: string; safetensors?: Uint8Array; file: string; configFile?: string; name: string };
    result: { entry: AdapterEntry; replaced: boolean; adapters: AdapterEntry[] };
  };
  adapters: { args: Record<string, never>; result: AdapterEntry[] };
  removeAdapter: { args: { name: string }; result: AdapterEntry[] };
  memory: { args: Record<string, never>; result: LedgerReport };
  forget: { args: Record<string, never>; result: void };
  // frees the model, adapters and run (the ledger goes back to where it was before the first load)
  unload: { args: Record<string, never>; result: LedgerReport };
}

export type CommandName = keyof Commands;

export interface Events {
  step: StepDetail & { memory: LedgerReport };
  eval: EvalDetail;
  checkpoint: { step: number; persisted: boolean };
  session: { persisted: boolean; sessionId: string; reason?: string }; // a new run: is it saved in IndexedDB?
  // a checkpoint that could not be saved in the browser (storage full, another tab took the session)
  storage: { step: number; saved: false; message: string; cause: 'quota' | 'taken' | 'other' };
  status: { status: FineTuneStatus; step: number; error?: string; diverged?: Divergence };
  diverge: Divergence; // the run diverged: the loss rose well above its start
  interrupted: Interruption; // the GPU was lost: the run went back to its last checkpoint
  phase: { text: string }; // what a running run is doing before its next step ('' when stepping)
  token: { stream: string; text: string };
  log: { message: string };
}

export type EventName = keyof Events;

export type Request = { [K in CommandName]: { id: number; cmd: K; args: Commands[K]['args'] } }[CommandName];

/** The first message a client sends: the worker holds the lock `lock` for as long as it lives, so the
 * client learns of its end (a crash, close(), termination) when it gets the lock. */
export interface Hello {
  hello: { lock: string };
}

/** The worker's answer to Hello once it holds the lock. */
export interface HelloHeld {
  lockHeld: string;
}

export type Reply =
  | { id: number; ok: true; value: unknown }
  // option: the FineTuneOptions key an OptionError names (the page shows the message beside that field)
  | { id: number; ok: false; error: string; hint?: string; option?: string; code?: string };

export type EventMessage = { [K in EventName]: { event: K; data: Events[K] } }[EventName];

/** The step of the adapter a diverged run kept (0: the base), when the engine says. */
export function keptStep(d: Divergence): number | undefined {
  const k = (d as { kept?: { step: number } }).kept;
  return k ? k.step : d.rolledBackTo;
}
