// y = x W^T (+ y when accumulating): the linear layers and the LM head.
// W is f32, or compressed (f16, Q8_0, Q4_0: shaders/matmul_quant.wgsl dequantises in registers).
import type { Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import { CompressedWeight, type Weight } from '../weight';
import type { Kernels } from './registry';

export function matmul(ks: Kernels, label: string, x: Tensor, w: Weight, y: Tensor, accumulate = false): Dispatch {
  const [M, K] = x.shape;
  const [N] = w.shape;
  const who = `matmul ${label}`;
  expectShape(who, x, [M, K]);
  expectShape(who, y, [M, N]);
  const grid: [number, number, number] = [Math.ceil(N / 32), Math.ceil(M / 32), 1];
  const params = { M, N, K, accumulate: accumulate ? 1 : 0 };
  if (w instanceof CompressedWeight) {
    if (w.shape[1] !== K) throw new Error(`${who}: weight ${w.label} is [${w.shape}], expected [${N}, ${K}]`);
    if (K % 4 !== 0) throw new Error(`${who}: a ${w.type} weight needs K % 4 == 0, K = ${K}`);
    const bindings: Record<string, Tensor> = { x4: x, wq: w.quants, y };
    if (w.scales) bindings.ws = w.scales;
    return ks.get(`matmul_${w.type}`).dispatch(label, bindings, params, grid);
  }
  expectShape(who, w, [N, K]);
  if (K % 4 === 0) return ks.get('matmul_vec4').dispatch(label, { x4: x, w4: w, y }, params, grid);
  return ks.get('matmul').dispatch(label, { x, w, y }, params, grid);
}
