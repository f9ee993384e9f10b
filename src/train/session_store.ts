// Persistence of a fine-tuning session in this browser (IndexedDB), so a reload, a crash or a
// closed tab resumes where it stopped: the run's settings and data, the model files (as Blobs),
// and the last checkpoint (adapter in the PEFT layout + trainer_state.json, and for momentum /
// adam / hizoo the optimizer's moments, optimizer_state.safetensors), and the PEFT adapters the
// user opened beside the run (Try it compares them). Nothing leaves the device. One session at a
// time ("current"). Works in pages and workers.
import type { CheckpointFiles, CheckpointStore } from './trainer';
import type { FineTuneOptions } from './defaults';
import type { EvalDetail, FineTuneStatus } from './finetuner';
import type { TaskSpec } from './task_source';

const DB_NAME = 'mobizo-webgpu';
const DB_VERSION = 2; // 2: the opened adapters' store
const STORES = ['session', 'model', 'checkpoint', 'adapters'] as const;
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
  async load(): Promise<{ session: SessionRecord; checkpoint: CheckpointFiles | null; model: StoredModel | null; adapters: StoredAdapters } | null> {
    return tx([...STORES], 'readonly', async (t) => {
      const [session, model, checkpoint, adapters] = await Promise.all([
        req(t.objectStore('session').get(KEY) as IDBRequest<SessionRecord | undefined>),
        req(t.objectStore('model').get(KEY) as IDBRequest<StoredModel | undefined>),
        req(t.objectStore('checkpoint').get(KEY) as IDBRequest<CheckpointFiles | undefined>),
        req(t.objectStore('adapters').get(KEY) as IDBRequest<StoredAdapters | undefined>),
      ]);
      return session ? { session, checkpoint: checkpoint ?? null, model: model ?? null, adapters: adapters ?? { list: [], primary: null } } : null;
    });
  },

  /** Starts a new session (the old one, its model, checkpoint and adapters are replaced). */
  async create(session: SessionRecord, model: StoredModel | null, adapters: StoredAdapters): Promise<void> {
    await tx([...STORES], 'readwrite', (t) => {
      t.objectStore('session').put(session, KEY);
      t.objectStore('checkpoint').delete(KEY);
      t.objectStore('adapters').put(adapters, KEY);
      if (model) t.objectStore('model').put(model, KEY);
      else t.objectStore('model').delete(KEY);
    });
  },

  /** Replaces the current session's opened adapters (no-op when there is no session). */
  async saveAdapters(adapters: StoredAdapters): Promise<void> {
    await tx(['session', 'adapters'], 'readwrite', async (t) => {
      if ((await req(t.objectStore('session').count(KEY))) > 0) t.objectStore('adapters').put(adapters, KEY);
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
    await tx([...STORES], 'readwrite', (t) => {
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
