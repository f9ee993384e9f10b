// out = silu(gate) * up, elementwise (the Llama FFN activation).
import { grid1d, type Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';
import { num, type Costs } from './cost';

export function swiglu(ks: Kernels, label: string, gate: Tensor, up: Tensor, out: Tensor): Dispatch {
  const who = `swiglu ${label}`;
  expectShape(who, up, gate.shape);
  expectShape(who, out, gate.shape);
  const k = ks.get('swiglu');
  const g = grid1d(gate.numel, k.workgroupSize[0]);
  return k.dispatch(label, { gate, up, out }, { n: gate.numel, stride: g.stride }, g.workgroups);
}

export const costs: Costs<'swiglu'> = {
  swiglu: (p) => ({ flops: 5 * num(p, 'n'), bytes: 12 * num(p, 'n') }),
};
