// What the page says, in plain words: numbers formatted, the run's status line, the result of a
// run ("held-out loss 3.55 -> 2.99 (-16%)", and whether more steps would likely help), the options
// explained for someone who has not read the paper, and an error's first line. Pure functions
// (no DOM): test/app_wording.spec.ts checks them in Node.
import { keptStep, type Divergence, type EvalDetail, type FineTuneOptions, type RunInfo } from '../worker/protocol';

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) (v /= 1024), u++;
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

export function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(Math.round(n));
}

export function fmtRate(n: number): string {
  return n >= 1000 ? fmtCount(n) : n.toFixed(n >= 100 ? 0 : 1);
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A time per step: "850 ms" or "1.2 s". */
export function fmtStep(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// ---- the status line -----------------------------------------------------------------------
/** The run's status in one line: where it is and why it is not going on, when it is not. */
export function statusLine(run: RunInfo, engineStopped: { step: number } | null = null): string {
  const of = `${run.step} of ${run.steps}`;
  if (engineStopped) return `stopped: the engine stopped at step ${engineStopped.step}`;
  if (run.interrupted?.cause === 'gpu-lost' && run.status === 'paused') return `paused at step ${run.step} of ${run.steps}: the GPU was lost`;
  const d = run.diverged;
  if (d && (run.status === 'diverged' || run.status === 'done' || run.status === 'paused')) {
    const k = keptStep(d);
    return `stopped: diverged at step ${d.step}${k !== undefined ? ` (kept the adapter of step ${k}${k === 0 ? ', the base model' : ''})` : ''}`;
  }
  switch (run.status) {
    case 'idle':
      return 'ready';
    case 'running':
      return `training: step ${of}`;
    case 'pausing':
      return `pausing at the next checkpoint (step ${of}) ...`;
    case 'stopping':
      return `stopping at the next checkpoint (step ${of}) ...`;
    case 'paused':
      return `paused at step ${of}`;
    case 'done':
      return run.step < run.steps ? `stopped at ${of}` : `done: ${run.steps} steps`;
    case 'diverged':
      return 'stopped: diverged';
    case 'failed':
      return `failed at step ${of}`;
  }
  return String(run.status);
}

// ---- the result of a run -------------------------------------------------------------------
export interface ResultWords {
  line: string; // "Held-out loss 3.55 -> 2.99 (-16%): ..."
  advice: string; // what to do next ('' when nothing)
  moreSteps: number; // the steps the advice suggests adding (0: none)
}

/** Relative change in percent, one decimal below 10. */
function pct(before: number, after: number): string {
  const p = ((after - before) / before) * 100;
  const s = Math.abs(p) < 10 ? p.toFixed(1) : p.toFixed(0);
  return `${p > 0 ? '+' : p < 0 ? '\u2212' : ''}${s.replace('-', '')}%`;
}

/**
 * The result in words: the held-out loss (or accuracy, for a task) before and after, what it
 * means, and — when the change is small — how many more steps, and minutes at the step time
 * measured here, would likely help.
 */
export function resultWords(evals: EvalDetail[], run: Pick<RunInfo, 'step' | 'steps' | 'diverged' | 'lr'>, msPerStep: number): ResultWords | null {
  const first = evals.find((e) => e.step === 0) ?? evals[0];
  const last = evals[evals.length - 1];
  if (!first || !last || last === first) return null;
  const more = Math.max(run.step, 50);
  const time = msPerStep > 0 ? `, about ${fmtDuration(more * msPerStep)} at the ${fmtStep(msPerStep)} per step measured here` : '';
  const moreText = `${more} more steps${time}`;
  if (first.accuracy !== undefined && last.accuracy !== undefined) {
    const a0 = 100 * first.accuracy;
    const a1 = 100 * last.accuracy;
    const d = a1 - a0;
    const n = last.n ? ` on ${last.n} held-out examples` : '';
    const line = `Held-out accuracy ${a0.toFixed(1)}% \u2192 ${a1.toFixed(1)}% (${d >= 0 ? '+' : '\u2212'}${Math.abs(d).toFixed(1)} points)${n}: ${
      d > 0.5 ? 'the adapter classifies better than the base model' : d < -0.5 ? 'the adapter classifies worse than the base model' : 'about the same as the base model'
    }.`;
    const small = d < 5 && d > -0.5;
    return { line, advice: small && !run.diverged ? `The change is small: ${moreText}, would likely help.` : '', moreSteps: small && !run.diverged ? more : 0 };
  }
  const change = (last.loss - first.loss) / first.loss;
  const meaning =
    change < -0.01 ? 'the adapter predicts the held-out text better than the base model' : change > 0.01 ? 'the adapter predicts the held-out text worse than the base model' : 'about the same as the base model';
  const line = `Held-out loss ${first.loss.toFixed(2)} \u2192 ${last.loss.toFixed(2)} (${pct(first.loss, last.loss)}): ${meaning}.`;
  if (run.diverged) return { line, advice: '', moreSteps: 0 };
  if (change > 0.01) return { line, advice: `Try a lower learning rate (${Number((run.lr / 3).toPrecision(2))} instead of ${run.lr}) in a new run.`, moreSteps: 0 };
  // a small gain: the loss still falls when the last evaluations do
  if (change > -0.1) return { line, advice: `The change is small: ${moreText}, would likely help.`, moreSteps: more };
  return { line, advice: '', moreSteps: 0 };
}

/** The divergence notice's text: what rose, what was kept, what to do. */
export function divergedWords(d: Divergence, lr: number): { title: string; detail: string } {
  const k = keptStep(d);
  const kept = (d as { kept?: { step: number; loss: number | null } }).kept;
  const keptText =
    k === undefined
      ? 'The run stopped there.'
      : k === 0
        ? 'No adapter of this run was within the limit, so the run keeps the base model\'s (an adapter that changes nothing): Try it and Download use it.'
        : `The run keeps its adapter of step ${k}${kept?.loss != null ? ` (held-out loss ${kept.loss.toFixed(3)}, within the limit ${d.limit.toFixed(3)})` : ''}: Try it and Download use that one.`;
  const lower = Number.isFinite(lr) && lr > 0 ? ` (try ${Number((lr / 10).toPrecision(2))}, a tenth of ${lr})` : '';
  return {
    title: `This run ${d.message.replace(/: lower lr$/, '')}.`,
    detail: `${keptText} The learning rate is too high for this model and data: Resume and Train more ask for a lower one first${lower}; or press "New run" and start again with it.`,
  };
}

// ---- the options in plain words --------------------------------------------------------------
/** The app's words for each option: a label, and what it does (the engine's help is more technical). */
export const PLAIN: Partial<Record<keyof FineTuneOptions, { label: string; help: string }>> = {
  steps: { label: 'Steps', help: 'Each step tries a few random small changes to the adapter and moves it the way that lowers the loss.' },
  lr: { label: 'Learning rate', help: 'How far each step moves the adapter. Too high and the run diverges (it stops and keeps its last good adapter); too low and it learns slowly.' },
  mode: { label: 'How the passes are scheduled', help: 'prge: all random changes of a step in one pass (fastest). outer: two passes. mezo: one pass per change (the original MeZO). All give the same result.' },
  q: { label: 'Random changes per step', help: 'More changes give a steadier direction but a slower step.' },
  eps: { label: 'Size of a test change', help: 'How far each random change goes when the loss is measured on both sides of it.' },
  schedule: { label: 'Learning-rate schedule', help: 'constant, or linear: the learning rate falls to 0 by the last step (a calmer end).' },
  batch: { label: 'Examples per step', help: 'How many pieces of text each step learns from at once.' },
  seq: { label: 'Tokens per example', help: 'The text is cut into pieces of this many tokens (word parts).' },
  targets: { label: 'Layers that get an adapter', help: 'q,v: the attention\'s query and value parts (the usual choice); any of q,k,v,o,gate,up,down.' },
  rank: { label: 'Adapter size (rank)', help: 'A bigger adapter can learn more; it takes a little more memory.' },
  alpha: { label: 'Adapter strength (alpha)', help: 'The adapter\'s output is scaled by alpha / rank.' },
  seed: { label: 'Random seed', help: 'The same seed gives the same run, step for step.' },
  evalEvery: { label: 'Check held-out text every ... steps', help: 'Scores text the model does not train on, to show whether it really learns (0: only at the start and the end).' },
  checkpointEvery: { label: 'Save a checkpoint every ... steps', help: 'Saved in this browser: a reload or a crash resumes there. Pause and Stop wait for the next one.' },
  evalSize: { label: 'Held-out pieces per check', help: 'How many held-out pieces (or examples) each check scores (0: all).' },
  trainSize: { label: 'Training examples used', help: 'Tasks: a sample of this many examples by seed (0: all).' },
  optimizer: { label: 'Optimizer', help: 'sgd: plain steps. momentum / adam: keep running averages of the direction (steadier). lozo / hizoo: cheaper or curvature-scaled random changes.' },
  beta1: { label: 'Momentum (beta1)', help: 'momentum / adam: how much of the previous direction each step keeps.' },
  beta2: { label: 'Adam beta2', help: 'adam: how slowly its scale estimate changes.' },
  zoRank: { label: 'lozo: rank of the random changes', help: 'lozo: the random changes are low-rank (fewer random numbers per step).' },
  hessianSmooth: { label: 'hizoo: curvature smoothing', help: 'hizoo: how much each step\'s curvature estimate counts in the running average.' },
  maxMemoryMiB: { label: 'GPU memory limit (MiB)', help: '0: no limit. Otherwise examples per step, then random changes per step, are lowered until a step fits.' },
};

/** An option's label for people. */
export function plainLabel(key: string, fallback: string): string {
  return PLAIN[key as keyof FineTuneOptions]?.label ?? fallback;
}

/** Why an option's default is what it is, for the Advanced section. */
export function defaultWhy(key: keyof FineTuneOptions, value: unknown, ctx: { demo: boolean; task: boolean }): string {
  const v = String(value);
  const why: Partial<Record<keyof FineTuneOptions, string>> = {
    lr: ctx.task ? 'chosen on a validation split for tasks' : ctx.demo ? 'the demo model learns its log with it; 1e-2 diverges' : 'works for most models; lower it if a run diverges',
    q: ctx.task || ctx.demo ? 'enough for a small model' : 'a steadier direction for a real model',
    steps: ctx.task ? 'tasks need more steps' : 'a first run; the result says whether more would help',
    evalEvery: 'a live held-out curve',
    checkpointEvery: 'a reload loses at most this many steps',
    evalSize: 'a steady score, still quick',
    seq: ctx.demo ? 'one log day is about 30 tokens' : 'long enough for a sentence or two',
    mode: 'the fastest; all three give the same result',
    eps: 'the size MeZO uses: large enough to measure, small enough to stay local',
    schedule: 'the simplest; linear can calm a noisy end',
    batch: 'steadier than one example, still quick',
    targets: "LoRA's usual choice: the attention's query and value",
    rank: 'the usual LoRA size: small, and enough to learn a style',
    alpha: 'twice the rank, the usual LoRA scale',
    seed: 'any fixed number makes a run repeatable',
    trainSize: 'all the data',
    optimizer: 'plain steps: no extra memory',
    beta1: 'the usual momentum',
    beta2: "Adam's usual value",
    zoRank: 'the lozo paper\'s small rank',
    hessianSmooth: 'measured on stories260K: the curvature estimate adapts over about 100 steps',
    maxMemoryMiB: 'no limit: the run takes what its shape needs',
  };
  return `default ${v}${why[key] ? `: ${why[key]}` : ''}`;
}

// ---- errors ----------------------------------------------------------------------------------
/** The first line of a model that would not open, in plain words (the engine's message is folded under it). */
export function modelErrorTitle(name: string, message: string): string {
  if (/no config\.json|shards? in model\.safetensors|no model\.safetensors/i.test(message)) return `${name}: the Hugging Face model folder is incomplete.`;
  if (/tokenizer/i.test(message)) return `${name}: its tokenizer is missing or does not fit it.`;
  if (/HTTP 404|not found/i.test(message)) return `${name} was not found.`;
  if (/HTML page/i.test(message)) return `${name}: the server sent a web page instead of the model file.`;
  if (/maxStorageBufferBindingSize|maxBufferSize|out of memory|allocation/i.test(message)) return `${name} is too large for this device's GPU.`;
  if (/a safetensors file/i.test(message)) return `${name} is part of a Hugging Face model: open its whole folder.`;
  if (/PyTorch|GGML|not a GGUF|not a model file|out of range|header|llama2\.c/i.test(message)) return `${name} is not a model file this app can open.`;
  return `${name} could not be opened.`;
}
