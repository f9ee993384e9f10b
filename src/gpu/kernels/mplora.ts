// y += scale * (B + sign * eps * Z_i) (A x) per slot of a slot-major batch (MP-LoRA). The
// step's seed, slot base and eps come from the shared step block (StepBlock).
import type { Dispatch } from '../kernel';
import type { StepBlock } from '../step_block';
import { expectShape, type Tensor } from '../tensor';
import { LIMITS, shaderConst, type Kernels } from './registry';
import { num, type Costs } from './cost';

export interface Perturbation {
  slotBase: number; // global slot of the pass's first slot
  q: number; // queries
  eps: number; // 0: plain LoRA
  seed: number; // step seed (u32)
}

export interface MploraShape {
  rowsPerSlot: number; // Bsz * T
  q: number; // queries: slot g uses query g % q
  scale: number; // alpha / r
  tensor: number; // RNG id of this B
}

export const MAX_RANK = LIMITS.MAX_RANK;
/** Outputs and rows of one slot per workgroup (shaders/mplora.wgsl). */
const OT = shaderConst('mplora', 'OT');
const ROW_CHUNK = shaderConst('mplora', 'ROW_CHUNK');

export function mploraParams(rows: number, outDim: number, rank: number, s: MploraShape) {
  const { rowsPerSlot, q, scale, tensor } = s;
  return { rows, outDim, rank, rowsPerSlot, q, scale, tensor };
}

/** With a perturbation, the pass's slots must be global slots 0 .. 2q - 1. */
export function checkSlots(who: string, slots: number, p: Perturbation): void {
  if (p.eps !== 0 && (p.slotBase + slots > 2 * p.q || !Number.isInteger(p.q) || p.q < 1)) {
    throw new Error(`${who}: slots ${p.slotBase}..${p.slotBase + slots - 1} exceed 2q = ${2 * p.q}`);
  }
}

export function mplora(ks: Kernels, label: string, ax: Tensor, b: Tensor, y: Tensor, s: MploraShape, step: StepBlock): Dispatch {
  const [rows, rank] = ax.shape;
  const [outDim] = b.shape;
  const who = `mplora ${label}`;
  expectShape(who, b, [outDim, rank]);
  expectShape(who, y, [rows, outDim]);
  if (rank > MAX_RANK) throw new Error(`${who}: rank ${rank} exceeds the kernel's ${MAX_RANK}`);
  if (rows % s.rowsPerSlot !== 0) throw new Error(`${who}: ${rows} rows are not whole slots of ${s.rowsPerSlot}`);
  const slots = rows / s.rowsPerSlot;
  if (!Number.isInteger(s.q) || s.q < 1 || slots > 2 * s.q) throw new Error(`${who}: ${slots} slots exceed 2q = ${2 * s.q}`);
  const chunks = Math.ceil(s.rowsPerSlot / ROW_CHUNK);
  const grid: [number, number, number] = [Math.ceil(outDim / OT), slots * chunks, 1];
  return ks.get('mplora').dispatch(label, { ax, b, y, zo: step }, mploraParams(rows, outDim, rank, s), grid);
}

export const costs: Costs<'mplora'> = {
  mplora(p) {
    const [rows, out, r] = [num(p, 'rows'), num(p, 'outDim'), num(p, 'rank')];
    return { flops: 2 * rows * out * r + 2 * rows * out, bytes: 4 * (rows * r + out * r + 2 * rows * out) };
  },
};
