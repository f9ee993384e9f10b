// out = x / rms(x) * weight, row by row (or out += that: accumulate).
import { grid1d, type Dispatch, type Params } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';
import { num, type Costs } from './cost';

/** Rows from which, and widths up to which, the thread-per-row variant is used. */
export const ROWS_PER_THREAD_MIN = 256;
export const ROWS_PER_THREAD_MAX_WIDTH = 1024;

export function rmsnorm(ks: Kernels, label: string, x: Tensor, weight: Tensor, out: Tensor, eps: number, accumulate = false): Dispatch {
  const [rows, width] = x.shape;
  const who = `rmsnorm ${label}`;
  expectShape(who, x, [rows, width]);
  expectShape(who, weight, [width]);
  expectShape(who, out, [rows, width]);
  if (accumulate && out.buffer === x.buffer) throw new Error(`${who}: accumulating into its own input`);
  const params = { rows, width, eps, accumulate: accumulate ? 1 : 0 };
  if (rows >= ROWS_PER_THREAD_MIN && width <= ROWS_PER_THREAD_MAX_WIDTH) {
    // many short rows: a thread per row (no barriers) beats a workgroup per row
    const k = ks.get('rmsnorm_rows');
    return k.dispatch(label, { x, weight, out }, params, grid1d(rows, k.workgroupSize[0]).workgroups);
  }
  return ks.get('rmsnorm').dispatch(label, { x, weight, out }, params, grid1d(rows, 1).workgroups);
}

/** Only the first `rows` rows are normalised (the grid stays; the extra groups exit). */
export function rmsnormRows(d: Dispatch, rows: number): void {
  d.update({ rows });
}

const rmsnormCost = (p: Params) => {
  const [rows, w] = [num(p, 'rows'), num(p, 'width')];
  const acc = p.accumulate ? 1 : 0;
  return { flops: (4 + acc) * rows * w, bytes: 4 * ((2 + acc) * rows * w + w) };
};

export const costs: Costs<'rmsnorm' | 'rmsnorm_rows'> = { rmsnorm: rmsnormCost, rmsnorm_rows: rmsnormCost };
