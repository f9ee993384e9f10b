// The ZO step scheduler. One step estimates the projected gradient of every trainable B from
// 2q slot losses and updates B, all on the GPU. The three modes use the same estimator and the
// same Z, and differ only in how the 2q perturbed copies of the batch are laid out in passes:
//   mezo   2q passes of Bsz rows (sequential MeZO, the baseline), a submit per pass
//   outer  2 passes of q x Bsz rows (the q queries in the batch), a submit per pass
//   prge   1 pass of 2q x Bsz rows (MobiZO's P-RGE): one command buffer, one queue.submit
// A step is one recorded Program: per pass the step block's pass image is loaded, then the
// forward pass and the loss head; then the projected gradients and the updates. Every dispatch
// that needs the step's seed, slot base, eps or lr reads them from one StepBlock, written once
// per step. Slot losses and projected gradients come back through a ring of mapped readback
// buffers that grows instead of waiting, so step() submits and returns a promise of its result.
// Names: a `slot` is a perturbation slot (DESIGN.md), a readback buffer is an entry of the ring;
// `forward` is the ForwardPass (compute passes are the Program's business); `rows` are sequences
// of the batch, `examples` (opts.batch) the examples they hold (x candidates when classifying);
// `runSeed` (opts.seed) is the run's seed, stepSeed(runSeed, k) the RNG key of step k.
// The update is the run's ZO optimizer's (src/train/optimizer.ts): sgd (plain P-RGE), momentum,
// adam, lozo or hizoo; HiZOO's unperturbed loss is slot 2q of the same pass (2q + 1 slots).
import type { Dispatch } from '../gpu/kernel';
import { zoGrad } from '../gpu/kernels/zo_update';
import { CopyBuffer, Program, Submit } from '../gpu/program';
import { StepBlock, type StepValues } from '../gpu/step_block';
import { tensor, type Tensor } from '../gpu/tensor';
import type { Model } from '../model/model';
import { ForwardPass } from '../model/forward';
import type { LoraState } from '../adapter/lora';
import { LossHead, labelledRows } from '../eval/loss_head';
import { philox4x32 } from '../util/philox';
import type { TokenBatch } from '../data/batch';
import { validateZoOptions, type ZoOptions } from './options';
import { ZoOptimizer, optimizerSpec } from './optimizer';

export { LR_SCHEDULES, ZO_MODES, ZO_OPTIMIZERS, validateZoOptions, type LrSchedule, type ZoMode, type ZoOptimizerName, type ZoOptions } from './options';

export interface StepResult {
  step: number;
  loss: number; // mean of the slot losses
  slotLosses: number[]; // [2q], slot order of DESIGN.md: + for queries 0..q-1, then -
  projGrad: number[]; // [q]
  applied: boolean; // false when a loss was not finite: B was left unchanged
  unperturbedLoss?: number; // hizoo: the loss of the unperturbed slot 2q
}

/** Rows of one step's batch: examples x rows per example (classification: the packed candidates' rows). */
export function batchRows(o: ZoOptions): number {
  return o.batch * (o.rowsPerExample ?? Math.max(1, o.candidates ?? 0));
}

/** The learning rate of step `step` (0-based) under the run's schedule. */
export function lrAt(o: ZoOptions, step: number): number {
  return o.schedule === 'linear' ? o.lr * Math.max(0, 1 - step / o.steps!) : o.lr;
}

/** The RNG seed of step `step` of a run (u32), from the run seed. */
export function stepSeed(runSeed: number, step: number): number {
  return philox4x32([step >>> 0, 0, 0, 0], [runSeed >>> 0, 0x6d6f627a])[0];
}

/**
 * Readback staging buffers, reused once their map resolved. A step takes a free one or, when
 * every buffer still waits for its map, a new one: the host never waits to submit.
 */
class ReadbackRing {
  private readonly all: GPUBuffer[] = [];
  private readonly free: GPUBuffer[] = [];

  constructor(
    private readonly model: Model,
    readonly floats: number,
  ) {}

  acquire(): GPUBuffer {
    const b = this.free.pop();
    if (b) return b;
    const nb = this.model.gpu.createBuffer(`zo.readback.${this.all.length}`, this.floats * 4, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ, 'readback');
    this.all.push(nb);
    return nb;
  }

  /** Gives back a buffer that no copy was submitted to. */
  release(buf: GPUBuffer): void {
    this.free.push(buf);
  }

  /** Maps `buf` after its copy was submitted; resolves with its floats and frees it. */
  async read(buf: GPUBuffer): Promise<Float32Array> {
    await buf.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(buf.getMappedRange().slice(0));
    buf.unmap();
    this.free.push(buf);
    return out;
  }

  /** Buffers made so far (the deepest pipeline seen). */
  get size(): number {
    return this.all.length;
  }

  destroy(): void {
    for (const b of this.all) this.model.gpu.destroyBuffer(b);
  }
}

export class ZoScheduler {
  readonly slotsPerPass: number;
  readonly passes: number;
  readonly forward: ForwardPass;
  readonly head: LossHead;
  readonly block: StepBlock; // the step's uniforms: seed, slot base, eps, lr
  readonly losses: Tensor; // [2q (+ 1 for hizoo)] slot losses of the step
  readonly grad: Tensor; // [q + 1 (+ q for hizoo)] projected gradients, finite flag (, curvatures)
  readonly optimizer: ZoOptimizer; // the update of B and its state
  /** The recorded step: per pass, the pass image, the forward pass and the loss head; then gradient and updates. */
  readonly program: Program;
  private readonly gradD: Dispatch;
  private readonly updates: Dispatch[];
  private readonly readback: CopyBuffer[]; // losses and gradients into the step's readback buffer
  private readonly ring: ReadbackRing;
  private readonly rows: number; // rows (sequences) of the batch: examples x candidates
  /** Number of queue.submit calls made by the last step (1 for prge). */
  submitsLastStep = 0;

  constructor(
    readonly model: Model,
    readonly lora: LoraState,
    readonly opts: ZoOptions,
  ) {
    validateZoOptions(opts);
    const { q, seq, mode } = opts;
    const rows = batchRows(opts);
    this.rows = rows;
    const group = (opts.candidates ?? 0) > 1 ? opts.candidates! : 0;
    const gpu = model.gpu;
    const ks = model.kernels;
    this.optimizer = new ZoOptimizer(gpu, lora, optimizerSpec(opts)); // sets the adapters' form of Z before the forward is recorded
    const l0 = this.optimizer.extraSlots === 1;
    const slots = 2 * q + this.optimizer.extraSlots;
    this.slotsPerPass = mode === 'prge' ? slots : mode === 'outer' ? q : 1;
    this.passes = slots / this.slotsPerPass;
    const P = this.slotsPerPass;
    this.block = new StepBlock(gpu, 'zo.step', this.passes);
    // the LM head runs on the labelled positions only: for tasks at most labelsPerExample per example
    const nSelect = P * (opts.labelsPerExample ? opts.batch * opts.labelsPerExample : rows * seq);
    this.forward = new ForwardPass(model, { B: P * rows, T: seq, nSelect, lora, slots: P, q, step: this.block });
    this.losses = tensor(gpu, 'zo.losses', [slots], 'scratch');
    this.grad = tensor(gpu, 'zo.grad', [q + 1 + (l0 ? q : 0)], 'scratch');
    this.head = new LossHead(this.forward, 'zo', { losses: this.losses, norm: opts.lossPerExample ? opts.batch : 0, group, examples: opts.batch });
    this.gradD = zoGrad(ks, 'zo.grad', this.losses, this.grad, q, this.block, l0);
    this.updates = this.optimizer.updates(ks, this.grad, this.block, q);
    this.program = new Program(`zo ${mode} step`);
    for (let k = 0; k < this.passes; k++) {
      if (k > 0) this.program.add(new Submit(`zo pass ${k}`));
      this.program.add(this.block.loadPass(k), ...this.forward.program.ops, ...this.head.ops);
    }
    this.program.add(this.gradD, ...this.updates);
    // readback: the slot losses (2q, then L0 for hizoo), the projected gradients and the finite flag
    this.ring = new ReadbackRing(model, slots + q + 1);
    const first = this.ring.acquire();
    this.readback = [
      new CopyBuffer('zo.readback.losses', this.losses.buffer, 0, first, 0, slots * 4),
      new CopyBuffer('zo.readback.grad', this.grad.buffer, 0, first, slots * 4, (q + 1) * 4),
    ];
    this.ring.release(first); // free until a step takes it
  }

  /**
   * Uploads the batch (the same examples in every slot of the pass) and selects the labelled rows.
   */
  private setBatch(b: TokenBatch): void {
    const { seq } = this.opts;
    const n = this.rows * seq;
    if (b.tokens.length !== n || b.labels.length !== n) {
      throw new Error(`ZO step: batch has ${b.tokens.length} tokens and ${b.labels.length} labels, expected ${this.rows} rows x ${seq} = ${n}`);
    }
    const P = this.slotsPerPass;
    const group = (this.opts.candidates ?? 0) > 1;
    if (group && !b.picks) throw new Error('ZO step: training as classification needs the batch\'s picks (src/data/batch.ts)');
    const tokens = new Int32Array(P * n);
    const sel = { rows: [] as number[], labels: [] as number[], seqs: [] as number[] };
    for (let slot = 0; slot < P; slot++) {
      tokens.set(b.tokens, slot * n);
      if (!group) labelledRows(b.labels, slot * n, sel.rows, sel.labels);
      else {
        const { at, label, seq } = b.picks!;
        for (let i = 0; i < at.length; i++) sel.rows.push(slot * n + at[i]), sel.labels.push(label[i]), sel.seqs.push(seq[i]);
      }
    }
    if (!sel.labels.length) throw new Error('ZO step: the batch has no labelled token');
    this.forward.setInput(tokens, sel.rows);
    this.head.setLabels(sel.labels, group ? sel.seqs : undefined);
  }

  /**
   * Submits one ZO step and returns a promise of its losses, resolved when they are read back.
   * Nothing here waits: the step is encoded and submitted before this returns.
   */
  step(step: number, b: TokenBatch): Promise<StepResult> {
    const { eps } = this.opts;
    const readbackBuffer = this.ring.acquire();
    try {
      this.setBatch(b);
    } catch (e) {
      this.ring.release(readbackBuffer);
      return Promise.reject(e);
    }
    const runSeed = this.opts.seed;
    const seedOfStep = stepSeed(runSeed, step);
    const lr = lrAt(this.opts, step);
    // one image per pass: pass k holds perturbation slots k * slotsPerPass ..
    const images: StepValues[] = Array.from({ length: this.passes }, (_, k) => ({ seed: seedOfStep, slotBase: k * this.slotsPerPass, eps, lr }));
    this.block.setPasses(images);
    this.optimizer.setStep(step);
    for (const c of this.readback) c.dst = readbackBuffer;
    this.submitsLastStep = this.program.submit(this.model.gpu.device, this.readback);
    return this.collect(step, readbackBuffer);
  }

  private async collect(step: number, buf: GPUBuffer): Promise<StepResult> {
    const { q } = this.opts;
    let data: Float32Array;
    try {
      data = await this.ring.read(buf);
    } catch (e) {
      this.model.gpu.throwIfFailed(`ZO step ${step}`);
      throw new Error(`ZO step ${step}: reading the losses back failed (${(e as Error).message || 'the GPU device is gone'})`);
    }
    const slotLosses = Array.from(data.subarray(0, 2 * q));
    const s = 2 * q + this.optimizer.extraSlots; // where the gradients start
    return {
      step,
      loss: slotLosses.reduce((a, v) => a + v, 0) / (2 * q),
      slotLosses,
      projGrad: Array.from(data.subarray(s, s + q)),
      applied: data[s + q] === 1,
      ...(this.optimizer.extraSlots ? { unperturbedLoss: data[2 * q] } : {}),
    };
  }

  /** Readback buffers made so far: the deepest pipeline of steps in flight. */
  get readbackDepth(): number {
    return this.ring.size;
  }

  destroy(): void {
    this.head.destroy();
    this.forward.destroy();
    this.block.destroy();
    for (const t of [this.losses, this.grad]) t.destroy();
    for (const d of [this.gradD, ...this.updates]) d.destroy();
    this.optimizer.destroy();
    this.ring.destroy();
  }
}
