// Models by Hugging Face reference, as transformers.js's pipeline() takes them: a GGUF file in a
// repository (`hf:owner/repo/file.gguf`) or a model repository (`hf:owner/repo` or plain
// `owner/repo`: config.json, model.safetensors or its shards, tokenizer.json). Each file is
// fetched from `<hub>/<repo>/resolve/<revision>/<file>`, resumed, checked against the hub's own
// hash (an LFS file's sha256, from X-Linked-Etag or the ETag; a small file's git blob sha1) and
// kept in the model cache, so the second load reads the cache and needs no network.
import { HF_TEXT_FILES, planHfDir } from '../formats/hf_dir';
import { envVar, isNode } from '../util/node_io';
import { defaultCache, type CachedFile, type ModelCache } from './model_cache';
import { checkPart, errorText, fetchInto, memoryPart, responseProblem, type DownloadProgress, type Expected } from './transfer';

/** A reference to a repository on the hub, and a file in it (none: the repository is an HF model folder). */
export interface HubRef {
  repo: string; // owner/name
  revision: string; // branch, tag or commit (default main)
  file?: string; // path of a file in the repository
}

/** Options of a hub download (loadModel's `hub`, `mobizo fetch`). */
export interface HubOptions {
  /** The hub's address (default: env HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** An access token for gated or private repositories (default: env HF_TOKEN in Node). */
  token?: string;
  /** Where files are kept: a ModelCache, a folder (Node), true (the default cache) or false (no cache). */
  cache?: ModelCache | string | boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  log?: (s: string) => void;
}

/** One file of a hub download: its name in the repository and its bytes (and its path in Node's cache). */
export interface HubFile {
  name: string;
  blob: Blob;
  path?: string;
}

export const DEFAULT_HUB = 'https://huggingface.co';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Parses a hub reference: `hf:owner/repo[@revision][/path/to/file]`, or `owner/repo` alone (two
 * names, the second not a file name). Returns null for anything else (a path, a URL).
 */
export function parseHubRef(s: string): HubRef | null {
  const explicit = s.startsWith('hf:');
  const body = explicit ? s.slice(3).replace(/^\/\//, '') : s;
  const parts = body.split('/');
  if (parts.length < 2) return null;
  const [owner, repoRev, ...rest] = parts;
  const at = repoRev.indexOf('@');
  const name = at >= 0 ? repoRev.slice(0, at) : repoRev;
  const revision = at >= 0 ? repoRev.slice(at + 1) : 'main';
  if (!NAME.test(owner) || !NAME.test(name) || !revision) return null;
  if (!explicit && (rest.length > 0 || at >= 0 || /\.(gguf|bin|safetensors|json|pth?)$/i.test(name))) return null;
  if (rest.some((p) => !p || p === '.' || p === '..')) return null;
  return { repo: `${owner}/${name}`, revision, ...(rest.length ? { file: rest.join('/') } : {}) };
}

/** `hf:owner/repo[@rev][/file]`. */
export function formatHubRef(r: HubRef): string {
  return `hf:${r.repo}${r.revision !== 'main' ? `@${r.revision}` : ''}${r.file ? `/${r.file}` : ''}`;
}

function endpointOf(o: HubOptions): string {
  return (o.endpoint ?? envVar('HF_ENDPOINT') ?? DEFAULT_HUB).replace(/\/+$/, '');
}

/** The download address of a file: `<hub>/<repo>/resolve/<revision>/<file>`. */
export function resolveUrl(endpoint: string, r: HubRef, file: string): string {
  return `${endpoint}/${r.repo}/resolve/${encodeURIComponent(r.revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** What the hub says of a file before it is downloaded. */
export interface HubFileInfo {
  url: string; // where to download it from (the CDN address an LFS file redirects to, in Node)
  size: number | null;
  sha256: string | null; // an LFS file's content hash
  gitSha1: string | null; // a plain git file's blob id
}

const unquote = (etag: string | null) => etag?.replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase() ?? null;

/**
 * Asks the hub for a file's size and hash with a one-byte range request. Node sees the redirect of
 * an LFS file (X-Linked-Etag = sha256, X-Linked-Size); a browser sees the final answer, whose ETag
 * is the sha256 when the CDN gives it. Null when the repository has no such file (404).
 */
export async function hubFileInfo(url: string, o: HubOptions, headers: Record<string, string>): Promise<HubFileInfo | null> {
  const f = o.fetch ?? fetch;
  const probe = async (redirect: RequestRedirect) => {
    try {
      return await f(url, { headers: { ...headers, Range: 'bytes=0-0' }, redirect, signal: o.signal, cache: 'no-store' });
    } catch (e) {
      throw new Error(`cannot reach the hub at ${url}: ${errorText(e)}`);
    }
  };
  let res = await probe(isNode ? 'manual' : 'follow'); // a page cannot read a redirect's headers: it follows at once
  let download = url;
  let linkedEtag: string | null = null;
  let linkedSize: string | null = null;
  if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
    linkedEtag = res.headers.get('x-linked-etag');
    linkedSize = res.headers.get('x-linked-size');
    download = new URL(res.headers.get('location')!, url).href;
    await res.body?.cancel();
    const sha = unquote(linkedEtag);
    if (sha && /^[0-9a-f]{64}$/.test(sha) && linkedSize !== null) return { url: download, size: Number(linkedSize), sha256: sha, gitSha1: null };
    res = await probe('follow');
  } else if (res.type === 'opaqueredirect' || res.status === 0) {
    res = await probe('follow'); // a browser hides the redirect's headers
  }
  await res.body?.cancel();
  if (res.status === 404) return null;
  const problem = responseProblem(res, url);
  if (problem) throw new Error(problem);
  const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? (res.status === 200 ? res.headers.get('content-length') : null);
  const etag = unquote(linkedEtag ?? res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
  return {
    url: download,
    size: linkedSize !== null ? Number(linkedSize) : total !== null ? Number(total) : null,
    sha256: etag && /^[0-9a-f]{64}$/.test(etag) ? etag : null,
    gitSha1: etag && /^[0-9a-f]{40}$/.test(etag) ? etag : null,
  };
}

async function cacheOf(o: HubOptions): Promise<ModelCache | null> {
  if (o.cache === false) return null;
  if (o.cache === undefined || o.cache === true) return defaultCache();
  return typeof o.cache === 'string' ? defaultCache(o.cache) : o.cache;
}

/** The cache key of a file of a reference. */
export function hubKey(r: HubRef, file: string): string {
  return `hub/${r.repo}/${encodeURIComponent(r.revision)}/${file}`;
}

/**
 * Downloads (or finds in the cache) one file of a repository, checked against `want` and the hub's
 * hash. Resolves null when the repository has no such file and `optional` is set.
 */
export async function hubDownload(r: HubRef, file: string, o: HubOptions, optional = false, want: Expected = {}): Promise<HubFile | null> {
  const cache = await cacheOf(o);
  const key = hubKey(r, file);
  const hit = await cache?.get(key);
  if (hit) {
    o.onProgress?.({ file, loaded: hit.size, total: hit.size, cached: true });
    return asHubFile(file, hit);
  }
  const token = o.token ?? envVar('HF_TOKEN');
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const url = resolveUrl(endpointOf(o), r, file);
  const info = await hubFileInfo(url, o, headers);
  if (!info) {
    if (optional) return null;
    throw new Error(`${formatHubRef(r)}: the repository has no file ${file} at revision ${r.revision} (HTTP 404 for ${url})`);
  }
  const expected: Expected = { size: want.size ?? info.size, sha256: want.sha256 ?? info.sha256, gitSha1: want.sha256 ? null : info.gitSha1 };
  if (!expected.sha256 && !expected.gitSha1) o.log?.(`warning: ${file} is not verified (the hub gave no sha256 for it)`);
  const part = cache ? await cache.part(key) : memoryPart();
  // the token goes to the hub's own address only, never to the (signed) address it redirects to
  await fetchInto(info.url, part, file, info.size, { fetch: o.fetch, headers: info.url === url ? headers : {}, signal: o.signal, onProgress: o.onProgress, log: o.log });
  await checkPart(part, file, url, expected);
  if (!cache) return { name: file, blob: new Blob([(part as ReturnType<typeof memoryPart>).bytes() as BlobPart]) };
  return asHubFile(file, await cache.commit(key));
}

function asHubFile(name: string, c: CachedFile): HubFile {
  return { name, blob: c.blob, ...(c.path ? { path: c.path } : {}) };
}

/**
 * The files of a reference: its one file, or a model repository's config.json, weights
 * (model.safetensors, or the index and the shards it names) and tokenizer files. The list of a
 * repository's files is cached too, so the second load makes no request at all.
 */
export async function hubFiles(r: HubRef, o: HubOptions = {}): Promise<HubFile[]> {
  if (r.file) return [(await hubDownload(r, r.file, o))!];
  const cache = await cacheOf(o);
  const listKey = hubKey(r, '.mobizo-files.json');
  const listed = await cache?.get(listKey);
  if (listed) {
    const names = JSON.parse(await listed.blob.text()) as string[];
    return Promise.all(names.map(async (n) => (await hubDownload(r, n, o))!));
  }
  const texts: HubFile[] = [];
  for (const name of HF_TEXT_FILES) {
    const f = await hubDownload(r, name, o, name !== 'config.json');
    if (f) texts.push(f);
  }
  if (!texts.some((f) => f.name === 'config.json')) throw new Error(`${formatHubRef(r)}: no config.json`);
  const byName = new Map(await Promise.all(texts.map(async (f) => [f.name, await f.blob.text()] as const)));
  // the weights to ask for: the shards the index names, else model.safetensors (planHfDir checks the index)
  const index = byName.get('model.safetensors.index.json');
  let shards: string[] = ['model.safetensors'];
  if (index !== undefined) {
    try {
      shards = Object.values((JSON.parse(index) as { weight_map?: Record<string, string> }).weight_map ?? {}).filter((v) => typeof v === 'string');
    } catch {
      shards = []; // planHfDir says what is wrong with it
    }
  }
  const names = [...byName.keys(), ...shards];
  const where = formatHubRef(r);
  let plan: ReturnType<typeof planHfDir>;
  try {
    plan = planHfDir(where, names, (n) => byName.get(n)!);
  } catch (e) {
    throw new Error(`${(e as Error).message}; for a GGUF repository name the file: hf:${r.repo}/<file>.gguf`);
  }
  const weights: HubFile[] = [];
  for (const name of plan.safetensors) {
    const f = await hubDownload(r, name, o, true);
    if (!f) throw new Error(`${where}: the repository has no ${name} (its weights); for a GGUF repository name the file: hf:${r.repo}/<file>.gguf`);
    weights.push(f);
  }
  const all = [...texts, ...weights];
  if (cache) {
    const part = await cache.part(listKey);
    await part.reset();
    await part.append(new TextEncoder().encode(JSON.stringify(all.map((f) => f.name))));
    await checkPart(part, listKey, 'the file list', {});
    await cache.commit(listKey);
  }
  return all;
}
