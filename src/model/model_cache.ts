// The cache of downloaded model files, so a second load needs no network: a folder in Node
// (default ~/.cache/mobizo, or MOBIZO_CACHE), IndexedDB in browsers (database `mobizo-models`).
// Keys are slash-separated paths (`hub/<owner>/<repo>/<revision>/<file>`). A file is cached only
// once it was checked; an unfinished download stays as a part that the next try resumes.
import { envVar, isNode, nodeIo } from '../util/node_io';
import type { PartStore } from './transfer';

/** A complete cached file: its bytes as a Blob (file-backed in Node), and its path in Node. */
export interface CachedFile {
  name: string;
  size: number;
  blob: Blob;
  path?: string;
}

/** Where downloaded files are kept (the Node folder and the browser's IndexedDB implement it). */
export interface ModelCache {
  /** The complete file stored under `key`, or null. */
  get(key: string): Promise<CachedFile | null>;
  /** The unfinished download of `key` (empty when there is none). */
  part(key: string): Promise<PartStore>;
  /** Makes `key`'s part the complete file (the caller has checked it). */
  commit(key: string): Promise<CachedFile>;
  /** Where it is, in words (for messages). */
  readonly where: string;
}

/** The default cache: the folder of `dir` / MOBIZO_CACHE / ~/.cache/mobizo in Node, IndexedDB in browsers. */
export async function defaultCache(dir?: string): Promise<ModelCache> {
  if (isNode) return folderCache(dir ?? (await defaultCacheDir()));
  if (typeof indexedDB === 'undefined') throw new Error('no model cache here: this runtime has neither a file system nor IndexedDB (pass cache: false)');
  return idbCache();
}

/** MOBIZO_CACHE, else $XDG_CACHE_HOME/mobizo, else ~/.cache/mobizo. */
export async function defaultCacheDir(): Promise<string> {
  const { path, os } = await nodeIo();
  const base = envVar('MOBIZO_CACHE');
  if (base) return base;
  return path.join(envVar('XDG_CACHE_HOME') || path.join(os.homedir(), '.cache'), 'mobizo');
}

function checkKey(key: string): string[] {
  const parts = key.split('/');
  if (parts.some((p) => !p || p === '.' || p === '..' || p.includes('\\'))) throw new Error(`model cache: bad key ${JSON.stringify(key)}`);
  return parts;
}

/** A cache in a folder: `<dir>/<key>`, an unfinished download as `<dir>/<key>.part`. */
export async function folderCache(dir: string): Promise<ModelCache> {
  const { fs, fsp, path } = await nodeIo();
  const file = (key: string) => path.join(dir, ...checkKey(key));
  const cached = async (key: string): Promise<CachedFile | null> => {
    const p = file(key);
    const st = await fsp.stat(p).catch(() => null);
    if (!st?.isFile()) return null;
    return { name: path.basename(p), size: st.size, blob: await fs.openAsBlob(p), path: p };
  };
  return {
    where: dir,
    get: cached,
    async part(key) {
      const p = `${file(key)}.part`;
      let handle: import('node:fs/promises').FileHandle | null = null;
      const close = async () => {
        await handle?.close();
        handle = null;
      };
      return {
        size: async () => (await fsp.stat(p).catch(() => null))?.size ?? 0,
        async append(chunk) {
          if (!handle) {
            await fsp.mkdir(path.dirname(p), { recursive: true });
            handle = await fsp.open(p, 'a');
          }
          await handle.write(chunk);
        },
        async reset() {
          await close();
          await fsp.rm(p, { force: true });
        },
        async *read() {
          await close();
          if (!fs.existsSync(p)) return;
          for await (const c of fs.createReadStream(p)) yield new Uint8Array((c as Uint8Array).buffer, (c as Uint8Array).byteOffset, (c as Uint8Array).byteLength);
        },
        close,
      };
    },
    async commit(key) {
      const p = file(key);
      await fsp.mkdir(path.dirname(p), { recursive: true });
      await fsp.rename(`${p}.part`, p);
      return (await cached(key))!;
    },
  };
}

const IDB_NAME = 'mobizo-models';
const CHUNK = 8 << 20; // bytes per IndexedDB record of a download

interface FileRecord {
  key: string;
  chunks: number; // records [key, 0..chunks-1] in the chunks store
  size: number;
  done: boolean;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((ok, fail) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error ?? new Error('IndexedDB request failed'));
  });
}

let db: Promise<IDBDatabase> | null = null;
function openDb(): Promise<IDBDatabase> {
  if (!db) {
    const r = indexedDB.open(IDB_NAME, 1);
    r.onupgradeneeded = () => {
      r.result.createObjectStore('files', { keyPath: 'key' });
      r.result.createObjectStore('chunks');
    };
    db = request(r);
  }
  return db;
}

/** A cache in IndexedDB: a file is a record of its size plus its bytes in records of 8 MiB Blobs. */
export function idbCache(): ModelCache {
  const tx = async (mode: IDBTransactionMode) => (await openDb()).transaction(['files', 'chunks'], mode);
  const record = async (key: string): Promise<FileRecord | undefined> => request((await tx('readonly')).objectStore('files').get(key) as IDBRequest<FileRecord | undefined>);
  const blobs = async (r: FileRecord): Promise<Blob[]> => {
    const store = (await tx('readonly')).objectStore('chunks');
    return Promise.all(Array.from({ length: r.chunks }, (_, i) => request(store.get([r.key, i]) as IDBRequest<Blob>)));
  };
  const put = async (r: FileRecord, chunk?: Blob) => {
    const t = await tx('readwrite');
    if (chunk) t.objectStore('chunks').put(chunk, [r.key, r.chunks - 1]);
    t.objectStore('files').put(r);
    await new Promise<void>((ok, fail) => ((t.oncomplete = () => ok()), (t.onerror = () => fail(t.error)), (t.onabort = () => fail(t.error ?? new Error('IndexedDB: the write was aborted (quota?)')))));
  };
  const name = (key: string) => key.slice(key.lastIndexOf('/') + 1);
  return {
    where: `IndexedDB ${IDB_NAME}`,
    async get(key) {
      checkKey(key);
      const r = await record(key);
      return r?.done ? { name: name(key), size: r.size, blob: new Blob(await blobs(r)) } : null;
    },
    async part(key) {
      checkKey(key);
      let r: FileRecord = (await record(key)) ?? { key, chunks: 0, size: 0, done: false };
      if (r.done) r = { key, chunks: 0, size: 0, done: false };
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (!pendingBytes) return;
        const blob = new Blob(pending as BlobPart[]);
        r = { ...r, chunks: r.chunks + 1, size: r.size + pendingBytes };
        pending = [];
        pendingBytes = 0;
        await put(r, blob);
      };
      return {
        size: async () => r.size + pendingBytes,
        async append(chunk) {
          pending.push(chunk.slice());
          pendingBytes += chunk.length;
          if (pendingBytes >= CHUNK) await flush();
        },
        async reset() {
          pending = [];
          pendingBytes = 0;
          r = { key, chunks: 0, size: 0, done: false };
          await put(r);
        },
        async *read() {
          await flush();
          for (const b of await blobs(r)) yield new Uint8Array(await b.arrayBuffer());
        },
        close: flush, // an interrupted download keeps what arrived: the next try resumes after it
      };
    },
    async commit(key) {
      const r = await record(key);
      if (!r) throw new Error(`model cache: nothing downloaded for ${key}`);
      await put({ ...r, done: true });
      return (await this.get(key))!;
    },
  };
}
