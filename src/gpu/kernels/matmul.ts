// y = x W^T (+ y when accumulating): the linear layers and the LM head.
// W is f32, or compressed (f16, bf16, ggml's Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and K-quants:
// shaders/matmul_quant.wgsl dequantises in registers), or split by rows across buffers (one
// dispatch per row block, each writing its columns of y: matmulWeight).
// Variants per weight type are chosen per adapter and shape (autotuned once, src/gpu/autotune.ts).
import { autotune, autotuneEnabled, flushTuned, isCpuAdapter, kernelOverride, loadTuned, tuned } from '../autotune';
import type { Dispatch, Params } from '../kernel';
import { expectShape, tensor, type Tensor } from '../tensor';
import { CompressedWeight, SplitWeight, type Weight, type WeightLayout } from '../weight';
import { num, type CostFn } from './cost';
import type { Kernels } from './registry';

type WeightType = WeightLayout;

interface Variant {
  weight: WeightType;
  vec4: boolean; // needs K % 4 == 0
  tile: [number, number]; // [N, M] per workgroup
}

/** The block layouts of shaders/matmul_quant.wgsl (one entry each; f32 words for the blocks of a split f32 matrix). */
const QUANT_ENTRIES: Record<Exclude<WeightType, 'f16'>, string> = {
  f32: 'matmul_f32_part', bf16: 'matmul_bf16', q8_0: 'matmul_q8_0', q4_0: 'matmul_q4_0', q4_1: 'matmul_q4_1', q5_0: 'matmul_q5_0', q5_1: 'matmul_q5_1',
  q2_k: 'matmul_q2_k', q3_k: 'matmul_q3_k', q4_k: 'matmul_q4_k', q5_k: 'matmul_q5_k', q6_k: 'matmul_q6_k',
};

export const MATMUL_VARIANTS: Record<string, Variant> = {
  matmul: { weight: 'f32', vec4: false, tile: [32, 32] },
  matmul_vec4: { weight: 'f32', vec4: true, tile: [32, 32] },
  matmul_tiled: { weight: 'f32', vec4: false, tile: [64, 64] },
  matmul_tiled_vec4: { weight: 'f32', vec4: true, tile: [64, 64] },
  matmul_subgroup: { weight: 'f32', vec4: false, tile: [64, 4] },
  matmul_f16: { weight: 'f16', vec4: true, tile: [32, 32] },
  matmul_half: { weight: 'f16', vec4: true, tile: [32, 32] },
  matmul_half_tiled: { weight: 'f16', vec4: true, tile: [64, 64] },
  ...Object.fromEntries(
    Object.entries(QUANT_ENTRIES)
      .filter(([t]) => t !== 'f32')
      .map(([t, e]) => [e, { weight: t as WeightType, vec4: true, tile: [32, 32] } satisfies Variant]),
  ),
  // 1 row of x per thread (a 1 x 4 block, 64 threads along N): decoding
  matmul_f16_r1: { weight: 'f16', vec4: true, tile: [256, 1] },
  ...Object.fromEntries(
    Object.entries(QUANT_ENTRIES)
      .filter(([t]) => t !== 'f32')
      .map(([t, e]) => [`${e}_r1`, { weight: t as WeightType, vec4: true, tile: [256, 1] } satisfies Variant]),
  ),
  // 8 rows of x per thread (a 4 x 8 block): prefill / training rows
  matmul_f16_r8: { weight: 'f16', vec4: true, tile: [32, 64] },
  ...Object.fromEntries(
    Object.entries(QUANT_ENTRIES)
      .filter(([t]) => t !== 'f32')
      .map(([t, e]) => [`${e}_r8`, { weight: t as WeightType, vec4: true, tile: [32, 64] } satisfies Variant]),
  ),
  // the per-value decoders the sub-block ones replaced (bench/quant_matmul.ts compares them)
  ...Object.fromEntries(
    Object.entries(QUANT_ENTRIES)
      .filter(([t]) => t.startsWith('q'))
      .map(([t, e]) => [`${e}_elem`, { weight: t as WeightType, vec4: true, tile: [32, 32] } satisfies Variant]),
  ),
};

const weightType = (w: Tensor | CompressedWeight): WeightType => (w instanceof CompressedWeight ? w.type : 'f32');

/** The variants that can run `type` weights with K columns on this device. */
export function matmulVariants(ks: Kernels, K: number, type: WeightType): string[] {
  return Object.entries(MATMUL_VARIANTS)
    .filter(([name, v]) => v.weight === type && (!v.vec4 || K % 4 === 0) && ks.has(name))
    .map(([name]) => name);
}

const rowClass = (M: number) => (M <= 16 ? 1 : 512);

/** The autotune cache key of a shape: rows are classed (decode ~1, prefill / training ~512). */
export const tuneKey = (M: number, N: number, K: number, type: WeightType) => `matmul ${type} M~${rowClass(M)} N=${N} K=${K}`;

/** The kernel for a shape: MOBIZO_KERNEL, else the tuned one, else a default per adapter class. */
export function chooseMatmul(ks: Kernels, M: number, N: number, K: number, type: WeightType): string {
  const ok = matmulVariants(ks, K, type);
  if (!ok.length) throw new Error(`matmul: no kernel for ${type} weights with K = ${K} on this adapter`);
  const forced = kernelOverride();
  if (forced) {
    for (const f of forced) {
      if (!(f in MATMUL_VARIANTS) && !ks.has(f)) throw new Error(`MOBIZO_KERNEL=${f}: no such matmul kernel (have ${Object.keys(MATMUL_VARIANTS).join(', ')})`);
    }
    const hit = forced.find((f) => ok.includes(f));
    if (hit) return hit;
  }
  const t = tuned(ks.gpu).get(tuneKey(M, N, K, type));
  if (t && ok.includes(t.kernel)) return t.kernel;
  const first = (...names: string[]) => names.find((n) => ok.includes(n)) ?? ok[0];
  if (type !== 'f32' && type !== 'f16') return first(quantEntry(type, M));
  if (type === 'f16' && isCpuAdapter(ks.gpu)) return first(quantEntry(type, M));
  if (isCpuAdapter(ks.gpu)) return first('matmul_vec4', 'matmul', 'matmul_f16');
  if (M <= 16) return first('matmul_subgroup', 'matmul_half', 'matmul_vec4', 'matmul');
  return first('matmul_tiled_vec4', 'matmul_tiled', 'matmul_half_tiled');
}

/** The default kernel of a layout of shaders/matmul_quant.wgsl (f16 where `shader-f16` is absent): for the block layouts 1 row of x per thread to decode, 8 for prefill / training rows. */
function quantEntry(type: WeightType, M: number): string {
  const e = type === 'f16' ? 'matmul_f16' : QUANT_ENTRIES[type];
  if (type === 'f16' || type === 'bf16') return e; // their _r1 / _r8 measured slower on SwiftShader (bench/quant_matmul.ts); autotuned elsewhere
  const v = M === 1 ? `${e}_r1` : M > 16 ? `${e}_r8` : e;
  return v in MATMUL_VARIANTS ? v : e;
}

export function matmul(ks: Kernels, label: string, x: Tensor, w: Tensor | CompressedWeight, y: Tensor, accumulate = false, kernel?: string): Dispatch {
  const [M, K] = x.shape;
  const [N] = w.shape;
  const who = `matmul ${label}`;
  expectShape(who, x, [M, K]);
  expectShape(who, y, [M, N]);
  const type = weightType(w);
  const name = kernel ?? chooseMatmul(ks, M, N, K, type);
  const v = MATMUL_VARIANTS[name];
  if (!v) throw new Error(`${who}: no matmul kernel ${name}`);
  if (v.weight !== type) throw new Error(`${who}: kernel ${name} takes ${v.weight} weights, ${w.label} is ${type}`);
  if (v.vec4 && K % 4 !== 0) throw new Error(`${who}: kernel ${name}${type === 'f32' ? '' : ` (a ${type} weight)`} needs K % 4 == 0, K = ${K}`);
  const grid: [number, number, number] = [Math.ceil(N / v.tile[0]), Math.ceil(M / v.tile[1]), 1];
  const params = { M, N, K, accumulate: accumulate ? 1 : 0 };
  if (w instanceof CompressedWeight) {
    if (w.shape[1] !== K) throw new Error(`${who}: weight ${w.label} is [${w.shape}], expected [${N}, ${K}]`);
    if (name.startsWith('matmul_half')) return ks.get(name).dispatch(label, { x4: x, wh: w.quants, y }, params, grid);
    return matmulBlock(ks, label, x, w, y, 0, accumulate, name);
  }
  expectShape(who, w, [N, K]);
  if (v.vec4) return ks.get(name).dispatch(label, { x4: x, w4: w, y }, params, grid);
  return ks.get(name).dispatch(label, { x, w, y }, params, grid);
}

/** A compressed W (or one row block of a split one) giving columns column .. column + its N - 1 of y. */
function matmulBlock(ks: Kernels, label: string, x: Tensor, w: CompressedWeight, y: Tensor, column: number, accumulate: boolean, name?: string): Dispatch {
  const [M, K] = x.shape;
  const [N] = w.shape;
  const who = `matmul ${label}`;
  if (w.shape[1] !== K) throw new Error(`${who}: weight ${w.label} is [${w.shape}], expected [${N}, ${K}]`);
  if (K % 4 !== 0) throw new Error(`${who}: a ${w.type} weight needs K % 4 == 0, K = ${K}`);
  const yStride = y.shape[1];
  if (column + N > yStride) throw new Error(`${who}: weight ${w.label} gives columns ${column}..${column + N - 1} of ${y.label} [${y.shape}]`);
  const entry = name ?? quantEntry(w.type, M);
  const tile = MATMUL_VARIANTS[entry]?.tile ?? [32, 32];
  const grid: [number, number, number] = [Math.ceil(N / tile[0]), Math.ceil(M / tile[1]), 1];
  const params = { M, N, K, accumulate: accumulate ? 1 : 0, yStride, yColumn: column };
  return ks.get(entry).dispatch(label, { x4: x, wq: w.quants, y, ws: w.scales ?? w.quants }, params, grid);
}

/** y = x W^T for any weight: one dispatch, or one per row block of a split W (transparent to the caller). */
export function matmulWeight(ks: Kernels, label: string, x: Tensor, w: Weight, y: Tensor, accumulate = false): Dispatch[] {
  if (!(w instanceof SplitWeight)) return [matmul(ks, label, x, w, y, accumulate)];
  const [M, K] = x.shape;
  expectShape(`matmul ${label}`, y, [M, w.shape[0]]);
  if (w.shape[1] !== K) throw new Error(`matmul ${label}: weight ${w.label} is [${w.shape}], expected [${w.shape[0]}, ${K}]`);
  return w.parts.map((p, i) => matmulBlock(ks, `${label}.part${i}`, x, p.weight, y, p.row0, accumulate));
}

/** Sets the rows of x in use (M) of matmul dispatches recorded for more, keeping their other params. */
export function setMatmulRows(ds: readonly Dispatch[], M: number): void {
  for (const d of ds) d.update({ M });
}

/**
 * Autotunes the matmul of each weight's shape for decode (M = 1) and training / prefill rows, once
 * per adapter (results cached, see src/gpu/autotune.ts). A no-op where autotuning is off.
 */
export async function tuneMatmuls(ks: Kernels, weights: readonly Weight[], rows = 512): Promise<void> {
  const gpu = ks.gpu;
  if (!autotuneEnabled(gpu)) return;
  await loadTuned(gpu);
  const seen = new Set<string>();
  let changed = false;
  for (const w of weights) {
    if (w instanceof SplitWeight) continue; // its blocks' shapes differ; they take the defaults
    const [N, K] = w.shape;
    const type = weightType(w);
    for (const M of [1, rows]) {
      const key = tuneKey(M, N, K, type);
      const variants = matmulVariants(ks, K, type);
      if (seen.has(key) || variants.length < 2) continue;
      seen.add(key);
      if (tuned(gpu).get(key)) continue;
      const x = tensor(gpu, 'autotune.x', [M, K], 'scratch', { data: new Float32Array(M * K).fill(0.5) });
      const y = tensor(gpu, 'autotune.y', [M, N], 'scratch');
      try {
        await autotune(gpu, key, variants, (name) => matmul(ks, `autotune ${name}`, x, w, y, false, name), false);
        changed = true;
      } finally {
        x.destroy();
        y.destroy();
      }
    }
  }
  if (changed) await flushTuned(gpu);
}

/** FLOPs and bytes of one launch; `wBytes` bytes per weight element. */
const matmulCost =
  (wBytes: number): CostFn =>
  (p: Params) => {
    const [M, N, K] = [num(p, 'M'), num(p, 'N'), num(p, 'K')];
    const acc = num(p, 'accumulate');
    return { flops: 2 * M * N * K + acc * M * N, bytes: 4 * (M * K + (1 + acc) * M * N) + wBytes * N * K };
  };

/** Bytes per element of each block layout on the GPU (the file's: blocks / values per block). */
const QUANT_BYTES: Record<Exclude<WeightType, 'f16'>, number> = {
  f32: 4, bf16: 2, q8_0: 34 / 32, q4_0: 18 / 32, q4_1: 20 / 32, q5_0: 22 / 32, q5_1: 24 / 32, q2_k: 84 / 256, q3_k: 110 / 256, q4_k: 144 / 256, q5_k: 176 / 256, q6_k: 210 / 256,
};

export const costs = {
  matmul: matmulCost(4),
  matmul_vec4: matmulCost(4),
  matmul_tiled: matmulCost(4),
  matmul_tiled_vec4: matmulCost(4),
  matmul_subgroup: matmulCost(4),
  matmul_half: matmulCost(2),
  matmul_half_tiled: matmulCost(2),
  matmul_f16: matmulCost(2),
  matmul_f32_part: matmulCost(4),
  matmul_bf16: matmulCost(QUANT_BYTES.bf16),
  matmul_q8_0: matmulCost(QUANT_BYTES.q8_0),
  matmul_q4_0: matmulCost(QUANT_BYTES.q4_0),
  matmul_q4_1: matmulCost(QUANT_BYTES.q4_1),
  matmul_q5_0: matmulCost(QUANT_BYTES.q5_0),
  matmul_q5_1: matmulCost(QUANT_BYTES.q5_1),
  matmul_q2_k: matmulCost(QUANT_BYTES.q2_k),
  matmul_q3_k: matmulCost(QUANT_BYTES.q3_k),
  matmul_q4_k: matmulCost(QUANT_BYTES.q4_k),
  matmul_q5_k: matmulCost(QUANT_BYTES.q5_k),
  matmul_q6_k: matmulCost(QUANT_BYTES.q6_k),
  matmul_f16_r1: matmulCost(2),
  matmul_bf16_r1: matmulCost(2),
  matmul_f16_r8: matmulCost(2),
  matmul_bf16_r8: matmulCost(2),
  matmul_q8_0_r1: matmulCost(QUANT_BYTES.q8_0),
  matmul_q4_0_r1: matmulCost(QUANT_BYTES.q4_0),
  matmul_q4_1_r1: matmulCost(QUANT_BYTES.q4_1),
  matmul_q5_0_r1: matmulCost(QUANT_BYTES.q5_0),
  matmul_q5_1_r1: matmulCost(QUANT_BYTES.q5_1),
  matmul_q2_k_r1: matmulCost(QUANT_BYTES.q2_k),
  matmul_q3_k_r1: matmulCost(QUANT_BYTES.q3_k),
  matmul_q4_k_r1: matmulCost(QUANT_BYTES.q4_k),
  matmul_q5_k_r1: matmulCost(QUANT_BYTES.q5_k),
  matmul_q6_k_r1: matmulCost(QUANT_BYTES.q6_k),
  matmul_q8_0_r8: matmulCost(QUANT_BYTES.q8_0),
  matmul_q4_0_r8: matmulCost(QUANT_BYTES.q4_0),
  matmul_q4_1_r8: matmulCost(QUANT_BYTES.q4_1),
  matmul_q5_0_r8: matmulCost(QUANT_BYTES.q5_0),
  matmul_q5_1_r8: matmulCost(QUANT_BYTES.q5_1),
  matmul_q2_k_r8: matmulCost(QUANT_BYTES.q2_k),
  matmul_q3_k_r8: matmulCost(QUANT_BYTES.q3_k),
  matmul_q4_k_r8: matmulCost(QUANT_BYTES.q4_k),
  matmul_q5_k_r8: matmulCost(QUANT_BYTES.q5_k),
  matmul_q6_k_r8: matmulCost(QUANT_BYTES.q6_k),
  matmul_q8_0_elem: matmulCost(QUANT_BYTES.q8_0),
  matmul_q4_0_elem: matmulCost(QUANT_BYTES.q4_0),
  matmul_q4_1_elem: matmulCost(QUANT_BYTES.q4_1),
  matmul_q5_0_elem: matmulCost(QUANT_BYTES.q5_0),
  matmul_q5_1_elem: matmulCost(QUANT_BYTES.q5_1),
  matmul_q2_k_elem: matmulCost(QUANT_BYTES.q2_k),
  matmul_q3_k_elem: matmulCost(QUANT_BYTES.q3_k),
  matmul_q4_k_elem: matmulCost(QUANT_BYTES.q4_k),
  matmul_q5_k_elem: matmulCost(QUANT_BYTES.q5_k),
  matmul_q6_k_elem: matmulCost(QUANT_BYTES.q6_k),
};
