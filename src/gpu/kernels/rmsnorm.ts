// out = x / rms(x) * weight, row by row.
import type { Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

export function rmsnorm(ks: Kernels, label: string, x: Tensor, weight: Tensor, out: Tensor, eps: number): Dispatch {
  const [rows, width] = x.shape;
  const who = `rmsnorm ${label}`;
  expectShape(who, x, [rows, width]);
  expectShape(who, weight, [width]);
  expectShape(who, out, [rows, width]);
  const grid: [number, number, number] = [Math.min(rows, 65535), Math.ceil(rows / 65535), 1];
  return ks.get('rmsnorm').dispatch(label, { x, weight, out }, { rows, width, eps }, grid);
}
