// y += scale * (B + sign * eps * Z_i) (A x) per slot of a slot-major batch (MP-LoRA). The
// step's seed, slot base and eps come from the shared step block (StepBlock); Z_i is P-RGE's
// full normal one, LOZO's low-rank one or HiZOO's scaled one (ZoForm).
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

/**
 * The form of Z when it is not the full i.i.d. normal one (the ZO optimizers of
 * src/train/optimizer.ts): LOZO's low-rank Z = U V^T / sqrt(zoRank), or HiZOO's Z / sqrt(h).
 */
export interface ZoForm {
  zoRank?: number; // r' of LOZO (1..MAX_ZO_RANK); absent: full Z
  hessian?: Tensor; // HiZOO's diagonal Hessian h [out, rank]; the pass may then hold slot 2q, unperturbed
}

export interface MploraShape {
  rowsPerSlot: number; // Bsz * T
  q: number; // queries: slot g uses query g % q
  scale: number; // alpha / r
  tensor: number; // RNG id of this B
  zo?: ZoForm; // default: the full Z of P-RGE
}

export const MAX_RANK = LIMITS.MAX_RANK;
/** Outputs and rows of one slot per workgroup (shaders/mplora.wgsl). */
const OT = shaderConst('mplora', 'OT');
const ROW_CHUNK = shaderConst('mplora', 'ROW_CHUNK');

export function mploraParams(rows: number, outDim: number, rank: number, s: MploraShape) {
  const { rowsPerSlot, q, scale, tensor } = s;
  return { rows, outDim, rank, rowsPerSlot, q, scale, tensor, zoRank: s.zo?.zoRank ?? 0, scaled: s.zo?.hessian ? 1 : 0 };
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
  const h = s.zo?.hessian;
  const maxSlots = 2 * s.q + (h ? 1 : 0); // HiZOO: + the unperturbed slot
  if (!Number.isInteger(s.q) || s.q < 1 || slots > maxSlots) throw new Error(`${who}: ${slots} slots exceed ${h ? '2q + 1' : '2q'} = ${maxSlots}`);
  const zr = s.zo?.zoRank;
  if (zr !== undefined && (!Number.isInteger(zr) || zr < 1 || zr > LIMITS.MAX_ZO_RANK)) throw new Error(`${who}: zoRank must be an integer in 1..${LIMITS.MAX_ZO_RANK}, got ${zr}`);
  if (zr !== undefined && h) throw new Error(`${who}: a low-rank Z (zoRank) and a Hessian scaling do not combine`);
  if (h) expectShape(`${who} (hessian)`, h, [outDim, rank]);
  const chunks = Math.ceil(s.rowsPerSlot / ROW_CHUNK);
  const grid: [number, number, number] = [Math.ceil(outDim / OT), slots * chunks, 1];
  // without a Hessian, hs binds B itself (read-only, never read)
  return ks.get('mplora').dispatch(label, { ax, b, y, zo: step, hs: h ?? b }, mploraParams(rows, outDim, rank, s), grid);
}

export const costs: Costs<'mplora'> = {
  mplora(p) {
    const [rows, out, r] = [num(p, 'rows'), num(p, 'outDim'), num(p, 'rank')];
    return { flops: 2 * rows * out * r + 2 * rows * out, bytes: 4 * (rows * r + out * r + 2 * rows * out) };
  },
};
