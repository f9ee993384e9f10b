// The app page (index.html): private on-device fine-tuning. The page only shows and asks; the
// engine (GPU, model, data, trainer) runs in a Web Worker (src/worker/engine_worker.ts), so the
// page stays responsive during a step. Sections: 1 model, 2 data, 3 train (live charts, memory),
// 4 try it (the base model and every adapter in one batched pass), 5 keep (download / open adapters; sessions persist in IndexedDB).
// Built to dist/app.js (+ app.css, worker.js) by scripts/build.mjs.
import 'uplot/dist/uPlot.min.css';
import { defaultOptions, OPTION_HELP, PRESETS, presetFiles, streamOf, type DataInfo, type Events, type FineTuneOptions, type FineTuneStatus, type ModelInfo, type Restored, type RunInfo, type TaskSpec } from '../worker/protocol';
import { LineChart, loadCharts } from './charts';
import { EngineClient, EngineError } from './engine_client';
import { busy, clearError, confirmDiscard, currentControl, engine, hooks, log, refreshMemory, setEngine, showError, st, ui } from './page';
import { buildOptions, followTaskDefaults, readOptions, setOptions, setOptionsForTask } from './options_form';
import { bindModelInputs, pickedModel, type PickedModel } from './model_pick';
import { download, openAdapter, refreshAdapters, renderTry, streams, tryClassify, tryGenerate } from './try_keep';
import { $, fmtBytes, fmtDuration, fmtRate, h, renderDiverged, renderMemory, renderModel, renderPreview } from './views';

let lossChart: LineChart;
let evalChart: LineChart;

// ---- rendering -----------------------------------------------------------------------------
const STATUS_TEXT: Record<FineTuneStatus, string> = {
  idle: 'ready',
  running: 'training ...',
  pausing: 'pausing at the next checkpoint ...',
  paused: 'paused',
  stopping: 'stopping at the next checkpoint ...',
  done: 'done',
  failed: 'failed',
};

/** The run's status line: its state, a diverged run flagged, and what it does before its next step. */
function statusText(run: RunInfo): string {
  let t = STATUS_TEXT[run.status];
  const back = run.diverged?.rolledBackTo !== undefined ? `, back to its checkpoint of step ${run.diverged.rolledBackTo}` : '';
  if (run.diverged) t = run.status === 'done' ? `diverged at step ${run.diverged.step}: stopped${back}` : `diverged at step ${run.diverged.step}: ${t}`;
  if (st.phase && st.training) t += ` — ${st.phase} ... (${Math.round((performance.now() - st.phaseSince) / 1000)} s)`;
  return t;
}

function render(): void {
  const free = st.gpu && !st.busy && !st.training;
  const run = st.run;
  ui.loadModel.disabled = !free;
  ui.demoModel.disabled = !free;
  ui.useData.disabled = !free || !st.model || !!run; // a run keeps its data: "New run" to change it
  ui.useData.title = run ? 'This run keeps its data: press "New run" to train on other data' : '';
  ui.start.disabled = !free || !st.model || !st.data || !!run;
  ui.pause.disabled = !st.training || run?.status !== 'running';
  ui.stop.disabled = !st.training || run?.status === 'stopping';
  const wanted = Number($<HTMLInputElement>('opt-steps').value);
  ui.resume.disabled = !free || !run || !st.model || !st.data || !(run.step < wanted);
  ui.resume.textContent = run && run.status === 'done' ? 'Train more' : 'Resume';
  ui.newRun.disabled = !free || !run;
  const hasAdapter = !!run?.hasAdapter || st.adapters.length > 0;
  ui.tryGenerate.disabled = !free || !st.model;
  ui.clsRun.disabled = !free || !st.model;
  ui.download.disabled = !free || !hasAdapter;
  ui.loadAdapter.disabled = !free || !st.model;
  for (const o of OPTION_HELP) {
    const locked = !!run && !!o.fixedOnResume;
    $<HTMLInputElement>(`opt-${o.key}`).disabled = locked || st.training;
    $(`opt-box-${o.key}`).classList.toggle('locked', locked);
  }
  for (const id of ['sec-data', 'sec-train', 'sec-try', 'sec-keep']) $(id).classList.toggle('disabled', !st.model);
  ui.runStatus.textContent = run ? `${statusText(run)}${st.busy ? ` — ${st.busy}` : ''}` : st.busy || 'no run yet';
  ui.runStatus.dataset.status = run?.status ?? 'none';
  ui.runStatus.dataset.diverged = run?.diverged ? 'true' : 'false';
  renderDiverged($('diverge-box'), run?.diverged ?? null, Number($<HTMLInputElement>('opt-lr').value));
  ui.clsBox.hidden = !st.data?.classify;
  renderTry(free);
  document.body.dataset.busy = st.busy ? 'true' : 'false';
}

function renderRun(): void {
  const run = st.run;
  const steps = run?.steps || 0;
  const step = run?.step ?? 0;
  ui.progress.max = Math.max(1, steps);
  lossChart.setXMax(steps);
  evalChart.setXMax(steps);
  ui.progress.value = step;
  $('st-step').textContent = run ? `${step} / ${steps}` : '-';
  const last = st.history[st.history.length - 1];
  $('st-loss').textContent = last ? last.loss.toFixed(4) : '-';
  const e = st.evals[st.evals.length - 1];
  $('st-eval').textContent = e ? (e.accuracy !== undefined ? `${(100 * e.accuracy).toFixed(1)}% acc` : `${e.loss.toFixed(4)}`) : '-';
  if (run) {
    ui.saved.textContent =
      savedState === 'unknown'
        ? 'Starting ...'
        : savedState === 'no'
          ? 'This run is not saved in the browser (storage unavailable): download the adapter to keep it.'
          : lastCheckpointStep === null
            ? 'This run is saved in this browser (IndexedDB) at each checkpoint; none yet.'
            : `Saved in this browser (IndexedDB) at step ${lastCheckpointStep}: a reload or a crash resumes here. Nothing was uploaded.`;
  }
  render();
}

/** Clears the live numbers of the last run (step time, throughput, time left). */
function resetStats(): void {
  for (const id of ['st-ms', 'st-rows', 'st-tokens', 'st-eta']) $(id).textContent = '-';
  st.recentMs = [];
}

let lastCheckpointStep: number | null = null;
let savedState: 'unknown' | 'yes' | 'no' = 'unknown'; // is the run in IndexedDB?

function ema(xs: number[], a = 0.8): number[] {
  let m = xs[0] ?? 0;
  return xs.map((x, i) => (m = i ? a * m + (1 - a) * x : x));
}

function redrawCharts(): void {
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

function applyRun(r: RunInfo): void {
  st.run = r;
  st.history = r.history.slice();
  st.evals = r.evals.slice();
  redrawCharts();
  renderRun();
}

// ---- 1 model -------------------------------------------------------------------------------
async function onModelLoaded(m: ModelInfo): Promise<void> {
  resetStats();
  st.model = m;
  st.adapters = []; // the worker drops the adapters of the previous model
  st.data = null;
  st.run = null;
  st.history = [];
  st.evals = [];
  renderModel(ui.modelInfo, m);
  renderMemory(ui.memory, m.memory);
  $('st-mem').textContent = fmtBytes(m.gpuBytes);
  setOptions(defaultOptions(m.format === 'demo'));
  setOptionsForTask(false);
  ui.preview.replaceChildren();
  ui.dataSummary.textContent = 'choose the data, then press "Use this data"';
  lastCheckpointStep = null;
  ui.saved.textContent = 'Nothing saved yet. Training checkpoints are kept in this browser (IndexedDB), so a reload or a crash resumes where it stopped.';
  if (m.format === 'demo') {
    ui.task.value = 'lm';
    ui.source.value = 'demo';
    showSource();
  }
  redrawCharts();
  renderRun();
}

/** Loading a model closes the run: asks first when there is one. */
async function keepRunOrClose(what: string): Promise<boolean> {
  const run = st.run;
  if (!run) return true;
  return confirmDiscard(
    'Load another model?',
    `Loading ${what} closes the current run (step ${run.step} of ${run.steps}) and its adapter. Its last checkpoint stays saved in this browser until you start a new run; download the adapter first to keep it.`,
    'Load and close the run',
  );
}

async function loadFiles(): Promise<void> {
  let pick: PickedModel;
  try {
    pick = pickedModel();
  } catch (e) {
    return showError(e);
  }
  if (!(await keepRunOrClose(pick.label))) return;
  const m = await busy(`Loading ${pick.label} (${fmtBytes(pick.bytes)})`, () => engine.call('loadModel', { source: pick.source }));
  if (m) await onModelLoaded(m);
}

// ---- 2 data --------------------------------------------------------------------------------
function showSource(): void {
  const s = ui.source.value;
  $('src-paste').hidden = s !== 'paste';
  $('src-file').hidden = s !== 'file';
  $('src-preset').hidden = s !== 'preset';
  $('src-demo').hidden = s !== 'demo';
  if (s === 'preset') ui.task.value = 'classify';
  if (s === 'demo') ui.task.value = 'lm';
  $('cls-fields').hidden = ui.task.value !== 'classify' || s === 'preset';
  const p = PRESETS[ui.preset.value];
  if (p) {
    $('preset-need').textContent = `(open ${presetFiles(p.name).join(' and ')} from the ${p.name} data folder)`;
    $('preset-desc').textContent = `${p.description}. Template ${JSON.stringify(p.template)}, label words ${p.labelWords.map((w) => JSON.stringify(w)).join(', ')}.`;
  }
}

async function readSpec(o: FineTuneOptions): Promise<TaskSpec> {
  const task = ui.task.value as TaskSpec['task'];
  const spec: TaskSpec = { task, encoding: ui.encoding.value as 'utf-8' | 'latin1', trainSize: o.trainSize, evalSize: o.evalSize };
  const src = ui.source.value;
  if (src === 'paste') {
    if (!ui.dataText.value.trim()) throw new Error('Paste some text first.');
    spec.text = ui.dataText.value;
  } else if (src === 'file') {
    const f = ui.dataFile.files?.[0];
    if (!f) throw new Error('Open a data file first.');
    spec.files = [{ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) }];
  } else if (src === 'preset') {
    spec.preset = ui.preset.value;
    spec.task = 'classify';
    const files = [...(ui.presetFiles.files ?? [])];
    if (!files.length) throw new Error(`Open the preset's data files: ${presetFiles(spec.preset).join(', ')}.`);
    spec.files = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  } else {
    spec.demo = true;
    spec.task = 'lm';
  }
  if (spec.task === 'classify' && !spec.preset) {
    spec.template = ui.template.value;
    spec.labels = ui.labels.value.split(',');
  }
  return spec;
}

function showData(d: DataInfo): void {
  st.data = d;
  ui.dataSummary.textContent = d.describe;
  renderPreview(ui.preview, d);
  render();
}

async function useData(): Promise<void> {
  const d = await busy('Reading the data', async () => {
    const o = readOptions();
    const spec = await readSpec(o);
    return engine.call('prepareData', { spec, seq: o.seq, seed: o.seed, batch: o.batch });
  });
  if (d) showData(d);
}

// ---- 3 train -------------------------------------------------------------------------------
async function train(kind: 'start' | 'resume'): Promise<void> {
  const near = currentControl();
  clearError();
  let options: FineTuneOptions;
  try {
    options = readOptions();
  } catch (e) {
    return showError(e);
  }
  const before = { run: st.run, history: st.history, evals: st.evals, lastCheckpointStep, savedState };
  if (kind === 'start') {
    st.history = [];
    st.evals = [];
    lastCheckpointStep = null;
    savedState = 'unknown';
    resetStats();
    redrawCharts();
  }
  st.run = { ...(st.run ?? { history: [], evals: [], hasAdapter: false, persisted: false }), status: 'running', step: st.run?.step ?? 0, steps: options.steps, diverged: null };
  st.training = true;
  st.phase = '';
  st.recentMs = [];
  ui.restoreBox.hidden = true;
  renderRun();
  try {
    const r = await engine.call(kind, { options });
    applyRun(r);
  } catch (e) {
    if (e instanceof EngineError && e.option) {
      // refused before it began: the page shows what it showed before
      ({ run: st.run, history: st.history, evals: st.evals, lastCheckpointStep, savedState } = before);
      redrawCharts();
    } else if (st.run) st.run.status = 'failed';
    showError(e, near);
  } finally {
    await refreshAdapters(); // the run's adapter, now the one Predict and Download use: listed before Generate is enabled
    st.training = false;
    st.phase = '';
    renderRun();
    void refreshMemory();
  }
}

function onStep(d: Events['step']): void {
  if (!st.run) return;
  st.history.push({ step: d.step, loss: d.loss });
  st.run.step = d.step + 1;
  st.run.steps = d.steps;
  lossChart.push(d.step + 1, [d.loss, ema(st.history.map((p) => p.loss)).pop()!]);
  st.recentMs.push(d.ms);
  if (st.recentMs.length > 10) st.recentMs.shift();
  const ms = [...st.recentMs].sort((a, b) => a - b)[st.recentMs.length >> 1];
  $('st-ms').textContent = `${d.ms.toFixed(0)} ms`;
  $('st-rows').textContent = fmtRate(d.rowsPerSecond);
  $('st-tokens').textContent = fmtRate(d.tokensPerSecond);
  $('st-eta').textContent = fmtDuration((d.steps - d.step - 1) * ms);
  $('st-mem').textContent = fmtBytes(Object.values(d.memory.current).reduce((a, b) => a + b, 0));
  renderMemory(ui.memory, d.memory);
  renderRun();
}

function onEval(e: Events['eval']): void {
  st.evals = [...st.evals.filter((x) => x.step !== e.step), e].sort((a, b) => a.step - b.step);
  redrawCharts();
  renderRun();
}

// ---- 5 keep --------------------------------------------------------------------------------
async function newRun(): Promise<void> {
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
  await busy('Forgetting the saved session', () => engine.call('forget', {}));
  resetStats();
  st.run = null;
  st.history = [];
  st.evals = [];
  lastCheckpointStep = null;
  redrawCharts();
  renderRun();
  void refreshAdapters(); // the run's adapter went with it
  ui.saved.textContent = 'Nothing saved yet. Training checkpoints are kept in this browser (IndexedDB), so a reload or a crash resumes where it stopped.';
}

// ---- restore -------------------------------------------------------------------------------
function restoreSpecUi(spec: TaskSpec): void {
  ui.task.value = spec.task ?? (spec.preset ? 'classify' : 'lm');
  setOptionsForTask(ui.task.value !== 'lm'); // the restored options are the run's own
  ui.source.value = spec.demo ? 'demo' : spec.preset ? 'preset' : spec.text !== undefined ? 'paste' : 'file';
  if (spec.text !== undefined) ui.dataText.value = spec.text;
  if (spec.preset) ui.preset.value = spec.preset;
  if (spec.template) ui.template.value = spec.template;
  if (spec.labels) ui.labels.value = spec.labels.join(',');
  if (spec.encoding) ui.encoding.value = spec.encoding;
  showSource();
}

async function restore(r: Restored): Promise<void> {
  if (r.model) {
    await onModelLoaded(r.model);
    if (r.modelRef.kind !== 'demo') ui.modelInfo.prepend(h('div', {}, h('dt', { textContent: 'opened from' }), h('dd', { textContent: 'saved in this browser' })));
  }
  restoreSpecUi(r.spec);
  setOptions(r.options);
  if (r.data) showData(r.data);
  if (r.spec.files?.length && !r.spec.preset) ui.dataSummary.textContent = `${r.data?.describe ?? ''} (from ${r.spec.files[0].name}, kept in this browser)`;
  lastCheckpointStep = r.run.step;
  savedState = 'yes';
  applyRun(r.run);
  const n = r.openedAdapters ?? 0;
  const what = (r.run.status === 'done' ? `finished at step ${r.run.step}` : `at step ${r.run.step} of ${r.run.steps}`) + (n ? `, with the ${n === 1 ? 'adapter' : `${n} adapters`} you opened` : '');
  ui.restoreBox.replaceChildren(`Restored your last fine-tuning session from this browser: ${r.modelRef.kind === 'demo' ? 'the demo model' : r.modelRef.name}, ${what}.`);
  if (r.error) ui.restoreBox.append(h('span', { className: 'hint', textContent: r.error }));
  ui.restoreBox.hidden = false;
  ui.restoreBox.dataset.step = String(r.run.step);
  await refreshAdapters();
}

// ---- start-up ------------------------------------------------------------------------------
function bind(): void {
  bindModelInputs();
  ui.loadModel.onclick = () => void loadFiles();
  ui.demoModel.onclick = async () => {
    if (!(await keepRunOrClose('the demo model'))) return;
    const m = await busy('Loading the built-in demo model', () => engine.call('loadModel', { source: { kind: 'demo' } }));
    if (m) await onModelLoaded(m);
  };
  ui.source.onchange = () => (showSource(), followTaskDefaults());
  ui.task.onchange = () => (showSource(), followTaskDefaults());
  ui.preset.onchange = showSource;
  ui.useData.onclick = () => void useData();
  ui.start.onclick = () => void train('start');
  ui.resume.onclick = () => void train('resume');
  ui.pause.onclick = () => {
    if (st.run) st.run.status = 'pausing';
    renderRun();
    void engine.call('pause', {});
  };
  ui.stop.onclick = () => {
    if (st.run) st.run.status = 'stopping';
    renderRun();
    void engine.call('stop', {});
  };
  ui.newRun.onclick = () => void newRun();
  $('opt-steps').addEventListener('input', render);
  ui.tryGenerate.onclick = () => void tryGenerate();
  ui.clsRun.onclick = () => void tryClassify();
  ui.download.onclick = () => void download();
  ui.loadAdapter.onclick = () => void openAdapter();
  ui.tryBase.onchange = () => (ui.tryBase.checked ? st.unticked.delete(streamOf(null)) : st.unticked.add(streamOf(null)), render());
  engine.on('step', onStep);
  engine.on('eval', onEval);
  engine.on('status', (s) => {
    if (!st.run) return;
    st.run.status = s.status;
    if (s.diverged) st.run.diverged = s.diverged;
    if (s.status === 'paused' || s.status === 'done') st.run.hasAdapter = true;
    renderRun();
  });
  engine.on('session', (x) => {
    savedState = x.persisted ? 'yes' : 'no';
    renderRun();
  });
  engine.on('checkpoint', (c) => {
    lastCheckpointStep = c.step;
    savedState = c.persisted ? 'yes' : 'no';
    if (st.run) (st.run.persisted = c.persisted), (st.run.hasAdapter = true);
    renderRun();
  });
  engine.on('diverge', (d) => {
    if (st.run) st.run.diverged = d;
    renderRun();
  });
  engine.on('phase', (p) => {
    st.phase = p.text;
    st.phaseSince = performance.now();
    render();
  });
  setInterval(() => st.phase && st.training && render(), 1000); // the phase's seconds
  engine.on('token', (t) => streams[t.stream]?.append(t.text));
  engine.on('log', (l) => log(l.message));
}

async function main(): Promise<void> {
  hooks.render = render;
  hooks.renderRun = renderRun;
  buildOptions();
  setOptions(defaultOptions(false));
  ui.preset.replaceChildren(...Object.values(PRESETS).map((p) => h('option', { value: p.name, textContent: p.name })));
  showSource();
  await loadCharts();
  lossChart = new LineChart($('loss-chart'), {
    yLabel: 'loss',
    series: [
      { label: 'loss', color: '#3b6fd880', width: 1 },
      { label: 'smoothed', color: '#3b6fd8', width: 2 },
    ],
  });
  evalChart = new LineChart($('eval-chart'), { yLabel: '', series: [{ label: 'eval', color: '#e07b00', width: 2, points: true }] });
  render();
  if (!('gpu' in navigator) || !navigator.gpu) {
    ui.noWebgpu.hidden = false;
    ui.noWebgpu.textContent = window.isSecureContext
      ? 'This browser has no WebGPU, which the fine-tuning engine needs. Use a current Chrome or Edge (113 or newer) on a device with a supported GPU; on Linux, start Chrome with --enable-unsafe-webgpu. chrome://gpu shows whether WebGPU is available.'
      : 'WebGPU needs a secure context: open this page from http://localhost or http://127.0.0.1 (npm start prints the address), or over https.';
    ui.gpuInfo.textContent = 'No WebGPU';
    ui.gpuInfo.className = 'bad';
    return;
  }
  // The worker starts with the page, so its script is part of the initial load.
  setEngine(new EngineClient(new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'mobizo-engine' })));
  bind();
  try {
    const g = await engine.call('init', {});
    st.gpu = true;
    ui.gpuInfo.textContent = `GPU: ${g.adapterInfo} · largest buffer ${fmtBytes(g.limits.maxStorageBufferBindingSize)}`;
    ui.gpuInfo.className = 'ok';
    ui.gpuInfo.dataset.ready = 'true';
  } catch (e) {
    ui.gpuInfo.textContent = 'No GPU adapter';
    ui.gpuInfo.className = 'bad';
    showError(e);
    return;
  }
  render();
  const r = await busy('Looking for a saved session', () => engine.call('restore', {}));
  if (r) await restore(r);
  document.body.dataset.ready = 'true';
}

// For tests and curious users: what the page shows, as data.
(window as unknown as { mobizo: unknown }).mobizo = {
  get state() {
    const r = st.run;
    return { status: r?.status ?? 'none', step: r?.step ?? 0, steps: r?.steps ?? 0, history: st.history, evals: st.evals, busy: st.busy, training: st.training, diverged: r?.diverged ?? null, phase: st.phase };
  },
};

void main();
