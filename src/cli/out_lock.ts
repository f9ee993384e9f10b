// One writer per run directory: `mobizo finetune` holds OUT/.mobizo.lock (its pid, host and start
// time) from before its first checkpoint to its exit. A second run on the same OUT is refused,
// naming the holder; a lock left by a process that no longer runs (a crash, a kill) is taken over
// with a note. And a run never writes over what OUT already holds unless asked: --resume continues
// it, --overwrite replaces it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OPTIMIZER_STATE_FILE } from '../train/optimizer';
import { ADAPTER_FILES, CHECKPOINT_PREFIX, checkpointFolders } from './checkpoint_dir';

export const LOCK_FILE = '.mobizo.lock';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // it exists, owned by someone else
  }
}

function readLock(file: string): { text: string; info: LockInfo | null } | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null; // gone meanwhile
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return { text, info: Number.isInteger(info.pid) ? info : null };
  } catch {
    return { text, info: null };
  }
}

/**
 * Takes the lock of OUT (creating OUT). Throws, naming the holder, when another live process holds
 * it; takes over (with a note through `log`) a lock whose process is gone. Returns the release.
 */
export function lockOut(out: string, log: (s: string) => void): () => void {
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(mine), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 3) throw e;
    }
    const held = readLock(file);
    if (!held) continue;
    const h = held.info;
    const sameHost = h && h.host === mine.host;
    if (h && (!sameHost || alive(h.pid))) {
      throw new Error(`--out ${out} is in use by another run (pid ${h.pid}${sameHost ? '' : ` on ${h.host}`}, started ${h.started}): one writer per directory; wait for it, or use another --out${sameHost ? '' : ` (remove ${file} if that run is gone)`}`);
    }
    // a stale lock: set it aside by one rename (only one taker wins), check it is the one read, drop it
    const aside = `${file}.stale-${process.pid}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue; // another process took it first: look again
    }
    const took = readLock(aside);
    if (took?.text !== held.text) {
      fs.renameSync(aside, file); // a fresh lock of another run was there by then: give it back
      continue;
    }
    fs.rmSync(aside, { force: true });
    log(`--out ${out}: took over the lock of ${h ? `process ${h.pid} (started ${h.started}), which no longer runs` : 'an unreadable lock file'}`);
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    const now = readLock(file);
    if (now?.info?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.once('exit', release);
  return release;
}

/** What OUT holds of a run: the adapter files and checkpoint folders (nothing else counts). */
export function runFiles(out: string): string[] {
  if (!fs.existsSync(out)) return [];
  if (!fs.statSync(out).isDirectory()) throw new Error(`--out ${out}: not a directory`);
  const names = fs.readdirSync(out);
  const ours = (n: string) =>
    (ADAPTER_FILES as readonly string[]).includes(n) || n === 'trainer_state.json' || n === OPTIMIZER_STATE_FILE || n.startsWith(CHECKPOINT_PREFIX) || n.startsWith(`.${CHECKPOINT_PREFIX}`) || /^\.adapter_.*\.tmp-\d+$/.test(n);
  return names.filter(ours);
}

/**
 * The --out policy: a run without --resume or --overwrite is refused when OUT already holds an
 * adapter or checkpoints (nothing is overwritten without a word); --overwrite removes them (other
 * files in OUT are left alone). `check`: only refuse (before the model loads, to fail fast); the
 * call made once the lock is held decides (another run may have written OUT in between).
 */
export function prepareOut(out: string, flags: { resume?: boolean; overwrite?: boolean }, log: (s: string) => void, opts: { check?: boolean } = {}): void {
  if (flags.resume && flags.overwrite) throw new Error('--resume and --overwrite exclude each other: continue the run in --out, or replace it');
  const held = runFiles(out);
  if (!held.length || flags.resume) return;
  if (!flags.overwrite) {
    const last = checkpointFolders(out)[0];
    throw new Error(`--out ${out} already holds an adapter${last ? ` (checkpoints up to step ${last.step})` : ''}: continue it with --resume, replace it with --overwrite, or choose another --out`);
  }
  if (opts.check) return; // checked early; removed once the lock is held
  for (const n of held) fs.rmSync(path.join(out, n), { recursive: true, force: true });
  log(`--overwrite: removed the adapter and checkpoints in ${out}`);
}
