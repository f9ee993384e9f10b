// The page's shared state: what the page knows (model, data, run), its elements, the engine
// client, and the messages (errors with hints, the log line, the busy state).
import { OPTION_HELP, type AdapterEntry, type DataInfo, type EvalDetail, type ModelInfo, type RunInfo } from '../worker/protocol';
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
  phase: '' as string, // what a running run does before its next step (first evaluation, compiling)
  phaseSince: 0, // performance.now() when the phase began
  adapters: [] as AdapterEntry[], // the worker's adapters (the run's, the opened ones): a column each in Try it
  unticked: new Set<string>(), // the streams (columns) of Try it the person left out
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
  tryBase: $<HTMLInputElement>('try-base'),
  tryPanes: $('try-panes'),
  trySummary: $('try-summary'),
  outBase: $('out-base'),
  clsBox: $('cls-box'),
  clsText: $<HTMLInputElement>('cls-text'),
  clsRun: $<HTMLButtonElement>('cls-run'),
  clsResult: $('cls-result'),
  download: $<HTMLButtonElement>('download'),
  adapterFiles: $<HTMLInputElement>('adapter-files'),
  adapterName: $<HTMLInputElement>('adapter-name'),
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
/** A form field the page could not read: `option` is the FineTuneOptions key (its #opt-box). */
export class FormError extends Error {
  constructor(
    readonly option: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

/** The control the person used last (a click or a change; not in a dialog): an error goes beside it. */
let lastControl: Element | null = null;
for (const type of ['click', 'change']) {
  document.addEventListener(
    type,
    (e) => {
      const c = (e.target as Element | null)?.closest?.('button, input, select, textarea, summary');
      if (c && !c.closest('dialog')) lastControl = c;
    },
    true,
  );
}

/** The control an error of what the person does now belongs to (take it before awaiting). */
export function currentControl(): Element | null {
  return lastControl;
}

/** Where the error box sits when no control caused the error (under the header). */
const errorHome = document.createComment('error box home');
ui.errorBox.before(errorHome);

/**
 * Shows an error beside what caused it, scrolled into view: the option field an OptionError (or
 * an unreadable field) names, else the row of `near` (by default the control used last), else
 * under the header.
 */
export function showError(err: unknown, near: Element | null = lastControl): void {
  console.error(err);
  let msg = err instanceof Error ? err.message : String(err);
  const option = err instanceof FormError || err instanceof EngineError ? err.option : undefined;
  const field = option ? document.getElementById(`opt-box-${option}`) : null;
  if (option && field) {
    const label = OPTION_HELP.find((o) => o.key === option)?.label ?? option;
    const problem = err instanceof FormError ? err.problem : msg.replace(new RegExp(`^option ${option} `), '');
    msg = `${label} (${option}) ${problem}`;
    field.querySelector('input, select')?.setAttribute('aria-invalid', 'true');
    field.append(ui.errorBox);
  } else {
    const row = near?.closest('.opt, .buttons, .row, .pane, section > div') ?? null;
    if (row?.classList.contains('opt')) row.append(ui.errorBox);
    else if (row) row.after(ui.errorBox);
    else errorHome.after(ui.errorBox);
  }
  $('error-text').textContent = msg;
  $('error-hint').textContent = err instanceof EngineError && err.hint ? err.hint : '';
  ui.errorBox.hidden = false;
  ui.errorBox.scrollIntoView({ block: 'center' });
}

export function clearError(): void {
  ui.errorBox.hidden = true;
  for (const e of document.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

/**
 * Asks before something is thrown away (a run, its checkpoint): a modal dialog whose Cancel (or
 * Escape) keeps everything. Resolves true when the person confirmed.
 */
export function confirmDiscard(title: string, text: string, ok: string): Promise<boolean> {
  const d = $<HTMLDialogElement>('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = ok;
  d.returnValue = '';
  document.body.dataset.asking = 'true';
  d.showModal();
  $('confirm-cancel').focus();
  return new Promise((resolve) =>
    d.addEventListener(
      'close',
      () => {
        document.body.dataset.asking = 'false'; // what follows the answer starts before the next task
        resolve(d.returnValue === 'ok');
      },
      { once: true },
    ),
  );
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

/** Runs a command with the page marked busy; errors go to the error box, beside the control used. */
export async function busy<T>(what: string, body: () => Promise<T>): Promise<T | undefined> {
  const near = lastControl;
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
    showError(e, near);
    return undefined;
  } finally {
    st.busy = '';
    hooks.render();
    void refreshMemory();
  }
}

