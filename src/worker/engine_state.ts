// The engine worker's state (one engine per worker): the GPU device, the loaded model, the data,
// the run (a FineTuner), the adapters the user opened, and the saved session it writes to. The
// modules engine_model / engine_run / engine_adapters / engine_try act on it; engine_worker.ts
// answers the protocol's commands with them.
import type { FineTuner } from '../train/finetuner';
import type { PreparedTask, TaskSpec } from '../train/task_source';
import type { ModelRef, StoredAdapter, StoredModel } from '../train/session_store';
import { createGpu, type Gpu } from '../gpu/device';
import type { Model } from '../model/model';
import type { TextTokenizer } from '../formats/tokenizer';
import type { LoraState } from '../adapter/lora';
import type { AdapterTensors } from '../adapter/peft';
import type { ParsedSource } from '../formats/parse';
import type { Backend, EventMessage, Events, Interruption, ModelInfo, ModelSource } from './protocol';

interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((ev: MessageEvent) => void) | null;
}
export const scope = self as unknown as WorkerScope;

export function post<E extends keyof Events>(event: E, data: Events[E]): void {
  scope.postMessage({ event, data } as EventMessage);
}

export interface Loaded {
  model: Model;
  tok: TextTokenizer;
  info: ModelInfo;
  ref: ModelRef;
  blobs: StoredModel | null; // what a saved session keeps of the model
  source: ModelSource; // to load it again (a new device after a lost one)
  fingerprint: string; // of the model's file(s), recorded in checkpoints: a resume on another model is refused
}

/** A model file read and checked (checkModel), not yet on the GPU. */
export interface Checked {
  fingerprint: string;
  parsed: ParsedSource;
  name: string;
  fileBytes: number;
  ref: ModelRef;
  blobs: StoredModel | null;
  source: ModelSource;
  bundled: boolean;
}

export interface OpenedAdapter {
  tensors: AdapterTensors;
  lora: LoraState;
  files: StoredAdapter;
}

export const eng = {
  gpu: null as Gpu | null,
  backend: 'auto' as Backend,
  loaded: null as Loaded | null,
  checked: null as Checked | null,
  data: null as { spec: TaskSpec; seq: number; seed: number; task: PreparedTask } | null,
  tuner: null as FineTuner | null,
  /** The adapters the user opened (PEFT files), by name, in the order opened; Try it compares them. */
  opened: new Map<string, OpenedAdapter>(),
  primaryOpened: null as string | null, // the opened adapter Predict and Download use (null: the run's)
  running: false,
  /** The saved session (IndexedDB) this engine writes: its id, whether writes go there, the last step saved. */
  session: {
    id: '',
    persisted: false,
    savedStep: null as number | null,
    saveProblem: undefined as string | undefined,
    updated: 0, // the stored record's `updated` when this engine last read or wrote it
  },
  interrupted: undefined as Interruption | undefined,
  msPerStep: 0, // the last run's measured wall time per step
};

export async function ensureGpu(): Promise<Gpu> {
  eng.gpu ??= await createGpu({ backend: eng.backend });
  return eng.gpu;
}

/** The backend a device runs on, its threads and its one-line description. */
export function describeGpu(g: Gpu): { backend: 'webgpu' | 'wasm'; describe: string; threads: number } {
  return { backend: g.backend, describe: g.describe(), threads: g.threads };
}

export function needModel(): Loaded {
  if (!eng.loaded) throw new Error('load a model first');
  return eng.loaded;
}

export function notWhileTraining(what: string): void {
  if (eng.running) throw new Error(`${what}: training is running; pause or stop it first`);
}

/** Whether the device is lost; waits up to `ms` for a loss still on its way (device.lost settles late). */
export async function deviceLost(g: Gpu | null, ms = 600): Promise<string | null> {
  if (!g) return null;
  const t0 = performance.now();
  while (!g.lost && performance.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  return g.lost;
}
