// Memory planning: the GPU bytes a ZO step, an evaluation pass or generation will hold, predicted
// from the same shapes the engine allocates (no GPU needed), and the choice of the largest
// q x batch x seq that fits a limit (`--max-memory`, the app's Max GPU memory: RunOptions.maxMemoryMiB).
//
// What a prge step holds beside the weights (every buffer is created once per shape; nothing is
// allocated while a step runs, so the peak is their sum):
//   adapters     LoRA A [r, in] and B [out, r] per target per layer, + the optimizer's state per B
//                (momentum m; adam m, v; hizoo h), src/train/optimizer.ts STATE_TENSORS
//   activations  the forward pass's RunState (src/model/forward.ts) for P x rows sequences of T
//                tokens with every row selected (P = 2q (+1 for hizoo) slots in prge, q in outer,
//                1 in mezo), + the loss head's labels and row losses (src/eval/loss_head.ts)
//   scratch      slot losses and projected gradients (src/train/scheduler.ts), optimizer bias terms
//   uniforms     one 256-byte Params slot per dispatch, in arena chunks of 64 slots
//                (src/gpu/kernel.ts UniformArena), and the step block
//   readback     the ring of loss readbacks, one per step in flight (PIPELINE_DEPTH at most)
// An evaluation pass during training (evalEvery > 0) holds its own forward pass and loss head at
// the same time (counted with logits at every position: for a task, whose scoring passes hold
// logits at the label positions only (src/eval/score.ts), an upper bound). Every buffer is at least 4 bytes and a multiple of 4 (src/gpu/device.ts).
import type { LoraConfig } from '../adapter/lora';
import type { LlamaConfig } from '../formats/config';
import { ropeTableBytes, type Model } from '../model/model';
import { targetShape } from '../model/targets';
import { NO_STEP, StepBlock } from '../gpu/step_block';
import { parseTargets } from '../adapter/peft';
import { OptionError, type RunOptions, type ZoMode, type ZoOptimizerName } from './options';
import { PIPELINE_DEPTH } from './trainer';
import { STATE_TENSORS } from './optimizer';

/** The model's dimensions and the optional tensors that add activation buffers. */
export interface ModelShape {
  config: LlamaConfig;
  qkNorm: boolean; // Qwen3 / Gemma: q and k per-head norms (q_norm, k_norm buffers)
  biases: boolean; // Qwen2: q/k/v biases (a zeros index buffer)
  postNorms: boolean; // Gemma: post-norms (a sub-block output buffer)
  ropePositions?: number; // positions the model's RoPE tables cover (made on first need: Model.rope); default none
}

export function modelShape(model: Model): ModelShape {
  const L = model.weights.layers;
  return {
    config: model.config,
    qkNorm: L.some((l) => l.qNorm),
    biases: L.some((l) => l.bq || l.bk || l.bv),
    postNorms: L.some((l) => l.postAttnNorm || l.postFfnNorm),
    ropePositions: model.ropePositions,
  };
}

/** Bytes by ledger category (src/gpu/ledger.ts MemoryCategory), and their total. */
export interface MemoryEstimate {
  weights: number;
  adapters: number;
  activations: number;
  scratch: number;
  uniforms: number;
  readback: number;
  total: number;
}

/** A step's shape and what else decides its buffers. */
export interface StepShape {
  q: number;
  batch: number;
  seq: number;
  mode?: ZoMode; // default prge
  optimizer?: ZoOptimizerName; // default sgd
  candidates?: number; // candidates per example when training as classification
  rowsPerExample?: number; // rows per example (default max(1, candidates): packed candidates share rows)
  labelsPerExample?: number; // tasks: labelled positions per example at most (the LM head's rows); absent: every position
  lora: LoraConfig;
  /** The evaluation pass held during training (evalEvery > 0): rows of `batch` (causal LM), of
   * 2q x batch (tasks: as many as a training pass), or none. */
  evalRows?: 'batch' | 'slots';
  /** Steps in flight (their readback buffers); default 1. */
  depth?: number;
}

const buf = (floats: number) => Math.max(4, Math.ceil(floats) * 4);
const SLOT = 256; // UniformArena.SLOT_BYTES (a multiple of every device's uniform offset alignment here)
const CHUNK = 64 * SLOT; // UniformArena.SLOTS_PER_CHUNK slots per arena buffer
const STEP_BLOCK = StepBlock.pack(NO_STEP).byteLength; // the step block's uniform struct (src/gpu/step_block.ts)

/** Bytes of a forward pass's activations (RunState) for B sequences of T tokens, nSelect rows to the LM head. */
export function forwardBytes(m: ModelShape, B: number, T: number, nSelect: number, rank = 0): number {
  const c = m.config;
  const rows = B * T;
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  let bytes = buf(rows); // tokens
  bytes += 2 * buf(rows * c.dim); // x, xb
  bytes += 3 * buf(rows * qDim); // q, q_rope, att
  bytes += 3 * buf(rows * kvDim); // k, k_rope, v
  bytes += 3 * buf(rows * c.hiddenDim); // gate, up, act
  bytes += buf(nSelect) + 2 * buf(nSelect * c.dim) + buf(nSelect * c.vocabSize); // select, x_select, x_select_norm, logits
  if (rank) bytes += buf(rows * rank); // lora_ax
  if (m.qkNorm) bytes += buf(rows * qDim) + buf(rows * kvDim);
  if (m.biases) bytes += buf(rows);
  if (m.postNorms) bytes += buf(rows * c.dim);
  return bytes;
}

/** Dispatches a forward pass records (one uniform slot each; a split weight's extra parts not counted). */
function forwardDispatches(m: ModelShape, loraTargets: number): number {
  const c = m.config;
  const perLayer = 2 + 7 + 2 + 1 + 1 + 2 * loraTargets + (m.qkNorm ? 2 : 0) + (m.biases ? 3 : 0) + (m.postNorms ? 2 : 0);
  return 1 + (c.embedScale !== undefined ? 1 : 0) + c.nLayers * perLayer + 3 + (c.finalSoftcap !== undefined ? 1 : 0);
}

/** Bytes of the LoRA tensors (A and B of every target of every layer) and of `stateTensors` copies of each B. */
export function adapterBytes(c: LlamaConfig, lora: LoraConfig, stateTensors = 0): number {
  let bytes = 0;
  for (const t of lora.targets) {
    const s = targetShape(c, t);
    bytes += buf(lora.rank * s.in) + (1 + stateTensors) * buf(s.out * lora.rank);
  }
  return bytes * c.nLayers;
}

const uniformBytes = (dispatches: number) => Math.ceil(dispatches / 64) * CHUNK;

/** What a ZO step of this shape holds, with `weights` bytes of weights resident. */
export function planStep(m: ModelShape, weights: number, s: StepShape): MemoryEstimate {
  const c = m.config;
  const mode = s.mode ?? 'prge';
  const opt = s.optimizer ?? 'sgd';
  const extra = opt === 'hizoo' ? 1 : 0;
  const slots = 2 * s.q + extra;
  const P = mode === 'prge' ? slots : mode === 'outer' ? s.q : 1;
  const rows = s.batch * (s.rowsPerExample ?? Math.max(1, s.candidates ?? 0));
  const n = P * (s.labelsPerExample ? s.batch * s.labelsPerExample : rows * s.seq); // rows of the LM head
  const evalRows = s.evalRows === 'batch' ? s.batch : s.evalRows === 'slots' ? 2 * s.q * s.batch : 0;
  const evalN = evalRows * s.seq;
  const nAdapters = c.nLayers * s.lora.targets.length;
  const seqs = (s.candidates ?? 0) > 1 ? buf(n) : 0; // the class loss's candidate of each selected row
  const activations = forwardBytes(m, P * rows, s.seq, n, s.lora.rank) + 2 * buf(n) + seqs + (evalRows ? forwardBytes(m, evalRows, s.seq, evalN, s.lora.rank) + 2 * buf(evalN) : 0);
  const scratch = buf(slots) + buf(s.q + 1 + (extra ? s.q : 0)) + (opt === 'momentum' || opt === 'adam' ? buf(2) : 0);
  const dispatches = forwardDispatches(m, s.lora.targets.length) * (evalRows ? 2 : 1) + 2 + (evalRows ? 1 : 0) + 1 + nAdapters; // + loss heads, zo_grad, updates
  // the step block and its per-pass images (+ the evaluation pass's own block)
  const uniforms = uniformBytes(dispatches) + STEP_BLOCK + (slots / P) * STEP_BLOCK + (evalRows ? STEP_BLOCK : 0);
  const readback = (s.depth ?? 1) * buf(slots + s.q + 1) + (evalRows ? buf(evalN) : 0);
  const adapters = adapterBytes(c, s.lora, STATE_TENSORS[opt].length);
  weights += ropeTableBytes(c, m.ropePositions ?? 0, s.seq); // the RoPE tables, when the step is the first to reach seq positions
  return { weights, adapters, activations, scratch, uniforms, readback, total: weights + adapters + activations + scratch + uniforms + readback };
}

/** What generating `steps` positions for `batch` sequences (a prompt of `prompt` tokens) holds. */
export function planGenerate(m: ModelShape, weights: number, g: { batch: number; prompt: number; steps: number; lora?: LoraConfig }): MemoryEstimate {
  const c = m.config;
  const kvDim = c.nKvHeads * c.headDim;
  const rank = g.lora?.rank ?? 0;
  const cache = 2 * c.nLayers * buf(g.batch * g.steps * kvDim);
  const activations = cache + forwardBytes(m, g.batch, g.prompt, g.batch, rank) + forwardBytes(m, g.batch, 1, g.batch, rank);
  const targets = g.lora?.targets.length ?? 0;
  const uniforms = uniformBytes(2 * forwardDispatches(m, targets)) + 2 * STEP_BLOCK;
  const adapters = g.lora ? adapterBytes(c, g.lora) : 0;
  const readback = buf(g.batch * c.vocabSize);
  weights += ropeTableBytes(c, m.ropePositions ?? 0, g.steps); // the RoPE tables of the cache's positions, when first reached
  return { weights, adapters, activations, scratch: 0, uniforms, readback, total: weights + adapters + activations + uniforms + readback };
}

// ---- limits and the choice of a shape that fits ----------------------------------------------------

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** Bytes of a size such as `512MiB`, `2GiB`, `1.5GB`, `800000` (bytes); `option` names it in errors. */
export function parseBytes(s: string, option = 'maxMemoryMiB'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new OptionError(option, `must be a size like 512MiB, 2GiB, 1.5GB or a number of bytes, got ${JSON.stringify(s)}`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!(bytes > 0)) throw new OptionError(option, `must be more than 0 bytes, got ${JSON.stringify(s)}`);
  return bytes;
}

export const fmtMiB = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 20 ? 2 : 1)} MiB`;

/** "weights 1.0 MiB + adapters .. + activations .. + other ..". */
export function describeEstimate(e: MemoryEstimate): string {
  const other = e.scratch + e.uniforms + e.readback;
  return `weights ${fmtMiB(e.weights)} + adapters ${fmtMiB(e.adapters)} + activations ${fmtMiB(e.activations)} + other ${fmtMiB(other)}`;
}

export interface FitResult {
  shape: StepShape;
  estimate: MemoryEstimate;
  /** What was lowered and why, for the user; empty when the asked shape fits. */
  note: string;
}

/**
 * The largest step shape that fits `limit` bytes, no larger than the one asked. The policy:
 * the asked shape if it fits; else the largest batch that fits at the asked q and seq; else, at
 * batch 1, the largest q; else, at batch 1 and q 1, the largest seq (>= 2), unless `seqFixed`
 * (the user gave --seq: a text is cut into chunks of seq tokens, which changes the task). Each is
 * lowered in that order because a smaller batch only adds noise to the estimate, fewer queries
 * add more, and a shorter seq changes what is learned. Throws an OptionError('maxMemoryMiB') saying
 * what the asked shape needs and what fits (or that the weights and adapters alone do not).
 */
export function fitStep(m: ModelShape, weights: number, asked: StepShape, limit: number, seqFixed: boolean): FitResult {
  const est = (s: StepShape) => planStep(m, weights, s);
  const fits = (s: StepShape) => est(s).total <= limit;
  const want = est(asked);
  if (want.total <= limit) return { shape: asked, estimate: want, note: '' };
  const largest = (lo: number, hi: number, make: (v: number) => StepShape): number => {
    // the largest v in [lo, hi] with make(v) fitting (the estimate grows with v), or lo - 1
    if (!fits(make(lo))) return lo - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(make(mid))) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const name = (s: StepShape) => `q ${s.q} batch ${s.batch} seq ${s.seq}`;
  const needs = `${name(asked)} needs ${fmtMiB(want.total)} (${describeEstimate(want)})`;
  const done = (shape: StepShape, what: string): FitResult => {
    const e = est(shape);
    return { shape, estimate: e, note: `${needs}, more than ${fmtMiB(limit)}: ${what}; ${name(shape)} needs ${fmtMiB(e.total)}` };
  };
  const b = largest(1, asked.batch, (v) => ({ ...asked, batch: v }));
  if (b >= 1) return done({ ...asked, batch: b }, `lowered batch ${asked.batch} -> ${b}`);
  const q = largest(1, asked.q, (v) => ({ ...asked, batch: 1, q: v }));
  if (q >= 1) return done({ ...asked, batch: 1, q }, `lowered batch ${asked.batch} -> 1 and q ${asked.q} -> ${q}`);
  const floor = { ...asked, batch: 1, q: 1, seq: seqFixed ? asked.seq : 2 };
  if (!seqFixed) {
    const seq = largest(2, asked.seq, (v) => ({ ...asked, batch: 1, q: 1, seq: v }));
    if (seq >= 2) return done({ ...asked, batch: 1, q: 1, seq }, `lowered batch ${asked.batch} -> 1, q ${asked.q} -> 1 and seq ${asked.seq} -> ${seq}`);
  }
  const least = est(floor);
  const fixed = least.weights + least.adapters;
  const why = fixed > limit ? `the weights and adapters alone need ${fmtMiB(fixed)}` : `even ${name(floor)} needs ${fmtMiB(least.total)} (${describeEstimate(least)})${seqFixed ? '; a smaller seq may fit' : ''}`;
  throw new OptionError('maxMemoryMiB', `${needs}; nothing fits in ${fmtMiB(limit)}: ${why}`);
}

/**
 * The run's q, batch (and, unless `seqFixed`, seq) under `o.maxMemoryMiB` (0 or absent: as asked),
 * with the model's resident bytes (weights and what else is live now) from the ledger; evaluation
 * passes during training count when `o.evalEvery` > 0. See fitStep for the policy.
 */
export function fitRunOptions(
  model: Model,
  o: Pick<RunOptions, 'q' | 'batch' | 'seq' | 'mode' | 'rank' | 'alpha' | 'targets' | 'evalEvery' | 'optimizer' | 'maxMemoryMiB'>,
  ctx: { task: boolean; candidates?: number; rowsPerExample?: number; labelsPerExample?: number; seqFixed: boolean },
): FitResult | null {
  if (!o.maxMemoryMiB) return null;
  const asked: StepShape = {
    q: o.q, batch: o.batch, seq: o.seq, mode: o.mode, optimizer: o.optimizer, candidates: ctx.candidates, rowsPerExample: ctx.rowsPerExample, labelsPerExample: ctx.labelsPerExample,
    lora: { rank: o.rank, alpha: o.alpha, targets: parseTargets(o.targets) },
    evalRows: o.evalEvery > 0 ? (ctx.task ? 'slots' : 'batch') : undefined,
    depth: PIPELINE_DEPTH,
  };
  return fitStep(modelShape(model), model.gpu.ledger.totalBytes(), asked, Math.floor(o.maxMemoryMiB * 2 ** 20), ctx.seqFixed);
}
