// The page's shared state: what the page knows (model, data, run), its elements, the engine
// client, and the messages (errors with hints, the log line, the busy state).
import type { DataInfo, EvalDetail, ModelInfo, RunInfo } from '../worker/protocol';
import { EngineError, type EngineClient } from './engine_client';
import { $, fmtBytes, renderMemory } from './views';

// ---- page state ----------------------------------------------------------------------------
export const st = {
  gpu: false,
  model: null as ModelInfo | null,
  data: null as DataInfo | null,
  run: null as RunInfo | null, // null: no run in this session
  busy: '' as string, // a command in progress (not training)
  training: false,
  history: [] as { step: number; loss: number }[],
  evals: [] as EvalDetail[],
  recentMs: [] as number[],
  imported: null as string | null, // an adapter the user opened (used by Try it until a run starts)
};

export const ui = {
  gpuInfo: $('gpu-info'),
  noWebgpu: $('no-webgpu'),
  errorBox: $('error-box'),
  restoreBox: $('restore-box'),
  modelFile: $<HTMLInputElement>('model-file'),
  modelDir: $<HTMLInputElement>('model-dir'), // a Hugging Face model folder (webkitdirectory)
  tokFile: $<HTMLInputElement>('tok-file'),
  loadModel: $<HTMLButtonElement>('load-model'),
  demoModel: $<HTMLButtonElement>('demo-model'),
  modelInfo: $('model-info'),
  task: $<HTMLSelectElement>('task'),
  source: $<HTMLSelectElement>('data-source'),
  encoding: $<HTMLSelectElement>('encoding'),
  dataText: $<HTMLTextAreaElement>('data-text'),
  dataFile: $<HTMLInputElement>('data-file'),
  preset: $<HTMLSelectElement>('preset'),
  presetFiles: $<HTMLInputElement>('preset-files'),
  template: $<HTMLInputElement>('template'),
  labels: $<HTMLInputElement>('labels'),
  useData: $<HTMLButtonElement>('use-data'),
  dataSummary: $('data-summary'),
  preview: $('preview'),
  options: $('options'),
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  resume: $<HTMLButtonElement>('resume'),
  stop: $<HTMLButtonElement>('stop'),
  newRun: $<HTMLButtonElement>('new-run'),
  runStatus: $('run-status'),
  progress: $<HTMLProgressElement>('progress'),
  memory: $('memory'),
  tryPrompt: $<HTMLInputElement>('try-prompt'),
  trySteps: $<HTMLInputElement>('try-steps'),
  tryTemp: $<HTMLInputElement>('try-temp'),
  trySeed: $<HTMLInputElement>('try-seed'),
  tryGenerate: $<HTMLButtonElement>('try-generate'),
  outBase: $('out-base'),
  outAdapter: $('out-adapter'),
  clsBox: $('cls-box'),
  clsText: $<HTMLInputElement>('cls-text'),
  clsRun: $<HTMLButtonElement>('cls-run'),
  clsResult: $('cls-result'),
  download: $<HTMLButtonElement>('download'),
  adapterFiles: $<HTMLInputElement>('adapter-files'),
  loadAdapter: $<HTMLButtonElement>('load-adapter'),
  saved: $('saved'),
  log: $('log'),
};

/** The engine worker's client (set once at start-up). */
export let engine: EngineClient;
export function setEngine(e: EngineClient): void {
  engine = e;
}

/** Redraws the controls' enabled states (main.ts installs it). */
export const hooks = { render: (): void => {}, renderRun: (): void => {} };

// ---- messages ------------------------------------------------------------------------------
export function showError(err: unknown): void {
  console.error(err);
  const msg = err instanceof Error ? err.message : String(err);
  $('error-text').textContent = msg;
  $('error-hint').textContent = err instanceof EngineError && err.hint ? err.hint : '';
  ui.errorBox.hidden = false;
}

export function clearError(): void {
  ui.errorBox.hidden = true;
}

export function log(text: string): void {
  ui.log.textContent = text;
}

/** Shows the GPU memory ledger as it is now. */
export async function refreshMemory(): Promise<void> {
  try {
    const r = await engine.call('memory', {});
    renderMemory(ui.memory, r);
    $('st-mem').textContent = fmtBytes(Object.values(r.current).reduce((a, b) => a + b, 0));
  } catch {
    // the ledger is informative only
  }
}

/** Runs a command with the page marked busy; errors go to the error box. */
export async function busy<T>(what: string, body: () => Promise<T>): Promise<T | undefined> {
  clearError();
  st.busy = what;
  log(`${what} ...`);
  hooks.render();
  try {
    const r = await body();
    log('');
    return r;
  } catch (e) {
    log('');
    showError(e);
    return undefined;
  } finally {
    st.busy = '';
    hooks.render();
    void refreshMemory();
  }
}

