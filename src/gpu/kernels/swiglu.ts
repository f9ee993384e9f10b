// out = silu(gate) * up, elementwise (the Llama FFN activation).
import { grid1d, type Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

export function swiglu(ks: Kernels, label: string, gate: Tensor, up: Tensor, out: Tensor): Dispatch {
  const who = `swiglu ${label}`;
  expectShape(who, up, gate.shape);
  expectShape(who, out, gate.shape);
  const g = grid1d(gate.numel);
  return ks.get('swiglu').dispatch(label, { gate, up, out }, { n: gate.numel, stride: g.stride }, g.workgroups);
}
