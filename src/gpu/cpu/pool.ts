// Threads of the CPU backend: `threads - 1` workers (worker_threads in Node, Web Workers in a
// cross-origin-isolated page), each with its own instance of the kernel module over the one
// shared memory. A dispatch is split into `parts`: the calling thread computes part 0, worker k
// part k. Each worker has a mailbox of control words in the memory (below the heap); the caller
// writes the job there, bumps the worker's generation and notifies it, then waits until every
// part is done. No message passing on the hot path: one Atomics.notify per worker per dispatch.

/** i32 words per worker mailbox: gen, entry, bind, wx, wy, wz, part, parts, failed. */
const SLOT = 16;
/** i32 words of the shared header before the mailboxes: done, quit, expected. */
const HEADER = 16;
const [DONE, QUIT, EXPECTED] = [0, 1, 2];
const [GEN, ENTRY, BIND, WX, WY, WZ, PART, PARTS, FAILED] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

/** Bytes of control words a pool of `threads` needs. */
export const controlBytes = (threads: number) => 4 * (HEADER + SLOT * threads);

// The worker's whole program: plain JavaScript (no bundler touches it), run as an eval'd script
// in Node and from a blob URL in a browser.
const WORKER_SOURCE = `
const node = typeof process !== 'undefined' && !!(process.versions && process.versions.node);
const port = node ? require('worker_threads').parentPort : self;
const on = (fn) => node ? port.on('message', fn) : (self.onmessage = (e) => fn(e.data));
on((msg) => {
  const { module, memory, entries, ctl, index, scratch } = msg;
  const abort = (m, f, line, col) => { throw new Error('WebAssembly kernel aborted (wasm/ line ' + line + ':' + col + ')'); };
  const inst = new WebAssembly.Instance(module, { env: { memory, abort } });
  inst.exports.setScratch(scratch.base + index * scratch.bytes, scratch.bytes);
  const fns = entries.map((n) => inst.exports[n]);
  const w = new Int32Array(memory.buffer, ctl, ${HEADER} + ${SLOT} * (index + 1));
  const me = ${HEADER} + ${SLOT} * index;
  let gen = Atomics.load(w, me + ${GEN});
  port.postMessage('ready');
  for (;;) {
    Atomics.wait(w, me + ${GEN}, gen);
    gen = Atomics.load(w, me + ${GEN});
    if (Atomics.load(w, ${QUIT})) break;
    try {
      fns[w[me + ${ENTRY}]](w[me + ${BIND}] >>> 0, w[me + ${WX}] >>> 0, w[me + ${WY}] >>> 0, w[me + ${WZ}] >>> 0, w[me + ${PART}], w[me + ${PARTS}]);
    } catch (e) {
      w[me + ${FAILED}] = 1;
    }
    if (Atomics.add(w, ${DONE}, 1) + 1 === Atomics.load(w, ${EXPECTED})) Atomics.notify(w, ${DONE});
  }
  if (node) port.close(); else self.close();
});
`;

interface WorkerLike {
  postMessage(msg: unknown): void;
  terminate(): unknown;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
export function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether threads can exist here: SharedArrayBuffer, and a cross-origin-isolated page in a browser. */
export function threadsPossible(): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return false;
  if (isNode) return true;
  return typeof Worker !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}

async function spawn(): Promise<{ worker: WorkerLike; next: () => Promise<unknown> }> {
  const waiters: ((v: unknown) => void)[] = [];
  const queue: unknown[] = [];
  const deliver = (v: unknown) => (waiters.length ? waiters.shift()!(v) : queue.push(v));
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
  if (isNode) {
    const spec = 'node:worker_threads'; // kept out of browser bundles: not a literal
    const { Worker: NodeWorker } = (await import(/* @vite-ignore */ spec)) as typeof import('node:worker_threads');
    // execArgv []: the script is CommonJS whatever flags started this process (--input-type, loaders)
    const w = new NodeWorker(WORKER_SOURCE, { eval: true, execArgv: [] });
    w.on('message', deliver);
    w.on('error', (e) => deliver({ error: e.message }));
    // once started, an idle pool never keeps the process alive
    return { worker: w, next: () => next().then((m) => (w.unref(), m)) };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const w = new Worker(url);
  URL.revokeObjectURL(url);
  w.onmessage = (e) => deliver(e.data);
  w.onerror = (e) => deliver({ error: e.message });
  return { worker: w, next };
}

export class ThreadPool {
  private readonly w: Int32Array;
  private readonly blocking = canBlock();

  private constructor(
    memory: WebAssembly.Memory,
    ctl: number,
    private readonly workers: WorkerLike[],
  ) {
    this.w = new Int32Array(memory.buffer, ctl, HEADER + SLOT * (workers.length + 1));
  }

  /** Threads in all (the caller's included). */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Starts `threads - 1` workers over `memory` (shared), their mailboxes at `ctl` (controlBytes
   * bytes, zeroed), worker k's scratch at scratch.base + k scratch.bytes. Resolves once each has
   * instantiated the module.
   */
  static async create(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    entries: readonly string[],
    ctl: number,
    threads: number,
    scratch: { base: number; bytes: number }, // thread k's region: base + k bytes
  ): Promise<ThreadPool> {
    const workers: WorkerLike[] = [];
    try {
      const started = await Promise.all(Array.from({ length: threads - 1 }, () => spawn()));
      for (const [i, s] of started.entries()) {
        workers.push(s.worker);
        s.worker.postMessage({ module, memory, entries, ctl, index: i + 1, scratch });
      }
      for (const s of started) {
        const m = await s.next();
        if (m !== 'ready') throw new Error(`a worker thread did not start: ${(m as { error?: string }).error ?? m}`);
      }
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    return new ThreadPool(memory, ctl, workers);
  }

  /**
   * Runs one dispatch in `parts` parts (parts <= threads): `fn` (this thread's instance of entry
   * number `entry`) computes part 0, the workers the rest. Returns the parts that failed (a
   * trap): the caller reruns one of them here to report its error.
   */
  run(entry: number, fn: (...a: number[]) => void, bind: number, wx: number, wy: number, wz: number, parts: number): number[] {
    if (parts <= 1) {
      fn(bind, wx, wy, wz, 0, 1);
      return [];
    }
    const w = this.w;
    Atomics.store(w, DONE, 0);
    Atomics.store(w, EXPECTED, parts - 1);
    for (let k = 1; k < parts; k++) {
      const s = HEADER + SLOT * k;
      w[s + ENTRY] = entry;
      w[s + BIND] = bind;
      w[s + WX] = wx;
      w[s + WY] = wy;
      w[s + WZ] = wz;
      w[s + PART] = k;
      w[s + PARTS] = parts;
      w[s + FAILED] = 0;
      Atomics.add(w, s + GEN, 1);
      Atomics.notify(w, s + GEN, 1);
    }
    let err: unknown = null;
    try {
      fn(bind, wx, wy, wz, 0, parts);
    } catch (e) {
      err = e;
    }
    for (;;) {
      const done = Atomics.load(w, DONE);
      if (done >= parts - 1) break;
      if (this.blocking) Atomics.wait(w, DONE, done, 50);
    }
    if (err) throw err;
    const failed: number[] = [];
    for (let k = 1; k < parts; k++) if (w[HEADER + SLOT * k + FAILED]) failed.push(k);
    return failed;
  }

  destroy(): void {
    Atomics.store(this.w, QUIT, 1);
    for (let k = 1; k <= this.workers.length; k++) {
      Atomics.add(this.w, HEADER + SLOT * k + GEN, 1);
      Atomics.notify(this.w, HEADER + SLOT * k + GEN);
    }
    for (const wk of this.workers) void wk.terminate();
  }
}
