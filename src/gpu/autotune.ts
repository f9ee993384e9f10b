// One-time micro-autotune of kernel variants, per adapter and shape. A kernel family (the matmul)
// names its applicable variants for a shape; `autotune` times each once on this device and keeps
// the fastest, in memory and, in Node, in node_modules/.cache/mobizo/autotune.json (MOBIZO_CACHE
// moves the folder), keyed by the adapter (description, features, limits) so another GPU tunes
// anew. The browser keeps the table for the page's lifetime only (no IndexedDB store yet).
//
// MOBIZO_KERNEL=name[,name...]  use that variant wherever it applies (the first that applies)
// MOBIZO_AUTOTUNE=1 | 0         tune / never tune; default: tune on GPUs, not on CPU drivers
//                               (SwiftShader, llvmpipe), where the register-blocked kernels win
import type { Gpu } from './device';
import type { Dispatch } from './kernel';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const env = (name: string): string | undefined => (isNode ? process.env[name] : undefined);

/** The variants named by MOBIZO_KERNEL, or null. */
export function kernelOverride(): string[] | null {
  const v = env('MOBIZO_KERNEL');
  return v ? v.split(',').map((s) => s.trim()).filter(Boolean) : null;
}

/** A CPU Vulkan driver: there, register-blocked kernels beat workgroup tiling. */
export function isCpuAdapter(gpu: Gpu): boolean {
  return /swiftshader|llvmpipe|lavapipe|cpu/i.test(gpu.adapterInfo);
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

async function readCache(): Promise<CacheFile> {
  const n = await nodeFs();
  const file = await cachePath();
  const empty: CacheFile = { schema: 'mobizo-autotune/1', adapters: {} };
  if (!n || !file || !n.fs.existsSync(file)) return empty;
  try {
    const j = JSON.parse(n.fs.readFileSync(file, 'utf8')) as CacheFile;
    return j.schema === 'mobizo-autotune/1' && j.adapters ? j : empty;
  } catch {
    return empty; // a torn or foreign file: tune again and overwrite it
  }
}

/** Fills this device's table from the cache file (once per device). */
export async function loadTuned(gpu: Gpu): Promise<Map<string, TuneResult>> {
  const t = tuned(gpu);
  if (t.size) return t;
  const c = await readCache();
  for (const [k, v] of Object.entries(c.adapters[adapterKey(gpu)] ?? {})) t.set(k, v);
  return t;
}

/** Merges this device's table into the cache file (written whole to a temporary file, then renamed). */
async function saveTuned(gpu: Gpu): Promise<void> {
  const n = await nodeFs();
  const file = await cachePath();
  if (!n || !file) return;
  const c = await readCache();
  c.adapters[adapterKey(gpu)] = { ...c.adapters[adapterKey(gpu)], ...Object.fromEntries(tuned(gpu)) };
  n.fs.mkdirSync(n.path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  n.fs.writeFileSync(tmp, JSON.stringify(c, null, 1));
  n.fs.renameSync(tmp, file);
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
