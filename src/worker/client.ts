// The typed client of the engine worker (./engine_worker.ts, built as dist/worker.js): any page
// runs loading, fine-tuning and generation off its main thread, as WebLLM's
// CreateWebWorkerMLCEngine does.
//
//   const engine = createWorkerEngine(new Worker(new URL('mobizo-webgpu/worker', import.meta.url), { type: 'module' }));
//   await engine.init();
//   await engine.load({ kind: 'demo' }); // or { kind: 'files', model: file, modelName: file.name }
//   await engine.finetune({ text }, { steps: 50 }, { step: (s) => console.log(s.step, s.loss) });
//   const { rows } = await engine.generate('Once upon a time', { adapter: true });
//   const { name, zip } = await engine.exportAdapter(); // the PEFT files, zipped
//   engine.dispose();
//
// Every command of ./protocol.ts is `engine.call(cmd, args)`, every event `engine.on(event, fn)`.
// The engine's end is noticed, whatever it was: the worker holds a Web Lock for its life (a crash,
// `close()` or termination frees it), an `error` event, or no answer to the heartbeat. Then every
// pending call rejects with an EngineStoppedError and `onStopped` listeners run.
import type {
  AdapterDownload, Backend, CommandName, Commands, EventMessage, EventName, Events, FineTuneOptions, GenerateBatchInfo, GpuInfo, Hello, HelloHeld, ModelInfo, ModelSource,
  Reply, RunInfo, TaskSpec,
} from './protocol';

/** An engine error, with a hint for the known cases (no WebGPU, model too big, out of memory),
 * for a refused option its FineTuneOptions key, and a code a page may act on. */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly option?: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** Why the engine stopped: its worker ended or stopped answering. */
export interface EngineStopped {
  reason: 'exit' | 'error' | 'unresponsive';
  message: string;
}

/** A call that could not finish because the engine stopped (code 'engine-stopped'). */
export class EngineStoppedError extends EngineError {
  constructor(readonly stopped: EngineStopped) {
    super(stopped.message, 'The engine (its Web Worker) ended: start a new one; a saved session is restored from its last checkpoint.', undefined, 'engine-stopped');
    this.name = 'EngineStoppedError';
  }
}

export interface WorkerEngineOptions {
  /** How often the client sends a heartbeat when the worker has been silent (ms, default 5000). */
  heartbeatMs?: number;
  /** Silence after which the engine counts as stopped (ms, default 120000: a long synchronous step may not answer). */
  silenceMs?: number;
}

type Listener = (d: never) => void;

export class WorkerEngine {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string }>();
  private readonly listeners = new Map<EventName, Set<Listener>>();
  private readonly stoppedListeners = new Set<(s: EngineStopped) => void>();
  private lastHeard = performance.now();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Set once the engine stopped (null while it runs). */
  stopped: EngineStopped | null = null;
  private disposed = false;

  constructor(
    private readonly worker: Worker,
    opts: WorkerEngineOptions = {},
  ) {
    const heartbeat = opts.heartbeatMs ?? 5000;
    const silence = opts.silenceMs ?? 120_000;
    worker.onmessage = (ev: MessageEvent) => this.receive(ev.data as Reply | EventMessage | HelloHeld);
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault?.();
      this.end({ reason: 'error', message: `the engine stopped: its worker failed (${ev.message || 'it could not start: is dist/worker.js there?'})` });
    };
    // the worker holds this lock for its life; the client gets it only when the worker has ended
    const locks = (globalThis.navigator as (Navigator & { locks?: LockManager }) | undefined)?.locks;
    const lock = `mobizo-engine-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    if (locks) {
      this.lifeLock = { locks, name: lock };
      worker.postMessage({ hello: { lock } } satisfies Hello);
    }
    this.timer = setInterval(() => {
      const quiet = performance.now() - this.lastHeard;
      if (quiet >= silence) this.end({ reason: 'unresponsive', message: `the engine stopped: its worker has not answered for ${Math.round(quiet / 1000)} s` });
      else if (quiet >= heartbeat) this.post('ping', {});
    }, Math.max(50, Math.min(heartbeat, silence) / 2));
  }

  private lifeLock: { locks: LockManager; name: string } | null = null;

  private receive(msg: Reply | EventMessage | HelloHeld): void {
    if (this.stopped) return;
    this.lastHeard = performance.now();
    if ('lockHeld' in msg) {
      const l = this.lifeLock;
      if (l && msg.lockHeld === l.name) {
        void l.locks.request(l.name, async () => {
          if (!this.disposed) this.end({ reason: 'exit', message: 'the engine stopped: its worker ended (it crashed, ran out of memory, or was closed)' });
        });
      }
      return;
    }
    if ('event' in msg) {
      for (const fn of this.listeners.get(msg.event) ?? []) (fn as (d: unknown) => void)(msg.data);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(new EngineError(msg.error, msg.hint, msg.option, msg.code));
  }

  private post(cmd: CommandName, args: unknown): number {
    const id = this.next++;
    this.worker.postMessage({ id, cmd, args });
    return id;
  }

  /** The engine has ended: pending calls reject, listeners hear why (once). */
  private end(s: EngineStopped): void {
    if (this.stopped || this.disposed) return;
    this.stopped = s;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.worker.terminate();
    const err = new EngineStoppedError(s);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const fn of this.stoppedListeners) fn(s);
  }

  /** Sends a command of the protocol; resolves with its result (rejects with an EngineError). */
  call<K extends CommandName>(cmd: K, args: Commands[K]['args']): Promise<Commands[K]['result']> {
    if (this.stopped) return Promise.reject(new EngineStoppedError(this.stopped));
    if (this.disposed) return Promise.reject(new EngineError(`${cmd}: the engine was disposed`));
    return new Promise((resolve, reject) => {
      const id = this.post(cmd, args);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, cmd });
    });
  }

  /** Listens to an event of the protocol; returns the function that stops listening. */
  on<E extends EventName>(event: E, fn: (d: Events[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener);
    return () => set.delete(fn as Listener);
  }

  /** Runs `fn` when the engine stops (its worker ended or went silent); at once if it already has. */
  onStopped(fn: (s: EngineStopped) => void): () => void {
    if (this.stopped) fn(this.stopped);
    this.stoppedListeners.add(fn);
    return () => this.stoppedListeners.delete(fn);
  }

  // ---- the common path, in a few calls ---------------------------------------------------------
  /** Starts the device ('auto': WebGPU on a GPU, WASM on the CPU). */
  init(backend?: Backend): Promise<GpuInfo> {
    return this.call('init', backend ? { backend } : {});
  }

  /** Loads a model (the bundled demo, files, a Hugging Face folder's files, a URL). */
  load(source: ModelSource): Promise<ModelInfo> {
    return this.call('loadModel', { source });
  }

  /**
   * Fine-tunes on `data` with `options` (the rest default) and resolves when the run ends, pauses
   * or stops; `on` receives its progress. The adapter stays in the engine (generate, exportAdapter).
   */
  async finetune(data: TaskSpec, options: Partial<FineTuneOptions> = {}, on: { [E in 'step' | 'eval' | 'checkpoint' | 'status' | 'diverge']?: (d: Events[E]) => void } = {}): Promise<RunInfo> {
    const off = (Object.keys(on) as (keyof typeof on)[]).map((e) => this.on(e, on[e] as (d: Events[typeof e]) => void));
    try {
      return await this.call('start', { options, data });
    } finally {
      for (const f of off) f();
    }
  }

  /** Generates `newTokens` after `prompt` with the base model, the run's adapter (`adapter: true`), or both. */
  generate(prompt: string, opts: { newTokens?: number; temperature?: number; seed?: number; base?: boolean; adapter?: boolean | string } = {}): Promise<GenerateBatchInfo> {
    const adapter = opts.adapter === true ? 'trained' : opts.adapter || null;
    return this.call('generate', {
      prompt,
      newTokens: opts.newTokens ?? 64,
      temperature: opts.temperature ?? 0,
      seed: opts.seed ?? 0,
      base: opts.base ?? !adapter,
      adapters: adapter ? [adapter] : [],
    });
  }

  /** Pauses the run at its next checkpoint (finetune resolves then); resume() goes on. */
  pause(): Promise<void> {
    return this.call('pause', {});
  }

  /** Ends the run at its next checkpoint and evaluates the adapter there. */
  stop(): Promise<void> {
    return this.call('stop', {});
  }

  /** Continues a paused or stopped run (up to `options.steps`). */
  resume(options: Partial<FineTuneOptions> = {}): Promise<RunInfo> {
    return this.call('resume', { options });
  }

  /** The adapter as one zip in the PEFT layout, named after the run. */
  exportAdapter(): Promise<AdapterDownload> {
    return this.call('exportAdapter', {});
  }

  /** Ends the engine: its worker is terminated, pending calls reject. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.worker.terminate();
    const err = new EngineError('the engine was disposed');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** The typed client of an engine worker (dist/worker.js): `createWorkerEngine(new Worker(url, { type: 'module' }))`. */
export function createWorkerEngine(worker: Worker, opts?: WorkerEngineOptions): WorkerEngine {
  return new WorkerEngine(worker, opts);
}
