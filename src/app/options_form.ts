// The run's options: Steps and the learning rate in view beside Start (with the time per step
// measured on this device), every other option folded under "Advanced", in plain words with its
// default explained. One field per FineTuneOptions key (OPTION_HELP); a value the form cannot
// read, or one the engine refuses (an OptionError naming the option), shows beside its field.
import { defaultOptions, OPTION_HELP, TASK_OVERRIDES, type FineTuneOptions, type OptionHelp } from '../worker/protocol';
import { FormError, st, ui } from './page';
import { $, h } from './views';
import { defaultWhy, fmtDuration, fmtStep, PLAIN } from './wording';

/** The options beside Start; the rest are under Advanced. */
const IN_VIEW: (keyof FineTuneOptions)[] = ['steps', 'lr'];

/** The learning rates offered by name (the field takes any other). */
const LR_CHOICES = [
  { value: 1e-3, text: '1e-3: careful' },
  { value: 3e-3, text: '3e-3: usual' },
  { value: 1e-2, text: '1e-2: bold (may diverge)' },
];

function field(o: OptionHelp): HTMLElement {
  const id = `opt-${o.key}`;
  let input: HTMLInputElement | HTMLSelectElement;
  if (o.kind === 'choice') {
    input = h('select', { id }, ...o.choices!.map((m) => h('option', { value: m, textContent: m })));
  } else {
    input = h('input', { id, type: o.kind === 'targets' ? 'text' : 'number' });
    if (o.kind !== 'targets') {
      if (o.min !== undefined) input.min = String(o.min);
      input.step = o.kind === 'int' ? '1' : 'any';
    }
  }
  const plain = PLAIN[o.key];
  return h(
    'div',
    { className: 'opt', id: `opt-box-${o.key}` },
    h('label', { htmlFor: id, textContent: plain?.label ?? o.label }),
    input,
    h('small', { textContent: plain?.help ?? o.help }),
    h('small', { className: 'default', id: `opt-default-${o.key}` }),
  );
}

export function buildOptions(): void {
  const quick = $('quick-options');
  for (const key of IN_VIEW) {
    const o = OPTION_HELP.find((x) => x.key === key)!;
    const box = field(o);
    if (key === 'lr') {
      const input = box.querySelector('input')!;
      const pair = h('div', { className: 'pair' });
      input.replaceWith(pair);
      pair.append(ui.lrChoice, input);
      ui.lrChoice.replaceChildren(...LR_CHOICES.map((c) => h('option', { value: String(c.value), textContent: c.text })), h('option', { value: 'other', textContent: 'another value:' }));
    }
    quick.append(box);
  }
  ui.options.replaceChildren(...OPTION_HELP.filter((o) => !IN_VIEW.includes(o.key)).map(field));
  const lr = $<HTMLInputElement>('opt-lr');
  ui.lrChoice.onchange = () => {
    if (ui.lrChoice.value !== 'other') lr.value = ui.lrChoice.value;
    else lr.focus();
    showStepTime();
  };
  lr.addEventListener('input', followLr);
  lr.addEventListener('change', followLr);
  $('opt-steps').addEventListener('input', showStepTime);
}

/** The choice list follows the field (a typed value that is one of the choices selects it). */
function followLr(): void {
  const v = Number($<HTMLInputElement>('opt-lr').value);
  const c = LR_CHOICES.find((x) => x.value === v);
  ui.lrChoice.value = c ? String(c.value) : 'other';
}

/** The task kind the options form holds defaults for (lm, or a classify / choice task). */
let optionsForTask = false;

export function setOptionsForTask(task: boolean): void {
  optionsForTask = task;
}

/** Each option's default, and why, under its field. */
function showDefaults(): void {
  const d = defaultOptions(!!st.model?.bundled, true, optionsForTask ? 'classify' : 'lm');
  for (const { key } of OPTION_HELP) $(`opt-default-${key}`).textContent = defaultWhy(key, d[key], { demo: !!st.model?.bundled, task: optionsForTask });
}

/** When the person switches between a causal-LM and a classify / choice task, the options whose
 * default depends on it (q, targets, steps, lr) take that task's defaults, as in the CLI. */
export function followTaskDefaults(): void {
  const task = ui.task.value as 'lm' | 'classify' | 'choice';
  if ((task !== 'lm') === optionsForTask) return;
  optionsForTask = task !== 'lm';
  const d = defaultOptions(!!st.model?.bundled, true, task);
  for (const k of Object.keys(TASK_OVERRIDES) as (keyof FineTuneOptions)[]) $<HTMLInputElement>(`opt-${k}`).value = String(d[k]);
  followLr();
  showDefaults();
  showStepTime();
}

export function setOptions(o: FineTuneOptions): void {
  const d = defaultOptions(false); // a session saved before an option existed (e.g. optimizer) shows its default
  for (const { key } of OPTION_HELP) $<HTMLInputElement>(`opt-${key}`).value = String(o[key] ?? d[key]);
  followLr();
  showDefaults();
  showStepTime();
}

/** The form's options; a field it cannot read throws a FormError naming that field. */
export function readOptions(): FineTuneOptions {
  const out: Record<string, unknown> = {};
  for (const o of OPTION_HELP) {
    const raw = $<HTMLInputElement>(`opt-${o.key}`).value.trim();
    if (o.kind === 'choice' || o.kind === 'targets') {
      if (!raw) throw new FormError(o.key, 'is empty');
      out[o.key] = raw;
      continue;
    }
    const v = Number(raw);
    if (raw === '' || !Number.isFinite(v) || (o.kind === 'int' && !Number.isInteger(v)) || (o.min !== undefined && v < o.min)) {
      throw new FormError(o.key, `must be ${o.kind === 'int' ? 'an integer' : 'a number'}${o.min !== undefined ? ` >= ${o.min}` : ''}, got "${raw}"`);
    }
    out[o.key] = v;
  }
  return out as unknown as FineTuneOptions;
}

// ---- the time per step, measured on this device ----------------------------------------------
const TIMES = 'mobizo-step-times';

/** What makes a step's time: the model and the shape of a step. */
function shapeKey(o: Pick<FineTuneOptions, 'batch' | 'seq' | 'q' | 'mode' | 'rank' | 'targets'>): string {
  return [st.model?.name ?? '', st.gpu?.backend ?? '', o.batch, o.seq, o.q, o.mode, o.rank, o.targets].join('|');
}

function readTimes(): Record<string, number> {
  try {
    return JSON.parse(localStorage.getItem(TIMES) ?? '{}') as Record<string, number>;
  } catch {
    return {};
  }
}

/** Keeps the time per step measured for this model and shape (the next run's estimate). */
export function rememberStepTime(o: FineTuneOptions, ms: number): void {
  if (!(ms > 0)) return;
  try {
    localStorage.setItem(TIMES, JSON.stringify({ ...readTimes(), [shapeKey(o)]: ms }));
  } catch {
    // no storage: the estimate waits for the run
  }
  showStepTime();
}

/** Under Steps: the time per step measured here for this model and shape, and what the steps take. */
export function showStepTime(): void {
  let o: FineTuneOptions;
  try {
    o = readOptions();
  } catch {
    return;
  }
  const live = st.training ? st.liveMs : 0;
  const ms = live || readTimes()[shapeKey(o)] || 0;
  ui.stepTime.textContent = !st.model
    ? ''
    : ms > 0
      ? `${fmtStep(ms)} per step, measured on this device: ${o.steps} steps take about ${fmtDuration(o.steps * ms)}.`
      : 'The time per step is measured on this device when training starts.';
  ui.stepTime.dataset.ms = String(Math.round(ms));
}
