// Divergence watch: a run whose held-out loss, or smoothed training loss, rises well above where
// it started (or above the loss of a uniform guess) is flagged; by default the trainer stops it
// (`onDiverge: 'stop'`) and goes back to the last adapter within the limit (trainer.ts). Pure arithmetic, no
// GPU: tested alone.

export const ON_DIVERGE = ['stop', 'warn'] as const;
export type OnDiverge = (typeof ON_DIVERGE)[number];

export interface Divergence {
  step: number; // completed steps when it was seen
  source: 'eval' | 'train'; // held-out loss, or the smoothed training loss
  loss: number; // the loss that crossed the limit (NaN: non-finite losses)
  start: number; // the reference it is compared with (first eval / first smoothed loss)
  limit: number; // the loss above which the run counts as diverged
  message: string; // one line for people
  /**
   * Set when the run STOPPED for it (onDiverge 'stop'): the adapter the run left, the last one whose
   * held-out loss was within the limit (step 0: the base adapter, B = 0), and that loss (null: the run
   * had no held-out evaluation). Absent on the `diverge` event (fired when it is seen) and under 'warn'.
   */
  kept?: { step: number; loss: number | null };
  /** @deprecated kept.step (when the run went back to an earlier step). */
  rolledBackTo?: number;
}

export interface DivergenceOptions {
  /** Loss of a uniform guess (ln(vocab) for a causal LM, ln(classes) for a task); Infinity: none. */
  uniformLoss?: number;
  /** Steps before the smoothed training loss is judged (its start is its value then). */
  warmup?: number;
  /** Consecutive steps with a non-finite loss that count as divergence. */
  nonFiniteSteps?: number;
}

/**
 * How far above its start a loss may rise. Held-out losses (the same examples every time):
 * max(0.5 nats, 25% of the start). The smoothed training loss scores different batches each
 * step, so it gets twice the room: max(1 nat, 50%). Either is capped at a uniform guess, but
 * never below the margin.
 */
export function divergenceLimit(start: number, uniformLoss = Infinity, source: 'eval' | 'train' = 'eval'): number {
  const floor = source === 'eval' ? 0.5 : 1;
  const margin = source === 'eval' ? Math.max(floor, 0.25 * start) : Math.max(floor, 0.5 * start);
  return Math.min(start + margin, Math.max(uniformLoss, start + floor));
}

export class DivergenceWatch {
  private readonly uniform: number;
  private readonly warmup: number;
  private readonly nonFiniteSteps: number;
  private evalStart: number | null = null;
  private trainStart: number | null = null;
  private ema: number | null = null;
  private raw = 0; // the EMA before its bias correction (it starts at 0)
  private warmSum = 0; // the losses of the warm-up, whose mean is the training loss's start
  private seen = 0;
  private nonFinite = 0;

  constructor(opts: DivergenceOptions = {}) {
    this.uniform = opts.uniformLoss ?? Infinity;
    this.warmup = opts.warmup ?? 10;
    this.nonFiniteSteps = opts.nonFiniteSteps ?? 3;
  }

  /** Restores the references of a resumed run from its history (the same verdicts as uninterrupted). */
  replay(history: readonly { step: number; loss: number }[], evals: readonly { step: number; loss: number }[]): void {
    for (const e of evals) this.evalStart ??= e.loss;
    for (const h of history) this.step(h.step + 1, h.loss);
  }

  /** A held-out loss after `step` completed steps. */
  eval(step: number, loss: number): Divergence | null {
    if (this.evalStart === null) {
      this.evalStart = loss;
      return null;
    }
    const limit = divergenceLimit(this.evalStart, this.uniform);
    if (Number.isFinite(loss) && loss <= limit) return null;
    return this.flag('eval', step, loss, this.evalStart, limit);
  }

  /** The mean slot loss of the step that made `step` completed steps. */
  step(step: number, loss: number): Divergence | null {
    if (!Number.isFinite(loss)) {
      this.nonFinite++;
      if (this.nonFinite < this.nonFiniteSteps) return null;
      return this.flag('train', step, NaN, this.trainStart ?? NaN, NaN);
    }
    this.nonFinite = 0;
    this.seen++;
    // bias-corrected, so the first step's loss weighs no more than any other
    this.raw = 0.9 * this.raw + 0.1 * loss;
    this.ema = this.raw / (1 - 0.9 ** this.seen);
    if (this.seen <= this.warmup) this.warmSum += loss;
    if (this.seen < this.warmup) return null;
    if (this.trainStart === null) {
      this.trainStart = this.warmSum / this.warmup; // the warm-up's mean, not one noisy EMA value
      return null;
    }
    const limit = divergenceLimit(this.trainStart, this.uniform, 'train');
    if (this.ema <= limit) return null;
    return this.flag('train', step, this.ema, this.trainStart, limit);
  }

  private flag(source: Divergence['source'], step: number, loss: number, start: number, limit: number): Divergence {
    const what = source === 'eval' ? 'the held-out loss' : 'the smoothed training loss';
    const message = Number.isNaN(loss)
      ? `diverged at step ${step}: ${this.nonFiniteSteps} steps in a row had a non-finite loss (lower lr or eps)`
      : `diverged at step ${step}: ${what} rose to ${loss.toFixed(3)} from ${start.toFixed(3)} (limit ${limit.toFixed(3)}${
          Number.isFinite(this.uniform) ? `; a uniform guess scores ${this.uniform.toFixed(3)}` : ''
        }): lower lr`;
    return { step, source, loss, start, limit, message };
  }
}
