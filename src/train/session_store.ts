// Persistence of a fine-tuning session in this browser (IndexedDB), so a reload, a crash or a
// closed tab resumes where it stopped: the run's settings and data, the model files (as Blobs),
// and the last checkpoint (adapter in the PEFT layout + trainer_state.json, and for momentum /
// adam / hizoo the optimizer's moments, optimizer_state.safetensors). Nothing leaves the
// device. One session at a time ("current"). Works in pages and workers.
import type { CheckpointFiles, CheckpointStore } from './trainer';
import type { FineTuneOptions } from './defaults';
import type { EvalDetail, FineTuneStatus } from './finetuner';
import type { TaskSpec } from './task_source';

const DB_NAME = 'mobizo-webgpu';
const DB_VERSION = 1;
const STORES = ['session', 'model', 'checkpoint'] as const;
type StoreName = (typeof STORES)[number];
const KEY = 'current';

export type ModelRef =
  | { kind: 'demo' }
  | { kind: 'files'; name: string; size: number; tokenizerName?: string; stored: boolean }
  | { kind: 'hf'; name: string; size: number; files: string[]; tokenizerName?: string; stored: boolean }; // a Hugging Face folder

export interface SessionRecord {
  created: number;
  updated: number;
  model: ModelRef;
  data: TaskSpec;
  options: FineTuneOptions;
  status: FineTuneStatus;
  step: number; // completed steps of the last checkpoint
  evals: EvalDetail[]; // incl. the evaluation made when a run was stopped
  error?: string;
}

export interface NamedBlob {
  name: string;
  blob: Blob;
}

/** A checkpoint file (+ llama2.c tokenizer), or the files of a Hugging Face folder that make the model. */
export type StoredModel = { model: Blob; tokenizer?: Blob } | { files: NamedBlob[]; tokenizer?: Blob };

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
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted (storage full?)'));
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
    r.onsuccess = () => resolve(r.result);
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

export const sessionStore = {
  async load(): Promise<{ session: SessionRecord; checkpoint: CheckpointFiles | null; model: StoredModel | null } | null> {
    return tx(['session', 'model', 'checkpoint'], 'readonly', async (t) => {
      const [session, model, checkpoint] = await Promise.all([
        req(t.objectStore('session').get(KEY) as IDBRequest<SessionRecord | undefined>),
        req(t.objectStore('model').get(KEY) as IDBRequest<StoredModel | undefined>),
        req(t.objectStore('checkpoint').get(KEY) as IDBRequest<CheckpointFiles | undefined>),
      ]);
      return session ? { session, checkpoint: checkpoint ?? null, model: model ?? null } : null;
    });
  },

  /** Starts a new session (the old one, its model and checkpoint are replaced). */
  async create(session: SessionRecord, model: StoredModel | null): Promise<void> {
    await tx(['session', 'model', 'checkpoint'], 'readwrite', (t) => {
      t.objectStore('session').put(session, KEY);
      t.objectStore('checkpoint').delete(KEY);
      if (model) t.objectStore('model').put(model, KEY);
      else t.objectStore('model').delete(KEY);
    });
  },

  /** Changes fields of the current session (no-op when there is none). */
  async update(patch: Partial<SessionRecord>): Promise<void> {
    await tx(['session'], 'readwrite', async (t) => {
      const s = t.objectStore('session');
      const cur = (await req(s.get(KEY))) as SessionRecord | undefined;
      if (cur) s.put({ ...cur, ...patch, updated: Date.now() }, KEY);
    });
  },

  async clear(): Promise<void> {
    await tx(['session', 'model', 'checkpoint'], 'readwrite', (t) => {
      for (const s of STORES) t.objectStore(s).delete(KEY);
    });
  },
};

/**
 * The trainer's CheckpointStore in IndexedDB: the adapter files and trainer_state.json are written
 * in one transaction together with the session's step, so a crash keeps the previous checkpoint
 * or the new one, never half of each.
 */
export class IndexedDbCheckpointStore implements CheckpointStore {
  async save(files: CheckpointFiles): Promise<void> {
    const step = (JSON.parse(files['trainer_state.json']) as { step: number }).step;
    await tx(['session', 'checkpoint'], 'readwrite', async (t) => {
      t.objectStore('checkpoint').put(files, KEY);
      const s = t.objectStore('session');
      const cur = (await req(s.get(KEY))) as SessionRecord | undefined;
      if (cur) s.put({ ...cur, step, updated: Date.now() }, KEY);
    });
  }

  async load(): Promise<CheckpointFiles | null> {
    return tx(['checkpoint'], 'readonly', async (t) => ((await req(t.objectStore('checkpoint').get(KEY))) as CheckpointFiles | undefined) ?? null);
  }
}
