// The app page (index.html): private on-device fine-tuning. The page only shows and asks; the
// engine (device, model, data, trainer) runs in a Web Worker (src/worker/engine_worker.ts, driven
// through src/worker/client.ts), so the page stays responsive during a step. The one-click demo
// trains the bundled stories260K on the built-in keeper's log and shows the result on its own.
// Sections: 1 model, 2 data and training (Steps, learning rate and Start together; everything else
// under Advanced), 3 progress and result, 4 try it, 5 keep (one zip; sessions persist in IndexedDB).
// Built to dist/app.js (+ app.css, worker.js) by scripts/build.mjs.
import 'uplot/dist/uPlot.min.css';
import type { WorkerEngine } from '../worker/client';
import { BACKENDS, defaultOptions, OPTION_HELP, PRESETS, presetFiles, streamOf, type Backend, type DataInfo, type ModelInfo, type ModelSource, type Restored, type TaskSpec } from '../worker/protocol';
import { busy, clearError, confirmDiscard, engine, hooks, log, showError, st, ui } from './page';
import { buildOptions, followTaskDefaults, readOptions, setOptions, setOptionsForTask } from './options_form';
import { bindModelInputs, pickedModel } from './model_pick';
import { download, openAdapter, refreshAdapters, renderTry, streams, tryClassify, tryGenerate } from './try_keep';
import { applyRun, initCharts, newRun, onEval, onStep, redrawCharts, resetStats, resumeAsked, saved, setChartSteps, showResult, train } from './run_flow';
import { engineStopped, saveBackend, savedBackend, startEngine } from './engine_life';
import { $, h, renderDiverged, renderMemory, renderModel, renderPreview, renderResult } from './views';
import { fmtBytes, modelErrorTitle, statusLine } from './wording';

// ---- rendering -----------------------------------------------------------------------------
function render(): void {
  const free = !!st.gpu && !st.busy && !st.training;
  const run = st.run;
  const resumable = !!run && !!st.model && !!st.data && (run.status === 'paused' || run.status === 'done' || run.status === 'diverged' || run.status === 'failed' || run.status === 'idle');
  const hasFile = !!(ui.modelFile.files?.length || ui.modelDir.files?.length);
  ui.loadModel.disabled = !free || !hasFile;
  ui.loadModel.classList.toggle('secondary', !hasFile); // the primary button once there is a file to load
  ui.demoModel.disabled = !free;
  ui.runDemo.disabled = !free;
  ui.useData.disabled = !free || !st.model || !!run; // a run keeps its data: "New run" to change it
  ui.useData.title = run ? 'This run keeps its data: press "New run" to train on other data' : '';
  ui.start.disabled = !free || !st.model || !!run;
  ui.pause.disabled = !st.training || run?.status !== 'running';
  ui.stop.disabled = !st.training || run?.status === 'stopping';
  const wanted = Number($<HTMLInputElement>('opt-steps').value);
  ui.resume.disabled = !free || !resumable || (!run.diverged && !(run.step < wanted));
  ui.resume.textContent = run && (run.status === 'done' || run.status === 'diverged') ? 'Train more' : 'Resume';
  ui.restoreResume.disabled = ui.resume.disabled;
  ui.restoreResume.textContent = ui.resume.textContent;
  ui.newRun.disabled = !free || !run;
  const hasAdapter = !!run?.hasAdapter || st.adapters.length > 0;
  ui.tryGenerate.disabled = !free || !st.model;
  ui.clsRun.disabled = !free || !st.model;
  ui.download.disabled = !free || !hasAdapter;
  ui.loadAdapter.disabled = !free || !st.model;
  ui.backend.disabled = st.training || !!st.busy;
  for (const o of OPTION_HELP) {
    const locked = !!run && !!o.fixedOnResume;
    $<HTMLInputElement>(`opt-${o.key}`).disabled = locked || st.training;
    $(`opt-box-${o.key}`).classList.toggle('locked', locked);
  }
  ui.lrChoice.disabled = !!run || st.training;
  for (const id of ['sec-data', 'sec-train', 'sec-try', 'sec-keep']) $(id).classList.toggle('disabled', !st.model);
  let status = run ? statusLine(run, st.engineStopped) : 'no run yet';
  if (run && st.phase && st.training) status += ` \u2014 ${st.phase} ... (${Math.round((performance.now() - st.phaseSince) / 1000)} s)`;
  if (st.busy) status = run ? `${status} \u2014 ${st.busy}` : st.busy;
  ui.runStatus.textContent = status;
  ui.runStatus.dataset.status = st.engineStopped ? 'engine-stopped' : (run?.status ?? 'none');
  ui.runStatus.dataset.diverged = run?.diverged ? 'true' : 'false';
  renderDiverged($('diverge-box'), run?.diverged ?? null, run?.lr ?? Number($<HTMLInputElement>('opt-lr').value));
  ui.clsBox.hidden = !st.data?.classify;
  renderTry(free);
  document.body.dataset.busy = st.busy ? 'true' : 'false';
}

function renderRun(): void {
  const run = st.run;
  const steps = run?.steps || 0;
  const step = run?.step ?? 0;
  ui.progress.max = Math.max(1, steps);
  setChartSteps(steps);
  ui.progress.value = step;
  $('st-step').textContent = run ? `${step} / ${steps}` : '-';
  const last = st.history[st.history.length - 1];
  $('st-loss').textContent = last ? last.loss.toFixed(4) : '-';
  const e = st.evals[st.evals.length - 1];
  $('st-eval').textContent = e ? (e.accuracy !== undefined ? `${(100 * e.accuracy).toFixed(1)}% acc` : `${e.loss.toFixed(4)}`) : '-';
  if (!st.training) $('st-eta').textContent = '-';
  if (run) {
    ui.saved.textContent =
      saved.state === 'unknown'
        ? 'Starting ...'
        : saved.state === 'no'
          ? `This run is not saved in the browser${saved.reason ? ` (${saved.reason})` : ''}: download the adapter to keep it.`
          : saved.reason
            ? saved.reason
            : saved.step === null
              ? 'This run is saved in this browser (IndexedDB) at each checkpoint; none yet.'
              : `Saved in this browser (IndexedDB) at step ${saved.step}: a reload or a crash resumes here. Nothing was uploaded.`;
    ui.saved.dataset.state = saved.reason ? 'problem' : saved.state;
  }
  render();
}

// ---- 1 model -------------------------------------------------------------------------------
async function onModelLoaded(m: ModelInfo): Promise<void> {
  resetStats();
  st.model = m;
  st.adapters = []; // the worker drops the adapters of the previous model
  st.data = null;
  st.dataKey = '';
  st.run = null;
  st.history = [];
  st.evals = [];
  st.engineStopped = null;
  renderModel(ui.modelInfo, m);
  renderMemory(ui.memory, m.memory);
  renderResult(ui.result, null, null, null);
  ui.restoreBox.hidden = true;
  $('st-mem').textContent = fmtBytes(m.gpuBytes);
  ui.task.value = 'lm';
  setOptionsForTask(false);
  setOptions(defaultOptions(m.bundled));
  ui.preview.replaceChildren();
  ui.dataSummary.textContent = 'choose the data: Start reads it (or preview it first)';
  saved.step = null;
  saved.state = 'unknown';
  saved.reason = '';
  ui.saved.textContent = 'Nothing saved yet. Training checkpoints are kept in this browser (IndexedDB), so a reload or a crash resumes where it stopped.';
  if (m.bundled) {
    ui.source.value = 'demo';
    showSource();
  }
  redrawCharts();
  renderRun();
  await refreshAdapters();
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

/** Reads and checks the model first (its errors come before any question), then asks, then loads. */
async function loadModelFrom(source: ModelSource, label: string, bytes: number): Promise<ModelInfo | undefined> {
  const checked = await busy(`Reading ${label}${bytes ? ` (${fmtBytes(bytes)})` : ''}`, () => engine.call('checkModel', { source }), (e: unknown) => modelErrorTitle(label, (e as Error).message));
  if (!checked) return undefined;
  if (!(await keepRunOrClose(checked.name))) return undefined;
  const m = await busy(`Loading ${checked.name} onto the ${st.gpu?.backend === 'wasm' ? 'CPU engine' : 'GPU'}`, () => engine.call('loadModel', { checked: true }), (e: unknown) => modelErrorTitle(checked.name, (e as Error).message));
  if (m) await onModelLoaded(m);
  return m;
}

async function loadFiles(): Promise<void> {
  try {
    const pick = pickedModel();
    await loadModelFrom(pick.source, pick.label, pick.bytes);
  } catch (e) {
    showError(e);
  }
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

/** The data fields as they are now (a change since the data was read means: read it again). */
function dataFieldsKey(): string {
  const f = (i: HTMLInputElement) => [...(i.files ?? [])].map((x) => `${x.name}:${x.size}:${x.lastModified}`).join(',');
  const o = (() => {
    try {
      const r = readOptions();
      return [r.seq, r.seed, r.trainSize, r.evalSize].join(',');
    } catch {
      return '';
    }
  })();
  return [ui.task.value, ui.source.value, ui.encoding.value, ui.dataText.value, f(ui.dataFile), ui.preset.value, f(ui.presetFiles), ui.template.value, ui.labels.value, o].join('\u0000');
}

async function readSpec(o: { trainSize: number; evalSize: number }): Promise<TaskSpec> {
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

/** Reads the data fields into the engine (and the preview); false when they could not be read. */
async function useData(): Promise<boolean> {
  const key = dataFieldsKey();
  const d = await busy(
    'Reading the data',
    async () => {
      const o = readOptions();
      const spec = await readSpec(o);
      return engine.call('prepareData', { spec, seq: o.seq, seed: o.seed, batch: o.batch });
    },
    'The data could not be read.',
  );
  if (!d) {
    // a stale preview would say the new data is the old one
    st.data = null;
    ui.preview.replaceChildren();
    ui.dataSummary.textContent = '';
    render();
    return false;
  }
  st.dataKey = key;
  showData(d);
  return true;
}

/** Start: reads the data first when it changed since it was read (the data and Start go together). */
async function startClicked(): Promise<void> {
  if (!st.data || st.dataKey !== dataFieldsKey()) {
    if (!(await useData())) return;
  }
  await train('start');
}

/** The one-click demo: the bundled stories260K, the built-in keeper's log, a run with the demo's defaults. */
async function runDemo(): Promise<void> {
  const fresh = !st.model?.bundled || !!st.run;
  if (fresh) {
    const m = await loadModelFrom({ kind: 'demo' }, 'the bundled stories260K', 0);
    if (!m) return;
  }
  ui.source.value = 'demo';
  ui.task.value = 'lm';
  showSource();
  setOptionsForTask(false);
  if (fresh) setOptions(defaultOptions(true)); // else the options the person set for the loaded demo model
  $('sec-data').scrollIntoView({ block: 'start' });
  await startClicked();
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

async function restore(r: Restored, after: string): Promise<void> {
  if (r.model) {
    await onModelLoaded(r.model);
    if (r.modelRef.kind !== 'demo') ui.modelInfo.prepend(h('div', {}, h('dt', { textContent: 'opened from' }), h('dd', { textContent: 'saved in this browser' })));
  }
  restoreSpecUi(r.spec);
  setOptions(r.options);
  if (r.data) {
    showData(r.data);
    st.dataKey = dataFieldsKey();
  }
  if (r.spec.files?.length && !r.spec.preset) ui.dataSummary.textContent = `${r.data?.describe ?? ''} (from ${r.spec.files[0].name}, kept in this browser)`;
  saved.state = 'yes';
  applyRun(r.run);
  saved.step = r.run.savedStep;
  const n = r.openedAdapters ?? 0;
  const run = r.run;
  const where = run.status === 'diverged' || run.diverged ? `stopped: diverged at step ${run.diverged?.step ?? run.step}` : run.step >= run.steps ? `finished at step ${run.step}` : `at step ${run.step} of ${run.steps}`;
  const what = `${r.modelRef.kind === 'demo' ? 'the bundled stories260K' : r.modelRef.name}, ${where}${n ? `, with the ${n === 1 ? 'adapter' : `${n} adapters`} you opened` : ''}`;
  ui.restoreText.replaceChildren(`${after}Restored your last fine-tuning session from this browser: ${what}.`);
  if (r.trainingElsewhere) {
    ui.restoreText.append(
      h('span', { className: 'hint', textContent: 'This session is training in another tab of this app right now: shown here as of its last checkpoint. One tab trains it at a time, so Start and Resume here wait until that run ends; continue it there.' }),
    );
  } else if (r.error) {
    // after a restart the page did not close: the engine did (the banner's first words say so)
    const hint = after && /^Training stopped when the page closed/.test(r.error) ? `Its last checkpoint is step ${run.step}: press Resume to continue.` : r.error;
    ui.restoreText.append(h('span', { className: 'hint', textContent: hint }));
  }
  ui.restoreBox.hidden = false;
  ui.restoreBox.dataset.step = String(run.step);
  ui.restoreBox.dataset.elsewhere = String(r.trainingElsewhere);
  await refreshAdapters();
  ui.restoreResume.hidden = r.trainingElsewhere;
  ui.restoreBox.scrollIntoView({ block: 'nearest' });
  if (run.status === 'done' || run.status === 'diverged') await showResult(false);
}

// ---- start-up ------------------------------------------------------------------------------
function bind(): void {
  bindModelInputs();
  for (const i of [ui.modelFile, ui.modelDir, ui.tokFile]) i.addEventListener('change', render);
  ui.loadModel.onclick = () => void loadFiles();
  ui.demoModel.onclick = () => void loadModelFrom({ kind: 'demo' }, 'the bundled stories260K', 0);
  ui.runDemo.onclick = () => void runDemo();
  ui.source.onchange = () => (showSource(), followTaskDefaults());
  ui.task.onchange = () => (showSource(), followTaskDefaults());
  ui.preset.onchange = showSource;
  ui.useData.onclick = () => void useData();
  ui.start.onclick = () => void startClicked();
  ui.resume.onclick = () => void resumeAsked();
  ui.restoreResume.onclick = () => void resumeAsked();
  $('restore-dismiss').onclick = () => (ui.restoreBox.hidden = true);
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
  ui.backend.value = savedBackend();
  ui.backend.onchange = () => void changeBackend(ui.backend.value as Backend);
  setInterval(() => st.phase && st.training && render(), 1000); // the phase's seconds
}

/** The page's listeners on one engine's events (a restarted engine gets them again). */
function bindEngine(e: WorkerEngine): void {
  e.on('step', onStep);
  e.on('eval', onEval);
  e.on('status', (s) => {
    if (!st.run) return;
    st.run.status = s.status;
    if (s.diverged) st.run.diverged = s.diverged;
    if (s.status === 'paused' || s.status === 'done' || s.status === 'diverged') st.run.hasAdapter = true;
    renderRun();
  });
  e.on('session', (x) => {
    saved.state = x.persisted ? 'yes' : 'no';
    saved.reason = x.reason ?? '';
    renderRun();
  });
  e.on('checkpoint', (c) => {
    if (c.persisted) (saved.step = c.step), (saved.reason = '');
    if (st.run) (st.run.persisted = c.persisted), (st.run.hasAdapter = true);
    renderRun();
  });
  e.on('storage', (x) => {
    saved.reason = x.message;
    if (x.cause === 'taken') saved.state = 'no';
    log(x.message);
    renderRun();
  });
  e.on('diverge', (d) => {
    if (st.run) st.run.diverged = d;
    renderRun();
  });
  e.on('interrupted', (x) => {
    if (st.run) st.run.interrupted = x;
    showError(new Error(x.message), ui.resume, `The GPU was lost at step ${x.step}: the run is paused at ${x.kept ? `its last checkpoint, step ${x.kept}` : 'its start'}; press Resume to continue.`);
  });
  e.on('phase', (p) => {
    st.phase = p.text;
    st.phaseSince = performance.now();
    render();
  });
  e.on('token', (t) => streams[t.stream]?.append(t.text));
  e.on('log', (l) => log(l.message));
}

/** A new engine (at start-up, after the old one stopped, or for another backend), the saved session restored. */
async function bootEngine(after = ''): Promise<void> {
  document.body.dataset.ready = 'false';
  if (savedBackend() === 'webgpu' && !('gpu' in navigator && navigator.gpu)) return showNoWebgpu(); // asked for, absent
  const g = await startEngine(bindEngine, (s) => engineStopped(s, () => bootEngine(`The engine stopped${st.engineStopped ? ` at step ${st.engineStopped.step}` : ''} and was restarted. `)));
  if (!g) {
    if (!('gpu' in navigator) || !navigator.gpu) showNoWebgpu();
    return;
  }
  if (after) {
    st.model = null;
    st.run = null;
  }
  render();
  const r = await busy('Looking for a saved session', () => engine.call('restore', {}), 'The saved session could not be restored.');
  if (r) await restore(r, after);
  else if (after) {
    ui.modelInfo.hidden = true;
    log(`${after}Nothing was saved in this browser to restore.`);
  }
  if (after) clearError();
  st.engineStopped = null;
  renderRun();
  document.body.dataset.ready = 'true';
}

async function changeBackend(b: Backend): Promise<void> {
  if (!BACKENDS.includes(b)) return;
  if (st.run && !(await confirmDiscard('Switch the compute backend?', 'The engine restarts on the other backend: the model is loaded again and the run comes back from its last saved checkpoint.', 'Switch and restart'))) {
    ui.backend.value = savedBackend();
    return;
  }
  saveBackend(b);
  engine.dispose();
  await bootEngine(`Switched to the ${b === 'auto' ? 'automatic' : b === 'wasm' ? 'WASM (CPU)' : 'WebGPU'} backend. `);
}

function showNoWebgpu(): void {
  ui.noWebgpu.hidden = false;
  ui.noWebgpu.textContent = window.isSecureContext
    ? 'This browser has no WebGPU, and the WebGPU backend is chosen under Advanced. Use a current Chrome or Edge (113 or newer) on a device with a supported GPU (on Linux, start Chrome with --enable-unsafe-webgpu; chrome://gpu shows whether WebGPU is available), or choose "auto" or the CPU (WASM) backend under Advanced settings.'
    : 'WebGPU needs a secure context: open this page from http://localhost or http://127.0.0.1 (npm start prints the address), or over https.';
  ui.gpuInfo.textContent = 'No WebGPU';
  ui.gpuInfo.className = 'bad';
  clearError();
}

async function main(): Promise<void> {
  hooks.render = render;
  hooks.renderRun = renderRun;
  buildOptions();
  setOptions(defaultOptions(false));
  ui.preset.replaceChildren(...Object.values(PRESETS).map((p) => h('option', { value: p.name, textContent: p.name })));
  showSource();
  await initCharts();
  render();
  bind();
  await bootEngine();
}

// For tests and curious users: what the page shows, as data, and the engine's ledger.
(window as unknown as { mobizo: unknown }).mobizo = {
  get state() {
    const r = st.run;
    return {
      status: st.engineStopped ? 'engine-stopped' : (r?.status ?? 'none'),
      step: r?.step ?? 0,
      steps: r?.steps ?? 0,
      history: st.history,
      evals: st.evals,
      busy: st.busy,
      training: st.training,
      diverged: r?.diverged ?? null,
      phase: st.phase,
      savedStep: saved.step,
      sessionId: r?.sessionId ?? '',
    };
  },
  memory: () => engine.call('memory', {}),
  unload: () => engine.call('unload', {}),
};

void main();
