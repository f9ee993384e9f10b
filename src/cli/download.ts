// `mobizo fetch`'s downloads (Node): a known checkpoint by URL (weights/manifest.json) into a folder,
// or a Hugging Face reference into the model cache, with a progress bar and resume. The transfer,
// the checks and the cache are the library's (src/model/transfer.ts, hub.ts, model_cache.ts).
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import cliProgress from 'cli-progress';
import { defaultCacheDir, folderCache } from '../model/model_cache';
import { hubFiles, parseHubRef, type HubFile, type HubOptions } from '../model/hub';
import { knownModels, knownModel, type WeightFile, type WeightsManifest } from '../model/known_models';
import { checkPart, fetchInto, hashSha256, type DownloadProgress } from '../model/transfer';

export { knownModels, type ModelEntry, type WeightFile, type WeightsManifest } from '../model/known_models';

export interface FetchOptions {
  outDir: string;
  /** Fetch `${mirror}/${mirrorPath ?? file}` instead of each file's url. Default: env MOBIZO_WEIGHTS_MIRROR. */
  mirror?: string;
  /** true: progress bar on stderr; false: a log line per 10%; default: bar when stderr is a TTY. */
  progress?: boolean;
  /** Status messages; default: stderr. */
  log?: (s: string) => void;
  /** Default: weights/manifest.json. */
  manifest?: WeightsManifest;
}

/** Downloads (or finds) every file of the known model `name` in outDir; returns the paths of its files. */
export async function fetchWeights(name: string, opts: FetchOptions): Promise<string[]> {
  const manifest = opts.manifest ?? knownModels;
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const entry = knownModel(name, manifest);
  if (!entry) {
    const known = manifest.models.map((m) => m.name).join(', ');
    throw new Error(`unknown model "${name}"; known models: ${known}`);
  }
  if (!entry.files) throw new Error(`${entry.name} is a Hugging Face reference (${entry.hub}): it is downloaded into the model cache (mobizo fetch ${entry.name})`);
  const mirror = opts.mirror ?? process.env.MOBIZO_WEIGHTS_MIRROR;
  const store = await folderCache(opts.outDir);
  const paths: string[] = [];
  for (const f of entry.files) {
    if (!f.file || basename(f.file) !== f.file) throw new Error(`bad file name in manifest: "${f.file}"`);
    const url = mirror ? `${mirror.replace(/\/+$/, '')}/${f.mirrorPath ?? f.file}` : f.url;
    const dest = join(opts.outDir, f.file);
    if ((await sizeOf(dest)) === f.bytes) {
      const actual = f.sha256 === null ? null : await hashSha256(createReadStream(dest));
      if (actual === f.sha256) {
        log(`${f.file}: already present${f.sha256 === null ? ' (size matches; not verified: no sha256 in the manifest)' : ''}`);
        paths.push(dest);
        continue;
      }
      log(`${f.file}: present but its sha256 is ${actual}, expected ${f.sha256}; downloading again`);
    }
    paths.push(await fetchOne(store, f, url, log, opts.progress));
  }
  return paths;
}

async function fetchOne(store: Awaited<ReturnType<typeof folderCache>>, f: WeightFile, url: string, log: (s: string) => void, progress?: boolean): Promise<string> {
  const part = await store.part(f.file);
  log(`${f.file}: downloading ${url}`);
  const bar = progressReporter(log, progress);
  try {
    await fetchInto(url, part, f.file, f.bytes, { onProgress: bar.update, log });
  } finally {
    bar.stop();
  }
  if (f.sha256 === null) log(`warning: ${f.file} is not verified (the manifest has no sha256 for it)`);
  await checkPart(part, f.file, url, { size: f.bytes, sha256: f.sha256 });
  const done = await store.commit(f.file);
  log(`${f.file}: ok (${f.bytes} bytes${f.sha256 ? ', sha256 verified' : ''})`);
  return done.path!;
}

/**
 * Downloads a Hugging Face reference (or a known model's) into the model cache; returns the files'
 * paths (for an HF model repository, its folder in the cache is what --model takes).
 */
export async function fetchHub(ref: string, opts: { cacheDir?: string; endpoint?: string; progress?: boolean; log?: (s: string) => void }): Promise<HubFile[]> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const r = parseHubRef(knownModel(ref)?.hub ?? ref);
  if (!r) throw new Error(`unknown model "${ref}"; known models: ${knownModels.models.map((m) => m.name).join(', ')}; or a Hugging Face reference (hf:owner/repo[/file.gguf])`);
  const bar = progressReporter(log, opts.progress);
  const o: HubOptions = { ...(opts.cacheDir ? { cache: opts.cacheDir } : {}), ...(opts.endpoint ? { endpoint: opts.endpoint } : {}), onProgress: bar.update, log };
  try {
    return await hubFiles(r, o);
  } finally {
    bar.stop();
  }
}

interface Reporter {
  update: (p: DownloadProgress) => void;
  stop: () => void;
}

/** A cli-progress bar on stderr per file, or a log line each time another 10% is done. */
function progressReporter(log: (s: string) => void, force?: boolean): Reporter {
  let file = '';
  let bar: cliProgress.SingleBar | null = null;
  let tenths = -1;
  const useBar = force ?? process.stderr.isTTY;
  return {
    update(p) {
      if (p.cached) return log(`${p.file}: in the cache (${human(p.loaded)})`);
      if (p.file !== file) {
        bar?.stop();
        bar = null;
        file = p.file;
        tenths = p.total ? Math.floor((p.loaded * 10) / p.total) : -1;
        if (useBar && p.total) {
          bar = new cliProgress.SingleBar({ stream: process.stderr, noTTYOutput: !process.stderr.isTTY, format: `${p.file} [{bar}] {percentage}% | {sdone}/{stotal} | ETA {eta_formatted}`, hideCursor: true }, cliProgress.Presets.shades_classic);
          bar.start(p.total, p.loaded, { sdone: human(p.loaded), stotal: human(p.total) });
        }
        return;
      }
      if (bar) return bar.update(p.loaded, { sdone: human(p.loaded) });
      if (!p.total) return;
      const t = Math.floor((p.loaded * 10) / p.total);
      if (t > tenths) {
        tenths = t;
        log(`${p.file}: ${Math.min(t * 10, 100)}% (${human(p.loaded)} of ${human(p.total)})`);
      }
    },
    stop() {
      bar?.stop();
      bar = null;
      file = '';
    },
  };
}

function human(n: number): string {
  return n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/**
 * What --model names, as a local path: an existing file or folder as it is; a known model or a
 * Hugging Face reference is first downloaded into the model cache (or found there) and its path
 * returned (a GGUF file, an HF repository's folder, a llama2.c checkpoint), with the llama2.c
 * tokenizer the manifest pairs with it (`tokenizer`, when it names one).
 */
export async function localModelPath(model: string, log: (s: string) => void): Promise<{ model: string; tokenizer?: string }> {
  if (await stat(model).catch(() => null)) return { model };
  const known = knownModel(model);
  if (!known && !parseHubRef(model)) return { model }; // the caller reports the missing file
  if (known?.files) {
    // the package's own copy (weights/): no download; else fetched into the cache
    const root = packageWeights();
    const [first, second] = known.bundled ? known.files.map((f) => join(root, f.file)) : await fetchWeights(known.name, { outDir: join(await defaultCacheDir(), 'urls', known.name), log });
    if (known.bundled) log(`${known.name}: the bundled copy in ${root}`);
    return second ? { model: first, tokenizer: second } : { model: first };
  }
  const files = await fetchHub(model, { log });
  const ref = parseHubRef(known?.hub ?? model)!;
  if (ref.file) return { model: files[0].path! };
  return { model: dirname(files.find((f) => f.name === 'config.json')!.path!) };
}

/** The package's weights/ folder (weights/README.md): two levels up from src/cli/, one from dist/. */
export function packageWeights(): string {
  let root = import.meta.dirname;
  while (!existsSync(join(root, 'weights', 'manifest.json')) && dirname(root) !== root) root = dirname(root);
  return join(root, 'weights');
}
