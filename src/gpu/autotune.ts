// One-time micro-autotune of kernel variants, per adapter and shape. A kernel family (the matmul)
// names its applicable variants for a shape; `autotune` times each once on this device and keeps
// the fastest, in memory and in a cache keyed by the adapter (description, features, limits) so
// another GPU tunes anew: in Node node_modules/.cache/mobizo/autotune.json (MOBIZO_CACHE moves the
// folder), in the browser the IndexedDB database `mobizo-autotune` (one record per adapter).
//
// MOBIZO_KERNEL=name[,name...]  use that variant wherever it applies (the first that applies)
// MOBIZO_AUTOTUNE=1 | 0         tune / never tune; default: tune on GPUs, not on CPU drivers or the WASM backend
//                               (SwiftShader, llvmpipe), where the register-blocked kernels win
import type { Gpu } from './device';
import type { Dispatch } from './kernel';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
/** An environment variable in Node; undefined in the browser. */
export const env = (name: string): string | undefined => (isNode ? process.env[name] : undefined);

/** The variants named by MOBIZO_KERNEL, or null. */
export function kernelOverride(): string[] | null {
  const v = env('MOBIZO_KERNEL');
  return v ? v.split(',').map((s) => s.trim()).filter(Boolean) : null;
}

/** The CPU: a CPU Vulkan driver or the WASM backend; there, register-blocked kernels beat workgroup tiling. */
export function isCpuAdapter(gpu: Gpu): boolean {
  return gpu.backend === 'wasm' || /swiftshader|llvmpipe|lavapipe|cpu/i.test(gpu.adapterInfo);
}

export function autotuneEnabled(gpu: Gpu): boolean {
  const v = env('MOBIZO_AUTOTUNE');
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  if (v) throw new Error(`MOBIZO_AUTOTUNE=${v}: expected 1 or 0`);
  return !isCpuAdapter(gpu);
}

/** Identifies the adapter in the cache: a driver update or another GPU tunes again. */
export function adapterKey(gpu: Gpu): string {
  const l = gpu.limits;
  return `${gpu.adapterInfo} | ${[...gpu.features].sort().join(',')} | wg ${l.maxComputeInvocationsPerWorkgroup} smem ${l.maxComputeWorkgroupStorageSize}`;
}

export interface TuneResult {
  kernel: string; // the fastest variant
  ms: Record<string, number>; // each variant's best time per launch
}

interface CacheFile {
  schema: 'mobizo-autotune/1';
  adapters: Record<string, Record<string, TuneResult>>;
}

const tables = new WeakMap<Gpu, Map<string, TuneResult>>();

/** This device's table of tuned shapes (empty until `autotune` or the cache fills it). */
export function tuned(gpu: Gpu): Map<string, TuneResult> {
  let t = tables.get(gpu);
  if (!t) tables.set(gpu, (t = new Map()));
  return t;
}

async function nodeFs(): Promise<{ fs: typeof import('node:fs'); path: typeof import('node:path'); url: typeof import('node:url') } | null> {
  if (!isNode) return null;
  const [f, p, u] = ['node:fs', 'node:path', 'node:url']; // kept out of browser bundles: not literals
  return { fs: await import(/* @vite-ignore */ f), path: await import(/* @vite-ignore */ p), url: await import(/* @vite-ignore */ u) };
}

/** The cache file in Node: node_modules/.cache/mobizo/ of the package (as bin/gpu-env.js), or MOBIZO_CACHE. */
export async function cachePath(): Promise<string | null> {
  const n = await nodeFs();
  if (!n) return null;
  let base = env('MOBIZO_CACHE');
  if (!base) {
    let dir = n.path.dirname(n.url.fileURLToPath(import.meta.url));
    while (!n.fs.existsSync(n.path.join(dir, 'node_modules')) && n.path.dirname(dir) !== dir) dir = n.path.dirname(dir);
    base = n.path.join(dir, 'node_modules', '.cache', 'mobizo');
  }
  return n.path.join(base, 'autotune.json');
}

const EMPTY = (): CacheFile => ({ schema: 'mobizo-autotune/1', adapters: {} });

async function readCacheFile(): Promise<CacheFile> {
  const n = await nodeFs();
  const file = await cachePath();
  if (!n || !file || !n.fs.existsSync(file)) return EMPTY();
  try {
    const j = JSON.parse(n.fs.readFileSync(file, 'utf8')) as CacheFile;
    return j.schema === 'mobizo-autotune/1' && j.adapters ? j : EMPTY();
  } catch {
    return EMPTY(); // a torn or foreign file: tune again and overwrite it
  }
}

/** The browser's store: database `mobizo-autotune`, object store `adapters`, key = adapterKey. */
export const IDB_NAME = 'mobizo-autotune';
const IDB_STORE = 'adapters';

function idbOpen(): Promise<IDBDatabase | null> {
  if (isNode || typeof indexedDB === 'undefined') return Promise.resolve(null);
  return new Promise((resolve) => {
    const r = indexedDB.open(IDB_NAME, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(IDB_STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => resolve(null); // private browsing or storage off: tune per page, as before
    r.onblocked = () => resolve(null);
  });
}

async function idb<T>(mode: IDBTransactionMode, body: (s: IDBObjectStore) => IDBRequest | null): Promise<T | undefined> {
  const db = await idbOpen();
  if (!db) return undefined;
  try {
    return await new Promise<T | undefined>((resolve) => {
      const t = db.transaction(IDB_STORE, mode);
      const req = body(t.objectStore(IDB_STORE));
      t.oncomplete = () => resolve(req?.result as T | undefined);
      t.onerror = () => resolve(undefined); // a cache: a failed read or write only means tuning again
      t.onabort = () => resolve(undefined);
    });
  } finally {
    db.close();
  }
}

/** The cached table of one adapter: the Node file, or the browser's IndexedDB. */
async function readAdapter(key: string): Promise<Record<string, TuneResult>> {
  if (isNode) return (await readCacheFile()).adapters[key] ?? {};
  const rec = await idb<{ schema?: string; table?: Record<string, TuneResult> }>('readonly', (s) => s.get(key));
  return rec?.schema === 'mobizo-autotune/1' && rec.table ? rec.table : {};
}

async function writeAdapter(key: string, table: Record<string, TuneResult>): Promise<void> {
  if (!isNode) {
    await idb('readwrite', (s) => s.put({ schema: 'mobizo-autotune/1', table }, key));
    return;
  }
  const n = await nodeFs();
  const file = await cachePath();
  if (!n || !file) return;
  const c = await readCacheFile();
  c.adapters[key] = table;
  n.fs.mkdirSync(n.path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`; // written whole, then renamed: never a torn file
  n.fs.writeFileSync(tmp, JSON.stringify(c, null, 1));
  n.fs.renameSync(tmp, file);
}

/** Fills this device's table from the cache (once per device). */
export async function loadTuned(gpu: Gpu): Promise<Map<string, TuneResult>> {
  const t = tuned(gpu);
  if (t.size) return t;
  for (const [k, v] of Object.entries(await readAdapter(adapterKey(gpu)))) t.set(k, v);
  return t;
}

/** Merges this device's table into the cache. */
async function saveTuned(gpu: Gpu): Promise<void> {
  const key = adapterKey(gpu);
  await writeAdapter(key, { ...(await readAdapter(key)), ...Object.fromEntries(tuned(gpu)) });
}

/**
 * Milliseconds per launch of `d`: `reps` launches in one pass, the best of `trials` submits
 * (after one warm-up), timed on the host up to the queue's completion.
 */
export async function timeDispatch(gpu: Gpu, d: Dispatch, trials = 3, targetMs = 4): Promise<number> {
  const runOnce = async (reps: number) => {
    const enc = gpu.device.createCommandEncoder({ label: `autotune ${d.kernel.name}` });
    const pass = enc.beginComputePass();
    for (let i = 0; i < reps; i++) d.encode(pass);
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  const first = await runOnce(1); // warm-up (and a first estimate)
  const reps = Math.max(1, Math.min(64, Math.ceil(targetMs / Math.max(first, 1e-3))));
  let best = Infinity;
  for (let t = 0; t < trials; t++) best = Math.min(best, (await runOnce(reps)) / reps);
  gpu.throwIfFailed(`autotune ${d.kernel.name}`);
  return best;
}

/**
 * Times each variant for the shape `key` (unless tuned already) and records the fastest.
 * `launch(name)` records one dispatch of the variant on scratch buffers.
 */
export async function autotune(gpu: Gpu, key: string, variants: string[], launch: (name: string) => Dispatch, save = true): Promise<TuneResult> {
  const t = await loadTuned(gpu);
  const have = t.get(key);
  if (have && variants.includes(have.kernel)) return have;
  const ms: Record<string, number> = {};
  for (const v of variants) {
    const d = launch(v);
    try {
      ms[v] = await timeDispatch(gpu, d);
    } finally {
      d.destroy();
    }
  }
  const kernel = variants.reduce((a, b) => (ms[b] < ms[a] ? b : a));
  const r = { kernel, ms };
  t.set(key, r);
  if (save) await saveTuned(gpu);
  return r;
}

/** Writes the table now (after a batch of `autotune(..., save = false)` calls). */
export async function flushTuned(gpu: Gpu): Promise<void> {
  await saveTuned(gpu);
}
