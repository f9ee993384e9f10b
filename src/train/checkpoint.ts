// What makes a checkpoint trustworthy, for every store (a directory in the CLI, IndexedDB in the
// app): trainer_state.json lists the sha256 of each other file of the checkpoint (its manifest,
// written by the trainer) and the fingerprints of the model and data the run was trained on, so a
// resume can refuse a half-written checkpoint, a mixed one, or one of another model or data set.
// Browser-safe: no node: imports.
import { sha256Hex, Sha256 } from '../util/sha256';
import type { ByteSource } from '../formats/byte_source';

/** Identity of a run's inputs, recorded in trainer_state.json and compared on resume. */
export interface RunFingerprint {
  model?: string; // fingerprintSource / fingerprintSources of the model's file(s)
  data?: string; // fingerprintData of the training (and held-out) data
  task?: string; // fingerprintTask of the options that decide the examples and the loss
  modelName?: string; // for messages only
  dataName?: string;
}

/** The files a checkpoint holds besides trainer_state.json, as the manifest lists them: name -> sha256 hex. */
export type CheckpointManifest = Record<string, string>;

/** The manifest of a checkpoint's files (every entry but trainer_state.json; absent ones skipped). */
export function checkpointManifest(checkpoint: object): CheckpointManifest {
  const files = checkpoint as Readonly<Record<string, string | Uint8Array | undefined>>;
  const out: CheckpointManifest = {};
  for (const name of Object.keys(files).sort()) {
    const body = files[name];
    if (name !== 'trainer_state.json' && body !== undefined) out[name] = sha256Hex(body);
  }
  return out;
}

/**
 * Checks a checkpoint's files against the manifest in its trainer_state.json: a missing file, an
 * extra one or one whose sha256 differs is an error naming it (`source`: where the checkpoint is).
 * A trainer_state.json without a manifest (written before manifests existed) passes unchecked.
 */
export function verifyManifest(manifest: CheckpointManifest | undefined, files: Readonly<Record<string, string | Uint8Array | undefined>>, source: string): void {
  if (manifest === undefined) return;
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) throw new Error(`${source}/trainer_state.json: "files" is not a manifest of file names and sha256`);
  for (const [name, want] of Object.entries(manifest)) {
    const body = files[name];
    if (body === undefined) throw new Error(`${source}/${name}: missing, but trainer_state.json lists it (an incomplete checkpoint)`);
    const got = sha256Hex(body);
    if (got !== want) throw new Error(`${source}: ${name} has sha256 ${got.slice(0, 12)}..., trainer_state.json lists ${String(want).slice(0, 12)}...: a damaged or mixed checkpoint`);
  }
  for (const name of Object.keys(files)) {
    if (name !== 'trainer_state.json' && files[name] !== undefined && !(name in manifest)) {
      throw new Error(`${source}: ${name} is not in trainer_state.json's manifest: a mixed checkpoint`);
    }
  }
}

/** Files up to this size are hashed whole; larger ones are sampled (see fingerprintSource). */
export const WHOLE_FILE_FINGERPRINT = 8 << 20;
const EDGE = 1 << 20;
const SAMPLES = 16;
const SAMPLE = 64 << 10;

/**
 * A model file's fingerprint: `sha256:<hex>` of the whole file up to 8 MiB; a larger one
 * `sha256-sampled:<hex>` of its size, first and last MiB and 16 evenly spaced 64 KiB pieces (about
 * 3 MiB read whatever the size; any fine-tune or requantisation of a model changes them). The same
 * file gives the same value in Node and in a page.
 */
export async function fingerprintSource(src: ByteSource): Promise<string> {
  if (src.size <= WHOLE_FILE_FINGERPRINT) return `sha256:${sha256Hex(await src.read(0, src.size))}`;
  const h = new Sha256().update(`size ${src.size}\n`);
  h.update(await src.read(0, EDGE));
  const span = src.size - 2 * EDGE - SAMPLE;
  for (let i = 0; i < SAMPLES; i++) h.update(await src.read(EDGE + Math.floor((span * i) / (SAMPLES - 1)), SAMPLE));
  h.update(await src.read(src.size - EDGE, EDGE));
  return `sha256-sampled:${h.digest()}`;
}

/** The fingerprint of a model made of several files (a Hugging Face folder): each file's name and fingerprint. */
export async function fingerprintSources(srcs: readonly ByteSource[]): Promise<string> {
  if (srcs.length === 1) return fingerprintSource(srcs[0]);
  const h = new Sha256();
  for (const s of [...srcs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(`${s.name.slice(s.name.lastIndexOf('/') + 1)}\n${await fingerprintSource(s)}\n`);
  }
  return `files:${h.digest()}`;
}

/** The fingerprint of a run's data: sha256 over its files' bytes / texts, in order. */
export function fingerprintData(parts: readonly (Uint8Array | string)[]): string {
  const h = new Sha256();
  for (const p of parts) h.update(`${typeof p === 'string' ? 'text' : 'bytes'} ${p.length}\n`).update(p);
  return `sha256:${h.digest()}`;
}

/** JSON with object keys sorted (undefined fields dropped): one spelling per value. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** The fingerprint of the options that decide the examples and the loss (a task spec without its data). */
export function fingerprintTask(spec: object): string {
  return `sha256:${sha256Hex(canonicalJson(spec))}`;
}

/** The fingerprints of a TaskSpec-like object: its data (files' bytes, texts) and the rest of it. */
export function taskFingerprint(spec: { files?: { name: string; bytes?: Uint8Array; text?: string }[]; text?: string; evalFile?: { name: string; bytes?: Uint8Array; text?: string } } & object): { data: string; task: string; dataName?: string } {
  const { files, text, evalFile, ...rest } = spec as { files?: { name: string; bytes?: Uint8Array; text?: string }[]; text?: string; evalFile?: { name: string; bytes?: Uint8Array; text?: string } };
  const parts: (Uint8Array | string)[] = [];
  for (const f of [...(files ?? []), ...(evalFile ? [evalFile] : [])]) parts.push(f.bytes ?? f.text ?? '');
  if (text !== undefined) parts.push(text);
  const names = [...(files ?? []), ...(evalFile ? [evalFile] : [])].map((f) => f.name);
  return { data: fingerprintData(parts), task: fingerprintTask({ ...rest, evalFile: evalFile ? true : undefined }), ...(names.length ? { dataName: names.join(', ') } : {}) };
}

/**
 * Throws when a resumed checkpoint's fingerprint differs from this run's, naming both (either
 * side without one: not compared; a part absent on either side: not compared).
 */
export function checkFingerprint(was: RunFingerprint | undefined, now: RunFingerprint | undefined, source: string): void {
  if (!was || !now) return;
  const short = (f: string) => (f.length > 30 ? `${f.slice(0, f.indexOf(':') + 13)}...` : f);
  const named = (f: string, name?: string) => `${short(f)}${name ? ` (${name})` : ''}`;
  if (was.model && now.model && was.model !== now.model) {
    throw new Error(`${source}: the checkpoint was trained on model ${named(was.model, was.modelName)}, this run's model is ${named(now.model, now.modelName)}: resume with the same model file`);
  }
  if (was.data && now.data && was.data !== now.data) {
    throw new Error(`${source}: the checkpoint was trained on data ${named(was.data, was.dataName)}, this run's data is ${named(now.data, now.dataName)}: resume with the same data`);
  }
  if (was.task && now.task && was.task !== now.task) {
    throw new Error(`${source}: the checkpoint was trained with task options ${short(was.task)}, this run's are ${short(now.task)} (task, preset, template, labels, loss, split or sizes differ): resume with the same options`);
  }
}
