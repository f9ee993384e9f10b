// y += scale * (B + sign * eps * Z_i) (A x) per slot of a slot-major batch (MP-LoRA).
import type { Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

export interface Perturbation {
  slotBase: number; // global slot of the pass's first slot
  q: number; // queries
  eps: number; // 0: plain LoRA
  seed: number; // step seed (u32)
}

export interface MploraShape extends Perturbation {
  rowsPerSlot: number; // Bsz * T
  scale: number; // alpha / r
  tensor: number; // RNG id of this B
}

export const MAX_RANK = 64;

export function mploraParams(rows: number, outDim: number, rank: number, s: MploraShape) {
  const { rowsPerSlot, slotBase, q, eps, scale, seed, tensor } = s;
  return { rows, outDim, rank, rowsPerSlot, slotBase, q, eps, scale, seed, tensor };
}

/** With a perturbation, the pass's slots must be global slots 0 .. 2q - 1. */
export function checkSlots(who: string, slots: number, p: Perturbation): void {
  if (p.eps !== 0 && (p.slotBase + slots > 2 * p.q || !Number.isInteger(p.q) || p.q < 1)) {
    throw new Error(`${who}: slots ${p.slotBase}..${p.slotBase + slots - 1} exceed 2q = ${2 * p.q}`);
  }
}

export function mplora(ks: Kernels, label: string, ax: Tensor, b: Tensor, y: Tensor, s: MploraShape): Dispatch {
  const [rows, rank] = ax.shape;
  const [outDim] = b.shape;
  const who = `mplora ${label}`;
  expectShape(who, b, [outDim, rank]);
  expectShape(who, y, [rows, outDim]);
  if (rank > MAX_RANK) throw new Error(`${who}: rank ${rank} exceeds the kernel's ${MAX_RANK}`);
  if (rows % s.rowsPerSlot !== 0) throw new Error(`${who}: ${rows} rows are not whole slots of ${s.rowsPerSlot}`);
  const slots = rows / s.rowsPerSlot;
  checkSlots(who, slots, s);
  const chunks = Math.ceil(s.rowsPerSlot / 64);
  const grid: [number, number, number] = [Math.ceil(outDim / 16), slots * chunks, 1];
  return ks.get('mplora').dispatch(label, { ax, b, y }, mploraParams(rows, outDim, rank, s), grid);
}
