// The stages of the GPU run, run by bench/device.sh with the device pack's own Node (this file is
// bundled into .devpack by scripts/device_pack.mjs; under tsx it runs as well). Each stage is one
// process under its own time limit and writes its JSON as it goes, so a stage cut short still
// reports what it measured:
//   plan OUT.json [--cpu] [--presets A,B] [--matmul-presets A,B] [--matmul-m 256,2048] [--qs 1,2,4]
//        [--batch 4] [--seq 64] [--reps 2] [--rank 16] [--real-size MODEL,...|none]
//                                what every stage (and bench/torch_peer.py) runs: shapes and sizes;
//                                prints the presets' names (device.sh runs a bench stage for each)
//   probe PLAN OUT.json          the Dawn adapter through the Vulkan driver device.sh chose: features,
//                                limits, fp32 peak. Exit 0: a GPU (or any adapter with DEVICE_ALLOW_CPU=1), 2: none
//   matmul PLAN OUT.json         every f32 / f16 matmul kernel on the model shapes (bench/device_matmul.ts)
//   bench PLAN OUT.json --preset P   forward, decode, and mezo / outer / prge per q (bench/scenarios.ts), merged into OUT
//   real-size PLAN OUT.json      SmolLM2-135M / Qwen2.5-0.5B / Llama-3.2-1B shapes in Q4_K_M (bench/real_size.ts)
//   profile PLAN OUT.json        every dispatch of one prge step per preset timed (bench/profile_step.ts),
//                                the kernels' shares added to OUT (bench.json) as `profiles`
//   summary DIR [STAGES.tsv]     DIR/summary.md from the stages' files (bench/device_summary.ts)
// --deadline-s N (or DEVICE_DEADLINE_S, which device.sh sets): seconds a measuring stage may take;
// what would not fit is skipped and named. Env: MOBIZO_ASSETS (the pack's assets: stories260K), DEVICE_ICD, DEVICE_ICD_FROM,
// DEVICE_ICD_LIBRARY, DEVICE_LOADER, DEVICE_NVIDIA_SMI (the driver as device.sh found it, for the
// probe's record), DEVICE_FP32_PEAK_GFLOPS (a peak for a GPU the table lacks).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createGpu, dawnGpu, type Gpu } from '../src/gpu/device';
import { isCpuAdapter } from '../src/gpu/autotune';
import type { LlamaConfig } from '../src/formats/config';
import { PRESETS, isPreset, randomPreset, type PresetName } from './presets';
import { parseLlama2c } from '../src/formats/llama2c';
import { profileStep } from './profile_step';
import { deviceInfo, SCHEMA, type BenchReport } from './report';
import { benchDefaults, linearShapes, runBench, type BenchEnv, type BenchOptions } from './scenarios';
import { fp32Peak, matmulStage, type Peak } from './device_matmul';
import { measure, REAL_MODELS, type RealSizeRow, type Shape } from './real_size';
import { writeSummary } from './device_summary';

/** What the run measures; written once by `plan`, read by every stage and by bench/torch_peer.py. */
export interface DevicePlan {
  cpu: boolean; // a rehearsal on a CPU driver (DEVICE_ALLOW_CPU=1)
  presets: { name: PresetName; config: LlamaConfig; weights: 'checkpoint' | 'random' }[];
  matmul: { presets: PresetName[]; M: number[]; shapes: { preset: PresetName; names: string[]; N: number; K: number }[] };
  zo: { qs: number[]; batch: number; seq: number; reps: number; rank: number; targets: string[]; eps: number; lr: number };
  realSize: { models: string[]; layout: 'q4_k_m'; shapes: Record<string, Shape> };
}

/** The rehearsal's real-size row: a tiny Llama in the same Q4_K_M layouts (Q4_K rows of 256, Q6_K head). */
export const REHEARSAL_SHAPE: Shape = { dim: 256, hidden: 512, layers: 2, heads: 4, kv: 2, vocab: 1024, theta: 10000 };

const GPU_DEFAULTS = { presets: 'stories15M,tinyllama', matmulPresets: 'stories15M,tinyllama', matmulM: '256,2048', qs: '1,2,4,8,16', batch: 4, seq: 64, reps: 2, realSize: 'smollm2-135m,qwen2.5-0.5b,llama-3.2-1b' };
const CPU_DEFAULTS = { presets: 'stories260K', matmulPresets: 'stories260K', matmulM: '32', qs: '1,2', batch: 2, seq: 16, reps: 2, realSize: 'rehearsal-tiny' };

function ints(flag: string, s: string): number[] {
  const v = s.split(',').map(Number);
  if (!v.length || v.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--${flag} ${s}: positive integers, comma-separated`);
  return v;
}

function presetNames(flag: string, s: string): PresetName[] {
  const names = s.split(',').filter(Boolean);
  for (const n of names) if (!isPreset(n)) throw new Error(`--${flag} ${n}: one of ${Object.keys(PRESETS).join(', ')}`);
  return names as PresetName[];
}

export function makePlan(args: Record<string, string | boolean | undefined>): DevicePlan {
  const cpu = !!args.cpu;
  const d = cpu ? CPU_DEFAULTS : GPU_DEFAULTS;
  const str = (k: string, def: string | number) => String((args[k] as string | undefined) ?? def);
  const presets = presetNames('presets', str('presets', d.presets));
  const mmPresets = presetNames('matmul-presets', str('matmul-presets', d.matmulPresets));
  const models = str('real-size', d.realSize) === 'none' ? [] : str('real-size', d.realSize).split(',');
  const shapes: Record<string, Shape> = {};
  for (const m of models) {
    const s = m === 'rehearsal-tiny' ? REHEARSAL_SHAPE : REAL_MODELS[m];
    if (!s) throw new Error(`--real-size ${m}: one of ${[...Object.keys(REAL_MODELS), 'rehearsal-tiny', 'none'].join(', ')}`);
    shapes[m] = s;
  }
  const one = (k: string, def: number) => ints(k, str(k, def))[0];
  return {
    cpu,
    presets: presets.map((name) => ({ name, config: PRESETS[name].config, weights: PRESETS[name].checkpoint ? 'checkpoint' : 'random' })),
    matmul: {
      presets: mmPresets,
      M: ints('matmul-m', str('matmul-m', d.matmulM)),
      shapes: mmPresets.flatMap((preset) => linearShapes(PRESETS[preset].config).map((s) => ({ preset, ...s }))),
    },
    zo: { qs: ints('qs', str('qs', d.qs)), batch: one('batch', d.batch), seq: one('seq', d.seq), reps: one('reps', d.reps), rank: one('rank', 16), targets: ['q', 'v'], eps: 1e-2, lr: 1e-3 },
    realSize: { models, layout: 'q4_k_m', shapes },
  };
}

const readJson = <T>(f: string): T => JSON.parse(fs.readFileSync(f, 'utf8')) as T;
const writeJson = (f: string, v: unknown) => fs.writeFileSync(f, `${JSON.stringify(v, null, 1)}\n`);
const log = (s: string) => process.stderr.write(`  ${s}\n`);

/** A device of the engine on Dawn: WebGPU always (the WASM backend is a CPU path; on SwiftShader the rehearsal runs the same WGSL kernels as the GPU). */
export async function deviceGpu(): Promise<Gpu> {
  return createGpu({ gpu: await dawnGpu(), backend: 'webgpu' });
}

/** Every numeric limit of a GPUSupportedLimits (Dawn's are getters on the prototype). */
function allLimits(l: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  const o = l as unknown as Record<string, unknown>;
  for (let p: object | null = l; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) if (typeof o[k] === 'number') out[k] = o[k] as number;
  }
  return out;
}

export interface ProbeResult {
  ok: boolean;
  why?: string;
  driver: { icd: string | null; icdFrom: string | null; icdLibrary: string | null; loader: string | null; ldLibraryPath: string | null; vkDriverFiles: string | null };
  nvidiaSmi: string | null;
  adapter?: { vendor: string; architecture: string; device: string; description: string; info: string; cpu: boolean; subgroupSizes?: string };
  features?: string[]; // the adapter's
  limits?: Record<string, number>; // the adapter's
  device?: ReturnType<typeof deviceInfo>; // what the engine requested and got
  peak?: Peak | null;
}

async function probe(plan: DevicePlan, out: string): Promise<number> {
  const env = (k: string) => process.env[k] || null;
  const r: ProbeResult = {
    ok: false,
    driver: { icd: env('DEVICE_ICD'), icdFrom: env('DEVICE_ICD_FROM'), icdLibrary: env('DEVICE_ICD_LIBRARY'), loader: env('DEVICE_LOADER'), ldLibraryPath: env('LD_LIBRARY_PATH'), vkDriverFiles: env('VK_DRIVER_FILES') },
    nvidiaSmi: env('DEVICE_NVIDIA_SMI'),
  };
  try {
    const api = await dawnGpu();
    const adapter = await api.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('Dawn found no WebGPU adapter (no Vulkan driver answered through the loader)');
    const i = adapter.info;
    const features = [...adapter.features].map(String).sort();
    r.features = features;
    r.limits = allLimits(adapter.limits);
    const gpu = await deviceGpu();
    const cpu = isCpuAdapter(gpu);
    const sg = i as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    const subgroupSizes = sg.subgroupMinSize ? `${sg.subgroupMinSize}..${sg.subgroupMaxSize}` : undefined;
    r.adapter = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, info: gpu.adapterInfo, cpu, subgroupSizes };
    r.device = deviceInfo(gpu);
    gpu.device.destroy();
    r.peak = fp32Peak([i.description, i.device, r.nvidiaSmi ?? undefined], Number(process.env.DEVICE_FP32_PEAK_GFLOPS) || undefined);
    const want = ['shader-f16', 'subgroups', 'timestamp-query'].map((f) => `${f} ${features.includes(f) ? 'yes' : 'NO'}`).join(', ');
    console.log(`Dawn adapter: ${gpu.adapterInfo}${cpu ? '  <- a CPU driver, not a GPU' : ''}`);
    console.log(`  features: ${want}; all: ${features.join(', ') || 'none'}`);
    console.log(`  limits: maxStorageBufferBindingSize ${r.limits.maxStorageBufferBindingSize}, maxBufferSize ${r.limits.maxBufferSize}, maxComputeWorkgroupStorageSize ${r.limits.maxComputeWorkgroupStorageSize}, maxComputeInvocationsPerWorkgroup ${r.limits.maxComputeInvocationsPerWorkgroup}`);
    console.log(`  fp32 peak: ${r.peak ? `${(r.peak.gflops / 1000).toFixed(1)} TFLOP/s (${r.peak.source})` : 'unknown for this adapter (DEVICE_FP32_PEAK_GFLOPS sets one)'}`);
    r.ok = !cpu || plan.cpu;
    if (!r.ok) r.why = `the adapter is a CPU driver (${gpu.adapterInfo}), not a GPU (DEVICE_ALLOW_CPU=1 rehearses on it)`;
  } catch (e) {
    r.why = (e as Error).message;
    console.log(`Dawn: no adapter: ${r.why}`);
  }
  writeJson(out, r);
  return r.ok ? 0 : 2;
}

/** The bench's environment in the pack: Dawn only (gpu.js is not carried: the PyTorch peer is the GPU comparison). */
function deviceBenchEnv(): BenchEnv {
  const why = 'gpu.js is not in the device pack (bench/torch_peer.py is the comparison on the GPU)';
  return {
    runtime: 'node',
    createGpu: deviceGpu,
    gpujs: null,
    gpujsWhy: why,
    gpujsModeWhy: async () => why,
    readAsset: async (p) => readAsset(p),
    log,
  };
}

async function benchStage(plan: DevicePlan, out: string, preset: string, deadline: number): Promise<number> {
  if (!plan.presets.some((p) => p.name === preset)) throw new Error(`--preset ${preset}: not in the plan (${plan.presets.map((p) => p.name).join(', ')})`);
  const o: BenchOptions = {
    ...benchDefaults(false),
    presets: [preset as PresetName],
    scenarios: ['forward', 'zo', 'decode'],
    qs: plan.zo.qs,
    batch: plan.zo.batch,
    seq: plan.zo.seq,
    reps: plan.zo.reps,
    rank: plan.zo.rank,
    minMs: plan.cpu ? 0 : 200,
    maxWeightMiB: 16384,
    deadline,
  };
  const probeGpu = await deviceGpu();
  const adapter = deviceInfo(probeGpu);
  probeGpu.device.destroy();
  const t0 = performance.now();
  const presets = await runBench(deviceBenchEnv(), o);
  const prev: DeviceBench | null = fs.existsSync(out) ? readJson<DeviceBench>(out) : null;
  const report: DeviceBench = {
    ...prev,
    schema: SCHEMA,
    startedAt: prev?.startedAt ?? new Date().toISOString(),
    wallMs: (prev?.wallMs ?? 0) + (performance.now() - t0),
    runtime: 'node',
    adapter,
    options: { ...o, presets: [...(prev?.options?.presets ?? []).filter((p) => p !== preset), preset as PresetName] },
    presets: [...(prev?.presets ?? []).filter((p) => p.preset !== preset), ...presets],
  };
  writeJson(out, report);
  return presets.some((p) => Object.values(p.errors).some((e) => !e?.startsWith('not run'))) ? 1 : 0;
}

/** One prge step's kernels, as the profile stage keeps them (bench.json `profiles`). */
export interface StepProfile {
  q: number;
  batch: number;
  seq: number;
  wallMs: number;
  method: 'timestamp' | 'host';
  totalMs: number;
  dispatches: number;
  kernels: { kernel: string; dispatches: number; ms: number; share: number; gflops?: number; gbps?: number }[];
}

export type DeviceBench = BenchReport & { profiles?: Record<string, StepProfile | { skipped: string }> };

function readAsset(p: string): Uint8Array {
  const assets = process.env.MOBIZO_ASSETS ?? path.join(process.cwd(), '..', 'shared', 'assets');
  return new Uint8Array(fs.readFileSync(path.join(assets, p)));
}

async function profileStage(plan: DevicePlan, out: string, deadline: number): Promise<number> {
  const r = (fs.existsSync(out) ? readJson<DeviceBench>(out) : { presets: [] }) as DeviceBench;
  r.profiles ??= {};
  const q = Math.min(4, Math.max(...plan.zo.qs));
  for (const p of plan.presets) {
    if (Date.now() >= deadline) {
      r.profiles[p.name] = { skipped: 'not run: the time limit was reached' };
      continue;
    }
    const checkpoint = PRESETS[p.name].checkpoint;
    const file = checkpoint ? parseLlama2c(readAsset(checkpoint), checkpoint) : randomPreset(p.name, 1234); // runBench's weights
    const gpu = await deviceGpu();
    try {
      const o = { preset: p.name, q, batch: plan.zo.batch, seq: plan.zo.seq, rank: plan.zo.rank, targets: ['q', 'v'] as ('q' | 'v')[], repeats: 3, seed: 0 };
      const rep = await profileStep(gpu, file, p.weights, o, 'node');
      r.profiles[p.name] = {
        q,
        batch: o.batch,
        seq: o.seq,
        wallMs: rep.step.wallMs,
        method: rep.profile.method,
        totalMs: rep.profile.totalNs / 1e6,
        dispatches: rep.profile.dispatches.length,
        kernels: rep.profile.kernels.map((k) => ({ kernel: k.kernel, dispatches: k.dispatches, ms: k.ns / 1e6, share: k.share, gflops: k.gflops, gbps: k.gbps })),
      };
      log(`profile ${p.name} prge q=${q}: ${(rep.profile.totalNs / 1e6).toFixed(2)} ms of kernels in ${rep.profile.dispatches.length} dispatches (step ${rep.step.wallMs.toFixed(1)} ms); ${rep.profile.kernels.slice(0, 4).map((k) => `${k.kernel} ${(100 * k.share).toFixed(1)}%`).join(', ')}`);
    } catch (e) {
      r.profiles[p.name] = { skipped: `failed: ${(e as Error).message.split('\n')[0]}` };
    } finally {
      gpu.device.destroy();
    }
    writeJson(out, r);
  }
  writeJson(out, r);
  return Object.values(r.profiles).some((x) => 'skipped' in x && x.skipped.startsWith('failed')) ? 1 : 0;
}

export interface RealSizeStage {
  rows: RealSizeRow[];
  failed: { model: string; error: string }[];
  notRun: string[];
}

async function realSizeStage(plan: DevicePlan, out: string, deadline: number): Promise<number> {
  const r: RealSizeStage = { rows: [], failed: [], notRun: [] };
  writeJson(out, r);
  for (const m of plan.realSize.models) {
    if (Date.now() >= deadline) {
      r.notRun.push(m);
      continue;
    }
    try {
      const row = await measure(m, plan.realSize.layout, { shape: plan.realSize.shapes[m], createGpu: deviceGpu });
      r.rows.push(row);
      log(`real size ${m} ${row.layout}: prge ${row.prgeMsPerStep} ms/step, ledger peak ${row.ledgerPeakMiB} MiB, decode ${row.decodeTokensPerS} tokens/s`);
    } catch (e) {
      r.failed.push({ model: m, error: (e as Error).message.split('\n')[0] });
      log(`real size ${m}: failed: ${(e as Error).message.split('\n')[0]}`);
    }
    writeJson(out, r);
  }
  return r.failed.length ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const { values: v, positionals: pos } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      cpu: { type: 'boolean' },
      presets: { type: 'string' },
      'matmul-presets': { type: 'string' },
      'matmul-m': { type: 'string' },
      qs: { type: 'string' },
      batch: { type: 'string' },
      seq: { type: 'string' },
      reps: { type: 'string' },
      rank: { type: 'string' },
      'real-size': { type: 'string' },
      preset: { type: 'string' },
      'deadline-s': { type: 'string' },
    },
  });
  const deadline = Date.now() + 1000 * Number(v['deadline-s'] ?? process.env.DEVICE_DEADLINE_S ?? 3600);
  if (cmd === 'plan' && pos[0]) {
    const plan = makePlan(v);
    writeJson(pos[0], plan);
    console.log(plan.presets.map((p) => p.name).join(',')); // device.sh runs one bench stage per preset
    return 0;
  }
  if (cmd === 'summary' && pos[0]) {
    writeSummary(pos[0], pos[1]);
    return 0;
  }
  const [planFile, out] = pos;
  if (!planFile || !out) {
    console.error('usage: device.mjs plan OUT.json [...] | probe|matmul|bench|real-size|profile PLAN.json OUT.json [--preset P] [--deadline-s N] | summary DIR [STAGES.tsv]');
    return 64;
  }
  const plan = readJson<DevicePlan>(planFile);
  if (cmd === 'probe') return probe(plan, out);
  if (cmd === 'bench') return benchStage(plan, out, v.preset ?? '', deadline);
  if (cmd === 'real-size') return realSizeStage(plan, out, deadline);
  if (cmd === 'profile') return profileStage(plan, out, deadline);
  if (cmd === 'matmul') {
    const probeFile = path.join(path.dirname(out), 'probe.json');
    const peak = fs.existsSync(probeFile) ? (readJson<ProbeResult>(probeFile).peak ?? null) : null;
    const gpu = await deviceGpu();
    const presets = plan.matmul.presets.map((name) => ({ name, config: PRESETS[name].config }));
    const r = await matmulStage(gpu, presets, plan.matmul.M, { peak, deadline, log, onRow: (s) => writeJson(out, s) });
    writeJson(out, r);
    gpu.device.destroy();
    return Object.values(r.rows).some((row) => Object.values(row.variants).some((x) => !x.ok)) ? 1 : 0;
  }
  console.error(`device.mjs: unknown stage ${cmd}`);
  return 64;
}

// run as a program (js/device.mjs in the pack, or bench/device.ts under tsx), not when imported by a spec
if (/device\.(ts|mjs)$/.test(process.argv[1] ?? '')) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (e) {
    console.error(`device.mjs ${process.argv[2] ?? ''}: ${process.env.MOBIZO_DEBUG ? (e as Error).stack : (e as Error).message}`);
    process.exitCode = 1;
  }
  // Dawn keeps the event loop alive; leave once the work is done.
  process.exit(process.exitCode);
}
