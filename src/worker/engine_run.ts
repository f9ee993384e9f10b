// The engine's run: the data, a FineTuner started, paused, stopped and resumed, its checkpoints
// written to the saved session (one IndexedDB transaction each, only while the session is this
// tab's; a full quota is said, in bytes, and the run goes on), one writer per session (a Web Lock
// while it trains), a diverged run resumed only with a lower learning rate, and a lost GPU device
// survived: a new device, the model loaded again, the run back at its last checkpoint, paused.
import { dedupeEvals, FineTuner } from '../train/finetuner';
import {
  describeMissingSpace, IndexedDbCheckpointStore, isQuotaError, newSessionId, recordBytes, sessionLockHeld, sessionStore, SessionStaleError, SessionTakenError, withSessionLock,
} from '../train/session_store';
import { prepareTask, type PreparedTask, type TaskSpec } from '../train/task_source';
import { defaultOptions, type FineTuneOptions } from '../train/defaults';
import type { CheckpointFiles, CheckpointStore } from '../train/trainer';
import { validateTrainConfig } from '../train/options';
import { taskFingerprint } from '../train/checkpoint';
import { openAdapter, openedToStore } from './engine_adapters';
import { dropModel, loadModel, modelRecord } from './engine_model';
import { deviceLost, eng, needModel, notWhileTraining, post } from './engine_state';
import type { DataInfo, RunInfo } from './protocol';

// ---- data ----------------------------------------------------------------------------------
export function dataInfo(task: PreparedTask, batch: number, seed: number): DataInfo {
  const { tok } = needModel();
  return {
    kind: task.kind,
    describe: task.describe,
    trainCount: task.trainCount,
    evalCount: task.evalCount,
    evalIsTrain: task.evalIsTrain,
    preview: task.preview(tok, 6, batch, seed),
    ...(task.classify ? { classify: { ...task.classify } } : {}),
    demo: !!eng.data?.spec.demo,
  };
}

export function prepare(spec: TaskSpec, seq: number, seed: number): PreparedTask {
  const { tok, model } = needModel();
  if (seq > model.config.seqLen) throw new Error(`sequence length ${seq} exceeds the model's context of ${model.config.seqLen}`);
  const task = prepareTask(spec, tok, seq, seed);
  eng.data = { spec, seq, seed, task };
  return task;
}

/** The prepared data for these options (prepared again when seq, seed or the sizes changed). */
function taskFor(o: FineTuneOptions): PreparedTask {
  const d = eng.data;
  if (!d) throw new Error('choose the training data first');
  const s = d.spec;
  if (d.seq === o.seq && d.seed === o.seed && s.trainSize === o.trainSize && s.evalSize === o.evalSize) return d.task;
  return prepare({ ...s, trainSize: o.trainSize, evalSize: o.evalSize }, o.seq, o.seed);
}

/** A run's options: the given ones over the defaults of this model and task (with the app's cadence). */
export function runOptions(given: Partial<FineTuneOptions>, spec?: TaskSpec): FineTuneOptions {
  const { info } = needModel();
  const kind = spec ? (spec.task ?? (spec.preset ? 'classify' : 'lm')) : (eng.data?.task.kind ?? 'lm');
  return { ...defaultOptions(info.bundled, true, kind), ...given };
}

// ---- training ------------------------------------------------------------------------------
/** Checks a run's options with the trainer's rules (an OptionError names the option) before
 * anything is replaced: a refused Start keeps the saved session. */
function checkOptions(task: PreparedTask, options: FineTuneOptions): void {
  const { model, tok } = needModel();
  validateTrainConfig(new FineTuner(model, tok, task, { ...options }).trainConfig);
}

/**
 * The task with its evaluations announced as phases (the page shows what a run is doing before
 * its first step: the first evaluation, then compiling and running the first step).
 */
function withPhases(task: PreparedTask, run: { stepped: boolean; tuner?: FineTuner }): PreparedTask {
  const what = `${task.evalCount} ${task.kind === 'lm' ? 'held-out text chunks' : 'held-out examples'}${task.evalIsTrain ? ' (the training data)' : ''}`;
  const t = Object.create(task) as PreparedTask; // keeps the task's lazy getters
  t.evaluate = async (model, lora, rows) => {
    const step = run.tuner?.step ?? 0;
    post('phase', { text: step === 0 && !run.stepped ? `evaluating the base model on ${what}` : `evaluating the adapter at step ${step} on ${what}` });
    try {
      return await task.evaluate(model, lora, rows);
    } finally {
      post('phase', { text: run.stepped ? '' : 'compiling the training step and running the first one' });
    }
  };
  return t;
}

/** Why a checkpoint could not be saved, in words, with what is kept. */
async function saveProblem(e: unknown, step: number, bytes: number): Promise<{ message: string; cause: 'quota' | 'taken' | 'other' }> {
  const last = eng.session.savedStep;
  const kept = last === null ? 'nothing of this run is saved in the browser yet' : `the last checkpoint saved in the browser is step ${last}`;
  if (e instanceof SessionTakenError) {
    return { cause: 'taken', message: `The checkpoint of step ${step} is not saved: another tab of this app started a new run, which replaced this one in the browser's storage. Training goes on here; download the adapter to keep it.` };
  }
  if (isQuotaError(e)) {
    return {
      cause: 'quota',
      message: `The checkpoint of step ${step} is not saved in this browser: the storage for this site is full (${await describeMissingSpace(bytes)}). Training goes on; ${kept}; "Download adapter" keeps this run's adapter.`,
    };
  }
  const why = (e as Error)?.message || (e as { name?: string })?.name || String(e);
  return { cause: 'other', message: `The checkpoint of step ${step} is not saved in this browser (${why}). Training goes on; ${kept}; "Download adapter" keeps this run's adapter.` };
}

/** The run's checkpoints into the saved session; a failure is said (an event) and the run goes on. */
function sessionCheckpoints(): CheckpointStore {
  return {
    save: async (files: CheckpointFiles) => {
      const s = eng.session;
      if (!s.persisted) return;
      const step = (JSON.parse(files['trainer_state.json']) as { step: number }).step;
      try {
        s.updated = await new IndexedDbCheckpointStore({ sessionId: s.id }).saveStamped(files);
        s.savedStep = step;
        s.saveProblem = undefined;
      } catch (e) {
        const p = await saveProblem(e, step, recordBytes(files));
        if (p.cause === 'taken') s.persisted = false; // not ours any more: no further writes
        s.saveProblem = p.message;
        post('storage', { step, saved: false, message: p.message, cause: p.cause });
      }
    },
  };
}

/** Writes a patch of the session record; a session another tab took stops this engine's writes. */
async function updateSession(patch: Parameters<typeof sessionStore.update>[1]): Promise<void> {
  if (!eng.session.persisted) return;
  try {
    eng.session.updated = await sessionStore.update(eng.session.id, patch);
  } catch (e) {
    if (e instanceof SessionTakenError) eng.session.persisted = false;
  }
}

function makeTuner(task: PreparedTask, options: FineTuneOptions, resumeFrom?: CheckpointFiles): FineTuner {
  const { model, tok, info, fingerprint: modelPrint } = needModel();
  const run: { stepped: boolean; tuner?: FineTuner } = { stepped: false };
  // what the run trains on, recorded in each checkpoint: a restore on another model or data is refused, naming both
  const spec = eng.data?.spec;
  const fingerprint = { model: modelPrint, modelName: info.name, ...(spec ? taskFingerprint({ evalSize: options.evalSize, trainSize: options.trainSize, ...spec } as TaskSpec) : {}) };
  const t = new FineTuner(model, tok, withPhases(task, run), { ...options }, { store: sessionCheckpoints(), resumeFrom, baseModelName: info.name, fingerprint });
  run.tuner = t;
  if (t.memoryFit?.note) post('log', { message: `Max GPU memory: ${t.memoryFit.note}` });
  t.addEventListener('step', (e) => {
    if (!run.stepped) (run.stepped = true), post('phase', { text: '' });
    post('step', { ...e.detail, memory: model.gpu.ledger.report() });
  });
  t.addEventListener('eval', (e) => post('eval', e.detail));
  t.addEventListener('checkpoint', (e) => post('checkpoint', { step: e.detail.step, persisted: eng.session.persisted && eng.session.savedStep === e.detail.step }));
  t.addEventListener('diverge', (e) => post('diverge', e.detail));
  t.addEventListener('status', (e) => {
    const s = e.detail.status;
    if (s === 'running') run.stepped = false;
    if (s !== 'running' && s !== 'pausing' && s !== 'stopping') post('phase', { text: '' });
    post('status', e.detail);
    if (t === eng.tuner) void updateSession({ status: s, error: e.detail.diverged?.message ?? e.detail.error, diverged: e.detail.diverged ?? null });
  });
  return t;
}

export function runInfo(): RunInfo {
  const t = eng.tuner;
  const s = eng.session;
  return {
    sessionId: s.persisted ? s.id : '',
    status: t?.status ?? 'idle',
    step: t?.step ?? 0,
    steps: t?.options.steps ?? 0,
    history: t?.history ?? [],
    evals: t?.evals ?? [],
    hasAdapter: !!t?.lora,
    persisted: s.persisted,
    savedStep: s.savedStep,
    ...(s.saveProblem ? { saveProblem: s.saveProblem } : {}),
    diverged: t?.diverged ?? null,
    msPerStep: eng.msPerStep,
    lr: t?.options.lr ?? 0,
    ...(eng.interrupted ? { interrupted: eng.interrupted } : {}),
  };
}

/**
 * The GPU device was lost (a driver reset, the system reclaiming memory, device.destroy()): a new
 * device, the model loaded again, the opened adapters opened again, and the run back at its last
 * checkpoint (in memory: the last one it made, saved in the browser or not), paused.
 */
async function recoverFromLostDevice(reason: string): Promise<void> {
  const t = eng.tuner;
  const d = eng.data;
  const source = eng.loaded?.source;
  if (!source) return;
  const at = t?.step ?? 0;
  const cp = t?.checkpoint ?? null;
  const kept = cp ? (JSON.parse(cp['trainer_state.json']) as { step: number }).step : 0;
  const options = t ? { ...t.options } : null;
  const evals = t?.evals ?? [];
  const adapters = openedToStore();
  const { ref, blobs } = eng.loaded!;
  try {
    dropModel(); // the lost device's buffers: destroying them is harmless
  } catch {
    // nothing to free on a lost device
  }
  eng.gpu = null;
  await loadModel(source); // on a new device (ensureGpu)
  eng.loaded!.ref = ref;
  eng.loaded!.blobs = blobs;
  for (const a of adapters.list) openAdapter(a);
  eng.primaryOpened = adapters.primary;
  if (d && options) {
    eng.data = d;
    eng.tuner = makeTuner(d.task, options, cp ?? undefined);
    eng.tuner.evals = dedupeEvals([...eng.tuner.evals, ...evals.filter((e) => e.step <= kept)]);
    eng.tuner.status = kept >= options.steps ? 'done' : 'paused';
  }
  const message = t
    ? `The GPU was lost at step ${at} (${reason}). A new GPU device was made, the model loaded again, and the run went back to ${kept ? `its last checkpoint, step ${kept}` : 'its start (no checkpoint yet)'}: press Resume to continue.`
    : `The GPU was lost (${reason}). A new GPU device was made and the model loaded again.`;
  eng.interrupted = { cause: 'gpu-lost', step: at, kept, message };
  post('interrupted', eng.interrupted);
  if (t) await updateSession({ status: 'paused', step: kept, error: message });
}

/** Before a command: a device lost while idle is replaced (the model loaded again) first. */
export async function recoverIfLost(): Promise<void> {
  if (eng.running || !eng.gpu?.lost) return;
  await recoverFromLostDevice(eng.gpu.lost);
}

async function runTuner(): Promise<RunInfo> {
  const t = eng.tuner!;
  eng.running = true;
  eng.interrupted = undefined;
  try {
    const r = await t.run();
    eng.msPerStep = r.msPerStep || eng.msPerStep;
  } catch (e) {
    const lost = await deviceLost(eng.gpu);
    if (lost) {
      eng.running = false;
      await recoverFromLostDevice(lost);
      return runInfo();
    }
    await updateSession({ status: 'failed', error: (e as Error).message });
    throw e;
  } finally {
    eng.running = false;
  }
  const s = eng.session;
  const kept = s.savedStep ?? 0;
  if (s.saveProblem && kept < t.step) {
    // what a reload will find: the last checkpoint saved, and why the rest is not there
    const error = `The run went on to step ${t.step}, but its checkpoints after step ${kept} could not be saved in this browser: ${s.saveProblem.replace(/^The checkpoint of step \d+ is not saved in this browser: /, '').replace(/ Training goes on;.*$/, '')}`;
    await updateSession({ status: 'paused', step: kept, evals: t.evals.filter((e) => e.step <= kept), options: t.options, diverged: null, error });
  } else await updateSession({ status: t.status, step: kept, evals: t.evals, options: t.options, diverged: t.diverged, error: undefined });
  return runInfo();
}

export async function start(given: Partial<FineTuneOptions>, spec?: TaskSpec): Promise<RunInfo> {
  notWhileTraining('start');
  const options = runOptions(given, spec);
  if (spec) prepare({ ...spec, trainSize: options.trainSize, evalSize: options.evalSize }, options.seq, options.seed);
  const task = taskFor(options);
  checkOptions(task, options);
  return withSessionLock('Start', async () => {
    eng.tuner?.destroy();
    eng.tuner = null;
    eng.primaryOpened = null; // the new run's adapter is the one Predict and Download use
    const s = eng.session;
    s.id = newSessionId();
    s.persisted = false;
    s.savedStep = null;
    s.saveProblem = undefined;
    let reason: string | undefined;
    const { ref, blobs } = modelRecord();
    const now = Date.now();
    try {
      await sessionStore.create({ id: s.id, created: now, updated: now, model: ref, data: eng.data!.spec, options, status: 'running', step: 0, evals: [], diverged: null }, blobs, openedToStore());
      s.persisted = true;
      s.updated = now;
    } catch (e) {
      reason = isQuotaError(e)
        ? `the storage for this site is full: ${await describeMissingSpace(recordBytes(blobs) + recordBytes(eng.data!.spec))}`
        : (e as Error)?.message || (e as { name?: string })?.name || String(e);
      post('log', { message: `this run is not saved in the browser (${reason}); download the adapter to keep it` });
    }
    post('session', { persisted: s.persisted, sessionId: s.persisted ? s.id : '', ...(reason ? { reason } : {}) });
    eng.tuner = makeTuner(task, options);
    return runTuner();
  });
}

const CHANGEABLE: (keyof FineTuneOptions)[] = ['steps', 'mode', 'evalEvery', 'checkpointEvery'];

/** A diverged run goes on only with a lower lr: its kept checkpoint's trainer state takes the new one. */
function lowerLr(t: FineTuner, lr: number | undefined): void {
  if (!t.diverged && t.status !== ('diverged' as string)) {
    if (lr !== undefined && lr !== t.options.lr) throw new Error(`lr was ${t.options.lr} in this run (now ${lr}): start a new run to change it`);
    return;
  }
  if (lr === undefined) throw new Error(`this run diverged at lr ${t.options.lr}: it goes on only with a lower learning rate (try ${Number((t.options.lr / 10).toPrecision(2))})`);
  if (!(lr > 0 && lr < t.options.lr)) throw new Error(`this run diverged at lr ${t.options.lr}: the new learning rate must be lower, got ${lr}`);
  t.options.lr = lr;
  const cp = t.checkpoint;
  if (cp) {
    const state = JSON.parse(cp['trainer_state.json']) as { config: { lr: number }; lrChanges?: { step: number; from: number; to: number }[] };
    state.lrChanges = [...(state.lrChanges ?? []), { step: (state as unknown as { step: number }).step, from: state.config.lr, to: lr }];
    state.config.lr = lr;
    t.checkpoint = { ...cp, 'trainer_state.json': JSON.stringify(state, null, 1) };
  }
  t.diverged = null;
}

export async function resume(given: Partial<FineTuneOptions>, lr?: number): Promise<RunInfo> {
  notWhileTraining('resume');
  const t = eng.tuner;
  if (!t) throw new Error('there is no run to resume: press Start');
  const o = t.options;
  const options = { ...o, ...given, lr: o.lr };
  for (const k of Object.keys(o) as (keyof FineTuneOptions)[]) {
    if (!CHANGEABLE.includes(k) && o[k] !== options[k]) throw new Error(`${k} was ${o[k]} in this run (now ${options[k]}): start a new run to change it`);
  }
  checkOptions(t.task, { ...o, ...Object.fromEntries(CHANGEABLE.map((k) => [k, options[k]])) });
  if (t.step >= options.steps) throw new Error(`the run already has ${t.step} steps: raise Steps to train more`);
  return withSessionLock('Resume', async () => {
    const s = eng.session;
    if (s.persisted) {
      const stored = await sessionStore.peek();
      if (stored?.id !== undefined && stored.id !== s.id) {
        s.persisted = false;
        s.savedStep = null;
        s.saveProblem = "another tab of this app started a new run, which replaced this one in the browser's storage: this run goes on unsaved here";
        post('log', { message: `${s.saveProblem}; download the adapter to keep it` });
      } else if (stored && stored.updated !== s.updated) {
        // another tab wrote the session since this one read or wrote it last
        throw new SessionStaleError(stored.step);
      }
    }
    lowerLr(t, lr);
    for (const k of CHANGEABLE) (o as unknown as Record<string, unknown>)[k] = options[k];
    eng.primaryOpened = null;
    if (s.persisted) {
      await updateSession({ options: { ...o }, status: 'running', diverged: null });
      await sessionStore.saveAdapters(s.id, openedToStore()).catch(() => {});
    }
    return runTuner();
  });
}

// ---- restore -------------------------------------------------------------------------------
export async function restore() {
  const saved = await sessionStore.load();
  if (!saved) return null;
  const { session, checkpoint, model: blobs, adapters } = saved;
  const s = eng.session;
  s.id = session.id ?? newSessionId();
  s.updated = session.updated;
  s.savedStep = checkpoint ? session.step : null;
  s.saveProblem = undefined;
  const trainingElsewhere = await sessionLockHeld();
  const out = {
    model: null as Awaited<ReturnType<typeof loadModel>> | null,
    modelRef: session.model,
    data: null as DataInfo | null,
    spec: session.data,
    options: session.options,
    run: { ...runInfo(), status: session.status, step: session.step, steps: session.options.steps, evals: session.evals, diverged: session.diverged ?? null },
    openedAdapters: 0,
    error: undefined as string | undefined,
    trainingElsewhere,
  };
  try {
    const m = session.model;
    if (m.kind === 'demo') await loadModel({ kind: 'demo' });
    else if (m.kind === 'url') await loadModel({ kind: 'url', url: m.url, tokenizerUrl: m.tokenizerUrl });
    else if (blobs) {
      const { tokenizer } = blobs;
      await loadModel(
        'files' in blobs
          ? { kind: 'hf', name: m.name, files: blobs.files, tokenizer, tokenizerName: m.tokenizerName }
          : { kind: 'files', model: blobs.model, modelName: m.name, tokenizer, tokenizerName: m.tokenizerName },
      );
      eng.loaded!.ref = m;
      eng.loaded!.blobs = blobs;
    } else throw new Error(`the model ${m.name} was not saved in this browser: open it again`);
    out.model = eng.loaded!.info;
    const o = session.options;
    const task = prepare({ ...session.data, trainSize: o.trainSize, evalSize: o.evalSize }, o.seq, o.seed);
    out.data = dataInfo(task, o.batch, o.seed);
    s.persisted = true;
    const t = makeTuner(task, o, checkpoint ?? undefined);
    eng.tuner = t;
    t.evals = dedupeEvals([...t.evals, ...session.evals.filter((e) => e.step <= t.step)]);
    if (session.diverged) t.diverged = session.diverged;
    // A run that was going when the page went away continues from its last checkpoint on Resume.
    const diverged = session.status === ('diverged' as string) || (session.diverged && session.status !== 'running');
    t.status = diverged ? session.status : t.step >= o.steps ? 'done' : t.step > 0 || session.status !== 'running' ? (session.status === 'done' ? 'done' : 'paused') : 'idle';
    if (session.status === 'running' && t.step < o.steps && !trainingElsewhere) out.error = `Training stopped when the page closed; its last checkpoint is step ${t.step}: press Resume to continue.`;
    out.run = runInfo();
    if ((session.status === 'done' || session.status === 'failed') && session.error && !session.diverged) out.error = `The run ended early: ${session.error}.`;
    if (session.status === 'paused' && session.error) out.error = session.error;
    // the adapters opened beside the run, in the order opened; one that no longer opens is named, the rest open
    const failed: string[] = [];
    for (const a of adapters.list) {
      try {
        openAdapter(a);
      } catch (e) {
        failed.push(`${a.name}: ${(e as Error).message}`);
      }
    }
    eng.primaryOpened = adapters.primary && eng.opened.has(adapters.primary) ? adapters.primary : null;
    out.openedAdapters = eng.opened.size;
    if (failed.length) out.error = [out.error, `Could not open the saved adapter ${failed.join('; ')}.`].filter(Boolean).join(' ');
  } catch (e) {
    out.error = (e as Error).message;
  }
  return out;
}

export async function forget(): Promise<void> {
  notWhileTraining('forget');
  await withSessionLock('New run', async () => {
    eng.tuner?.destroy();
    eng.tuner = null;
    const s = eng.session;
    const was = s.persisted ? s.id : undefined;
    s.persisted = false;
    s.savedStep = null;
    s.saveProblem = undefined;
    eng.interrupted = undefined;
    await sessionStore.clear(was ?? '');
  });
}
