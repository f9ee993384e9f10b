// y = x W^T (+ y when accumulating): the linear layers and the LM head.
import type { Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

export function matmul(ks: Kernels, label: string, x: Tensor, w: Tensor, y: Tensor, accumulate = false): Dispatch {
  const [M, K] = x.shape;
  const [N] = w.shape;
  const who = `matmul ${label}`;
  expectShape(who, x, [M, K]);
  expectShape(who, w, [N, K]);
  expectShape(who, y, [M, N]);
  const grid: [number, number, number] = [Math.ceil(N / 32), Math.ceil(M / 32), 1];
  const params = { M, N, K, accumulate: accumulate ? 1 : 0 };
  if (K % 4 === 0) return ks.get('matmul_vec4').dispatch(label, { x4: x, w4: w, y }, params, grid);
  return ks.get('matmul').dispatch(label, { x, w, y }, params, grid);
}
