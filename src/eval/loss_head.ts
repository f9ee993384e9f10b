// The loss head: the cross-entropy of the selected rows of a forward pass (xent), and optionally
// its reduction per perturbation slot (slot_loss, or class_loss over each example's candidates).
// The one place that records these dispatches: training (ZoScheduler), evaluation (evaluateLm)
// and scoring (scoreItems) all put a LossHead after their forward pass.
import type { Dispatch } from '../gpu/kernel';
import { lossRows, slotLoss, xent } from '../gpu/kernels/xent';
import { Program } from '../gpu/program';
import { tensor, type Tensor } from '../gpu/tensor';
import type { ForwardPass } from '../model/forward';

/** Reduce the row losses to one loss per slot of the pass, into `losses` at the step block's slot base. */
export interface SlotReduction {
  losses: Tensor; // [2q] the step's slot losses
  norm: number; // slot_loss: divisor of each slot's sum; 0: its labelled rows (the mean token loss)
  group: number; // class_loss: candidates (sequences) per example; 0: slot_loss
  examples?: number; // class_loss: examples per slot
}

export class LossHead {
  readonly labels: Tensor; // [nSelect] i32 label of each selected row (< 0: ignored)
  readonly rowLoss: Tensor; // [nSelect] its cross-entropy
  readonly seqs: Tensor | null; // class_loss: [nSelect] u32 the candidate sequence each selected row scores (within its slot)
  /** The head's dispatches, in order (after the forward pass). */
  readonly ops: Dispatch[];
  /** The forward pass and the head: one program (evaluation, scoring). */
  readonly program: Program;
  private readonly xentD: Dispatch;
  private readonly slotD: Dispatch | null;
  private inUse = 0;

  constructor(
    readonly pass: ForwardPass,
    label: string,
    reduce?: SlotReduction,
  ) {
    const { model, shape } = pass;
    const n = shape.nSelect;
    const st = pass.state;
    this.labels = tensor(model.gpu, `${label}.labels`, [n], 'activations', { dtype: 'i32' });
    this.rowLoss = tensor(model.gpu, `${label}.row_loss`, [n], 'activations');
    this.xentD = xent(model.kernels, `${label}.xent`, st.logits, this.labels, this.rowLoss, n);
    this.seqs = reduce?.group ? tensor(model.gpu, `${label}.seqs`, [n], 'activations', { dtype: 'u32' }) : null;
    this.slotD = reduce
      ? slotLoss(
          model.kernels,
          `${label}.slot_loss`,
          this.rowLoss,
          this.labels,
          st.select,
          reduce.losses,
          { nSel: n, slots: shape.slots ?? 1, rowsPerSlot: pass.rowsPerSlot, norm: reduce.norm, group: reduce.group, examples: reduce.examples ?? 0, seqs: this.seqs ?? undefined },
          pass.step,
        )
      : null;
    this.ops = this.slotD ? [this.xentD, this.slotD] : [this.xentD];
    this.program = new Program(`${label}[${shape.B}x${shape.T}]`);
    this.program.add(...pass.program.ops, ...this.ops);
  }

  /**
   * Uploads the labels of the pass's selected rows (one per row given to setInput) and, for the
   * class loss, the candidate sequence each scores (example * candidates + j within its slot).
   */
  setLabels(labels: ArrayLike<number>, seqs?: ArrayLike<number>): void {
    if (labels.length !== this.pass.selectedRows) throw new Error(`loss head: ${labels.length} labels for ${this.pass.selectedRows} selected rows`);
    if (this.seqs && seqs?.length !== labels.length) throw new Error(`loss head: the class loss needs a candidate per label (${seqs?.length ?? 0} for ${labels.length})`);
    this.labels.write(Int32Array.from(labels));
    if (this.seqs) this.seqs.write(Uint32Array.from(seqs!));
    if (labels.length === this.inUse) return;
    this.inUse = labels.length;
    lossRows(this.xentD, labels.length);
    if (this.slotD) lossRows(this.slotD, labels.length);
  }

  /** Runs the forward pass and the head; resolves with the row losses of the selected rows. */
  async run(): Promise<Float32Array> {
    const gpu = this.pass.model.gpu;
    this.program.submit(gpu.device);
    return new Float32Array(await gpu.readBuffer(this.rowLoss.buffer, this.inUse * 4));
  }

  destroy(): void {
    for (const d of this.ops) d.destroy();
    this.labels.destroy();
    this.rowLoss.destroy();
    this.seqs?.destroy();
  }
}

/** The labelled rows of a batch (label >= 0) and their labels, offset by `rowBase`. */
export function labelledRows(labels: ArrayLike<number>, rowBase = 0, rows: number[] = [], out: number[] = []): { rows: number[]; labels: number[] } {
  for (let r = 0; r < labels.length; r++) {
    if (labels[r] < 0) continue;
    rows.push(rowBase + r);
    out.push(labels[r]);
  }
  return { rows, labels: out };
}
