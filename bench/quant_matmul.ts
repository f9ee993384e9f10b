// The compressed-weight matmul side by side: every matmul variant of each weight layout (the
// register-blocked ones and the workgroup-tiled ones of shaders/matmul_quant.wgsl), and the dense f32
// kernels on the dequantised weight as the baseline, on the same x and the same shapes. Per variant:
// kernel ms (the profiler: timestamps, or host time per submit on SwiftShader), GFLOP/s, and the
// relative error against a float64 matmul over the float64 dequantisation (gguf-py's).
//   node bin/with-gpu.js node --import tsx --import ./scripts/register-wgsl.mjs bench/quant_matmul.ts \
//     [--types q4_k,q6_k,f16] [--shapes 256x576x1536,256x1536x576] [--rounds 3] [--out FILE]
// A shape is M x K -> N (rows of x, columns of x = of W, rows of W).
import { writeFileSync } from 'node:fs';
import { dequantize, type GgmlQuantName } from '../src/formats/ggml_quants';
import { dequantizeQ4_0, dequantizeQ8_0 } from '../src/formats/gguf';
import { floatToF16Bits } from '../src/formats/gguf_writer';
import { f16BitsToFloat } from '../src/formats/safetensors';
import { createGpu } from '../src/gpu/device';
import type { Dispatch } from '../src/gpu/kernel';
import { matmul, matmulVariants } from '../src/gpu/kernels/matmul';
import { Kernels } from '../src/gpu/kernels/registry';
import { Profiler } from '../src/gpu/profiler';
import { tensor } from '../src/gpu/tensor';
import { LAYOUTS, uploadCompressed, type WeightLayout } from '../src/gpu/weight';
import { relError } from '../test/gpu';
import { randomBlocks } from '../test/quant_fixture';
import { matmulT } from '../test/reference/ops';
import { mulberry32 } from '../src/util/random';

const arg = (k: string, d: string) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1] : d;
};

/** Random weight bytes of a layout and their float64 values. */
function weightOf(type: WeightLayout, N: number, K: number, seed: number): { bytes: Uint8Array; values: Float64Array } {
  const r = mulberry32(seed);
  const n = N * K;
  if (type === 'f16' || type === 'bf16') {
    const v = Float32Array.from({ length: n }, () => (r() * 2 - 1) * 0.05);
    const h = Uint16Array.from(v, (x) => (type === 'f16' ? floatToF16Bits(x) : new Uint32Array(new Float32Array([x]).buffer)[0] >>> 16));
    const values = Float64Array.from(h, (b) => (type === 'f16' ? f16BitsToFloat(b) : new Float32Array(new Uint32Array([b << 16]).buffer)[0]));
    return { bytes: new Uint8Array(h.buffer), values };
  }
  if (type === 'q8_0' || type === 'q4_0') {
    const bytes = randomLegacy(type, n, r);
    return { bytes, values: Float64Array.from(type === 'q8_0' ? dequantizeQ8_0(bytes, n) : dequantizeQ4_0(bytes, n)) };
  }
  if (type === 'f32') throw new Error('bench: f32 is the baseline of every type, not a type of its own');
  const g = type.toUpperCase() as GgmlQuantName;
  const bytes = randomBlocks(g, n, seed, -10, -6);
  return { bytes, values: dequantize(g, bytes, n) };
}

/** Q8_0 / Q4_0 blocks (not in randomBlocks): random quants, an f16 scale of about 2^-8 first. */
function randomLegacy(g: 'q8_0' | 'q4_0', n: number, r: () => number): Uint8Array {
  const bytes = g === 'q8_0' ? 34 : 18;
  const out = Uint8Array.from({ length: (n / 32) * bytes }, () => Math.floor(r() * 256));
  for (let b = 0; b < out.length; b += bytes) {
    const h = floatToF16Bits(2 ** -8 * (0.5 + r()));
    out[b] = h & 255;
    out[b + 1] = h >> 8;
  }
  return out;
}

interface Row {
  type: string;
  shape: string;
  kernel: string;
  ms: number;
  gflops: number;
  relError: number;
}

async function main() {
  const types = arg('types', 'q4_k,q6_k,q5_0,q8_0,f16').split(',') as WeightLayout[];
  const shapes = arg('shapes', '256x576x1536,256x1536x576').split(',').map((s) => s.split('x').map(Number) as [number, number, number]);
  const rounds = Number(arg('rounds', '3'));
  const gpu = await createGpu();
  const ks = await Kernels.load(gpu);
  const prof = new Profiler(gpu);
  const rows: Row[] = [];
  for (const [M, K, N] of shapes) {
    const shape = `${M}x${K}->${N}`;
    const r = mulberry32(M * 7 + K * 13 + N);
    const xv = Float32Array.from({ length: M * K }, () => r() * 2 - 1);
    const x = tensor(gpu, 'bench.x', [M, K], 'scratch', { data: xv });
    const y = tensor(gpu, 'bench.y', [M, N], 'scratch');
    const flops = 2 * M * N * K;
    // the variants of a type are timed in rounds (one sample each per round), the best sample kept:
    // on a loaded CPU the machine's speed drifts, and interleaving keeps the comparison fair
    for (const type of types) {
      if (K % LAYOUTS[type].elements) {
        console.error(`skipped ${type} at ${shape}: K = ${K} is not a multiple of its block (${LAYOUTS[type].elements} values)`);
        continue;
      }
      const { bytes, values } = weightOf(type, N, K, 5);
      const want = Float64Array.from(matmulT(xv, values, K));
      const w = uploadCompressed(gpu, `bench.w ${type}`, type, [N, K], bytes);
      const wf = tensor(gpu, 'bench.wf', [N, K], 'scratch', { data: Float32Array.from(values) });
      const runs: [string, string, Dispatch][] = [
        ...matmulVariants(ks, K, type).map((n): [string, string, Dispatch] => [type, n, matmul(ks, `bench ${n}`, x, w, y, false, n)]),
        // baseline: the dense f32 kernels on the dequantised weight
        ...['matmul_vec4', 'matmul_tiled_vec4'].map((n): [string, string, Dispatch] => [`${type} as f32`, n, matmul(ks, `bench ${n}`, x, wf, y, false, n)]),
      ];
      const best = runs.map(() => Infinity);
      const err = runs.map(() => NaN);
      for (let r = 0; r < rounds; r++) {
        for (const [i, [, , d]] of runs.entries()) {
          const p = await prof.profile([d], { repeats: 1, findings: false });
          best[i] = Math.min(best[i], p.totalNs / 1e6);
          if (r === 0) err[i] = relError(await y.read(), want);
        }
      }
      for (const [i, [t, name, d]] of runs.entries()) {
        const ms = best[i];
        const row = { type: t, shape, kernel: name, ms: Math.round(ms * 10) / 10, gflops: Math.round((flops / ms / 1e6) * 100) / 100, relError: err[i] };
        console.log(JSON.stringify(row));
        rows.push(row);
        d.destroy();
      }
      wf.destroy();
      w.destroy();
    }
    x.destroy();
    y.destroy();
  }
  const out = arg('out', '');
  if (out) writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), adapter: gpu.adapterInfo, rows }, null, 2)}\n`);
  gpu.device.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
