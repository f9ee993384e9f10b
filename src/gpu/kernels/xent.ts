// Masked cross-entropy of selected rows, and its mean per perturbation slot.
import { grid1d, type Dispatch, type Params } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';
import type { StepBlock } from '../step_block';
import { num, type Costs } from './cost';

/** rowLoss[i] = logsumexp(logits[i]) - logits[i, labels[i]] for i < nSel (0 where label < 0). */
export function xent(ks: Kernels, label: string, logits: Tensor, labels: Tensor, rowLoss: Tensor, nSel: number): Dispatch {
  const [n, vocab] = logits.shape;
  const who = `xent ${label}`;
  expectShape(who, labels, [n]);
  expectShape(who, rowLoss, [n]);
  if (labels.dtype !== 'i32') throw new Error(`${who}: labels ${labels.label} must be i32`);
  if (nSel > n) throw new Error(`${who}: ${nSel} rows in use, logits hold ${n}`);
  return ks.get('xent').dispatch(label, { logits, labels, rowLoss }, { nSel, vocab }, grid1d(n, 1).workgroups);
}

/** The first `nSel` selected rows are in use (xent, slot_loss, class_loss). */
export function lossRows(d: Dispatch, nSel: number): void {
  d.update({ nSel });
}

export interface SlotLossShape {
  nSel: number; // selected rows in use
  slots: number; // slots in this pass
  rowsPerSlot: number;
  norm: number; // slot_loss: divisor of each slot's sum; 0: its labelled rows (mean token loss)
  group: number; // class_loss: sequences (candidates) per example; 0: slot_loss
  examples: number; // class_loss: examples per slot
  seqs?: Tensor; // class_loss: [nSelMax] u32 the candidate sequence (example * group + c) each selected row scores
}

/**
 * group 0: losses[slotBase + p] = mean rowLoss over the labelled selected rows of slot p (or their
 * sum / norm). group > 0: the classification loss over candidates of `class_loss` (see xent.wgsl).
 * The slot base is the step block's.
 */
export function slotLoss(ks: Kernels, label: string, rowLoss: Tensor, labels: Tensor, select: Tensor, losses: Tensor, s: SlotLossShape, step: StepBlock): Dispatch {
  const kernel = s.group > 0 ? 'class_loss' : 'slot_loss';
  const who = `${kernel} ${label}`;
  const [n] = rowLoss.shape;
  expectShape(who, labels, [n]);
  expectShape(who, select, [n]);
  if (s.slots > losses.numel) throw new Error(`${who}: ${s.slots} slots exceed ${losses.label} [${losses.shape}]`);
  const params = { nSel: s.nSel, rowsPerSlot: s.rowsPerSlot, norm: s.norm, group: s.group, examples: s.examples };
  if (s.group === 0) return ks.get(kernel).dispatch(label, { rowLossIn: rowLoss, selLabels: labels, selRows: select, losses, zo: step }, params, [s.slots, 1, 1]);
  if (!s.seqs || s.examples < 1) throw new Error(`${who}: the class loss needs the examples per slot (${s.examples}) and each selected row's candidate sequence`);
  expectShape(who, s.seqs, [n]);
  return ks.get(kernel).dispatch(label, { rowLossIn: rowLoss, selLabels: labels, selRows: select, selSeqs: s.seqs, losses, zo: step }, params, [s.slots, 1, 1]);
}

/** slot_loss / class_loss: each selected row's loss, label and row read once (the candidates' logsumexp is noise). */
const lossCost = (p: Params) => ({ flops: 2 * num(p, 'nSel'), bytes: 4 * 3 * num(p, 'nSel') });

export const costs: Costs<'xent' | 'slot_loss' | 'class_loss'> = {
  xent(p) {
    const [n, v] = [num(p, 'nSel'), num(p, 'vocab')];
    return { flops: 4 * n * v, bytes: 4 * (n * v + 2 * n) };
  },
  slot_loss: lossCost,
  class_loss: lossCost,
};
