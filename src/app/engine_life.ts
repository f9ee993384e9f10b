// The engine's life as the page sees it: the worker started with the backend chosen under
// Advanced (kept in localStorage), its status line ("WebGPU: <adapter>" / "WASM, 2 threads"), and
// its end noticed (a crash, close(), no heartbeat answer): the run shows "stopped: the engine
// stopped", pending calls fail, and a new engine is started that restores the saved session from
// its last checkpoint (at most once a minute on its own; after that, a button does it).
import { createWorkerEngine, type EngineStopped, type WorkerEngine } from '../worker/client';
import { BACKENDS, type Backend, type GpuInfo } from '../worker/protocol';
import { engine, hooks, log, setEngine, showError, st, ui } from './page';
import { h } from './views';
import { fmtBytes } from './wording';

const BACKEND_KEY = 'mobizo-backend';

/** The backend asked for: the page's `?backend=` (a link, a test), else the one chosen under Advanced, else auto. */
export function savedBackend(): Backend {
  const q = new URLSearchParams(location.search).get('backend') as Backend | null;
  if (q && BACKENDS.includes(q)) return q;
  try {
    const b = localStorage.getItem(BACKEND_KEY) as Backend | null;
    return b && BACKENDS.includes(b) ? b : 'auto';
  } catch {
    return 'auto';
  }
}

export function saveBackend(b: Backend): void {
  try {
    localStorage.setItem(BACKEND_KEY, b);
  } catch {
    // kept for this page only
  }
}

/** The status line of the engine: what it runs on. */
function showGpu(g: GpuInfo): void {
  const one = g.backend === 'wasm' && !g.crossOriginIsolated ? ' (the page is not cross-origin isolated: one thread)' : '';
  ui.gpuInfo.textContent =
    g.backend === 'wasm'
      ? `running on WASM (the CPU), ${g.threads} thread${g.threads === 1 ? '' : 's'}${one}`
      : `WebGPU: ${g.adapterInfo} \u00b7 largest buffer ${fmtBytes(g.limits.maxStorageBufferBindingSize)}`;
  ui.gpuInfo.title = g.describe;
  ui.gpuInfo.className = 'ok';
  ui.gpuInfo.dataset.ready = 'true';
  ui.gpuInfo.dataset.backend = g.backend;
}

let lastAutoRestart = Number.NEGATIVE_INFINITY;

/**
 * Starts an engine worker and its device; `bindEvents` subscribes the page to its events (each
 * new engine). Resolves with the device's description, or null (the error is shown).
 */
export async function startEngine(bindEvents: (e: WorkerEngine) => void, onStopped: (s: EngineStopped) => void): Promise<GpuInfo | null> {
  const e = createWorkerEngine(new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'mobizo-engine' }));
  setEngine(e);
  bindEvents(e);
  e.onStopped((s) => {
    if (engine === e) onStopped(s);
  });
  try {
    const g = await e.call('init', { backend: savedBackend() });
    st.gpu = g;
    showGpu(g);
    return g;
  } catch (err) {
    st.gpu = null;
    ui.gpuInfo.textContent = 'No GPU adapter';
    ui.gpuInfo.className = 'bad';
    showError(err, null, 'The fine-tuning engine could not start on this device.');
    return null;
  }
}

/**
 * The engine ended: the page stops waiting on it and says so; `restart` starts a new one (on its
 * own the first time in a minute; after that the person presses "Restart the engine").
 */
export function engineStopped(s: EngineStopped, restart: () => Promise<void>): void {
  const run = st.run;
  st.engineStopped = run ? { step: run.step, message: s.message } : null;
  if (run && (st.training || run.status === 'running' || run.status === 'pausing' || run.status === 'stopping')) run.status = 'failed';
  st.training = false;
  st.busy = '';
  st.phase = '';
  ui.gpuInfo.textContent = 'The engine stopped';
  ui.gpuInfo.className = 'bad';
  hooks.renderRun();
  const auto = performance.now() - lastAutoRestart > 60_000;
  const what = run ? ` at step ${run.step} of the run` : '';
  showError(new Error(s.message), null, `The engine stopped${what}: ${auto ? 'restarting it; the saved session comes back from its last checkpoint.' : 'press "Restart the engine" to bring the saved session back from its last checkpoint.'}`);
  if (auto) {
    lastAutoRestart = performance.now();
    log('Restarting the engine ...');
    void restart();
  } else {
    const b = h('button', { type: 'button', id: 'restart-engine', textContent: 'Restart the engine' });
    b.onclick = () => (b.remove(), void restart());
    document.getElementById('error-text')!.after(b);
  }
}
