// Checkpoints of `mobizo finetune --out OUT` on disk, complete or absent:
//
//   OUT/adapter_config.json, OUT/adapter_model.safetensors   the adapter (PEFT layout): the latest
//                                                            checkpoint's, then the run's result
//   OUT/checkpoint-<step>/   the resume state of a step: the adapter files, optimizer_state.safetensors
//                            (momentum / adam / hizoo) and trainer_state.json, the manifest (sha256 of
//                            each other file, src/train/checkpoint.ts), written last
//
// A checkpoint is written into OUT/.checkpoint-<step>.tmp-<pid>/ (each file fsynced), switched in by
// one rename, then the top-level adapter files are replaced (each written beside and renamed) and
// older checkpoint folders removed. A crash anywhere leaves the previous checkpoint or the new one,
// never a mix; --resume takes the newest folder whose manifest verifies. Disk full stops the run
// with the last checkpoint intact and a message naming the space needed.
import fs from 'node:fs';
import path from 'node:path';
import type { Model } from '../model/model';
import { parseCheckpoint, type CheckpointFiles, type CheckpointStore } from '../train/trainer';
import { OPTIMIZER_STATE_FILE } from '../train/optimizer';
import { fmtMiB } from '../train/memory_plan';

export const CHECKPOINT_PREFIX = 'checkpoint-';
/** The files of the adapter itself (PEFT), kept at the top of OUT. */
export const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors'] as const;

/**
 * A fault-injection hook for tests of the recovery path: called before every file-system operation
 * of a checkpoint (n counts them from 1 over the store's life); it may throw (an I/O error) or kill
 * the process. The CLI sets one from MOBIZO_FAULT_CHECKPOINT=<n>[:kill|:enospc] (see faultFromEnv).
 */
export type StoreFault = (n: number, op: string) => void;

/** MOBIZO_FAULT_CHECKPOINT=<n>[:kill|:enospc]: before operation n, SIGKILL the process (default) or fail with ENOSPC. */
export function faultFromEnv(env: NodeJS.ProcessEnv = process.env): StoreFault | undefined {
  const spec = env.MOBIZO_FAULT_CHECKPOINT;
  if (!spec) return undefined;
  const [at, kind = 'kill'] = spec.split(':');
  const n0 = Number(at);
  if (!Number.isInteger(n0) || n0 < 1 || (kind !== 'kill' && kind !== 'enospc')) throw new Error(`MOBIZO_FAULT_CHECKPOINT must be <n>[:kill|:enospc] with n >= 1, got ${spec}`);
  return (n, op) => {
    if (n !== n0) return;
    if (kind === 'kill') {
      process.stderr.write(`fault injection: killing the process before checkpoint operation ${n} (${op})\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    throw Object.assign(new Error(`ENOSPC: no space left on device, ${op} (injected)`), { code: 'ENOSPC' });
  };
}

/** Steps of the checkpoint folders in OUT, newest first (complete or not: loading checks them). */
export function checkpointFolders(out: string): { step: number; dir: string }[] {
  if (!fs.existsSync(out)) return [];
  const found: { step: number; dir: string; rank: number }[] = [];
  for (const name of fs.readdirSync(out)) {
    // checkpoint-N; .checkpoint-N.old-PID: a complete one set aside while checkpoint-N was re-written
    const m = /^checkpoint-(\d+)$/.exec(name) ?? /^\.checkpoint-(\d+)\.old-\d+$/.exec(name);
    if (m && fs.statSync(path.join(out, name)).isDirectory()) found.push({ step: Number(m[1]), dir: path.join(out, name), rank: name.startsWith('.') ? 1 : 0 });
  }
  return found.sort((a, b) => b.step - a.step || a.rank - b.rank).map(({ step, dir }) => ({ step, dir }));
}

function readOptional(file: string): Uint8Array | undefined {
  return fs.existsSync(file) ? new Uint8Array(fs.readFileSync(file)) : undefined;
}

/** Reads and checks (manifest, adapter shapes) the checkpoint in folder `dir`. */
export function loadCheckpointDir(dir: string, model: Model) {
  const need = (name: string) => {
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) throw new Error(`${dir}: missing ${name}`);
    return p;
  };
  const state = fs.readFileSync(need('trainer_state.json'), 'utf8');
  const config = fs.readFileSync(need('adapter_config.json'), 'utf8');
  const safetensors = new Uint8Array(fs.readFileSync(need('adapter_model.safetensors')));
  return parseCheckpoint({ config, safetensors, state, optimizer: readOptional(path.join(dir, OPTIMIZER_STATE_FILE)) }, model, dir);
}

/**
 * The newest complete checkpoint in OUT (its manifest verifies), or null when there is none; each
 * folder passed over is named through `log` with the reason. A directory of the layout before
 * checkpoint folders (trainer_state.json beside the adapter) is read as one checkpoint.
 */
export function lastCheckpoint(out: string, model: Model, log: (s: string) => void): ReturnType<typeof loadCheckpointDir> | null {
  const candidates = checkpointFolders(out).map((c) => c.dir);
  if (fs.existsSync(path.join(out, 'trainer_state.json'))) candidates.push(out);
  for (const dir of candidates) {
    try {
      return loadCheckpointDir(dir, model);
    } catch (e) {
      log(`skipping ${dir}: ${(e as Error).message.replace(`${dir}: `, '').replace(`${dir}/`, '')}`);
    }
  }
  return null;
}

/** Writes `data` to `file` and flushes it to the disk before returning. */
function writeSynced(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Flushes a directory's entries (the renames in it); not possible everywhere (Windows): skipped there. */
function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // a platform without directory fsync
  }
}

function freeBytes(dir: string): number | null {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** A checkpoint store in OUT (layout above). `fault`: the test hook (StoreFault). */
export function directoryStore(out: string, opts: { fault?: StoreFault } = {}): CheckpointStore {
  let n = 0;
  const op = <T>(what: string, f: () => T): T => {
    opts.fault?.(++n, what);
    return f();
  };
  return {
    async save(files: CheckpointFiles) {
      const step = (JSON.parse(files['trainer_state.json']) as { step: number }).step;
      const final = path.join(out, `${CHECKPOINT_PREFIX}${step}`);
      const tmp = path.join(out, `.${CHECKPOINT_PREFIX}${step}.tmp-${process.pid}`);
      // trainer_state.json (the manifest of the others) is written last
      const names = [...Object.keys(files).filter((k) => k !== 'trainer_state.json'), 'trainer_state.json'] as (keyof CheckpointFiles & string)[];
      const bytes = names.reduce((s, k) => s + (typeof files[k] === 'string' ? Buffer.byteLength(files[k] as string) : (files[k] as Uint8Array).length), 0);
      try {
        fs.mkdirSync(out, { recursive: true });
        fs.rmSync(tmp, { recursive: true, force: true });
        op(`mkdir ${tmp}`, () => fs.mkdirSync(tmp));
        for (const name of names) op(`write ${name}`, () => writeSynced(path.join(tmp, name), files[name] as string | Uint8Array));
        syncDir(tmp);
        // switched in by one rename (a folder of the same step is set aside first, and removed after)
        const aside = path.join(out, `.${CHECKPOINT_PREFIX}${step}.old-${process.pid}`);
        if (fs.existsSync(final)) op(`set aside ${final}`, () => fs.renameSync(final, aside));
        op(`rename ${tmp} -> ${final}`, () => fs.renameSync(tmp, final));
        syncDir(out);
        // the adapter at the top of OUT, each file replaced whole
        for (const name of ADAPTER_FILES) {
          const side = path.join(out, `.${name}.tmp-${process.pid}`);
          op(`write ${side}`, () => writeSynced(side, files[name]));
          op(`rename ${side} -> ${name}`, () => fs.renameSync(side, path.join(out, name)));
        }
        syncDir(out);
        for (const c of checkpointFolders(out)) if (c.dir !== final) op(`remove ${c.dir}`, () => fs.rmSync(c.dir, { recursive: true, force: true }));
        // what a crashed writer left half-done (this process holds OUT's lock: no other writer is live)
        for (const name of fs.readdirSync(out)) {
          if (/^\.(checkpoint-\d+|adapter_[\w.]+)\.tmp-\d+$/.test(name)) fs.rmSync(path.join(out, name), { recursive: true, force: true });
        }
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
        fs.rmSync(tmp, { recursive: true, force: true });
        const free = freeBytes(out);
        const last = checkpointFolders(out)[0];
        const kept = last?.step === step ? ` (the checkpoint itself is complete in ${final})` : last ? `; the checkpoint of step ${last.step} is intact in ${last.dir}` : '; no earlier checkpoint';
        throw new Error(
          `disk full writing the checkpoint of step ${step} to ${out}: it needs ${fmtMiB(bytes)} (${bytes} bytes)${free !== null ? `, ${fmtMiB(free)} are free` : ''}${kept}; free some space and continue with --resume`,
        );
      }
    },
  };
}
