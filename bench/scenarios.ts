// The bench scenarios, the same code in headless Chrome (bench/pages/bench_page.ts) and in Node
// (bench/cli.ts --node): what differs between runtimes comes in through BenchEnv.
//   matmul   y = x W^T at the model's linear shapes: ours vs gpu.js webgpu / webgl2 vs plain JS
//   forward  the Llama forward pass: ours vs the same model built from gpu.js kernels (webgpu)
//   zo       one ZO step in each mode (mezo / outer / prge) at q = 1, 2, 4, 8, 16, and inference
//            at the prge step's 2q x Bsz rows with the same loss head and readback (the ZO
//            overhead; bench/zo_baseline.ts)
//   decode   greedy decoding with the KV cache, one sequence: tokens/s of the T = 1 passes (the
//            latency a chat user sees), checked against one uncached pass over the same tokens
//   memory   the memory ledger's report of each scenario (each scenario runs on a fresh device)
// Numbers are defined in bench/README.md.
import type { Gpu } from '../src/gpu/device';
import type { Dispatch } from '../src/gpu/kernel';
import { matmul, matmulVariants } from '../src/gpu/kernels/matmul';
import { uploadCompressed } from '../src/gpu/weight';
import { floatToF16Bits } from '../src/formats/gguf_writer';
import { Kernels } from '../src/gpu/kernels/registry';
import { Profiler } from '../src/gpu/profiler';
import { tensor } from '../src/gpu/tensor';
import type { LlamaConfig, LlamaModelFile } from '../src/formats/config';
import { parseLlama2c } from '../src/formats/llama2c';
import { Model } from '../src/model/model';
import { mulberry32 } from '../src/util/random';
import { ForwardPass, KvCache } from '../src/model/forward';
import { LoraState } from '../src/adapter/lora';
import { targetShape, TARGETS, type Target } from '../src/model/targets';
import { ZoScheduler, ZO_MODES, type ZoMode } from '../src/train/scheduler';
import { LossForward } from './zo_baseline';
import type { TokenBatch } from '../src/data/batch';
import { flatRows, GpuJs, type GpuJsMode, type GpuJsModule } from './gpujs';
import { GpuJsLlama } from './gpujs_llama';
import { PRESETS, weightSizes, whyNotFits, randomPreset, type PresetName } from './presets';
import { geomean, median, timeIt } from './timing';

export type ScenarioName = 'matmul' | 'forward' | 'zo' | 'decode';
export const SCENARIOS: readonly ScenarioName[] = ['matmul', 'forward', 'zo', 'decode'];

/** What the runtime provides. */
export interface BenchEnv {
  runtime: 'chrome' | 'node';
  createGpu(): Promise<Gpu>;
  gpujs: GpuJsModule | null; // null: gpu.js could not be loaded (gpujsWhy says why)
  gpujsWhy?: string;
  /** Why a gpu.js mode cannot run here, or null when it can. */
  gpujsModeWhy(mode: GpuJsMode): Promise<string | null>;
  /** Bytes of a file of the shared assets (e.g. models/stories260K.bin). */
  readAsset(path: string): Promise<Uint8Array>;
  log(line: string): void;
}

export interface BenchOptions {
  presets: PresetName[];
  scenarios: ScenarioName[];
  quick: boolean;
  batch: number; // Bsz: sequences per example batch (forward rows = batch x seq)
  seq: number; // T
  qs: number[]; // ZO queries
  reps: number; // timed ZO steps per mode and q (after one warm-up)
  minMs: number; // matmul / forward: time each implementation at least this long
  rank: number; // LoRA rank
  targets: Target[]; // LoRA targets
  maxWeightMiB: number; // presets with more weights are skipped
  seed: number;
  /** Date.now() by which the run must end (bench/device.sh's time limits): a scenario after it, or a ZO row that would not fit, is not run and says so. */
  deadline?: number;
}

export function benchDefaults(quick: boolean): BenchOptions {
  return {
    presets: ['stories260K'],
    scenarios: [...SCENARIOS],
    quick,
    batch: quick ? 2 : 4,
    seq: quick ? 32 : 64,
    qs: [1, 2, 4, 8, 16],
    reps: 3,
    minMs: quick ? 150 : 500,
    rank: 16,
    targets: ['q', 'v'],
    maxWeightMiB: 2048,
    seed: 0,
  };
}

/** One implementation's timing; `skipped` (with the reason) instead when it could not run. */
export interface ImplResult {
  ms?: number; // median wall time of one call, readback included
  reps?: number;
  gflops?: number; // counted FLOPs / ms
  maxAbsDiff?: number; // against the plain-JS float64-accumulated result
  kernelMs?: number; // ours only: GPU time of the dispatch alone (timestamp-query)
  kernelGflops?: number;
  skipped?: string;
}

export type MatmulImpl = 'ours' | 'gpujs-webgpu' | 'gpujs-webgl2' | 'js';
export const MATMUL_IMPLS: readonly MatmulImpl[] = ['ours', 'gpujs-webgpu', 'gpujs-webgl2', 'js'];

export interface MatmulRow {
  names: string[]; // the linears with this shape: q, k, v, o, gate, up, down, lm_head
  M: number;
  N: number;
  K: number;
  flops: number; // 2 M N K
  impls: Record<MatmulImpl, ImplResult>;
  /** Every matmul kernel this adapter compiles for the shape (ours is the one chooseMatmul picks); `f16 NAME`: W rounded to f16. */
  variants?: Record<string, { kernelMs: number; kernelGflops?: number; maxAbsDiff: number }>;
  chosen?: string;
}

export interface MatmulResult {
  rows: MatmulRow[];
  /** Geometric mean over shapes of ours' GFLOP/s / theirs (> 1: ours faster). */
  ratios: Partial<Record<Exclude<MatmulImpl, 'ours'>, number>>;
}

export interface ForwardResult {
  B: number;
  T: number;
  tokens: number; // B x T
  ours: { ms: number; reps: number; tokensPerSec: number; kernelMs?: number };
  gpujs: { ms?: number; reps?: number; tokensPerSec?: number; buildMs?: number; maxAbsDiff?: number; maxAbsLogit?: number; ok?: boolean; skipped?: string };
  ratio?: number; // ours tokens/s / gpu.js tokens/s
}

export interface DecodeResult {
  prompt: number; // tokens of the prefill
  tokens: number; // tokens decoded (timed), one pass each
  ms: number; // wall time of the decoded tokens, each pass's logits read back (greedy)
  tokensPerSec: number;
  agrees: boolean; // each greedy token is the argmax of one uncached pass over the same tokens
}

export interface ModeTiming {
  ms: number; // median step time
  samples: number[];
  submits: number; // queue.submit calls per step
  heldBytes: number; // GPU memory the mode's scheduler + adapters hold (ledger)
}

export interface ZoRow {
  q: number;
  modes?: Record<ZoMode, ModeTiming>;
  forward?: { ms: number; rows: number }; // inference + the step's loss head and readback at 2q x Bsz sequences
  speedup?: { outer: number; prge: number }; // mezo ms / mode ms
  overhead?: number; // prge ms / (forward + loss head) ms
  skipped?: string;
}

export interface ZoResult {
  batch: number;
  seq: number;
  rank: number;
  targets: Target[];
  reps: number;
  rows: ZoRow[];
}

export type LedgerReport = ReturnType<Gpu['ledger']['report']>;

export interface PresetResult {
  preset: PresetName;
  skipped?: string;
  weights: 'checkpoint' | 'random';
  config: LlamaConfig;
  params: number;
  matmul?: MatmulResult;
  forward?: ForwardResult;
  zo?: ZoResult;
  decode?: DecodeResult;
  memory: Partial<Record<ScenarioName, LedgerReport>>;
  errors: Partial<Record<ScenarioName, string>>;
}

const msg = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/** Runs every preset and scenario of `o`; a failing scenario is recorded, the others still run. */
export async function runBench(env: BenchEnv, o: BenchOptions): Promise<PresetResult[]> {
  const out: PresetResult[] = [];
  for (const name of o.presets) {
    const p = PRESETS[name];
    const res: PresetResult = {
      preset: name,
      weights: p.checkpoint ? 'checkpoint' : 'random',
      config: p.config,
      params: weightSizes(p.config).params,
      memory: {},
      errors: {},
    };
    out.push(res);
    const probe = await env.createGpu();
    const why = whyNotFits(name, p.config, probe.limits, o.maxWeightMiB * 2 ** 20);
    probe.device.destroy();
    if (why) {
      res.skipped = why;
      env.log(`skip ${why}`);
      continue;
    }
    env.log(`${name}: ${p.checkpoint ? 'checkpoint' : 'random weights'}, ${(res.params / 1e6).toFixed(2)}M parameters`);
    const file = p.checkpoint ? parseLlama2c(await env.readAsset(p.checkpoint), p.checkpoint) : randomPreset(name, o.seed + 1234);
    res.config = file.config;
    for (const s of o.scenarios) {
      if (o.deadline !== undefined && Date.now() >= o.deadline) {
        res.errors[s] = 'not run: the time limit was reached';
        continue;
      }
      const gpu = await env.createGpu();
      try {
        if (s === 'matmul') res.matmul = await matmulScenario(env, gpu, file.config, o);
        if (s === 'forward') res.forward = await forwardScenario(env, gpu, file, o);
        if (s === 'zo') res.zo = await zoScenario(env, gpu, file, o);
        if (s === 'decode') res.decode = await decodeScenario(env, gpu, file, o);
      } catch (e) {
        res.errors[s] = msg(e);
        env.log(`${name} ${s}: failed: ${msg(e)}`);
      } finally {
        res.memory[s] = gpu.ledger.report();
        gpu.device.destroy();
      }
    }
  }
  return out;
}

function randoms(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** Plain JavaScript y = x W^T, float64 accumulation (the reference and the CPU baseline). */
export function jsMatmul(x: Float32Array, w: Float32Array, M: number, N: number, K: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    const xo = m * K;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += x[xo + k] * w[wo + k];
      y[m * N + n] = s;
    }
  }
  return y;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= d)) d = Number.isNaN(e) ? Infinity : e;
  }
  return d;
}

/** The distinct (N, K) shapes of the model's linear layers, with the names sharing each. */
export function linearShapes(c: LlamaConfig): { names: string[]; N: number; K: number }[] {
  const shapes: { names: string[]; N: number; K: number }[] = [];
  const add = (name: string, N: number, K: number) => {
    const s = shapes.find((x) => x.N === N && x.K === K);
    if (s) s.names.push(name);
    else shapes.push({ names: [name], N, K });
  };
  for (const t of TARGETS) {
    const s = targetShape(c, t);
    add(t, s.out, s.in);
  }
  add('lm_head', c.vocabSize, c.dim);
  return shapes;
}

async function matmulScenario(env: BenchEnv, gpu: Gpu, c: LlamaConfig, o: BenchOptions): Promise<MatmulResult> {
  const ks = await Kernels.load(gpu);
  const prof = new Profiler(gpu);
  const M = o.batch * o.seq;
  const timing = { minMs: o.minMs, minReps: o.quick ? 2 : 3, maxReps: 30 };
  const gjs: Partial<Record<GpuJsMode, GpuJs>> = {};
  const gjsWhy: Partial<Record<GpuJsMode, string>> = {};
  for (const mode of ['webgpu', 'webgl2'] as GpuJsMode[]) {
    const why = env.gpujs ? await env.gpujsModeWhy(mode) : env.gpujsWhy ?? 'gpu.js not loaded';
    if (why) gjsWhy[mode] = why;
    else gjs[mode] = new GpuJs(env.gpujs!, mode);
  }
  const rows: MatmulRow[] = [];
  try {
    for (const [i, s] of linearShapes(c).entries()) {
      const { N, K } = s;
      const flops = 2 * M * N * K;
      const x = randoms(M * K, 100 + i);
      const w = randoms(N * K, 200 + i, 1 / Math.sqrt(K));
      let ref: Float64Array = new Float64Array(0);
      // JIT warm-up only where one call is cheap (a big lm_head takes seconds in JS)
      const tj = await timeIt(async () => void (ref = jsMatmul(x, w, M, N, K)), { ...timing, warmup: flops < 5e8 ? 1 : 0, minReps: 1 });
      const impls = { js: { ms: tj.ms, reps: tj.reps, gflops: flops / tj.ms / 1e6, maxAbsDiff: 0 } } as Record<MatmulImpl, ImplResult>;

      // ours: the dispatch, submitted, and y read back
      const xt = tensor(gpu, 'bench.x', [M, K], 'scratch', { data: x });
      const wt = tensor(gpu, 'bench.w', [N, K], 'scratch', { data: w });
      const yt = tensor(gpu, 'bench.y', [M, N], 'scratch');
      const d = matmul(ks, `matmul ${s.names.join('/')}`, xt, wt, yt);
      let y: Float32Array = new Float32Array(0);
      const to = await timeIt(async () => {
        const enc = gpu.device.createCommandEncoder({ label: d.label });
        const pass = enc.beginComputePass({ label: d.label });
        d.encode(pass);
        pass.end();
        gpu.device.queue.submit([enc.finish()]);
        y = await yt.read();
      }, timing);
      const p = await prof.profile([d], { repeats: 5, findings: false });
      const kernelMs = p.totalNs / 1e6;
      impls.ours = { ms: to.ms, reps: to.reps, gflops: flops / to.ms / 1e6, maxAbsDiff: maxAbsDiff(y, ref), kernelMs, kernelGflops: kernelMs > 0 ? flops / kernelMs / 1e6 : undefined };
      d.destroy();
      // each variant alone: GPU time (timestamps) and its result against the float64 loop
      const variants: NonNullable<MatmulRow['variants']> = {};
      // times one variant's dispatch, then runs it once more to check its result
      const timeVariant = async (key: string, dv: Dispatch) => {
        const pv = await prof.profile([dv], { repeats: 5, findings: false });
        const vMs = pv.totalNs / 1e6;
        const enc = gpu.device.createCommandEncoder({ label: dv.label });
        const pass = enc.beginComputePass();
        dv.encode(pass);
        pass.end();
        gpu.device.queue.submit([enc.finish()]);
        variants[key] = { kernelMs: vMs, kernelGflops: vMs > 0 ? flops / vMs / 1e6 : undefined, maxAbsDiff: maxAbsDiff(await yt.read(), ref) };
        dv.destroy();
      };
      for (const name of matmulVariants(ks, K, 'f32')) await timeVariant(name, matmul(ks, `matmul ${name}`, xt, wt, yt, false, name));
      // f16 weights (the same W rounded to f16): every f16 kernel, native f16 ones where `shader-f16` exists
      if (K % 4 === 0) {
        const w16 = uploadCompressed(gpu, 'bench.w16', 'f16', [N, K], new Uint8Array(Uint16Array.from(w, (v) => floatToF16Bits(v)).buffer));
        for (const name of matmulVariants(ks, K, 'f16')) await timeVariant(`f16 ${name}`, matmul(ks, `matmul ${name}`, xt, w16, yt, false, name));
        w16.destroy();
      }
      for (const t of [xt, wt, yt]) t.destroy();

      // gpu.js: x and W resident (uploaded once), the kernel's result read back as rows
      for (const mode of ['webgpu', 'webgl2'] as GpuJsMode[]) {
        const key = `gpujs-${mode}` as MatmulImpl;
        const g = gjs[mode];
        if (!g) {
          impls[key] = { skipped: gjsWhy[mode] };
          continue;
        }
        try {
          const xh = await g.upload2d(x, M, K);
          const wh = await g.upload2d(w, N, K);
          const kern = g.matmulKernel(M, N, K);
          let r: unknown;
          const tg = await timeIt(async () => void (r = await kern(xh.handle, wh.handle)), timing);
          impls[key] = { ms: tg.ms, reps: tg.reps, gflops: flops / tg.ms / 1e6, maxAbsDiff: maxAbsDiff(flatRows(r, M, N), ref) };
          kern.destroy?.();
        } catch (e) {
          impls[key] = { skipped: `failed: ${msg(e)}` };
        }
      }
      rows.push({ names: s.names, M, N, K, flops, impls, variants, chosen: d.kernel.name });
      env.log(
        `matmul ${s.names.join('/')} [${M}x${K}]x[${N}x${K}]^T: ` +
          MATMUL_IMPLS.map((k) => `${k} ${impls[k].gflops !== undefined ? impls[k].gflops!.toFixed(3) : '-'}`).join(', ') +
          ` GFLOP/s; kernels alone (${d.kernel.name} chosen): ` +
          Object.entries(variants).map(([k, v]) => `${k} ${v.kernelGflops?.toFixed(3) ?? '-'}`).join(', '),
      );
    }
  } finally {
    for (const g of Object.values(gjs)) await g.destroy();
  }
  const ratios: MatmulResult['ratios'] = {};
  for (const k of MATMUL_IMPLS) {
    if (k === 'ours') continue;
    const rs = rows.filter((r) => r.impls.ours.gflops && r.impls[k].gflops).map((r) => r.impls.ours.gflops! / r.impls[k].gflops!);
    if (rs.length) ratios[k] = geomean(rs);
  }
  return { rows, ratios };
}

/** Deterministic token ids in [1, vocab). */
function syntheticTokens(n: number, vocab: number, seed: number): Int32Array {
  const r = mulberry32(seed);
  return Int32Array.from({ length: n }, () => 1 + Math.floor(r() * (vocab - 1)));
}

const argmax = (xs: Float32Array, from = 0, n = xs.length - from): number => {
  let best = from;
  for (let i = from + 1; i < from + n; i++) if (xs[i] > xs[best]) best = i;
  return best - from;
};

/** Greedy decoding of one sequence with the KV cache (prefill 8 tokens, then 16 or 64 passes of T = 1). */
async function decodeScenario(env: BenchEnv, gpu: Gpu, file: LlamaModelFile, o: BenchOptions): Promise<DecodeResult> {
  const c = file.config;
  const P = Math.min(8, c.seqLen - 2);
  const N = Math.min(o.quick ? 16 : 64, c.seqLen - P - 1);
  const model = await Model.load(gpu, file);
  const cache = new KvCache(model, 1, P + N + 1);
  const prefill = new ForwardPass(model, { B: 1, T: P, nSelect: 1, cache });
  const step = new ForwardPass(model, { B: 1, T: 1, nSelect: 1, cache });
  const whole = new ForwardPass(model, { B: 1, T: P + N, nSelect: P + N });
  try {
    const tokens = Array.from(syntheticTokens(P, c.vocabSize, o.seed + 11));
    let next = argmax(await prefill.run(tokens, [P - 1], 0));
    await step.run([next], [0], P); // warm-up (compiles the T = 1 pipelines); the timed loop rewrites position P
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      tokens.push(next);
      next = argmax(await step.run([next], [0], P + i));
    }
    const ms = performance.now() - t0;
    const logits = await whole.run(tokens, tokens.map((_, i) => i));
    let agrees = true;
    for (let i = P; i < P + N; i++) agrees &&= argmax(logits, (i - 1) * c.vocabSize, c.vocabSize) === tokens[i];
    const res = { prompt: P, tokens: N, ms, tokensPerSec: (N * 1000) / ms, agrees };
    env.log(`decode: ${res.tokensPerSec.toFixed(1)} tokens/s (${N} greedy tokens after a ${P}-token prefill, batch 1)${agrees ? '' : '; DISAGREES with the uncached pass'}`);
    return res;
  } finally {
    for (const f of [prefill, step, whole]) f.destroy();
    cache.destroy();
    model.destroy();
  }
}

async function forwardScenario(env: BenchEnv, gpu: Gpu, file: LlamaModelFile, o: BenchOptions): Promise<ForwardResult> {
  const model = await Model.load(gpu, file);
  const B = o.batch;
  const T = o.seq;
  const rows = B * T;
  const tokens = syntheticTokens(rows, file.config.vocabSize, o.seed + 7);
  const sel = Array.from({ length: rows }, (_, i) => i);
  const timing = { minMs: o.minMs, minReps: o.quick ? 2 : 3, maxReps: 20 };
  const fwd = new ForwardPass(model, { B, T, nSelect: rows });
  let ours: Float32Array = new Float32Array(0);
  let res: ForwardResult;
  try {
    const t = await timeIt(async () => void (ours = await fwd.run(tokens, sel)), timing);
    const prof = await new Profiler(gpu).profile(fwd.program, { findings: false });
    res = { B, T, tokens: rows, ours: { ms: t.ms, reps: t.reps, tokensPerSec: (rows * 1000) / t.ms, kernelMs: prof.totalNs / 1e6 }, gpujs: {} };
  } finally {
    fwd.destroy();
    model.destroy();
  }
  const why = env.gpujs ? await env.gpujsModeWhy('webgpu') : env.gpujsWhy ?? 'gpu.js not loaded';
  if (why) res.gpujs = { skipped: why };
  else {
    const g = new GpuJs(env.gpujs!, 'webgpu');
    try {
      const t0 = performance.now();
      const llama = await GpuJsLlama.create(g, file, B, T);
      let theirs: Float32Array = new Float32Array(0);
      await llama.forward(tokens); // compiles every kernel
      const buildMs = performance.now() - t0;
      const t = await timeIt(async () => void (theirs = await llama.forward(tokens)), { ...timing, warmup: 0 });
      const d = maxAbsDiff(ours, theirs);
      const maxAbsLogit = ours.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      res.gpujs = { ms: t.ms, reps: t.reps, tokensPerSec: (rows * 1000) / t.ms, buildMs, maxAbsDiff: d, maxAbsLogit, ok: d <= 1e-3 };
      res.ratio = res.ours.tokensPerSec / res.gpujs.tokensPerSec!;
      llama.destroy();
    } catch (e) {
      res.gpujs = { skipped: `failed: ${msg(e)}` };
    } finally {
      await g.destroy();
    }
  }
  const gj = res.gpujs;
  env.log(
    `forward [${B}x${T}]: ours ${res.ours.tokensPerSec.toFixed(0)} tok/s` +
      (gj.skipped ? `; gpu.js skipped: ${gj.skipped}` : `, gpu.js ${gj.tokensPerSec!.toFixed(0)} tok/s (x${res.ratio!.toFixed(2)}), logits max |diff| ${gj.maxAbsDiff!.toExponential(2)}`),
  );
  return res;
}

/** A batch of `batch` sequences: synthetic tokens, labels = the next token (last one ignored). */
export function syntheticBatch(batch: number, seq: number, vocab: number, seed: number): TokenBatch {
  const tokens = syntheticTokens(batch * seq, vocab, seed);
  const labels = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) labels[b * seq + t] = t + 1 < seq ? tokens[b * seq + t + 1] : -100;
  }
  return { tokens, labels };
}

async function zoScenario(env: BenchEnv, gpu: Gpu, file: LlamaModelFile, o: BenchOptions): Promise<ZoResult> {
  const model = await Model.load(gpu, file);
  const { batch, seq, reps } = o;
  const lcfg = { rank: o.rank, alpha: 2 * o.rank, targets: o.targets };
  const res: ZoResult = { batch, seq, rank: o.rank, targets: o.targets, reps, rows: [] };
  try {
    let last = { q: 0, ms: 0 }; // the previous row: its time scaled by q predicts the next one
    for (const q of o.qs) {
      const left = o.deadline === undefined ? Infinity : o.deadline - Date.now();
      const need = last.q ? (last.ms * q) / last.q : 0;
      if (left <= 0 || need > left) {
        res.rows.push({ q, skipped: `not run: about ${(need / 1000).toFixed(0)} s needed, ${(Math.max(0, left) / 1000).toFixed(0)} s left of the time limit` });
        env.log(`zo q=${q}: ${res.rows.at(-1)!.skipped}`);
        continue;
      }
      const rowStart = Date.now();
      const scheds: Partial<Record<ZoMode, ZoScheduler>> = {};
      const held: Partial<Record<ZoMode, number>> = {};
      let fwd: LossForward | null = null;
      try {
        for (const mode of ZO_MODES) {
          const before = gpu.ledger.totalBytes();
          const lora = LoraState.create(gpu, model.config, lcfg, 0);
          try {
            scheds[mode] = new ZoScheduler(model, lora, { mode, q, eps: 1e-2, lr: 1e-3, batch, seq, seed: 0 });
          } catch (e) {
            lora.destroy();
            throw e;
          }
          held[mode] = gpu.ledger.totalBytes() - before;
        }
        const rows = 2 * q * batch;
        fwd = new LossForward(model, q, batch, seq); // inference + the step's loss head and readback
        const samples: Record<ZoMode | 'forward', number[]> = { mezo: [], outer: [], prge: [], forward: [] };
        // modes interleaved per repetition, so machine noise hits all alike; r = 0 is the warm-up
        for (let r = 0; r <= reps; r++) {
          const b = syntheticBatch(batch, seq, model.config.vocabSize, o.seed + r);
          for (const mode of ZO_MODES) {
            const t0 = performance.now();
            await scheds[mode]!.step(r, b);
            if (r > 0) samples[mode].push(performance.now() - t0);
          }
          const t0 = performance.now();
          await fwd.run(b);
          if (r > 0) samples.forward.push(performance.now() - t0);
        }
        gpu.throwIfFailed(`ZO q=${q}`);
        const modes = Object.fromEntries(
          ZO_MODES.map((m) => [m, { ms: median(samples[m]), samples: samples[m], submits: scheds[m]!.submitsLastStep, heldBytes: held[m]! }]),
        ) as Record<ZoMode, ModeTiming>;
        const fms = median(samples.forward);
        const row: ZoRow = {
          q,
          modes,
          forward: { ms: fms, rows },
          speedup: { outer: modes.mezo.ms / modes.outer.ms, prge: modes.mezo.ms / modes.prge.ms },
          overhead: modes.prge.ms / fms,
        };
        res.rows.push(row);
        last = { q, ms: Date.now() - rowStart };
        env.log(
          `zo q=${q}: mezo ${modes.mezo.ms.toFixed(0)} ms, outer ${modes.outer.ms.toFixed(0)} ms, prge ${modes.prge.ms.toFixed(0)} ms ` +
            `(x${row.speedup!.prge.toFixed(2)} vs mezo), forward + loss head [${rows}x${seq}] ${fms.toFixed(0)} ms (overhead ${row.overhead!.toFixed(2)})`,
        );
      } catch (e) {
        res.rows.push({ q, skipped: msg(e) });
        env.log(`zo q=${q}: skipped: ${msg(e)}`);
      } finally {
        for (const s of Object.values(scheds)) (s.destroy(), s.lora.destroy());
        fwd?.destroy();
      }
    }
  } finally {
    model.destroy();
  }
  return res;
}
