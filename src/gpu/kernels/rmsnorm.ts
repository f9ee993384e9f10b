// out = x / rms(x) * weight, row by row.
import type { Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

/** Rows from which, and widths up to which, the thread-per-row variant is used. */
export const ROWS_PER_THREAD_MIN = 256;
export const ROWS_PER_THREAD_MAX_WIDTH = 1024;

export function rmsnorm(ks: Kernels, label: string, x: Tensor, weight: Tensor, out: Tensor, eps: number): Dispatch {
  const [rows, width] = x.shape;
  const who = `rmsnorm ${label}`;
  expectShape(who, x, [rows, width]);
  expectShape(who, weight, [width]);
  expectShape(who, out, [rows, width]);
  if (rows >= ROWS_PER_THREAD_MIN && width <= ROWS_PER_THREAD_MAX_WIDTH) {
    // many short rows: a thread per row (no barriers) beats a workgroup per row
    const groups = Math.ceil(rows / 64);
    return ks.get('rmsnorm_rows').dispatch(label, { x, weight, out }, { rows, width, eps }, [Math.min(groups, 65535), Math.ceil(groups / 65535), 1]);
  }
  const grid: [number, number, number] = [Math.min(rows, 65535), Math.ceil(rows / 65535), 1];
  return ks.get('rmsnorm').dispatch(label, { x, weight, out }, { rows, width, eps }, grid);
}
