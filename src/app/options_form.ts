// Section 3's options form: one field per FineTuneOptions key (OPTION_HELP), with the task's
// defaults. A value the form cannot read, or one the engine refuses (an OptionError naming the
// option), is shown beside its field (page.ts showError).
import { defaultOptions, OPTION_HELP, TASK_OVERRIDES, type FineTuneOptions } from '../worker/protocol';
import { FormError, st, ui } from './page';
import { $, h } from './views';

export function buildOptions(): void {
  ui.options.replaceChildren(
    ...OPTION_HELP.map((o) => {
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
      return h('div', { className: 'opt', id: `opt-box-${o.key}` }, h('label', { htmlFor: id, textContent: o.label }), input, h('small', { textContent: o.help }));
    }),
  );
}

/** The task kind the options form holds defaults for (lm, or a classify / choice task). */
let optionsForTask = false;

export function setOptionsForTask(task: boolean): void {
  optionsForTask = task;
}

/** When the person switches between a causal-LM and a classify / choice task, the options whose
 * default depends on it (q, targets, steps, lr) take that task's defaults, as in the CLI. */
export function followTaskDefaults(): void {
  const task = ui.task.value as 'lm' | 'classify' | 'choice';
  if ((task !== 'lm') === optionsForTask) return;
  optionsForTask = task !== 'lm';
  const d = defaultOptions(st.model?.format === 'demo', true, task);
  for (const k of Object.keys(TASK_OVERRIDES) as (keyof FineTuneOptions)[]) $<HTMLInputElement>(`opt-${k}`).value = String(d[k]);
}

export function setOptions(o: FineTuneOptions): void {
  const d = defaultOptions(false); // a session saved before an option existed (e.g. optimizer) shows its default
  for (const { key } of OPTION_HELP) $<HTMLInputElement>(`opt-${key}`).value = String(o[key] ?? d[key]);
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
