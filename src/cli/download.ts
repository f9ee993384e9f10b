// Downloads known checkpoints (weights/manifest.json) with resume, progress and sha256 checks.
// Node-only: uses node:fs and the global fetch.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import cliProgress from 'cli-progress';
import manifestJson from '../../weights/manifest.json' with { type: 'json' };

/** One file of a checkpoint. */
export interface WeightFile {
  file: string; // local file name (no directories)
  url: string; // public download URL
  mirrorPath?: string; // path under a mirror's root; default: `file`
  bytes: number;
  sha256: string | null; // null: unknown, the download is not verified
}

export interface ModelEntry {
  name: string;
  description: string;
  bundled?: boolean; // its files ship in weights/ (the default model of the commands)
  files: WeightFile[];
}

export interface WeightsManifest {
  models: ModelEntry[];
}

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

/** The repository's manifest of known checkpoints. */
export const knownModels: WeightsManifest = manifestJson as WeightsManifest;

/** Downloads (or finds) every file of model `name` in outDir; returns the paths of its files. */
export async function fetchWeights(name: string, opts: FetchOptions): Promise<string[]> {
  const manifest = opts.manifest ?? knownModels;
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const entry = manifest.models.find((m) => m.name === name);
  if (!entry) {
    const known = manifest.models.map((m) => m.name).join(', ');
    throw new Error(`unknown model "${name}"; known models: ${known}`);
  }
  const mirror = opts.mirror ?? process.env.MOBIZO_WEIGHTS_MIRROR;
  await mkdir(opts.outDir, { recursive: true });
  const paths: string[] = [];
  for (const f of entry.files) {
    if (!f.file || basename(f.file) !== f.file) throw new Error(`bad file name in manifest: "${f.file}"`);
    const url = mirror ? `${mirror.replace(/\/+$/, '')}/${f.mirrorPath ?? f.file}` : f.url;
    paths.push(await fetchFile(f, url, join(opts.outDir, f.file), log, opts.progress));
  }
  return paths;
}

async function fetchFile(
  f: WeightFile, url: string, dest: string, log: (s: string) => void, progress?: boolean,
): Promise<string> {
  if ((await sizeOf(dest)) === f.bytes) {
    const actual = f.sha256 === null ? null : await sha256File(dest);
    if (actual === f.sha256) {
      log(`${f.file}: already present${f.sha256 === null ? ' (size matches; not verified: no sha256 in the manifest)' : ''}`);
      return dest;
    }
    log(`${f.file}: present but its sha256 is ${actual}, expected ${f.sha256}; downloading again`);
  }
  const part = dest + '.part';
  await download(f, url, part, log, progress);

  const size = (await sizeOf(part)) ?? 0;
  if (size !== f.bytes) {
    await unlink(part);
    throw new Error(`${f.file}: size mismatch from ${url}: expected ${f.bytes} bytes, got ${size}; deleted ${part}`);
  }
  if (f.sha256 === null) {
    log(`warning: ${f.file} is not verified (the manifest has no sha256 for it)`);
  } else {
    const actual = await sha256File(part);
    if (actual !== f.sha256) {
      await unlink(part);
      throw new Error(`${f.file}: sha256 mismatch (downloaded from ${url}): expected ${f.sha256}, got ${actual}; deleted ${part}`);
    }
  }
  await rename(part, dest);
  log(`${f.file}: ok (${f.bytes} bytes${f.sha256 ? ', sha256 verified' : ''})`);
  return dest;
}

/** Downloads url into part, resuming from part's current size with a Range request. */
async function download(f: WeightFile, url: string, part: string, log: (s: string) => void, progress?: boolean) {
  let start = (await sizeOf(part)) ?? 0;
  if (start >= f.bytes) {
    if (start === f.bytes) return; // complete: only verification is left
    await unlink(part); // longer than the file: cannot be a prefix of it
    start = 0;
  }
  if (start > 0) log(`${f.file}: resuming at byte ${start}`);
  log(`${f.file}: downloading ${url}`);

  let res: Response;
  try {
    res = await fetch(url, { headers: start > 0 ? { Range: `bytes=${start}-` } : {} });
  } catch (e) {
    throw new Error(`cannot fetch ${url}: ${errorText(e)}`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    if (res.status === 416) await unlink(part); // the .part does not fit the server's file
    throw new Error(`HTTP ${res.status} ${res.statusText} for ${url}`);
  }
  if (start > 0 && res.status !== 206) {
    log(`${f.file}: the server ignored the range request; restarting from byte 0`);
    start = 0;
  } else if (start > 0 && !contentRangeStartsAt(res, start)) {
    await res.body.cancel();
    await unlink(part); // the next run starts from zero
    throw new Error(`bad Content-Range in the answer to a range request for ${url}; deleted ${part}, run again`);
  }

  const bar = makeProgress(f.file, f.bytes, start, log, progress);
  const fh = await open(part, start > 0 ? 'a' : 'w');
  const reader = res.body.getReader();
  let done = start;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      await fh.write(chunk.value);
      done += chunk.value.length;
      bar.update(done);
    }
  } catch (e) {
    throw new Error(`download of ${url} interrupted at byte ${done}: ${errorText(e)} (run again to resume)`);
  } finally {
    bar.stop();
    await fh.close();
  }
}

function contentRangeStartsAt(res: Response, start: number): boolean {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m !== null && Number(m[1]) === start;
}

interface Progress { update(done: number): void; stop(): void }

/** A cli-progress bar on stderr, or a log line each time another 10% is done. */
function makeProgress(file: string, total: number, start: number, log: (s: string) => void, force?: boolean): Progress {
  if (force ?? process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: process.stderr,
      noTTYOutput: !process.stderr.isTTY,
      format: `${file} [{bar}] {percentage}% | {sdone}/{stotal} | ETA {eta_formatted}`,
      hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, start, { sdone: human(start), stotal: human(total) });
    return { update: (d) => bar.update(d, { sdone: human(d) }), stop: () => bar.stop() };
  }
  let tenths = Math.floor((start * 10) / total);
  return {
    update(d) {
      const t = Math.floor((d * 10) / total);
      if (t > tenths) {
        tenths = t;
        log(`${file}: ${Math.min(t * 10, 100)}% (${human(d)} of ${human(total)})`);
      }
    },
    stop() {},
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

/** Hex sha256 of a file's contents. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
}
