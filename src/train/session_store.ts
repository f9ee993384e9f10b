// Persistence of a fine-tuning session in this browser (IndexedDB), so a reload, a crash or a
// closed tab resumes where it stopped: the run's settings and data, the model files (as Blobs),
// and the last checkpoint (adapter in the PEFT layout + trainer_state.json, and for momentum /
// adam / hizoo the optimizer's moments, optimizer_state.safetensors), and the PEFT adapters the
// user opened beside the run (Try it compares them). Nothing leaves the device. Works in pages
// and workers.
//
// One session at a time (key "current"), and one writer: every record carries the session's id,
// and every write checks, in the same transaction, that the stored session is still the writer's
// (a second tab that started a new run makes the first one's writes fail with SessionTakenError,
// never mix). A running session is also held under a Web Lock (withSessionLock), so a second tab
// is refused while the first one trains. A checkpoint is one record written in one transaction
// together with the session's step: all its files or none.
import type { CheckpointFiles, CheckpointStore } from './trainer';
import type { FineTuneOptions } from './defaults';
import type { EvalDetail, FineTuneStatus } from './finetuner';
import type { Divergence } from './divergence';
import type { TaskSpec } from './task_source';

const DB_NAME = 'mobizo-webgpu';
const DB_VERSION = 2; // 2: the opened adapters' store
const STORES = ['session', 'model', 'checkpoint', 'adapters'] as const;
type StoreName = (typeof STORES)[number];
const KEY = 'current';
/** The Web Lock a running session is held under (one per origin). */
export const SESSION_LOCK = 'mobizo-webgpu-session';

export type ModelRef =
  | { kind: 'demo' } // the bundled stories260K
  | { kind: 'files'; name: string; size: number; tokenizerName?: string; stored: boolean }
  | { kind: 'hf'; name: string; size: number; files: string[]; tokenizerName?: string; stored: boolean } // a Hugging Face folder
  | { kind: 'url'; name: string; url: string; tokenizerUrl?: string };

export interface SessionRecord {
  id: string; // the session's id: every record of it carries it (absent in sessions saved before ids)
  created: number;
  updated: number;
  model: ModelRef;
  data: TaskSpec;
  options: FineTuneOptions;
  status: FineTuneStatus;
  step: number; // completed steps of the last checkpoint
  evals: EvalDetail[]; // incl. the evaluation made when a run was stopped
  error?: string;
  diverged?: Divergence | null; // the run stopped for divergence (it stays so across reloads)
}

export interface NamedBlob {
  name: string;
  blob: Blob;
}

/** A PEFT adapter the user opened, as its files came (opened again on restore). */
export interface StoredAdapter {
  name: string; // its name in Try it
  config: string; // adapter_config.json
  safetensors: Uint8Array; // adapter_model.safetensors
  file: string; // the files' names, as opened
  configFile: string;
}

/** The opened adapters in the order opened, and the one Predict and Download use (null: the run's). */
export interface StoredAdapters {
  list: StoredAdapter[];
  primary: string | null;
}

/** A checkpoint file (+ llama2.c tokenizer), or the files of a Hugging Face folder that make the model. */
export type StoredModel = { model: Blob; tokenizer?: Blob } | { files: NamedBlob[]; tokenizer?: Blob };

/** A checkpoint as stored: its files, its step, and the session it belongs to. */
interface CheckpointRecord {
  sessionId: string;
  step: number;
  files: CheckpointFiles;
}

type Owned<T> = T & { sessionId?: string };

/** A write refused because another tab replaced the session (started a new run, or forgot it). */
export class SessionTakenError extends Error {
  constructor(what: string) {
    super(`${what}: another tab of this app started a new run, which replaced this one in the browser's storage`);
    this.name = 'SessionTakenError';
  }
}

/** A run refused because another tab of this app is training the session now. */
export class SessionBusyError extends Error {
  constructor(what: string) {
    super(`${what}: another tab of this app is training the saved session now; continue it there, or close that tab first`);
    this.name = 'SessionBusyError';
  }
}

/** A resume refused because another tab trained the session further since this tab read it. */
export class SessionStaleError extends Error {
  constructor(step: number) {
    super(`this session was trained further in another tab (it is at step ${step} now): reload this page to continue from there`);
    this.name = 'SessionStaleError';
  }
}

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new DOMException('IndexedDB transaction aborted (storage full?)', 'AbortError'));
  });
}

let dbPromise: Promise<IDBDatabase> | null = null;

function openDb(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') return Promise.reject(new Error('IndexedDB is not available here (private browsing?)'));
  return (dbPromise ??= new Promise<IDBDatabase>((resolve, reject) => {
    const r = indexedDB.open(DB_NAME, DB_VERSION);
    r.onupgradeneeded = () => {
      for (const s of STORES) if (!r.result.objectStoreNames.contains(s)) r.result.createObjectStore(s);
    };
    r.onsuccess = () => {
      r.result.onversionchange = () => r.result.close();
      resolve(r.result);
    };
    r.onerror = () => reject(r.error ?? new Error('cannot open IndexedDB'));
    r.onblocked = () => reject(new Error('IndexedDB is blocked by another tab of this app'));
  }).catch((e) => {
    dbPromise = null;
    throw e;
  }));
}

async function tx<T>(stores: StoreName[], mode: IDBTransactionMode, body: (t: IDBTransaction) => Promise<T> | T): Promise<T> {
  const db = await openDb();
  const t = db.transaction(stores, mode, { durability: 'strict' });
  const finished = done(t);
  let out: T;
  try {
    out = await body(t);
  } catch (e) {
    finished.catch(() => {});
    try {
      t.abort();
    } catch {
      // already finished
    }
    throw e;
  }
  await finished;
  return out;
}

/** The stored session when it is `id`'s (an id-less legacy session belongs to anyone); else throws SessionTakenError. */
async function ownSession(t: IDBTransaction, id: string, what: string): Promise<SessionRecord> {
  const cur = (await req(t.objectStore('session').get(KEY))) as SessionRecord | undefined;
  if (!cur || (cur.id !== undefined && cur.id !== id)) throw new SessionTakenError(what);
  return cur;
}

/** A new session id (random, unique per run). */
export function newSessionId(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `s${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}

function mine<T>(rec: Owned<T> | undefined, id: string | undefined): T | null {
  if (!rec) return null;
  if (rec.sessionId !== undefined && id !== undefined && rec.sessionId !== id) return null; // a record of another session
  const { sessionId: _, ...rest } = rec as Owned<T> & Record<string, unknown>;
  return rest as T;
}

export const sessionStore = {
  /**
   * The saved session, with only the records that belong to it (a checkpoint, model or adapters
   * record of another session, e.g. after a write cut short by a crash, is left out).
   */
  async load(): Promise<{ session: SessionRecord; checkpoint: CheckpointFiles | null; model: StoredModel | null; adapters: StoredAdapters } | null> {
    return tx([...STORES], 'readonly', async (t) => {
      const [session, model, checkpoint, adapters] = await Promise.all([
        req(t.objectStore('session').get(KEY) as IDBRequest<SessionRecord | undefined>),
        req(t.objectStore('model').get(KEY) as IDBRequest<Owned<StoredModel> | undefined>),
        req(t.objectStore('checkpoint').get(KEY) as IDBRequest<CheckpointRecord | CheckpointFiles | undefined>),
        req(t.objectStore('adapters').get(KEY) as IDBRequest<Owned<StoredAdapters> | undefined>),
      ]);
      if (!session) return null;
      const id = session.id;
      let files: CheckpointFiles | null = null;
      if (checkpoint && 'files' in checkpoint && typeof (checkpoint as CheckpointRecord).step === 'number') {
        const c = checkpoint as CheckpointRecord;
        if (id === undefined || c.sessionId === id) files = c.files;
      } else if (checkpoint) files = checkpoint as CheckpointFiles; // saved before session ids
      return { session, checkpoint: files, model: mine(model, id), adapters: mine(adapters, id) ?? { list: [], primary: null } };
    });
  },

  /** The saved session's record alone (null: none). */
  async peek(): Promise<SessionRecord | null> {
    return tx(['session'], 'readonly', async (t) => ((await req(t.objectStore('session').get(KEY))) as SessionRecord | undefined) ?? null);
  },

  /** Starts a new session (the old one, its model, checkpoint and adapters are replaced), in one transaction. */
  async create(session: SessionRecord, model: StoredModel | null, adapters: StoredAdapters): Promise<void> {
    const id = session.id;
    await tx([...STORES], 'readwrite', (t) => {
      t.objectStore('session').put(session, KEY);
      t.objectStore('checkpoint').delete(KEY);
      t.objectStore('adapters').put({ ...adapters, sessionId: id }, KEY);
      if (model) t.objectStore('model').put({ ...model, sessionId: id }, KEY);
      else t.objectStore('model').delete(KEY);
    });
  },

  /** Replaces session `id`'s opened adapters (SessionTakenError when the stored session is another). */
  async saveAdapters(id: string, adapters: StoredAdapters): Promise<void> {
    await tx(['session', 'adapters'], 'readwrite', async (t) => {
      await ownSession(t, id, 'the opened adapters were not saved');
      t.objectStore('adapters').put({ ...adapters, sessionId: id }, KEY);
    });
  },

  /** Changes fields of session `id` (SessionTakenError when the stored session is another); resolves with the `updated` it wrote. */
  async update(id: string, patch: Partial<Omit<SessionRecord, 'id'>>): Promise<number> {
    return tx(['session'], 'readwrite', async (t) => {
      const cur = await ownSession(t, id, 'the session was not updated');
      const updated = Math.max(Date.now(), cur.updated + 1); // strictly later: a writer knows its own last write
      t.objectStore('session').put({ ...cur, ...patch, id: cur.id ?? id, updated }, KEY);
      return updated;
    });
  },

  /** Deletes the saved session (when `id` is given, only if it is that session's). */
  async clear(id?: string): Promise<void> {
    await tx([...STORES], 'readwrite', async (t) => {
      if (id !== undefined) {
        const cur = (await req(t.objectStore('session').get(KEY))) as SessionRecord | undefined;
        if (cur?.id !== undefined && cur.id !== id) return; // another tab's session now: not ours to delete
      }
      for (const s of STORES) t.objectStore(s).delete(KEY);
    });
  },
};

/**
 * The trainer's CheckpointStore in IndexedDB: the checkpoint's files and the session's step are
 * written in one transaction, so a crash keeps the previous checkpoint or the new one, never half
 * of each. With a `sessionId`, a checkpoint is written only while the stored session is that one
 * (SessionTakenError otherwise): two tabs never mix their runs.
 */
export class IndexedDbCheckpointStore implements CheckpointStore {
  constructor(private readonly opts: { sessionId?: string } = {}) {}

  async save(files: CheckpointFiles): Promise<void> {
    await this.saveStamped(files);
  }

  /** Saves a checkpoint; resolves with the session's `updated` it wrote (0: no session record). */
  async saveStamped(files: CheckpointFiles): Promise<number> {
    const step = (JSON.parse(files['trainer_state.json']) as { step: number }).step;
    const id = this.opts.sessionId;
    return tx(['session', 'checkpoint'], 'readwrite', async (t) => {
      const s = t.objectStore('session');
      const cur = id !== undefined ? await ownSession(t, id, `the checkpoint of step ${step} was not saved`) : ((await req(s.get(KEY))) as SessionRecord | undefined);
      const record: CheckpointRecord = { sessionId: cur?.id ?? id ?? '', step, files };
      t.objectStore('checkpoint').put(record, KEY);
      if (!cur) return 0;
      const updated = Math.max(Date.now(), cur.updated + 1);
      s.put({ ...cur, step, updated }, KEY);
      return updated;
    });
  }

  async load(): Promise<CheckpointFiles | null> {
    const saved = await sessionStore.load();
    return saved?.checkpoint ?? null;
  }
}

// ---- one writer: Web Locks ------------------------------------------------------------------
interface LockManagerLike {
  request(name: string, options: { ifAvailable?: boolean; mode?: 'exclusive' | 'shared' }, cb: (lock: unknown) => Promise<unknown>): Promise<unknown>;
  query(): Promise<{ held?: { name?: string }[] }>;
}

function locks(): LockManagerLike | null {
  const n = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return n?.locks ?? null;
}

/**
 * Runs `body` holding the session's Web Lock; when another tab (or worker) of this origin holds it,
 * throws SessionBusyError naming `what` at once. Where Web Locks do not exist, runs `body` as is.
 */
export async function withSessionLock<T>(what: string, body: () => Promise<T>): Promise<T> {
  const l = locks();
  if (!l) return body();
  let out: { value: T } | null = null;
  await l.request(SESSION_LOCK, { ifAvailable: true }, async (lock) => {
    if (!lock) return;
    out = { value: await body() };
  });
  if (!out) throw new SessionBusyError(what);
  return (out as { value: T }).value;
}

/** Whether some tab or worker of this origin holds the session's lock now (a run is going on there). */
export async function sessionLockHeld(): Promise<boolean> {
  const l = locks();
  if (!l) return false;
  const q = await l.query();
  return (q.held ?? []).some((h) => h.name === SESSION_LOCK);
}

// ---- a full quota --------------------------------------------------------------------------
function fmt(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Whether an IndexedDB error is the origin's storage quota running out. */
export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name ?? '';
  return name === 'QuotaExceededError' || /quota/i.test((e as Error | null)?.message ?? '');
}

/** The bytes a checkpoint (or a session's model) takes, roughly as stored. */
export function recordBytes(x: unknown): number {
  if (x === null || x === undefined) return 0;
  if (typeof x === 'string') return x.length;
  if (x instanceof Uint8Array) return x.byteLength;
  if (typeof Blob !== 'undefined' && x instanceof Blob) return x.size;
  if (Array.isArray(x)) return x.reduce((s: number, v) => s + recordBytes(v), 0);
  if (typeof x === 'object') return Object.values(x as Record<string, unknown>).reduce((s: number, v) => s + recordBytes(v), 0);
  return 8;
}

/**
 * Says how much storage is missing for `bytes` more: "needs 81 KiB; 12 KiB of this site's 1.1 MiB
 * quota is free: about 69 KiB missing" (navigator.storage.estimate; without it, what is needed).
 */
export async function describeMissingSpace(bytes: number): Promise<string> {
  const storage = (globalThis as { navigator?: { storage?: { estimate?: () => Promise<{ usage?: number; quota?: number }> } } }).navigator?.storage;
  let est: { usage?: number; quota?: number } | null = null;
  try {
    est = (await storage?.estimate?.()) ?? null;
  } catch {
    est = null;
  }
  if (!est || est.quota === undefined || est.usage === undefined) return `it needs ${fmt(bytes)} and the browser has no more room for this site`;
  const free = Math.max(0, est.quota - est.usage);
  const missing = bytes - free;
  if (missing > 0) return `it needs ${fmt(bytes)}; ${fmt(free)} of this site's ${fmt(est.quota)} quota is free: about ${fmt(missing)} missing (free space on the disk, or clear this site's data)`;
  // the estimate is coarse (and a quota set by the browser's policy may be lower than it says)
  return `it needs ${fmt(bytes)}; the browser reports ${fmt(free)} free for this site but refused the write: about ${fmt(bytes)} more must be free (free space on the disk, or clear this site's data)`;
}
