// The projected gradients g = (L+ - L-) / 2eps, and B -= lr/q sum_i g_i Z_i with Z regenerated.
import { grid1d, type Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';
import type { StepBlock } from '../step_block';
import { num, type Costs } from './cost';

/** grad[i] = (losses[i] - losses[i + q]) / (2 eps); grad[q] = 1 when every loss is finite (eps: the step block's). */
export function zoGrad(ks: Kernels, label: string, losses: Tensor, grad: Tensor, q: number, step: StepBlock): Dispatch {
  const who = `zo_grad ${label}`;
  expectShape(who, losses, [2 * q]);
  expectShape(who, grad, [q + 1]);
  return ks.get('zo_grad').dispatch(label, { losses, grad, zo: step }, { q }, [1, 1, 1]);
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

export const costs: Costs<'zo_update' | 'zo_grad'> = {
  zo_grad(p) {
    const q = num(p, 'q');
    return { flops: 3 * q, bytes: 4 * (3 * q + 1) };
  },
  zo_update(p) {
    const [n, q] = [num(p, 'n'), num(p, 'q')];
    return { flops: n * (2 * q + 2), bytes: 4 * (2 * n + q + 1) };
  },
};
