// The matmul on the WASM backend (the WebAssembly SIMD twins of wasm/, through the real device and
// wrappers: createGpu({ backend: 'wasm', threads }), matmul / matmulWeight, one submit per call) side
// by side in one process with tfjs-backend-wasm's f32 matmul (XNNPACK, WASM SIMD) on the same shapes,
// per weight layout, on 1 and 2 threads. Runs are interleaved (one sample of every contender per
// round, in a rotating order); medians and best samples are reported, so a loaded machine's drift
// hits all alike (the best sample is the nearest to an uncontended run).
//   node --import tsx --import ./scripts/register-wgsl.mjs bench/wasm_matmul.ts \
//     [--types f32,f16,q8_0,q5_0,q4_k,q6_k | all] [--shapes 256x1536x576,256x576x1536] [--threads 1,2] [--rounds 7] [--json FILE]
// A shape is M x K -> N (rows of x, columns of x = of W, rows of W). tfjs multiplies x [M, K] by W
// given as [K, N] (its fast path; W as [N, K] with transposeB runs ~10x slower there: --tfjs-transposed
// adds that form). tfjs-backend-wasm has no threads in Node, so its one-thread number is the yardstick.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { createGpu, type Gpu } from '../src/gpu/device';
import type { Dispatch } from '../src/gpu/kernel';
import { matmul, matmulWeight } from '../src/gpu/kernels/matmul';
import { Kernels } from '../src/gpu/kernels/registry';
import { tensor } from '../src/gpu/tensor';
import { LAYOUTS, uploadWeight, type WeightLayout } from '../src/gpu/weight';
import { randoms, relError, run } from '../test/gpu';
import { randomWeight, type RandomLayout } from '../test/quant_fixture';
import { matmulT } from '../test/reference/ops';
import { median } from './timing';

const arg = (k: string, d: string) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const ALL: WeightLayout[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'];

interface Contender {
  name: string; // 'tfjs' | 'tfjs (W transposed)' | layout
  threads: number;
  call: () => void; // one matmul, finished when it returns
  check?: () => Promise<number>; // rel error of the last result vs float64
}

/** Milliseconds of one call: calls repeated until 40 ms have passed (at least 2), the mean. */
function sample(call: () => void): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (n < 2 || t - t0 < 40) {
    call();
    n++;
    t = performance.now();
  }
  return (t - t0) / n;
}

async function main() {
  const typesArg = arg('types', 'f32,f16,q8_0,q5_0,q4_k,q6_k');
  const types = (typesArg === 'all' ? ALL : typesArg.split(',')) as WeightLayout[];
  for (const t of types) if (!(t in LAYOUTS)) throw new Error(`--types: ${t} is not a weight layout (${ALL.join(', ')})`);
  const shapes = arg('shapes', '256x1536x576,256x576x1536').split(',').map((s) => s.split('x').map(Number) as [number, number, number]);
  const threadCounts = arg('threads', '1,2').split(',').map(Number);
  const rounds = Number(arg('rounds', '7'));
  const transposed = process.argv.includes('--tfjs-transposed');

  setThreadsCount(1);
  await tf.setBackend('wasm');
  await tf.ready();
  if (!tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) throw new Error('tfjs-backend-wasm: no SIMD here, not a fair yardstick');
  const gpus: [number, Gpu, Kernels][] = [];
  for (const n of threadCounts) {
    const gpu = await createGpu({ backend: 'wasm', threads: n });
    if (gpu.threads !== n) throw new Error(`--threads ${n}: the WASM backend gave ${gpu.threads} threads`);
    gpus.push([n, gpu, await Kernels.load(gpu)]);
  }
  const load0 = loadavg();
  console.log(`# ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores; load average ${load0.map((l) => l.toFixed(2)).join(' ')}; tfjs-backend-wasm ${getThreadsCount()} thread, SIMD`);
  const results: { shape: string; name: string; threads: number; gflops: number; best: number; vsTfjs: number; bestVsTfjs: number; relError: number | null }[] = [];
  for (const [M, K, N] of shapes) {
    const shape = `${M}x${K}->${N}`;
    const flops = 2 * M * N * K;
    const xv = randoms(M * K, 1);
    const contenders: Contender[] = [];
    // tfjs: x [M, K] times W [K, N]
    const tx = tf.tensor2d(xv, [M, K]);
    const tw = tf.tensor2d(randoms(K * N, 2), [K, N]);
    const twT = tf.tensor2d(randoms(N * K, 2), [N, K]);
    const tfjsCall = (wt: tf.Tensor2D, tb: boolean) => () => {
      const y = tf.matMul(tx, wt, false, tb);
      y.dataSync();
      y.dispose();
    };
    contenders.push({ name: 'tfjs', threads: 1, call: tfjsCall(tw, false) });
    if (transposed) contenders.push({ name: 'tfjs (W transposed)', threads: 1, call: tfjsCall(twT, true) });
    const cleanup: (() => void)[] = [];
    for (const type of types) {
      if (K % (LAYOUTS[type].elements === 2 ? 4 : LAYOUTS[type].elements)) {
        console.error(`skipped ${type} at ${shape}: K = ${K} is not a multiple of its block`);
        continue;
      }
      const f32 = type === 'f32';
      const { bytes, values } = f32 ? { bytes: new Uint8Array(0), values: randoms(N * K, 3, 0.5) } : randomWeight(type.toUpperCase() as RandomLayout, N * K, 3);
      const want = matmulT(xv, values, K);
      for (const [n, gpu, ks] of gpus) {
        const x = tensor(gpu, 'bench.x', [M, K], 'scratch', { data: xv });
        const y = tensor(gpu, 'bench.y', [M, N], 'scratch');
        const w = f32 ? tensor(gpu, 'bench.w', [N, K], 'weights', { data: values as Float32Array }) : uploadWeight(gpu, `bench.w ${type}`, type, [N, K], bytes);
        const ds: Dispatch[] = f32 ? [matmul(ks, 'bench', x, w as ReturnType<typeof tensor>, y)] : matmulWeight(ks, 'bench', x, w, y);
        contenders.push({ name: type, threads: n, call: () => run(gpu, ...ds), check: async () => relError(await y.read(), want) });
        cleanup.push(() => {
          for (const d of ds) d.destroy();
          for (const t of [x, y, w]) t.destroy();
        });
      }
    }
    for (const c of contenders) c.call(); // warm-up (compiles, first touches)
    const samples = contenders.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < contenders.length; i++) {
        const j = (i + r) % contenders.length; // rotate the order each round
        samples[j].push(sample(contenders[j].call));
      }
    }
    const gflops = samples.map((s) => flops / median(s) / 1e6);
    const best = samples.map((s) => flops / Math.min(...s) / 1e6);
    const r1 = (v: number) => Math.round(v * 10) / 10;
    const r2 = (v: number) => Math.round(v * 100) / 100;
    for (const [i, c] of contenders.entries()) {
      const err = c.check ? await c.check() : null;
      results.push({ shape, name: c.name, threads: c.threads, gflops: r1(gflops[i]), best: r1(best[i]), vsTfjs: r2(gflops[i] / gflops[0]), bestVsTfjs: r2(best[i] / best[0]), relError: err });
    }
    for (const f of cleanup) f();
    for (const t of [tx, tw, twT]) t.dispose();
  }
  const load1 = loadavg();
  // the table: one row per layout, columns per shape x threads
  const cols = shapes.flatMap(([M, K, N]) => threadCounts.map((n) => [`${M}x${K}->${N}`, n] as const));
  const cell = (name: string, shape: string, n: number) => results.find((r) => r.name === name && r.shape === shape && r.threads === n);
  // median GFLOP/s (x tfjs's median), then the best sample's (x tfjs's best): on a shared machine the
  // best sample is the nearest to an uncontended run
  console.log(`\n| weights | ${cols.map(([s, n]) => `${s} ${n}T GFLOP/s median (x tfjs); best (x tfjs)`).join(' | ')} |`);
  console.log(`|---|${cols.map(() => '---:').join('|')}|`);
  for (const name of [...new Set(results.map((r) => r.name))]) {
    const cells = cols.map(([s, n]) => {
      const c = cell(name, s, n);
      return c ? `${c.gflops.toFixed(1)} (${c.vsTfjs.toFixed(2)}); ${c.best.toFixed(1)} (${c.bestVsTfjs.toFixed(2)})` : '';
    });
    console.log(`| ${name.startsWith('tfjs') ? `${name} f32 (XNNPACK)` : name} | ${cells.join(' | ')} |`);
  }
  const scaling = results.filter((r) => r.threads === 2).map((r) => {
    const one = cell(r.name, r.shape, 1);
    return one ? `${r.name} ${r.shape} x${(r.gflops / one.gflops).toFixed(2)} (best x${(r.best / one.best).toFixed(2)})` : '';
  });
  if (scaling.length) console.log(`\n2 threads / 1, medians (best samples): ${scaling.filter(Boolean).join(', ')}`);
  const worst = Math.max(...results.map((r) => r.relError ?? 0));
  console.log(`rel error vs float64 (worst): ${worst.toExponential(1)}; load average before ${load0[0].toFixed(2)}, after ${load1[0].toFixed(2)}; ${rounds} rounds, medians`);
  const out = arg('json', '');
  if (out) writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), cpu: cpus()[0]?.model, load: [load0, load1], rounds, results }, null, 2)}\n`);
  for (const [, gpu] of gpus) gpu.device.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
