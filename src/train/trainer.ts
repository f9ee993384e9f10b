// The fine-tuning loop: ZO steps over shuffled batches, evaluation on a held-out split, adapter
// checkpoints (PEFT layout + trainer state + the ZO optimizer's state) every N steps and at the
// end, exact resume.
// Divergence (divergence.ts) never leaves a broken adapter: a checkpoint is written only after an
// evaluation of its step within the watch's limit (with no held-out data: while the training-loss
// watch is quiet), and a run stopped for divergence goes back to the last adapter whose held-out
// loss was within the limit, or to the base adapter (B = 0) when there is none.
// Steps are pipelined: up to `depth` steps are in flight, submitted without waiting for any
// readback, and their losses are taken as they arrive (in step order). The host waits only when
// the GPU is `depth` steps behind, at an evaluation or checkpoint, and at the end.
import type { Model } from '../model/model';
import { LoraState } from '../adapter/lora';
import { readAdapter, writeAdapter, type AdapterFiles, type AdapterTensors } from '../adapter/peft';
import { ZoScheduler, type StepResult } from './scheduler';
import { validateTrainConfig, type TrainConfig } from './options';
import type { TokenBatch } from '../data/batch';
import { DivergenceWatch, type Divergence } from './divergence';
import { OPTIMIZER_STATE_FILE, optimizerSpec } from './optimizer';
import { checkFingerprint, checkpointManifest, verifyManifest, type CheckpointManifest, type RunFingerprint } from './checkpoint';

/** What the trainer draws batches from (causal-LM chunks, task examples). */
export interface TrainData {
  seqLen: number;
  /** Candidates per example when the loss is a classification over them (ZoOptions.candidates). */
  candidates?: number;
  /** Rows per example (default max(1, candidates)): candidates may share rows (the batch's picks). */
  rowsPerExample?: number;
  /** The most labelled positions an example has (tasks): the LM head runs on batch x this many rows. Absent: every row's every position. */
  labelsPerExample?: number;
  /** `batchSize` examples: batchSize x rowsPerExample rows. */
  batchAt(step: number, batchSize: number, seed: number): TokenBatch;
}

/** An evaluation: a loss, and for tasks accuracy / F1 over n examples. */
export interface EvalResult {
  loss: number;
  tokens?: number;
  n?: number;
  accuracy?: number;
  f1?: number;
}

export type Evaluator = (lora: LoraState) => Promise<EvalResult>;

export { validateTrainConfig, type TrainConfig } from './options';

/** Steps in flight by default: deep enough that a run of this many steps never waits to submit. */
export const PIPELINE_DEPTH = 16;

/** trainer_state.json: what a resumed run needs beside the adapter. */
export interface TrainerState {
  format: 1;
  step: number; // completed steps
  config: Omit<TrainConfig, 'steps' | 'evalEvery' | 'checkpointEvery'>;
  history: { step: number; loss: number }[];
  evals: ({ step: number } & EvalResult)[];
  /**
   * The scale of evals[].loss: 'classes' (cross-entropy over a task's candidates, for --loss classes)
   * or 'tokens' (mean token cross-entropy). Absent in checkpoints written before task evaluations
   * scored the class loss: their task evals are label-token losses, another scale.
   */
  evalScale?: 'classes' | 'tokens';
  /** What the run was trained on (model, data, task options): a resume with other inputs is refused. */
  fingerprint?: RunFingerprint;
  /** The manifest: sha256 of every other file of the checkpoint (written last, checked on load). */
  files?: CheckpointManifest;
}

/** The adapter, trainer_state.json and, for an optimizer with state (momentum, adam, hizoo), its moments. */
export type CheckpointFiles = AdapterFiles & { 'trainer_state.json': string; [OPTIMIZER_STATE_FILE]?: Uint8Array };

/** Where checkpoints go: a directory in Node, IndexedDB in the browser. */
export interface CheckpointStore {
  save(files: CheckpointFiles): Promise<void>;
}

export interface TrainEvents {
  /** `ms`: wall ms per step, the mean since the run started, evaluations and checkpoints excluded (pipelined steps' results arrive in bursts: the gap between two is not a step's time). */
  onStep?(r: StepResult & { ms: number }): void;
  onEval?(e: EvalResult & { step: number }): void;
  onCheckpoint?(step: number): void;
  onDiverge?(d: Divergence): void;
}

export interface TrainSummary {
  steps: number;
  evalBefore: EvalResult | null;
  evalAfter: EvalResult | null; // of a run stopped for divergence: the kept adapter's evaluation
  skipped: number; // steps whose update was skipped (non-finite loss)
  // the first divergence seen (the run stopped there unless onDiverge was 'warn'; then `kept` says what it left)
  diverged: Divergence | null;
  // a run stopped for divergence goes back to the last good adapter (from: the steps it had done, to: kept.step)
  rolledBack: { from: number; to: number } | null;
  msPerStep: number; // wall ms per step, the evaluations and checkpoints between steps excluded
  state: TrainerState;
  lora: LoraState;
}

/** The fields of a run that must match for a resume to reproduce the uninterrupted run. */
const RESUME_FIELDS = ['q', 'eps', 'lr', 'batch', 'seq', 'seed'] as const;

/**
 * A checkpoint's files parsed and checked: the manifest in trainer_state.json (every other file's
 * sha256), then the adapter. `source` names the checkpoint in errors.
 */
export function parseCheckpoint(files: { config: string; safetensors: Uint8Array; state: string; optimizer?: Uint8Array }, model: Model, source: string) {
  let state: TrainerState;
  try {
    state = JSON.parse(files.state) as TrainerState;
  } catch (e) {
    throw new Error(`${source}/trainer_state.json: not JSON (${(e as Error).message})`);
  }
  if (state === null || typeof state !== 'object' || state.format !== 1 || !Number.isInteger(state.step) || !state.config) throw new Error(`${source}/trainer_state.json: not a mobizo trainer state`);
  verifyManifest(state.files, { 'adapter_config.json': files.config, 'adapter_model.safetensors': files.safetensors, [OPTIMIZER_STATE_FILE]: files.optimizer }, source);
  const adapter = readAdapter({ config: files.config, safetensors: files.safetensors }, model.config, source);
  return { adapter, state, optimizer: files.optimizer, source };
}

/** Throws, naming the field, when a resumed checkpoint was trained with other settings than `config`. */
function checkResume(prev: TrainerState, config: TrainerState['config'], cfg: TrainConfig, adapter: AdapterTensors, fingerprint: RunFingerprint | undefined): void {
  for (const k of RESUME_FIELDS) {
    if (prev.config[k] !== config[k]) throw new Error(`--resume: the checkpoint was trained with ${k} = ${prev.config[k]}, this run has ${config[k]}`);
  }
  if ((prev.config.schedule ?? 'constant') !== (config.schedule ?? 'constant')) {
    throw new Error(`--resume: the checkpoint was trained with the ${prev.config.schedule ?? 'constant'} lr schedule, this run has ${config.schedule ?? 'constant'}`);
  }
  const [was, now] = [optimizerSpec(prev.config), optimizerSpec(config)];
  for (const k of ['name', 'beta1', 'beta2', 'zoRank', 'hessianSmooth'] as const) {
    if (was[k] !== now[k]) throw new Error(`--resume: the checkpoint was trained with ${k === 'name' ? 'optimizer' : k} = ${was[k]}, this run has ${now[k]}`);
  }
  if ((prev.config.candidates ?? 0) !== config.candidates) {
    throw new Error(`--resume: the checkpoint was trained with the ${prev.config.candidates ? 'classification' : 'label-token'} loss, this run uses the ${config.candidates ? 'classification' : 'label-token'} loss`);
  }
  if (adapter.rank !== cfg.lora.rank || adapter.alpha !== cfg.lora.alpha || adapter.targets.join(',') !== cfg.lora.targets.join(',')) {
    throw new Error(`--resume: the checkpoint's adapter (rank ${adapter.rank}, alpha ${adapter.alpha}, targets ${adapter.targets}) differs from this run's`);
  }
  checkFingerprint(prev.fingerprint, fingerprint, '--resume');
}

/** A point the run can go back to: the adapter, the optimizer's state and the trainer state of a step. */
interface Snapshot {
  step: number;
  eval: EvalResult | null; // its held-out evaluation (null: none)
  host: AdapterTensors;
  optimizer: Uint8Array | null;
  state: string; // trainer_state at that step (JSON)
}

export async function train(
  model: Model,
  data: TrainData,
  cfg: TrainConfig,
  opts: {
    evaluate?: Evaluator;
    resume?: ReturnType<typeof parseCheckpoint>;
    store?: CheckpointStore;
    events?: TrainEvents;
    baseModelName?: string;
    depth?: number; // steps in flight (default PIPELINE_DEPTH)
    fingerprint?: RunFingerprint; // what this run trains on (recorded; a resume with other inputs is refused)
  } = {},
): Promise<TrainSummary> {
  validateTrainConfig(cfg);
  const depth = opts.depth ?? PIPELINE_DEPTH;
  if (!Number.isInteger(depth) || depth < 1) throw new Error(`train: pipeline depth must be an integer >= 1, got ${depth}`);
  if (data.seqLen !== cfg.seq) throw new Error(`data rows are ${data.seqLen} tokens, --seq is ${cfg.seq}`);
  const { steps, evalEvery, checkpointEvery, onDiverge = 'stop', ...config } = cfg;
  config.candidates = data.candidates ?? 0; // the data's layout decides the loss
  if (data.rowsPerExample !== undefined) config.rowsPerExample = data.rowsPerExample;
  if (data.labelsPerExample !== undefined) config.labelsPerExample = data.labelsPerExample;
  let state: TrainerState = { format: 1, step: 0, config, history: [], evals: [] };
  let lora: LoraState;
  if (opts.resume) {
    const prev = opts.resume.state;
    checkResume(prev, config, cfg, opts.resume.adapter, opts.fingerprint);
    lora = LoraState.fromAdapter(model.gpu, model.config, opts.resume.adapter);
    state = { ...prev, files: undefined, config: { ...prev.config, mode: cfg.mode } };
    // a task checkpoint from before the class-loss evaluations: its held-out losses are on the label
    // tokens' scale, which the divergence watch must not compare with the class losses to come
    if (config.candidates > 1 && prev.evalScale !== 'classes') state.evals = [];
  } else {
    lora = LoraState.create(model.gpu, model.config, cfg.lora, cfg.seed);
  }
  state.evalScale = config.candidates > 1 ? 'classes' : 'tokens';
  if (opts.fingerprint) state.fingerprint = opts.fingerprint;
  const events = opts.events ?? {};
  // A uniform guess: over the candidates when training as classification, else over the vocabulary.
  const watch = new DivergenceWatch({ uniformLoss: Math.log(config.candidates > 1 ? config.candidates : model.config.vocabSize) });
  watch.replay(state.history, state.evals);
  let diverged: Divergence | null = null;
  const judge = (d: Divergence | null) => {
    if (!d || diverged) return;
    diverged = d;
    events.onDiverge?.(d);
  };
  const stopping = () => diverged !== null && onDiverge === 'stop';
  const evaluate = async (step: number) => {
    if (!opts.evaluate) return null;
    const r = await opts.evaluate(lora);
    state.evals.push({ step, ...r });
    events.onEval?.({ step, ...r });
    judge(watch.eval(step, r.loss));
    return r;
  };
  let rolledBack: TrainSummary['rolledBack'] = null;
  // evaluated before the scheduler exists (and at the end after it is gone): a pass of its own, not on top of a step's
  const evalBefore = await evaluate(state.step);
  // the starting adapter as the host already has it (no readback before the first step)
  const startHost = opts.resume ? opts.resume.adapter : LoraState.initHost(model.config, cfg.lora, cfg.seed);
  const sched = new ZoScheduler(model, lora, { ...config, steps: Math.max(1, steps) }); // a decaying lr needs the run's length
  const checkpoint = async (s: Snapshot) => {
    if (!opts.store) return;
    const files: CheckpointFiles = { ...writeAdapter(s.host, { baseModelName: opts.baseModelName }), ...(s.optimizer ? { [OPTIMIZER_STATE_FILE]: s.optimizer } : {}) } as CheckpointFiles;
    // trainer_state.json carries the manifest of the other files: a store writes it last, a resume checks it
    const json = JSON.stringify({ ...(JSON.parse(s.state) as TrainerState), files: checkpointManifest(files) }, null, 1);
    await opts.store.save({ ...files, 'trainer_state.json': json });
    events.onCheckpoint?.(s.step);
  };
  const snapshot = async (evalResult: EvalResult | null): Promise<Snapshot> => ({
    step: state.step,
    eval: evalResult,
    host: await lora.toHost(),
    optimizer: await sched.optimizer.save(),
    state: JSON.stringify(state),
  });
  let fresh: Uint8Array | null; // the optimizer's state of a fresh run (for the base adapter)
  // the last adapter within the watch's limit, where a run stopped for divergence goes back to (null: the base)
  let good: Snapshot | null = null;
  try {
    fresh = await sched.optimizer.freshState();
    if (opts.resume) sched.optimizer.load(opts.resume.optimizer, opts.resume.source);
    // the starting point: the base adapter, or the resumed checkpoint (written within the limit)
    if (!diverged) good = { step: state.step, eval: evalBefore, host: startHost, optimizer: opts.resume ? (opts.resume.optimizer ?? null) : fresh, state: JSON.stringify(state) };
  } catch (e) {
    sched.destroy();
    throw e;
  }
  let skipped = 0;
  const t0 = performance.now();
  const startStep = state.step;
  let paused = 0; // ms spent in evaluations and checkpoints between steps (not in ms/step)
  // Each step's result is taken as it arrives, in step order. `pending` holds, per step in flight,
  // the promise that it was taken; the loop waits on the oldest only when `depth` are in flight.
  const pending: Promise<void>[] = [];
  let chain: Promise<void> = Promise.resolve();
  const failed: unknown[] = []; // the first error of a step, if any
  let closed = false; // after an error: results still arriving are not recorded
  let ran = 0; // steps run (a rollback takes some back from state.step)
  const take = (r: StepResult) => {
    pending.shift();
    if (failed.length || closed) return;
    ran++;
    const now = performance.now();
    if (!r.applied) skipped++;
    state.step = r.step + 1;
    state.history.push({ step: r.step, loss: r.loss });
    // steps are pipelined (`depth` in flight; on the WASM backend all of a run may finish before the
    // first result is read), so results arrive in bursts: a step's ms is the run's mean so far
    events.onStep?.({ ...r, ms: (now - t0 - paused) / ran });
    judge(watch.step(state.step, r.loss));
  };
  const fail = (error: unknown) => {
    pending.shift();
    failed.push(error);
  };
  const drain = async () => {
    await chain;
    if (failed.length) throw failed[0];
  };
  let optimizerState: Uint8Array | null = null;
  try {
    for (let k = startStep; k < steps && !stopping(); k++) {
      if (pending.length >= depth) await pending[0]; // the GPU is `depth` steps behind
      if (failed.length) throw failed[0];
      const p = sched.step(k, data.batchAt(k, cfg.batch, cfg.seed));
      chain = chain.then(() => p).then(take, fail);
      pending.push(chain);
      const done = k + 1;
      const needCkpt = checkpointEvery > 0 && done % checkpointEvery === 0 && done < steps;
      // a checkpoint's step is evaluated too: only an adapter within the limit is ever stored
      const needEval = (evalEvery > 0 && done % evalEvery === 0 && done < steps) || (needCkpt && !!opts.evaluate);
      if (needEval || needCkpt) {
        await drain();
        const t = performance.now();
        const r = needEval ? await evaluate(done) : null;
        // within the limit (held-out and training loss): the point a stopped run goes back to, and
        // what a checkpoint stores (read back only where one of the two can use it)
        const store = needCkpt && !!opts.store;
        const within = !diverged && (r || needCkpt) && (onDiverge === 'stop' || store) ? await snapshot(r) : null;
        if (within) good = within;
        if (store && (within || onDiverge === 'warn')) await checkpoint(within ?? (await snapshot(r)));
        paused += performance.now() - t; // the steps' ms exclude them
      }
    }
    await drain();
    if (opts.store) optimizerState = await sched.optimizer.save(); // the state of the last step, for the final checkpoint
  } catch (e) {
    // The last checkpoint stays; steps still in flight finish on the GPU but are not recorded.
    closed = true;
    await chain;
    throw e;
  } finally {
    sched.destroy();
  }
  // the end of the run is judged too: a last evaluation over the limit sends it back as well
  const lastEval = state.evals.at(-1);
  let evalAfter: EvalResult | null = lastEval && lastEval.step === state.step ? lastEval : null; // e.g. a run stopped right after an evaluation
  if (!stopping() && !evalAfter) evalAfter = ran || !evalBefore ? await evaluate(state.step) : evalBefore;
  let end: Snapshot | null = null; // what the final checkpoint holds (read back only when there is a store)
  const d = diverged as Divergence | null;
  if (d && stopping()) {
    // Stopped for divergence: back to the last good point (the steps since, and those in flight,
    // are dropped), or to the base adapter when there is none.
    end = good ?? baseSnapshot(model, cfg, state, fresh);
    d.kept = { step: end.step, loss: end.eval?.loss ?? null };
    if (end.step < state.step) rolledBack = { from: state.step, to: end.step };
    lora.write(end.host);
    state = JSON.parse(end.state) as TrainerState;
    evalAfter = end.eval;
  } else if (opts.store) {
    end = { step: state.step, eval: evalAfter, host: await lora.toHost(), optimizer: optimizerState, state: JSON.stringify(state) };
  }
  if (end) await checkpoint(end);
  model.gpu.throwIfFailed('training');
  const msPerStep = ran ? (performance.now() - t0 - paused) / ran : 0;
  return { steps: state.step, evalBefore, evalAfter, skipped, diverged, rolledBack, msPerStep, state, lora };
}

/** The base adapter (B = 0, A from the seed) at step 0 with the optimizer's fresh state, and its evaluation if the run has one. */
function baseSnapshot(model: Model, cfg: TrainConfig, state: TrainerState, optimizer: Uint8Array | null): Snapshot {
  const base = state.evals.find((e) => e.step === 0) ?? null;
  const s: TrainerState = { ...state, step: 0, history: [], evals: base ? [base] : [] };
  return { step: 0, eval: base, host: LoraState.initHost(model.config, cfg.lora, cfg.seed), optimizer, state: JSON.stringify(s) };
}
