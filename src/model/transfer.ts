// One file over HTTP into a store, the same in browsers and Node: resumed with a Range request from
// what the store already holds, reported as progress, then checked against the size and hash that
// the caller knows (a manifest's sha256, the hub's LFS sha256 or git blob sha1). A failed check
// empties the store, so the next try starts clean. An HTTP error or an HTML page (a login wall, a
// wrong URL) is reported as what it is, with the URL.
import { Sha256 } from '../util/sha256';
import { isNode, nodeIo } from '../util/node_io';

/** Progress of one file: bytes so far of `total` (null: unknown), `cached` when no byte moved. */
export interface DownloadProgress {
  file: string;
  loaded: number;
  total: number | null;
  cached?: boolean;
}

/** What a file must be: its size and hashes, where known (null / absent: not checked). */
export interface Expected {
  size?: number | null;
  sha256?: string | null;
  gitSha1?: string | null; // a non-LFS file on the hub: its git blob id
}

/** Where one file's bytes accumulate while downloading (a .part file, IndexedDB records, memory). */
export interface PartStore {
  size(): Promise<number>;
  append(chunk: Uint8Array): Promise<void>;
  reset(): Promise<void>;
  /** The bytes held, in order, in pieces. */
  read(): AsyncIterable<Uint8Array>;
  /** Releases what append() holds open (a file handle); the bytes stay. */
  close?(): Promise<void>;
}

export interface TransferOptions {
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  log?: (s: string) => void;
}

/** The HTTP error or HTML page a response is, as one line naming the URL; null when it is a file. */
export function responseProblem(res: Response, url: string): string | null {
  if (!res.ok) {
    const hint = res.status === 401 || res.status === 403 ? ' (a gated or private file: it needs an access token)' : res.status === 404 ? ' (no such file)' : '';
    return `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} for ${url}${hint}`;
  }
  const type = res.headers.get('content-type') ?? '';
  if (/^text\/html\b/i.test(type)) return `${url} answered an HTML page (content-type ${type}), not a model file: a wrong URL, or a page in front of the file`;
  return null;
}

/** Fetches `url` into `part`, resuming from the bytes it holds; `total` (when known) bounds the resume. */
export async function fetchInto(url: string, part: PartStore, name: string, total: number | null, opts: TransferOptions = {}): Promise<void> {
  const log = opts.log ?? (() => {});
  let start = await part.size();
  if (total !== null && start >= total) {
    if (start === total) return; // complete: only the check is left
    await part.reset(); // longer than the file: not a prefix of it
    start = 0;
  }
  if (start > 0) log(`${name}: resuming at byte ${start}`);
  let res: Response;
  try {
    // no-store: the bytes go to our own store (the browser's HTTP cache would hold a second copy, and
    // its partial entries change what a range request brings)
    res = await (opts.fetch ?? fetch)(url, { headers: { ...opts.headers, ...(start > 0 ? { Range: `bytes=${start}-` } : {}) }, signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    throw new Error(`cannot fetch ${url}: ${errorText(e)}`);
  }
  const problem = responseProblem(res, url);
  if (problem || !res.body) {
    await res.body?.cancel();
    if (res.status === 416) await part.reset(); // the part does not fit the server's file
    throw new Error(problem ?? `no body in the answer from ${url}`);
  }
  if (start > 0 && res.status !== 206) {
    log(`${name}: the server ignored the range request; restarting from byte 0`);
    await part.reset();
    start = 0;
  } else if (start > 0 && !contentRangeStartsAt(res, start)) {
    await res.body.cancel();
    await part.reset();
    throw new Error(`bad Content-Range in the answer to a range request for ${url}; the partial download was dropped, try again`);
  }
  const length = Number(res.headers.get('content-length'));
  const size = total ?? (Number.isFinite(length) && res.headers.has('content-length') ? start + length : null);
  const reader = res.body.getReader();
  let done = start;
  opts.onProgress?.({ file: name, loaded: done, total: size });
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      await part.append(chunk.value);
      done += chunk.value.length;
      opts.onProgress?.({ file: name, loaded: done, total: size });
    }
  } catch (e) {
    throw new Error(`download of ${url} interrupted at byte ${done}: ${errorText(e)} (try again to resume)`);
  } finally {
    await part.close?.();
  }
}

/** Checks the part's size and hashes; on a mismatch empties it and throws. Returns its sha256. */
export async function checkPart(part: PartStore, name: string, url: string, want: Expected): Promise<string> {
  const size = await part.size();
  if (want.size != null && size !== want.size) {
    await part.reset();
    throw new Error(`${name}: size mismatch from ${url}: expected ${want.size} bytes, got ${size}; the download was dropped`);
  }
  const sha = await hashSha256(part.read());
  if (want.sha256 && sha !== want.sha256.toLowerCase()) {
    await part.reset();
    throw new Error(`${name}: sha256 mismatch (downloaded from ${url}): expected ${want.sha256}, got ${sha}; the download was dropped`);
  }
  if (want.gitSha1 && size <= GIT_SHA1_MAX) { // a git blob id is the hub's hash of a small (non-LFS) file
    const got = await gitBlobSha1(part.read(), size);
    if (got !== want.gitSha1.toLowerCase()) {
      await part.reset();
      throw new Error(`${name}: git blob sha1 mismatch (downloaded from ${url}): expected ${want.gitSha1}, got ${got}; the download was dropped`);
    }
  }
  return sha;
}

/** The largest file checked by its git blob id (hashed in one piece: WebCrypto's digest is not incremental). */
const GIT_SHA1_MAX = 64 << 20;

/** Hex sha256 of a stream of pieces (Node's crypto in Node, else ./sha256.ts). */
export async function hashSha256(pieces: AsyncIterable<Uint8Array>): Promise<string> {
  if (isNode) {
    const h = (await nodeIo()).crypto.createHash('sha256');
    for await (const p of pieces) h.update(p);
    return h.digest('hex');
  }
  const h = new Sha256();
  for await (const p of pieces) h.update(p);
  return h.digest();
}

/** Git's blob id of a file: sha1 of "blob <size>\0" + contents (the hub's ETag of a non-LFS file). */
async function gitBlobSha1(pieces: AsyncIterable<Uint8Array>, size: number): Promise<string> {
  const head = new TextEncoder().encode(`blob ${size}\0`);
  const all = new Uint8Array(head.length + size);
  all.set(head);
  let at = head.length;
  for await (const p of pieces) (all.set(p, at), (at += p.length));
  const digest = await crypto.subtle.digest('SHA-1', all);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function contentRangeStartsAt(res: Response, start: number): boolean {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m !== null && Number(m[1]) === start;
}

/** An error's message with its cause (fetch failures hide the reason there). */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
}

/** A PartStore in memory (downloads that are not cached). */
export function memoryPart(): PartStore & { bytes(): Uint8Array } {
  let chunks: Uint8Array[] = [];
  let n = 0;
  return {
    size: async () => n,
    append: async (c) => {
      chunks.push(c.slice());
      n += c.length;
    },
    reset: async () => {
      chunks = [];
      n = 0;
    },
    async *read() {
      yield* chunks;
    },
    bytes() {
      if (chunks.length !== 1) chunks = [concat(chunks, n)];
      return chunks[0] ?? new Uint8Array(0);
    },
  };
}

function concat(chunks: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) (out.set(c, at), (at += c.length));
  return out;
}
