// y (+)= x W^T + scale * (B + sign * eps * Z_i) (A x) in one dispatch: the MP-LoRA term of a
// target linear (shaders/mplora.wgsl's P-RGE form, full Z) folded into the epilogue of the
// register-blocked f32 matmul (shaders/matmul.wgsl's matmul / matmul_vec4). ax = x A^T is given.
import { env } from '../autotune';
import type { Dispatch, Params } from '../kernel';
import type { StepBlock } from '../step_block';
import { expectShape, type Tensor } from '../tensor';
import { num, type Costs } from './cost';
import type { MploraShape } from './mplora';
import { LIMITS, shaderConst, type Kernels } from './registry';

/** The matmul variants whose epilogue matmul_lora carries (the rest run matmul + mplora). */
export const FUSABLE_MATMULS: Record<string, 'matmul_lora' | 'matmul_lora_vec4'> = { matmul: 'matmul_lora', matmul_vec4: 'matmul_lora_vec4' };

/**
 * Whether the forward pass fuses by default: on SwiftShader one prge step on stories260K (q 4, Bsz 4,
 * T 64, rank 16 on q,v) ran x1.22 faster fused, side by side (bench/fusion.ts). Only where the
 * matmul chosen is register-blocked (CPU adapters); GPUs keep their tiled matmul + mplora.
 */
export const FUSE_LORA_DEFAULT = true;

/** MOBIZO_FUSE_LORA=1 | 0 fuses / never fuses the MP-LoRA term into the matmul; default FUSE_LORA_DEFAULT. */
export function fuseLoraEnabled(): boolean {
  const v = env('MOBIZO_FUSE_LORA');
  if (v === undefined || v === '') return FUSE_LORA_DEFAULT;
  if (v !== '0' && v !== '1') throw new Error(`MOBIZO_FUSE_LORA must be 0 or 1, got ${v}`);
  return v === '1';
}

const TN = shaderConst('matmul_lora', 'TN');
const TM = shaderConst('matmul_lora', 'TM');

/**
 * `kernel`: the plain matmul variant the fused one replaces (FUSABLE_MATMULS); default by K.
 * Only the full Z of P-RGE (s.zo unset): LOZO's and HiZOO's forms stay on mplora.
 */
export function matmulLora(
  ks: Kernels, label: string, x: Tensor, w: Tensor, ax: Tensor, b: Tensor, y: Tensor, s: MploraShape, step: StepBlock, accumulate = false, kernel?: string,
): Dispatch {
  const [M, K] = x.shape;
  const [N] = w.shape;
  const rank = ax.shape[1];
  const who = `matmul_lora ${label}`;
  expectShape(who, w, [N, K]);
  expectShape(who, y, [M, N]);
  expectShape(`${who} (ax)`, ax, [M, rank]);
  expectShape(`${who} (B)`, b, [N, rank]);
  if (w.dtype !== 'f32') throw new Error(`${who}: weight ${w.label} must be f32, got ${w.dtype}`);
  if (rank < 1 || rank > LIMITS.MAX_RANK) throw new Error(`${who}: rank ${rank} outside 1..${LIMITS.MAX_RANK}`);
  if (s.zo) throw new Error(`${who}: only P-RGE's full Z is fused (got a LOZO / HiZOO form); use matmul + mplora`);
  if (!Number.isInteger(s.q) || s.q < 1) throw new Error(`${who}: q must be a positive integer, got ${s.q}`);
  if (!Number.isInteger(s.rowsPerSlot) || s.rowsPerSlot < 1 || M % s.rowsPerSlot !== 0) throw new Error(`${who}: ${M} rows are not whole slots of ${s.rowsPerSlot}`);
  if (M / s.rowsPerSlot > 2 * s.q) throw new Error(`${who}: ${M / s.rowsPerSlot} slots exceed 2q = ${2 * s.q}`);
  const name = kernel ? FUSABLE_MATMULS[kernel] : K % 4 === 0 ? 'matmul_lora_vec4' : 'matmul_lora';
  if (!name) throw new Error(`${who}: matmul variant ${kernel} has no fused MP-LoRA form (have ${Object.keys(FUSABLE_MATMULS).join(', ')})`);
  if (name === 'matmul_lora_vec4' && K % 4 !== 0) throw new Error(`${who}: ${name} needs K % 4 == 0, K = ${K}`);
  const params = { M, N, K, accumulate: accumulate ? 1 : 0, rank, rowsPerSlot: s.rowsPerSlot, q: s.q, scale: s.scale, tensor: s.tensor };
  const grid: [number, number, number] = [Math.ceil(N / TN), Math.ceil(M / TM), 1];
  const bind: Record<string, Tensor> = name === 'matmul_lora_vec4' ? { x4: x, w4: w } : { x, w };
  return ks.get(name).dispatch(label, { ...bind, y, ax, b, zo: step }, params, grid);
}

function cost(p: Params) {
  const [M, N, K, r, acc] = [num(p, 'M'), num(p, 'N'), num(p, 'K'), num(p, 'rank'), num(p, 'accumulate')];
  return { flops: 2 * M * N * K + 2 * M * N * r + 2 * M * N + acc * M * N, bytes: 4 * (M * K + N * K + M * r + N * r + (1 + acc) * M * N) };
}

export const costs: Costs<'matmul_lora' | 'matmul_lora_vec4'> = { matmul_lora: cost, matmul_lora_vec4: cost };
