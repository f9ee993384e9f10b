// The matmul stage of the GPU run (bench/device.sh): every f32 and f16 matmul kernel this adapter
// compiles, on the model's linear shapes at the rows a training pass has (not the 64 rows of
// bench/scenarios.ts's matmul, which checks every output against a plain-JS loop): GPU time of the
// dispatch alone (timestamp-query), GFLOP/s and the fraction of the device's fp32 peak. Each
// variant's output is checked on a few sampled rows against a float64 loop (W rounded to f16 for
// the f16 kernels), so a fast wrong kernel shows as WRONG.
import type { Gpu } from '../src/gpu/device';
import { Kernels } from '../src/gpu/kernels/registry';
import { matmul, matmulVariants } from '../src/gpu/kernels/matmul';
import { Profiler } from '../src/gpu/profiler';
import { tensor } from '../src/gpu/tensor';
import { uploadCompressed } from '../src/gpu/weight';
import { floatToF16Bits } from '../src/formats/gguf_writer';
import { f16BitsToFloat } from '../src/formats/safetensors';
import type { LlamaConfig } from '../src/formats/config';
import { mulberry32 } from '../src/util/random';
import { jsMatmul, linearShapes } from './scenarios';

/**
 * fp32 peak (CUDA cores, no tensor cores) of the GPUs these runs are lent, in GFLOP/s, by the
 * name Dawn or nvidia-smi reports. Sources: NVIDIA H100 Tensor Core GPU datasheet (FP32: 67
 * TFLOPS H100 SXM5, 51 PCIe, 60 NVL) and NVIDIA H200 Tensor Core GPU datasheet (FP32: 67 TFLOPS
 * H200 SXM, 60 NVL); the SXM figure is 132 SMs x 128 FP32 lanes x 2 (FMA) x 1.98 GHz boost.
 * Most specific pattern first.
 */
export const FP32_PEAKS: { pattern: RegExp; gflops: number; source: string }[] = [
  { pattern: /H200 NVL/i, gflops: 60_000, source: 'NVIDIA H200 datasheet: H200 NVL FP32 60 TFLOPS' },
  { pattern: /H200/i, gflops: 67_000, source: 'NVIDIA H200 datasheet: H200 SXM FP32 67 TFLOPS' },
  { pattern: /H100 NVL/i, gflops: 60_000, source: 'NVIDIA H100 datasheet: H100 NVL FP32 60 TFLOPS' },
  { pattern: /H100 PCIe/i, gflops: 51_000, source: 'NVIDIA H100 datasheet: H100 PCIe FP32 51 TFLOPS' },
  { pattern: /H100/i, gflops: 67_000, source: 'NVIDIA H100 datasheet: H100 SXM5 (80GB HBM3) FP32 67 TFLOPS' },
];

export interface Peak {
  gflops: number;
  source: string;
}

/** The fp32 peak of the first name a table entry matches; `override` (GFLOP/s, DEVICE_FP32_PEAK_GFLOPS) wins. */
export function fp32Peak(names: readonly (string | undefined)[], override?: number): Peak | null {
  if (override && override > 0) return { gflops: override, source: 'DEVICE_FP32_PEAK_GFLOPS' };
  for (const n of names) {
    const hit = n && FP32_PEAKS.find((p) => p.pattern.test(n));
    if (hit) return { gflops: hit.gflops, source: hit.source };
  }
  return null;
}

export interface VariantTiming {
  kernelMs: number; // median GPU time of the dispatch (timestamp-query; host time without it)
  gflops: number;
  ofPeak?: number; // gflops / fp32 peak
  relErr: number; // max |got - ref| / max |ref| over the sampled rows
  ok: boolean;
}

export interface MatmulStageRow {
  preset: string;
  names: string[]; // the linears with this shape
  M: number;
  N: number;
  K: number;
  flops: number;
  variants: Record<string, VariantTiming>; // `f16 NAME`: W rounded to f16
  fastest?: string;
}

export interface MatmulStage {
  adapter: string;
  timing: 'timestamp' | 'host';
  peak: Peak | null;
  rows: MatmulStageRow[];
  notRun: string[]; // shapes the time limit left out
}

const TOLERANCE = { f32: 1e-4, f16: 2e-2 }; // f16 kernels may also compute in f16

function randoms(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** The rows compared with the float64 loop: first, last and two between. */
const sampleRows = (M: number) => [...new Set([0, Math.floor(M / 3), Math.floor((2 * M) / 3), M - 1])];

/**
 * Times every f32 / f16 matmul variant on each preset's linear shapes at each M. `onRow` gets the
 * stage after each row (the caller writes it, so a stage cut short still reports what it measured).
 */
export async function matmulStage(
  gpu: Gpu,
  presets: { name: string; config: LlamaConfig }[],
  ms: number[],
  opts: { peak: Peak | null; deadline: number; log: (s: string) => void; onRow?: (s: MatmulStage) => void },
): Promise<MatmulStage> {
  const ks = await Kernels.load(gpu);
  const prof = new Profiler(gpu);
  const out: MatmulStage = { adapter: gpu.adapterInfo, timing: prof.hasTimestamps ? 'timestamp' : 'host', peak: opts.peak, rows: [], notRun: [] };
  let seed = 1;
  for (const p of presets) {
    for (const s of linearShapes(p.config)) {
      for (const M of ms) {
        const { N, K } = s;
        const what = `${p.name} ${s.names.join('/')} M ${M} [${N}x${K}]`;
        if (Date.now() >= opts.deadline) {
          out.notRun.push(what);
          continue;
        }
        const x = randoms(M * K, seed++);
        const w = randoms(N * K, seed++, 1 / Math.sqrt(K));
        const w16 = Uint16Array.from(w, (v) => floatToF16Bits(v));
        const rows = sampleRows(M);
        const xs = new Float32Array(rows.length * K);
        rows.forEach((r, i) => xs.set(x.subarray(r * K, (r + 1) * K), i * K));
        const ref = { f32: jsMatmul(xs, w, rows.length, N, K), f16: jsMatmul(xs, Float32Array.from(w16, f16BitsToFloat), rows.length, N, K) };
        const xt = tensor(gpu, 'device.x', [M, K], 'scratch', { data: x });
        const yt = tensor(gpu, 'device.y', [M, N], 'scratch');
        const weights = { f32: tensor(gpu, 'device.w', [N, K], 'scratch', { data: w }), f16: K % 4 === 0 ? uploadCompressed(gpu, 'device.w16', 'f16', [N, K], new Uint8Array(w16.buffer)) : null };
        const row: MatmulStageRow = { preset: p.name, names: s.names, M, N, K, flops: 2 * M * N * K, variants: {} };
        try {
          for (const type of ['f32', 'f16'] as const) {
            const wt = weights[type];
            if (!wt) continue;
            for (const name of matmulVariants(ks, K, type)) {
              const d = matmul(ks, `device ${name}`, xt, wt, yt, false, name);
              try {
                const kernelMs = (await prof.profile([d], { repeats: 5, findings: false })).totalNs / 1e6;
                let maxDiff = 0;
                let maxRef = 0;
                for (const [i, r] of rows.entries()) {
                  const got = new Float32Array(await gpu.readBuffer(yt.buffer, N * 4, r * N * 4));
                  for (let n = 0; n < N; n++) {
                    const want = ref[type][i * N + n];
                    const diff = Math.abs(got[n] - want);
                    maxDiff = Number.isNaN(diff) ? Infinity : Math.max(maxDiff, diff);
                    maxRef = Math.max(maxRef, Math.abs(want));
                  }
                }
                const gflops = row.flops / kernelMs / 1e6;
                const relErr = maxDiff / Math.max(maxRef, 1e-30);
                row.variants[type === 'f32' ? name : `f16 ${name}`] = {
                  kernelMs,
                  gflops,
                  ofPeak: opts.peak ? gflops / opts.peak.gflops : undefined,
                  relErr,
                  ok: relErr <= TOLERANCE[type],
                };
              } finally {
                d.destroy();
              }
            }
          }
        } finally {
          xt.destroy();
          yt.destroy();
          weights.f32.destroy();
          weights.f16?.destroy();
        }
        const best = Object.entries(row.variants)
          .filter(([, v]) => v.ok)
          .sort((a, b) => b[1].gflops - a[1].gflops)[0];
        row.fastest = best?.[0];
        out.rows.push(row);
        opts.log(
          `matmul ${what}: ` +
            Object.entries(row.variants)
              .map(([k, v]) => `${k} ${v.gflops.toFixed(1)}${v.ofPeak === undefined ? '' : ` (${(100 * v.ofPeak).toFixed(1)}%)`}${v.ok ? '' : ' WRONG'}`)
              .join(', ') +
            ' GFLOP/s',
        );
        opts.onRow?.(out);
      }
    }
  }
  gpu.throwIfFailed('matmul stage');
  return out;
}
