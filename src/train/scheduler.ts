// The ZO step scheduler. One step estimates the projected gradient of every trainable B from
// 2q slot losses and updates B, all on the GPU. The three modes use the same estimator and the
// same Z, and differ only in how the 2q perturbed copies of the batch are laid out in passes:
//   mezo   2q passes of Bsz rows (sequential MeZO, the baseline)
//   outer  2 passes of q x Bsz rows (the q queries in the batch)
//   prge   1 pass of 2q x Bsz rows (MobiZO's P-RGE): one command buffer, one queue.submit
// Slot losses and projected gradients come back through a ring of mapped buffers, so a step
// never waits on the host: step() submits and returns a promise of its result.
import type { Dispatch } from '../gpu/kernel';
import { slotLoss, slotLossParams, xent, xentParams } from '../gpu/kernels/xent';
import { zoGrad, zoUpdate, zoUpdateParams, type UpdateShape } from '../gpu/kernels/zo_update';
import { grid1d } from '../gpu/kernel';
import { tensor, type Tensor } from '../gpu/tensor';
import type { Model } from '../model/model';
import { ForwardPass } from '../model/forward';
import type { LoraAdapter, LoraState } from '../adapter/lora';
import { philox4x32 } from '../util/philox';
import type { TokenBatch } from '../data/batch';

export type ZoMode = 'mezo' | 'outer' | 'prge';
export const ZO_MODES: readonly ZoMode[] = ['mezo', 'outer', 'prge'];

/** constant: lr at every step; linear: lr decays linearly to 0 at step `steps`. */
export type LrSchedule = 'constant' | 'linear';
export const LR_SCHEDULES: readonly LrSchedule[] = ['constant', 'linear'];

export interface ZoOptions {
  mode: ZoMode;
  q: number; // queries (perturbations) per step
  eps: number; // perturbation size
  lr: number; // learning rate (the peak of a schedule)
  schedule?: LrSchedule; // default constant
  steps?: number; // total steps, for a decaying schedule
  batch: number; // Bsz: examples per step
  seq: number; // T: tokens per example
  seed: number; // run seed: step seeds derive from it
  lossPerExample?: boolean; // slot loss = summed token losses / examples (tasks), not the token mean
  /**
   * Train as classification (MeZO's train_as_classification): each example is this many rows, its
   * candidates with the right one first, and the slot loss is the mean cross-entropy over the
   * candidates' summed label-token log-likelihoods. 0 or 1: the rows' label tokens are the loss.
   */
  candidates?: number;
}

export interface StepResult {
  step: number;
  loss: number; // mean of the slot losses
  slotLosses: number[]; // [2q], slot order of DESIGN.md: + for queries 0..q-1, then -
  projGrad: number[]; // [q]
  applied: boolean; // false when a loss was not finite: B was left unchanged
}

export function validateZoOptions(o: ZoOptions): void {
  if (!ZO_MODES.includes(o.mode)) throw new Error(`--mode must be one of ${ZO_MODES.join(', ')}, got ${o.mode}`);
  if (!Number.isInteger(o.q) || o.q < 1) throw new Error(`--q must be an integer >= 1, got ${o.q}`);
  if (!(o.eps > 0) || !Number.isFinite(o.eps)) throw new Error(`--eps must be > 0, got ${o.eps}`);
  if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new Error(`--lr must be >= 0, got ${o.lr}`);
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new Error(`--batch must be an integer >= 1, got ${o.batch}`);
  if (!Number.isInteger(o.seq) || o.seq < 2) throw new Error(`--seq must be an integer >= 2, got ${o.seq}`);
  if (o.schedule !== undefined && !LR_SCHEDULES.includes(o.schedule)) throw new Error(`--lr-schedule must be one of ${LR_SCHEDULES.join(', ')}, got ${o.schedule}`);
  if (o.schedule === 'linear' && !(Number.isInteger(o.steps) && o.steps! > 0)) throw new Error('a linear lr schedule needs the total number of steps');
  if (o.candidates !== undefined && (!Number.isInteger(o.candidates) || o.candidates < 0)) throw new Error(`candidates must be an integer >= 0, got ${o.candidates}`);
}

/** Rows of one step's batch: examples x candidates per example when training as classification. */
export function batchRows(o: ZoOptions): number {
  return o.batch * Math.max(1, o.candidates ?? 0);
}

/** The learning rate of step `step` (0-based) under the run's schedule. */
export function lrAt(o: ZoOptions, step: number): number {
  return o.schedule === 'linear' ? o.lr * Math.max(0, 1 - step / o.steps!) : o.lr;
}

/** The RNG seed of step `step` of a run (u32). */
export function stepSeed(runSeed: number, step: number): number {
  return philox4x32([step >>> 0, 0, 0, 0], [runSeed >>> 0, 0x6d6f627a])[0];
}

/** Readback staging buffers reused round-robin; a buffer is reused only once its map resolved. */
class ReadbackRing {
  private readonly buffers: GPUBuffer[];
  private readonly pending: (Promise<void> | null)[];
  private next = 0;

  constructor(
    private readonly model: Model,
    readonly floats: number,
    size = 4,
  ) {
    this.buffers = Array.from({ length: size }, (_, i) =>
      model.gpu.createBuffer(`zo.readback.${i}`, floats * 4, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ, 'readback'),
    );
    this.pending = this.buffers.map(() => null);
  }

  /** The next free buffer (waits only if the ring is full of unread results). */
  async acquire(): Promise<{ index: number; buffer: GPUBuffer }> {
    const index = this.next;
    this.next = (this.next + 1) % this.buffers.length;
    if (this.pending[index]) await this.pending[index];
    return { index, buffer: this.buffers[index] };
  }

  /** Maps buffer `index` after its copy was submitted; resolves with its floats. */
  read(index: number): Promise<Float32Array> {
    const buf = this.buffers[index];
    const p = buf.mapAsync(GPUMapMode.READ).then(() => {
      const out = new Float32Array(buf.getMappedRange().slice(0));
      buf.unmap();
      return out;
    });
    this.pending[index] = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  destroy(): void {
    for (const b of this.buffers) this.model.gpu.destroyBuffer(b);
  }
}

export class ZoScheduler {
  readonly slotsPerPass: number;
  readonly passes: number;
  readonly pass: ForwardPass;
  private readonly labels: Tensor; // [nSelMax] i32 labels of the selected rows
  private readonly rowLoss: Tensor; // [nSelMax]
  readonly losses: Tensor; // [2q] slot losses of the step
  readonly grad: Tensor; // [q + 1] projected gradients, finite flag
  private readonly xentD: Dispatch;
  private readonly slotD: Dispatch;
  private readonly gradD: Dispatch;
  private readonly updates: { d: Dispatch; ad: LoraAdapter; stride: number }[];
  private readonly ring: ReadbackRing;
  private readonly lossNorm: number;
  private readonly group: number; // candidates per example (class_loss), 0: slot_loss
  private readonly rows: number; // rows of the batch
  /** Number of queue.submit calls made by the last step (1 for prge). */
  submitsLastStep = 0;

  constructor(
    readonly model: Model,
    readonly lora: LoraState,
    readonly opts: ZoOptions,
  ) {
    validateZoOptions(opts);
    const { q, seq, mode } = opts;
    const batch = batchRows(opts);
    this.rows = batch;
    this.group = (opts.candidates ?? 0) > 1 ? opts.candidates! : 0;
    this.lossNorm = opts.lossPerExample ? batch : 0;
    this.slotsPerPass = mode === 'prge' ? 2 * q : mode === 'outer' ? q : 1;
    this.passes = (2 * q) / this.slotsPerPass;
    const P = this.slotsPerPass;
    const nSel = P * batch * seq;
    const gpu = model.gpu;
    const ks = model.kernels;
    this.pass = new ForwardPass(model, { B: P * batch, T: seq, nSelect: nSel, lora, slots: P });
    const st = this.pass.state;
    this.labels = tensor(gpu, 'zo.labels', [nSel], 'activations', { dtype: 'i32' });
    this.rowLoss = tensor(gpu, 'zo.row_loss', [nSel], 'activations');
    this.losses = tensor(gpu, 'zo.losses', [2 * q], 'scratch');
    this.grad = tensor(gpu, 'zo.grad', [q + 1], 'scratch');
    this.xentD = xent(ks, 'zo.xent', st.logits, this.labels, this.rowLoss, nSel);
    this.slotD = slotLoss(ks, 'zo.slot_loss', this.rowLoss, this.labels, st.select, this.losses, {
      nSel,
      slots: P,
      rowsPerSlot: this.pass.rowsPerSlot,
      slotBase: 0,
      norm: this.lossNorm,
      seqLen: seq,
      group: this.group,
    });
    this.gradD = zoGrad(ks, 'zo.grad', this.losses, this.grad, q, opts.eps);
    this.updates = lora.adapters().map((ad) => {
      const s: UpdateShape = { q, lr: opts.lr, seed: 0, tensor: ad.id };
      return { d: zoUpdate(ks, `zo.update.${ad.layer}.${ad.target}`, this.grad, ad.B, s), ad, stride: grid1d(ad.B.numel).stride };
    });
    this.ring = new ReadbackRing(model, 3 * q + 1);
  }

  /**
   * Uploads the batch (the same Bsz examples in every slot) and selects the labelled rows.
   * Returns the number of labelled tokens per slot.
   */
  private setBatch(b: TokenBatch): number {
    const { seq } = this.opts;
    const batch = this.rows;
    const n = batch * seq;
    if (b.tokens.length !== n || b.labels.length !== n) {
      throw new Error(`ZO step: batch has ${b.tokens.length} tokens and ${b.labels.length} labels, expected ${batch} rows x ${seq} = ${n}`);
    }
    const P = this.slotsPerPass;
    const tokens = new Int32Array(P * n);
    for (let p = 0; p < P; p++) tokens.set(b.tokens, p * n);
    const rows: number[] = [];
    const labels: number[] = [];
    for (let p = 0; p < P; p++) {
      for (let r = 0; r < n; r++) {
        if (b.labels[r] < 0) continue;
        rows.push(p * n + r);
        labels.push(b.labels[r]);
      }
    }
    if (!labels.length) throw new Error('ZO step: the batch has no labelled token');
    this.pass.setInput(tokens, rows);
    this.labels.write(Int32Array.from(labels));
    const nSel = rows.length;
    this.xentD.setParams(xentParams(nSel, this.model.config.vocabSize));
    return nSel / P;
  }

  /** Submits one ZO step; the promise resolves when its losses are read back (never awaited inside). */
  async step(step: number, b: TokenBatch): Promise<StepResult> {
    const { q, eps, seed } = this.opts;
    const dev = this.model.gpu.device;
    const slot = await this.ring.acquire();
    this.setBatch(b);
    const nSel = this.pass.selectedRows;
    const s = stepSeed(seed, step);
    const lr = lrAt(this.opts, step);
    for (const u of this.updates) u.d.setParams(zoUpdateParams(u.ad.B.numel, { q, lr, seed: s, tensor: u.ad.id }, u.stride));
    this.submitsLastStep = 0;
    for (let k = 0; k < this.passes; k++) {
      const slotBase = k * this.slotsPerPass;
      this.pass.setPerturbation({ slotBase, q, eps, seed: s });
      this.slotD.setParams(slotLossParams({ nSel, slots: this.slotsPerPass, rowsPerSlot: this.pass.rowsPerSlot, slotBase, norm: this.lossNorm, seqLen: this.opts.seq, group: this.group }));
      const enc = dev.createCommandEncoder({ label: `zo step ${step} pass ${k}` });
      this.pass.encode(enc);
      const last = k === this.passes - 1;
      const pass = enc.beginComputePass({ label: 'zo.loss' });
      this.xentD.encode(pass);
      this.slotD.encode(pass);
      if (last) {
        this.gradD.encode(pass);
        for (const u of this.updates) u.d.encode(pass);
      }
      pass.end();
      if (last) {
        enc.copyBufferToBuffer(this.losses.buffer, 0, slot.buffer, 0, 2 * q * 4);
        enc.copyBufferToBuffer(this.grad.buffer, 0, slot.buffer, 2 * q * 4, (q + 1) * 4);
      }
      dev.queue.submit([enc.finish()]);
      this.submitsLastStep++;
    }
    let data: Float32Array;
    try {
      data = await this.ring.read(slot.index);
    } catch (e) {
      this.model.gpu.throwIfFailed(`ZO step ${step}`);
      throw new Error(`ZO step ${step}: reading the losses back failed (${(e as Error).message || 'the GPU device is gone'})`);
    }
    const slotLosses = Array.from(data.subarray(0, 2 * q));
    return {
      step,
      loss: slotLosses.reduce((a, v) => a + v, 0) / (2 * q),
      slotLosses,
      projGrad: Array.from(data.subarray(2 * q, 3 * q)),
      applied: data[3 * q] === 1,
    };
  }

  /** The dispatches a step adds after the forward pass, in order (for profilers). */
  stepOps(): Dispatch[] {
    return [this.xentD, this.slotD, this.gradD, ...this.updates.map((u) => u.d)];
  }

  destroy(): void {
    this.pass.destroy();
    for (const t of [this.labels, this.rowLoss, this.losses, this.grad]) t.destroy();
    for (const d of [this.xentD, this.slotD, this.gradD, ...this.updates.map((u) => u.d)]) d.destroy();
    this.ring.destroy();
  }
}
