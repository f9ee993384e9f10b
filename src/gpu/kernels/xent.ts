// Masked cross-entropy of selected rows, and its mean per perturbation slot.
import type { Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

/** Params of xent for `nSel` rows in use. */
export function xentParams(nSel: number, vocab: number) {
  return { nSel, vocab, rowsPerSlot: 1, slotBase: 0, norm: 0, seqLen: 0, group: 0 };
}

/** rowLoss[i] = logsumexp(logits[i]) - logits[i, labels[i]] for i < nSel (0 where label < 0). */
export function xent(ks: Kernels, label: string, logits: Tensor, labels: Tensor, rowLoss: Tensor, nSel: number): Dispatch {
  const [n, vocab] = logits.shape;
  const who = `xent ${label}`;
  expectShape(who, labels, [n]);
  expectShape(who, rowLoss, [n]);
  if (labels.dtype !== 'i32') throw new Error(`${who}: labels ${labels.label} must be i32`);
  if (nSel > n) throw new Error(`${who}: ${nSel} rows in use, logits hold ${n}`);
  const grid: [number, number, number] = [Math.min(n, 65535), Math.ceil(n / 65535), 1];
  return ks.get('xent').dispatch(label, { logits, labels, rowLoss }, xentParams(nSel, vocab), grid);
}

export interface SlotLossShape {
  nSel: number; // selected rows in use
  slots: number; // slots in this pass
  rowsPerSlot: number;
  slotBase: number; // where this pass's slots go in `losses`
  norm: number; // slot_loss: divisor of each slot's sum; 0: its labelled rows (mean token loss)
  seqLen: number; // class_loss: tokens per sequence
  group: number; // class_loss: sequences (candidates) per example; 0: slot_loss
}

export function slotLossParams(s: SlotLossShape) {
  return { nSel: s.nSel, vocab: 0, rowsPerSlot: s.rowsPerSlot, slotBase: s.slotBase, norm: s.norm, seqLen: s.seqLen, group: s.group };
}

/**
 * group 0: losses[slotBase + p] = mean rowLoss over the labelled selected rows of slot p (or their
 * sum / norm). group > 0: the classification loss over candidates of `class_loss` (see xent.wgsl).
 */
export function slotLoss(ks: Kernels, label: string, rowLoss: Tensor, labels: Tensor, select: Tensor, losses: Tensor, s: SlotLossShape): Dispatch {
  const kernel = s.group > 0 ? 'class_loss' : 'slot_loss';
  const who = `${kernel} ${label}`;
  if (s.group > 0 && (s.seqLen < 1 || s.rowsPerSlot % (s.seqLen * s.group) !== 0)) {
    throw new Error(`${who}: ${s.rowsPerSlot} rows per slot are not whole examples of ${s.group} sequences of ${s.seqLen} tokens`);
  }
  const [n] = rowLoss.shape;
  expectShape(who, labels, [n]);
  expectShape(who, select, [n]);
  if (s.slotBase + s.slots > losses.numel) throw new Error(`${who}: slots up to ${s.slotBase + s.slots} exceed ${losses.label} [${losses.shape}]`);
  return ks.get(kernel).dispatch(label, { rowLossIn: rowLoss, selLabels: labels, selRows: select, losses }, slotLossParams(s), [s.slots, 1, 1]);
}
