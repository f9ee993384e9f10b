// The engine worker: the GPU device, the model, the data and the FineTuner live here, off the
// page's main thread, so the page stays responsive while a step runs (WebGPU and WASM both work in
// dedicated workers). It answers the commands of ./protocol.ts and streams events (progress,
// tokens). Every checkpoint goes to IndexedDB with the session (settings, data, model files), and
// `restore` rebuilds the session after a reload or a crash. Built to dist/worker.js by
// scripts/build.mjs; any page drives it through ./client.ts (createWorkerEngine).
//
// Liveness: the client's first message names a Web Lock that this worker then holds for as long as
// it lives, so the client learns of its end (a crash, close(), termination) when the lock frees;
// `ping` answers at once (a hung worker misses it).
import { explainError } from './errors';
import { describeGpu, eng, ensureGpu, scope } from './engine_state';
import { checkModel, loadModel, unload } from './engine_model';
import { dataInfo, forget, prepare, recoverIfLost, restore, resume, start } from './engine_run';
import { exportAdapter, importAdapter, listAdapters, removeAdapter } from './engine_adapters';
import { classify, generate, sample } from './engine_try';
import type { Commands, GpuInfo, Hello, HelloHeld, Reply, Request } from './protocol';

const handlers: { [K in keyof Commands]: (args: Commands[K]['args']) => Promise<Commands[K]['result']> | Commands[K]['result'] } = {
  init: async (a): Promise<GpuInfo> => {
    if (a.backend && a.backend !== eng.backend) {
      if (eng.loaded) throw new Error('the backend is chosen before a model is loaded: reload the page to change it');
      eng.backend = a.backend;
      eng.gpu = null;
    }
    const g = await ensureGpu();
    const l = g.limits;
    return {
      ...describeGpu(g),
      adapterInfo: g.adapterInfo,
      limits: { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize },
      features: [...g.features],
      crossOriginIsolated: !!(self as { crossOriginIsolated?: boolean }).crossOriginIsolated,
    };
  },
  ping: () => performance.now(),
  restore: () => restore(),
  checkModel: (a) => checkModel(a.source),
  loadModel: (a) => loadModel('checked' in a ? null : a.source),
  prepareData: (a) => {
    if (eng.running) throw new Error('changing the data: training is running; pause or stop it first');
    return dataInfo(prepare(a.spec, a.seq, a.seed), a.batch, a.seed);
  },
  start: (a) => start(a.options, a.data),
  resume: (a) => resume(a.options, a.lr),
  pause: () => eng.tuner?.pause(),
  stop: () => eng.tuner?.stop(),
  generate: (a) => generate(a),
  sample: (a) => sample(a),
  classify: (a) => classify(a.text, a.adapters),
  exportAdapter: () => exportAdapter(),
  importAdapter: (a) => importAdapter(a),
  adapters: () => listAdapters(),
  removeAdapter: (a) => removeAdapter(a.name),
  memory: () => (eng.gpu ? eng.gpu.ledger.report() : { current: {}, peak: {}, peakTotal: 0 }),
  forget: () => forget(),
  unload: () => unload(),
};

// Commands that use the GPU run one at a time, in order; these answer at once.
const IMMEDIATE = new Set<keyof Commands>(['pause', 'stop', 'memory', 'adapters', 'ping']);
let queue: Promise<unknown> = Promise.resolve();

/** Holds the client's liveness lock until this worker ends (navigator.locks frees it then). */
function holdLifeLock(name: string): void {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return;
  void locks.request(name, () => {
    scope.postMessage({ lockHeld: name } satisfies HelloHeld);
    return new Promise<void>(() => {});
  });
}

// For fault-injection tests: what the page cannot reach (the device lives in this worker).
(self as unknown as { __mobizoFaults: unknown }).__mobizoFaults = {
  loseDevice: () => eng.gpu?.device.destroy(),
};

scope.onmessage = (ev: MessageEvent) => {
  if ((ev.data as Hello).hello) return holdLifeLock((ev.data as Hello).hello.lock);
  const req = ev.data as Request;
  const run = () =>
    Promise.resolve()
      .then(() => (IMMEDIATE.has(req.cmd) || req.cmd === 'init' ? undefined : recoverIfLost()))
      .then(() => (handlers[req.cmd] as (a: unknown) => unknown)(req.args));
  // start/resume hold the queue for the whole run; the page disables what would wait behind them
  const p = IMMEDIATE.has(req.cmd)
    ? run()
    : eng.running
      ? Promise.reject(new Error(`${req.cmd}: training is running; pause or stop it first`))
      : (queue = queue.then(run, run));
  p.then(
    (value) => scope.postMessage({ id: req.id, ok: true, value } satisfies Reply),
    (err: unknown) => {
      const { message, hint, option, code } = explainError(err);
      scope.postMessage({ id: req.id, ok: false, error: message, ...(hint ? { hint } : {}), ...(option ? { option } : {}), ...(code ? { code } : {}) } satisfies Reply);
    },
  );
};
