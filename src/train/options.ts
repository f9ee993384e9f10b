// Errors about a run's options name the option as the API spells it (`lr`, `evalEvery`); the CLI
// maps that name to its flag (`--lr`, `--eval-every`) and the app to its form field, so the core
// never names a flag.
import type { LoraConfig } from '../adapter/lora';
import { ON_DIVERGE, type OnDiverge } from './divergence';
import { parseTargets } from '../adapter/peft';

export class OptionError extends Error {
  constructor(
    readonly option: string, // the option's API name, e.g. 'lr'
    readonly problem: string, // what is wrong, e.g. 'must be in (0, 1], got 10'
  ) {
    super(`option ${option} ${problem}`);
    this.name = 'OptionError';
  }
}

export type ZoMode = 'mezo' | 'outer' | 'prge';
export const ZO_MODES: readonly ZoMode[] = ['mezo', 'outer', 'prge'];

/**
 * The ZO estimator and update of B (src/train/optimizer.ts has the formulas): sgd is plain P-RGE;
 * momentum / adam keep moments of the estimate; lozo perturbs with a low-rank Z = U V^T; hizoo
 * scales Z by a diagonal Hessian estimate fed by the unperturbed loss (one more slot of the pass).
 */
export type ZoOptimizerName = 'sgd' | 'momentum' | 'adam' | 'lozo' | 'hizoo';
export const ZO_OPTIMIZERS: readonly ZoOptimizerName[] = ['sgd', 'momentum', 'adam', 'lozo', 'hizoo'];
/** The largest rank r' of LOZO's Z = U V^T (LIMITS.MAX_ZO_RANK of the kernels). */
export const MAX_ZO_RANK = 8;

/** constant: lr at every step; linear: lr decays linearly to 0 at step `steps`. */
export type LrSchedule = 'constant' | 'linear';
export const LR_SCHEDULES: readonly LrSchedule[] = ['constant', 'linear'];

/**
 * The options of a run: the one type a person (CLI flags, the app's form) or an embedding app
 * sets, validated here. The trainer and the ZO step read views of it (TrainConfig, ZoOptions).
 */
export interface RunOptions {
  mode: ZoMode; // how the 2q perturbed copies are laid out in passes (same losses)
  q: number; // queries (perturbations) per step
  eps: number; // perturbation size
  lr: number; // learning rate (the peak of a schedule)
  schedule: LrSchedule;
  batch: number; // Bsz: examples per step
  seq: number; // T: tokens per example
  steps: number; // total steps of the run (a resumed run continues up to it)
  seed: number; // run seed: the adapters, the data order and every step seed derive from it
  targets: string; // comma-separated, any of q,k,v,o,gate,up,down
  rank: number;
  alpha: number;
  evalEvery: number; // 0: evaluate before and after only
  checkpointEvery: number; // 0: checkpoint at the end only
  trainSize: number; // task examples sampled for training (0: all)
  evalSize: number; // examples (or chunks) sampled for evaluation (0: all)
  onDiverge?: OnDiverge; // default 'stop': a diverging run ends (its last checkpoint kept)
  optimizer?: ZoOptimizerName; // default sgd (plain P-RGE)
  beta1?: number; // momentum, adam: decay of the first moment, in [0, 1) (default 0.9)
  beta2?: number; // adam: decay of the second moment, in [0, 1) (default 0.999)
  zoRank?: number; // lozo: rank r' of Z = U V^T, 1..MAX_ZO_RANK (default 2)
  hessianSmooth?: number; // hizoo: smoothing alpha of the diagonal Hessian EMA, in (0, 1] (default 1e-4)
  maxMemoryMiB?: number; // GPU memory limit of the run in MiB (0 / absent: none): q x batch lowered to fit (src/train/memory_plan.ts)
}

/** The optimizer options and their defaults. */
export const OPTIMIZER_DEFAULTS: Required<Pick<RunOptions, 'optimizer' | 'beta1' | 'beta2' | 'zoRank' | 'hessianSmooth'>> = {
  optimizer: 'sgd',
  beta1: 0.9,
  beta2: 0.999,
  zoRank: 2,
  // The curvatures c_i = |L+ + L- - 2 L0| / (2 eps^2) measured 10..230 on stories260K (q,v rank 16,
  // eps 1e-2): alpha c ~ 1e-2 per step, so h adapts over ~100 steps. The 1e-6..1e-8 of the HiZOO
  // paper (B of OPT size, far larger c) would leave h at 1 through a 400-step run here.
  hessianSmooth: 1e-4,
};

/** What one ZO step reads: the run's step options, and what the data's layout decides. */
export interface ZoOptions extends Pick<RunOptions, 'mode' | 'q' | 'eps' | 'lr' | 'batch' | 'seq' | 'seed' | 'optimizer' | 'beta1' | 'beta2' | 'zoRank' | 'hessianSmooth'> {
  schedule?: LrSchedule; // default constant
  steps?: number; // total steps, for a decaying schedule
  lossPerExample?: boolean; // slot loss = summed token losses / examples (tasks), not the token mean
  /**
   * Train as classification (MeZO's train_as_classification): each example has this many
   * candidates, the right one first (scored through the batch's picks), and the slot loss is the mean cross-entropy over the
   * candidates' mean label-token log-likelihoods. 0 or 1: the rows' label tokens are the loss.
   */
  candidates?: number;
  /** Rows per example in a batch (candidates may share a row: src/data/tasks.ts packCandidates); default max(1, candidates). */
  rowsPerExample?: number;
  /** Labelled positions per example at most (tasks): the LM head and loss hold batch x this many rows; absent: every position. */
  labelsPerExample?: number;
}

/** What the trainer reads: the step's options, the run's length and cadence, the adapter's shape. */
export interface TrainConfig extends Omit<ZoOptions, 'steps'>, Pick<RunOptions, 'steps' | 'evalEvery' | 'checkpointEvery' | 'onDiverge'> {
  lora: LoraConfig;
}

/** Sane ranges: a value outside is refused with the range (lr 10 diverges at once; eps 1 is no perturbation size). */
export const RANGES = {
  lr: { min: 0, max: 1 },
  eps: { min: 0, max: 1, open: true }, // (0, 1]
} as const;

const intAtLeast = (name: string, v: unknown, min: number) => {
  if (!Number.isInteger(v) || (v as number) < min) throw new OptionError(name, `must be an integer >= ${min}, got ${v}`);
};
const oneOf = (name: string, v: unknown, allowed: readonly string[]) => {
  if (!allowed.includes(v as string)) throw new OptionError(name, `must be one of ${allowed.join(', ')}, got ${v}`);
};
const inRange = (name: keyof typeof RANGES, v: number) => {
  const r: { min: number; max: number; open?: boolean } = RANGES[name];
  const range = `${r.open ? '(' : '['}${r.min}, ${r.max}]`;
  if (!(r.open ? v > r.min : v >= r.min)) throw new OptionError(name, `must be ${r.open ? '>' : '>='} ${r.min} (the range is ${range}), got ${v}`);
  if (!(v <= r.max)) throw new OptionError(name, `must be <= ${r.max} (the range is ${range}), got ${v}`);
};

/**
 * Checks every option that is present (an absent one is the caller's default); throws an
 * OptionError naming the first bad option as the API spells it.
 */
export function validateRunOptions(o: Partial<RunOptions> & Partial<Pick<ZoOptions, 'candidates' | 'rowsPerExample' | 'labelsPerExample'>>): void {
  if (o.mode !== undefined) oneOf('mode', o.mode, ZO_MODES);
  if (o.q !== undefined) intAtLeast('q', o.q, 1);
  if (o.eps !== undefined) inRange('eps', o.eps);
  if (o.lr !== undefined) inRange('lr', o.lr);
  if (o.schedule !== undefined) oneOf('schedule', o.schedule, LR_SCHEDULES);
  if (o.batch !== undefined) intAtLeast('batch', o.batch, 1);
  if (o.seq !== undefined) intAtLeast('seq', o.seq, 2);
  if (o.steps !== undefined) intAtLeast('steps', o.steps, 0);
  if (o.seed !== undefined) intAtLeast('seed', o.seed, 0);
  if (o.rank !== undefined) intAtLeast('rank', o.rank, 1);
  if (o.alpha !== undefined && !(o.alpha > 0 && Number.isFinite(o.alpha))) throw new OptionError('alpha', `must be > 0, got ${o.alpha}`);
  if (o.evalEvery !== undefined) intAtLeast('evalEvery', o.evalEvery, 0);
  if (o.checkpointEvery !== undefined) intAtLeast('checkpointEvery', o.checkpointEvery, 0);
  if (o.trainSize !== undefined) intAtLeast('trainSize', o.trainSize, 0);
  if (o.evalSize !== undefined) intAtLeast('evalSize', o.evalSize, 0);
  if (o.onDiverge !== undefined) oneOf('onDiverge', o.onDiverge, ON_DIVERGE);
  if (o.candidates !== undefined) intAtLeast('candidates', o.candidates, 0);
  if (o.rowsPerExample !== undefined) intAtLeast('rowsPerExample', o.rowsPerExample, 1);
  if (o.labelsPerExample !== undefined) intAtLeast('labelsPerExample', o.labelsPerExample, 1);
  if (o.optimizer !== undefined) oneOf('optimizer', o.optimizer, ZO_OPTIMIZERS);
  const unit = (name: 'beta1' | 'beta2', v: number | undefined) => {
    if (v !== undefined && !(v >= 0 && v < 1)) throw new OptionError(name, `must be in [0, 1), got ${v}`);
  };
  unit('beta1', o.beta1);
  unit('beta2', o.beta2);
  if (o.zoRank !== undefined && !(Number.isInteger(o.zoRank) && o.zoRank >= 1 && o.zoRank <= MAX_ZO_RANK)) throw new OptionError('zoRank', `must be an integer in 1..${MAX_ZO_RANK}, got ${o.zoRank}`);
  if (o.hessianSmooth !== undefined && !(o.hessianSmooth > 0 && o.hessianSmooth <= 1)) throw new OptionError('hessianSmooth', `must be in (0, 1], got ${o.hessianSmooth}`);
  if (o.maxMemoryMiB !== undefined && !(o.maxMemoryMiB >= 0 && Number.isFinite(o.maxMemoryMiB))) throw new OptionError('maxMemoryMiB', `must be a size >= 0 (0: no limit), got ${o.maxMemoryMiB}`);
  if (o.targets !== undefined) {
    try {
      parseTargets(o.targets);
    } catch (e) {
      throw new OptionError('targets', `${(e as Error).message.replace(/ \(valid: .*\)$/, '')}: give a comma-separated list of q,k,v,o,gate,up,down, got "${o.targets}"`);
    }
  }
  if (o.optimizer === 'hizoo' && o.mode === 'outer') throw new OptionError('optimizer', 'hizoo needs mode prge or mezo (its unperturbed slot makes 2q + 1 slots, not two passes of q)');
}

/** The checks of one ZO step's options (a linear schedule needs the run's length). */
export function validateZoOptions(o: ZoOptions): void {
  validateRunOptions(o);
  if (o.schedule === 'linear' && !(Number.isInteger(o.steps) && o.steps! > 0)) throw new OptionError('steps', 'must be > 0: a linear lr schedule needs the total number of steps');
}

/** The checks of a trainer's configuration. */
export function validateTrainConfig(c: TrainConfig): void {
  const l = c.lora as Partial<LoraConfig> | undefined;
  if (l === null || typeof l !== 'object') throw new OptionError('lora', `must be { rank, alpha, targets }, got ${l}`);
  if (!Number.isInteger(l.rank)) throw new OptionError('lora.rank', `must be an integer >= 1, got ${l.rank}`);
  if (typeof l.alpha !== 'number') throw new OptionError('lora.alpha', `must be a number > 0, got ${l.alpha}`);
  if (!Array.isArray(l.targets) || l.targets.length === 0) throw new OptionError('lora.targets', `must be a non-empty array of targets such as ['q', 'v'], got ${Array.isArray(l.targets) ? '[]' : typeof l.targets}`);
  validateRunOptions({ ...c, rank: c.lora.rank, alpha: c.lora.alpha });
  validateZoOptions({ ...c, steps: c.steps || 1 });
}
