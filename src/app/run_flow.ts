// Section 3 of the page: a run started, paused, stopped and resumed; its live numbers and charts;
// a diverged run resumed only with a lower learning rate (asked first); and, when a run ends, its
// result on its own: the change in words, whether more steps would help, and the base model beside
// the adapter on a prompt from the held-out text.
import { EngineError } from '../worker/client';
import { keptStep, type Events, type FineTuneOptions, type RunInfo } from '../worker/protocol';
import { LineChart, loadCharts } from './charts';
import { askLowerLr, busy, clearError, confirmDiscard, currentControl, engine, hooks, refreshMemory, showError, st, ui } from './page';
import { readOptions, rememberStepTime, showStepTime } from './options_form';
import { refreshAdapters } from './try_keep';
import { $, renderMemory, renderResult } from './views';
import { fmtBytes, fmtDuration, fmtRate, fmtStep, resultWords } from './wording';

let lossChart: LineChart;
let evalChart: LineChart;

export async function initCharts(): Promise<void> {
  await loadCharts();
  lossChart = new LineChart($('loss-chart'), {
    yLabel: 'loss',
    series: [
      { label: 'loss', color: '#3b6fd880', width: 1 },
      { label: 'smoothed', color: '#3b6fd8', width: 2 },
    ],
  });
  evalChart = new LineChart($('eval-chart'), { yLabel: '', series: [{ label: 'eval', color: '#e07b00', width: 2, points: true }] });
}

/** The run's live saved-state line (section 5). */
export const saved = { state: 'unknown' as 'unknown' | 'yes' | 'no', step: null as number | null, reason: '' };

export function ema(xs: number[], a = 0.8): number[] {
  let m = xs[0] ?? 0;
  return xs.map((x, i) => (m = i ? a * m + (1 - a) * x : x));
}

export function redrawCharts(): void {
  const xs = st.history.map((p) => p.step + 1);
  const ls = st.history.map((p) => p.loss);
  lossChart.set(xs, [ls, ema(ls)]);
  const cls = st.evals.some((e) => e.accuracy !== undefined);
  $('eval-title').textContent = cls ? 'Held-out accuracy' : 'Held-out loss';
  evalChart.set(
    st.evals.map((e) => e.step),
    [st.evals.map((e) => (cls ? 100 * (e.accuracy ?? 0) : e.loss))],
  );
}

export function setChartSteps(steps: number): void {
  lossChart.setXMax(steps);
  evalChart.setXMax(steps);
}

/** Clears the live numbers of the last run (step time, throughput, time left). */
export function resetStats(): void {
  for (const id of ['st-ms', 'st-rows', 'st-tokens', 'st-eta']) $(id).textContent = '-';
  st.stepClock = null;
  st.liveMs = 0;
}

export function applyRun(r: RunInfo): void {
  st.run = r;
  st.history = r.history.slice();
  st.evals = r.evals.slice();
  saved.step = r.savedStep;
  saved.state = r.persisted ? 'yes' : 'no';
  saved.reason = r.saveProblem ?? (r.persisted ? '' : saved.reason);
  redrawCharts();
  hooks.renderRun();
}

/** The result card of the run that just ended (every run; a task's is its accuracy). */
export async function showResult(scroll: boolean): Promise<void> {
  const run = st.run;
  if (!run || !st.model) return renderResult(ui.result, null, null, null);
  const words = resultWords(st.evals, run, run.msPerStep);
  renderResult(ui.result, words, null, (n) => void trainMore(n));
  if (!words) return;
  if (st.data?.kind === 'lm' && run.hasAdapter) {
    // the page is busy meanwhile (a short generation): nothing else queues behind it unseen
    const sample = await busy('Writing the before / after sample', () => engine.call('sample', { newTokens: 40 }), 'The before / after sample could not be written.');
    if (sample) {
      renderResult(ui.result, words, sample, (n) => void trainMore(n));
      if (ui.tryPrompt.value === ui.tryPrompt.defaultValue) ui.tryPrompt.value = sample.prompt; // Try it starts from the held-out prompt
    }
  }
  if (scroll) ui.result.scrollIntoView({ block: 'start' });
}

async function trainMore(n: number): Promise<void> {
  const steps = $<HTMLInputElement>('opt-steps');
  steps.value = String((st.run?.step ?? 0) + n);
  showStepTime();
  await resumeAsked();
}

/** Resume / Train more: a diverged run first asks for a lower learning rate. */
export async function resumeAsked(): Promise<void> {
  const run = st.run;
  if (run?.diverged) {
    const k = keptStep(run.diverged);
    const lr = await askLowerLr(
      run.lr,
      `This run diverged at step ${run.diverged.step} with learning rate ${run.lr}. It goes on from ${k ? `its adapter of step ${k}` : 'the start'} only with a lower learning rate:`,
    );
    if (lr === null) return;
    return train('resume', lr);
  }
  return train('resume');
}

/** Starts or resumes the run with the form's options (a resumed diverged run with `lr`). */
export async function train(kind: 'start' | 'resume', lr?: number): Promise<void> {
  const near = currentControl();
  clearError();
  let options: FineTuneOptions;
  try {
    options = readOptions();
  } catch (e) {
    return showError(e);
  }
  const before = { run: st.run, history: st.history, evals: st.evals, saved: { ...saved } };
  if (kind === 'start') {
    st.history = [];
    st.evals = [];
    saved.state = 'unknown';
    saved.step = null;
    saved.reason = '';
    resetStats();
    redrawCharts();
  }
  st.engineStopped = null;
  const base: RunInfo = { sessionId: '', history: [], evals: [], hasAdapter: false, persisted: false, savedStep: null, msPerStep: 0, lr: options.lr, diverged: null, status: 'running', step: 0, steps: options.steps };
  st.run = { ...(kind === 'resume' && st.run ? st.run : base), status: 'running', steps: options.steps, diverged: null, interrupted: undefined };
  if (lr !== undefined) st.run.lr = lr;
  st.training = true;
  st.phase = '';
  st.stepClock = null;
  st.liveMs = 0;
  ui.restoreBox.hidden = true;
  renderResult(ui.result, null, null, null);
  hooks.renderRun();
  let measured = 0;
  try {
    const r = await engine.call(kind, kind === 'resume' ? { options, ...(lr !== undefined ? { lr } : {}) } : { options });
    applyRun(r);
    measured = r.msPerStep;
  } catch (e) {
    if (e instanceof EngineError && (e.option || e.code === 'session-busy' || e.code === 'session-taken' || e.code === 'session-stale')) {
      // refused before it began: the page shows what it showed before
      ({ run: st.run, history: st.history, evals: st.evals } = before);
      Object.assign(saved, before.saved);
      redrawCharts();
    } else if (st.run && e instanceof EngineError && e.code === 'engine-stopped') {
      // engine_life.ts said it: the run shows "stopped: the engine stopped"
    } else if (st.run) st.run.status = 'failed';
    if (!(e instanceof EngineError && e.code === 'engine-stopped')) showError(e, near, e instanceof EngineError && e.option ? undefined : kind === 'start' ? 'The run could not start.' : undefined);
  } finally {
    st.training = false;
    st.phase = '';
    $('st-eta').textContent = '-'; // nothing runs: no time left
    if (measured) rememberStepTime(options, measured);
    if (!st.engineStopped) await refreshAdapters(); // the run's adapter, now the one Predict and Download use
    hooks.renderRun();
    void refreshMemory();
  }
  const s = st.run?.status;
  if (!st.engineStopped && (s === 'done' || s === 'diverged')) await showResult(true);
}

/** Forward rows and tokens of one step (2q perturbations x batch rows of seq tokens; a task's candidates aside). */
function rowsPerStep(): { rows: number; tokens: number } | null {
  try {
    const o = readOptions();
    const rows = 2 * o.q * o.batch;
    return { rows, tokens: rows * o.seq };
  } catch {
    return null;
  }
}

export function onStep(d: Events['step']): void {
  if (!st.run) return;
  st.history.push({ step: d.step, loss: d.loss });
  st.run.step = d.step + 1;
  st.run.steps = d.steps;
  lossChart.push(d.step + 1, [d.loss, ema(st.history.map((p) => p.loss)).pop()!]);
  // steps are pipelined (each reports the time since the previous one arrived): the wall clock over
  // the run's steps so far is the time per step, evaluations included
  const now = performance.now();
  const done = d.step + 1;
  if (!st.stepClock) st.stepClock = { t0: now, step0: done };
  const n = done - st.stepClock.step0;
  const was = st.liveMs;
  if (n >= 2) st.liveMs = (now - st.stepClock.t0) / n;
  const ms = st.liveMs;
  $('st-ms').textContent = ms ? fmtStep(ms) : '-';
  const rows = rowsPerStep();
  $('st-rows').textContent = ms && rows ? fmtRate((rows.rows * 1000) / ms) : '-';
  $('st-tokens').textContent = ms && rows ? fmtRate((rows.tokens * 1000) / ms) : '-';
  $('st-eta').textContent = ms ? fmtDuration((d.steps - done) * ms) : '-';
  $('st-mem').textContent = fmtBytes(Object.values(d.memory.current).reduce((a, b) => a + b, 0));
  renderMemory(ui.memory, d.memory);
  if (ms && (!was || n % 10 === 0)) showStepTime();
  hooks.renderRun();
}

export function onEval(e: Events['eval']): void {
  st.evals = [...st.evals.filter((x) => x.step !== e.step), e].sort((a, b) => a.step - b.step);
  redrawCharts();
  hooks.renderRun();
}

/** "New run": asks first, then forgets the run (and its saved session). */
export async function newRun(): Promise<void> {
  const run = st.run;
  if (
    run &&
    !(await confirmDiscard(
      'Discard this run?',
      `The run (step ${run.step} of ${run.steps}), its adapter and its checkpoint saved in this browser will be deleted. Download the adapter first to keep it.`,
      'Discard the run',
    ))
  ) {
    return;
  }
  const ok = await busy('Forgetting the saved session', async () => (await engine.call('forget', {}), true), 'The run could not be discarded.');
  if (!ok) return;
  resetStats();
  st.run = null;
  st.history = [];
  st.evals = [];
  st.engineStopped = null;
  saved.state = 'unknown';
  saved.step = null;
  saved.reason = '';
  ui.restoreBox.hidden = true;
  renderResult(ui.result, null, null, null);
  redrawCharts();
  hooks.renderRun();
  void refreshAdapters(); // the run's adapter went with it
}
