// The projected gradients g = (L+ - L-) / 2eps, and B -= lr/q sum_i g_i Z_i with Z regenerated.
import { grid1d, type Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

/** grad[i] = (losses[i] - losses[i + q]) / (2 eps); grad[q] = 1 when every loss is finite. */
export function zoGrad(ks: Kernels, label: string, losses: Tensor, grad: Tensor, q: number, eps: number): Dispatch {
  const who = `zo_grad ${label}`;
  expectShape(who, losses, [2 * q]);
  expectShape(who, grad, [q + 1]);
  return ks.get('zo_grad').dispatch(label, { losses, grad }, { q, eps }, [1, 1, 1]);
}

export interface UpdateShape {
  q: number;
  lr: number;
  seed: number; // step seed
  tensor: number; // RNG id of this B
}

export function zoUpdateParams(n: number, s: UpdateShape, stride: number) {
  return { n, q: s.q, lr: s.lr, seed: s.seed, tensor: s.tensor, stride };
}

export function zoUpdate(ks: Kernels, label: string, grad: Tensor, b: Tensor, s: UpdateShape): Dispatch {
  expectShape(`zo_update ${label}`, grad, [s.q + 1]);
  const g = grid1d(b.numel);
  return ks.get('zo_update').dispatch(label, { g: grad, b }, zoUpdateParams(b.numel, s, g.stride), g.workgroups);
}
