// The projected gradients g = (L+ - L-) / 2eps, and B -= lr/q sum_i g_i Z_i with Z regenerated;
// and the updates of the other ZO optimizers (momentum, adam, lozo, hizoo: shaders/zo_update.wgsl).
import { grid1d, type Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import { LIMITS, type Kernels } from './registry';
import type { StepBlock } from '../step_block';
import { num, type Costs } from './cost';

/**
 * grad[i] = (losses[i] - losses[i + q]) / (2 eps); grad[q] = 1 when every loss is finite (eps: the
 * step block's). With `l0` (HiZOO) losses[2q] is the unperturbed loss and grad[q + 1 + i] =
 * |losses[i] + losses[i + q] - 2 losses[2q]| / (2 eps^2), the curvature along query i.
 */
export function zoGrad(ks: Kernels, label: string, losses: Tensor, grad: Tensor, q: number, step: StepBlock, l0 = false): Dispatch {
  const who = `zo_grad ${label}`;
  expectShape(who, losses, [2 * q + (l0 ? 1 : 0)]);
  expectShape(who, grad, [q + 1 + (l0 ? q : 0)]);
  return ks.get('zo_grad').dispatch(label, { losses, grad, zo: step }, { q, l0: l0 ? 1 : 0 }, [1, 1, 1]);
}

export interface UpdateShape {
  q: number;
  tensor: number; // RNG id of this B
}

/** B -= lr / q sum_i g_i Z_i (lr and the step seed: the step block's). */
export function zoUpdate(ks: Kernels, label: string, grad: Tensor, b: Tensor, s: UpdateShape, step: StepBlock): Dispatch {
  expectShape(`zo_update ${label}`, grad, [s.q + 1]);
  const g = grid1d(b.numel);
  return ks.get('zo_update').dispatch(label, { g: grad, b, uzo: step }, { n: b.numel, q: s.q, tensor: s.tensor, stride: g.stride }, g.workgroups);
}

/** The update of one B by an optimizer beside plain P-RGE (src/train/optimizer.ts has the formulas). */
export type OptimizerUpdate =
  | { kind: 'momentum'; beta1: number; m: Tensor; biasCorrection: Tensor }
  | { kind: 'adam'; beta1: number; beta2: number; adamEps: number; m: Tensor; v: Tensor; biasCorrection: Tensor }
  | { kind: 'lozo'; zoRank: number }
  | { kind: 'hizoo'; alpha: number; h: Tensor };

export const MAX_ZO_RANK = LIMITS.MAX_ZO_RANK;

/** B -= lr * (the optimizer's step from g, its state and Z_i); `grad` as zoGrad wrote it (with curvatures for hizoo). */
export function zoOptimizerUpdate(ks: Kernels, label: string, grad: Tensor, b: Tensor, s: UpdateShape, step: StepBlock, u: OptimizerUpdate): Dispatch {
  const who = `zo_update_${u.kind} ${label}`;
  expectShape(who, grad, [s.q + 1 + (u.kind === 'hizoo' ? s.q : 0)]);
  if (b.shape.length !== 2) throw new Error(`${who}: B ${b.label} must be [out, rank], got [${b.shape}]`);
  const [, rank] = b.shape;
  const g = grid1d(b.numel);
  const params = { n: b.numel, q: s.q, tensor: s.tensor, stride: g.stride, rank, zoRank: 0, beta1: 0, beta2: 0, adamEps: 0, alpha: 0 };
  switch (u.kind) {
    case 'momentum':
      expectShape(who, u.m, b.shape);
      expectShape(who, u.biasCorrection, [2]);
      return ks.get('zo_update_momentum').dispatch(label, { g: grad, b, uzo: step, m: u.m, ost: u.biasCorrection }, { ...params, beta1: u.beta1 }, g.workgroups);
    case 'adam':
      expectShape(who, u.m, b.shape);
      expectShape(who, u.v, b.shape);
      expectShape(who, u.biasCorrection, [2]);
      return ks.get('zo_update_adam').dispatch(label, { g: grad, b, uzo: step, m: u.m, v: u.v, ost: u.biasCorrection }, { ...params, beta1: u.beta1, beta2: u.beta2, adamEps: u.adamEps }, g.workgroups);
    case 'lozo':
      if (!Number.isInteger(u.zoRank) || u.zoRank < 1 || u.zoRank > MAX_ZO_RANK) throw new Error(`${who}: zoRank must be an integer in 1..${MAX_ZO_RANK}, got ${u.zoRank}`);
      if (rank > LIMITS.MAX_RANK) throw new Error(`${who}: rank ${rank} exceeds the kernel's ${LIMITS.MAX_RANK}`);
      return ks.get('zo_update_lozo').dispatch(label, { g: grad, b, uzo: step }, { ...params, zoRank: u.zoRank }, g.workgroups);
    case 'hizoo':
      expectShape(who, u.h, b.shape);
      return ks.get('zo_update_hizoo').dispatch(label, { g: grad, b, uzo: step, m: u.h }, { ...params, alpha: u.alpha }, g.workgroups);
  }
}

export const costs: Costs<'zo_update' | 'zo_grad' | 'zo_update_momentum' | 'zo_update_adam' | 'zo_update_lozo' | 'zo_update_hizoo'> = {
  zo_grad(p) {
    const q = num(p, 'q');
    return { flops: 3 * q, bytes: 4 * (3 * q + 1) };
  },
  zo_update(p) {
    const [n, q] = [num(p, 'n'), num(p, 'q')];
    return { flops: n * (2 * q + 2), bytes: 4 * (2 * n + q + 1) };
  },
  zo_update_momentum(p) {
    const [n, q] = [num(p, 'n'), num(p, 'q')];
    return { flops: n * (2 * q + 6), bytes: 4 * (4 * n + q + 3) };
  },
  zo_update_adam(p) {
    const [n, q] = [num(p, 'n'), num(p, 'q')];
    return { flops: n * (2 * q + 12), bytes: 4 * (6 * n + q + 3) };
  },
  zo_update_lozo(p) {
    const [n, q, zr] = [num(p, 'n'), num(p, 'q'), num(p, 'zoRank')];
    return { flops: n * q * (2 * zr + 2) + 2, bytes: 4 * (2 * n + q + 1) };
  },
  zo_update_hizoo(p) {
    const [n, q] = [num(p, 'n'), num(p, 'q')];
    return { flops: n * (5 * q + 8), bytes: 4 * (4 * n + 2 * q + 1) };
  },
};
