// The page's shared state: what the page knows (model, data, run), its elements, the engine
// client, and the messages: an error's first line in plain words with the engine's details folded
// under it, beside the control that caused it; the busy state; the dialogs.
import { EngineError, type WorkerEngine } from '../worker/client';
import { OPTION_HELP, type AdapterEntry, type DataInfo, type EvalDetail, type GpuInfo, type ModelInfo, type RunInfo } from '../worker/protocol';
import { $, renderMemory } from './views';
import { fmtBytes, plainLabel } from './wording';

// ---- page state ----------------------------------------------------------------------------
export const st = {
  gpu: null as GpuInfo | null,
  model: null as ModelInfo | null,
  data: null as DataInfo | null,
  dataKey: '', // the data fields' values when the data was read (a change means: read them again)
  run: null as RunInfo | null, // null: no run in this session
  busy: '' as string, // a command in progress (not training)
  training: false,
  engineStopped: null as { step: number; message: string } | null, // the engine ended under a run
  history: [] as { step: number; loss: number }[],
  evals: [] as EvalDetail[],
  stepClock: null as { t0: number; step0: number } | null, // wall clock of this run's steps (pipelined steps report ~0 ms each)
  liveMs: 0, // wall ms per step of the running run (0: not measured yet)
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
  restoreText: $('restore-text'),
  restoreResume: $<HTMLButtonElement>('restore-resume'),
  runDemo: $<HTMLButtonElement>('run-demo'),
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
  lrChoice: $<HTMLSelectElement>('lr-choice'),
  stepTime: $('step-time'),
  backend: $<HTMLSelectElement>('backend'),
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  resume: $<HTMLButtonElement>('resume'),
  stop: $<HTMLButtonElement>('stop'),
  newRun: $<HTMLButtonElement>('new-run'),
  runStatus: $('run-status'),
  progress: $<HTMLProgressElement>('progress'),
  result: $('result'),
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

/** The engine worker's client (set at start-up, and again when the engine is restarted). */
export let engine: WorkerEngine;
export function setEngine(e: WorkerEngine): void {
  engine = e;
}

/** Redraws the controls' enabled states (main.ts installs them). */
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
 * under the header. `title` is its first line in plain words (what failed); the engine's message
 * and hint follow, folded, when they add something.
 */
export function showError(err: unknown, near: Element | null = lastControl, title?: string): void {
  console.error(err);
  let msg = err instanceof Error ? err.message || err.name : String(err);
  const option = err instanceof FormError || err instanceof EngineError ? err.option : undefined;
  const field = option ? document.getElementById(`opt-box-${option}`) : null;
  if (option && field) {
    const label = plainLabel(option, OPTION_HELP.find((o) => o.key === option)?.label ?? option);
    const problem = err instanceof FormError ? err.problem : msg.replace(new RegExp(`^option ${option} `), '');
    msg = `${label} (${option}) ${problem}`;
    title = undefined;
    (document.getElementById(`opt-${option}`) ?? field.querySelector('input, select'))?.setAttribute('aria-invalid', 'true');
    const adv = field.closest('details');
    if (adv) (adv as HTMLDetailsElement).open = true;
    field.append(ui.errorBox);
  } else {
    const row = near?.closest('.opt, .buttons, .row, .pane, section > div') ?? null;
    if (row?.classList.contains('opt')) row.append(ui.errorBox);
    else if (row) row.after(ui.errorBox);
    else errorHome.after(ui.errorBox);
  }
  const hint = err instanceof EngineError && err.hint ? err.hint : '';
  $('error-text').textContent = title ?? msg;
  $('error-hint').textContent = title ? '' : hint;
  const more = $<HTMLDetailsElement>('error-more');
  more.hidden = !title;
  more.open = false;
  $('error-detail').textContent = title ? [msg, hint].filter(Boolean).join('\n') : '';
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
  clearError(); // an old error does not stay behind a new question
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

/**
 * Asks for a lower learning rate (a diverged run goes on only with one): resolves the number, or
 * null when the person cancelled. The field must hold a number above 0 and below `lr`.
 */
export function askLowerLr(lr: number, text: string): Promise<number | null> {
  const d = $<HTMLDialogElement>('lr-dialog');
  const input = $<HTMLInputElement>('lr-new');
  $('lr-text').textContent = text;
  input.value = String(Number((lr / 10).toPrecision(2)));
  input.max = String(lr);
  const problem = $('lr-problem');
  problem.textContent = '';
  clearError();
  d.returnValue = '';
  document.body.dataset.asking = 'true';
  d.showModal();
  input.select();
  return new Promise((resolve) => {
    const ok = $<HTMLButtonElement>('lr-ok');
    const check = (e: Event) => {
      const v = Number(input.value);
      if (!(Number.isFinite(v) && v > 0 && v < lr)) {
        e.preventDefault();
        problem.textContent = `Give a learning rate above 0 and below ${lr}.`;
      }
    };
    ok.addEventListener('click', check);
    d.addEventListener(
      'close',
      () => {
        ok.removeEventListener('click', check);
        document.body.dataset.asking = 'false';
        resolve(d.returnValue === 'ok' ? Number(input.value) : null);
      },
      { once: true },
    );
  });
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

/**
 * Runs a command with the page marked busy; an error goes to the error box, beside the control
 * used, under `fail` (its first line in plain words) when given.
 */
export async function busy<T>(what: string, body: () => Promise<T>, fail?: string | ((e: unknown) => string)): Promise<T | undefined> {
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
    showError(e, near, typeof fail === 'function' ? fail(e) : fail);
    return undefined;
  } finally {
    st.busy = '';
    hooks.render();
    void refreshMemory();
  }
}
