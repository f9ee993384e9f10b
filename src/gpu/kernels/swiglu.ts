// The FFN's gated activation, elementwise: out = act(gate) * up with act = silu (Llama) or the
// tanh GELU (Gemma 3); and in-place elementwise maps: x *= c, x = c tanh(x / c), x[r, :] += bias.
import { grid1d, type Dispatch, type Params } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';
import { num, type Costs } from './cost';

export function swiglu(ks: Kernels, label: string, gate: Tensor, up: Tensor, out: Tensor, activation: 'silu' | 'gelu_tanh' = 'silu'): Dispatch {
  const who = `swiglu ${label}`;
  expectShape(who, up, gate.shape);
  expectShape(who, out, gate.shape);
  const k = ks.get(activation === 'silu' ? 'swiglu' : 'geglu');
  const g = grid1d(gate.numel, k.workgroupSize[0]);
  return k.dispatch(label, { gate, up, out }, { n: gate.numel, stride: g.stride, c: 0, width: 0 }, g.workgroups);
}

/** x = x * c (scale) or x = c tanh(x / c) (softcap), in place, on the first `n` elements (default all). */
export function elementwise(ks: Kernels, label: string, op: 'scale' | 'softcap', x: Tensor, c: number, n = x.numel): Dispatch {
  if (!(Number.isFinite(c) && (op === 'scale' || c > 0))) throw new Error(`${op} ${label}: constant ${c} is not ${op === 'scale' ? 'finite' : 'a positive number'}`);
  if (!Number.isInteger(n) || n < 0 || n > x.numel) throw new Error(`${op} ${label}: ${n} elements of a tensor of ${x.numel}`);
  const k = ks.get(op);
  const g = grid1d(x.numel, k.workgroupSize[0]); // the grid stays for the whole tensor: n can shrink (elementwiseCount)
  return k.dispatch(label, { x }, { n, stride: g.stride, c, width: 0 }, g.workgroups);
}

/** x[r, :] += row[:] for every row of x [rows, width] (a frozen bias row). */
export function addRow(ks: Kernels, label: string, x: Tensor, row: Tensor): Dispatch {
  const [rows, width] = x.shape;
  expectShape(`add_row ${label}`, x, [rows, width]);
  expectShape(`add_row ${label}`, row, [width]);
  const k = ks.get('add_row');
  const g = grid1d(x.numel, k.workgroupSize[0]);
  return k.dispatch(label, { x, gate: row }, { n: x.numel, stride: g.stride, c: 0, width }, g.workgroups);
}

/** Only the first n elements are mapped (the grid stays; extra threads exit). */
export function elementwiseCount(d: Dispatch, n: number): void {
  d.update({ n });
}

const gated = (p: Params) => ({ flops: 5 * num(p, 'n'), bytes: 12 * num(p, 'n') });
const inPlace = (p: Params) => ({ flops: 3 * num(p, 'n'), bytes: 8 * num(p, 'n') });

export const costs: Costs<'swiglu' | 'geglu' | 'scale' | 'softcap' | 'add_row'> = { swiglu: gated, geglu: gated, scale: inPlace, softcap: inPlace, add_row: inPlace };
