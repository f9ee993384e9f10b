// The CPU backend (WebAssembly SIMD, src/gpu/cpu/) beside SwiftShader (the WGSL kernels on Dawn's
// CPU Vulkan driver) in one run, on the same model and batch:
//   prge step   q 2, Bsz 1, T 64 (2q x Bsz x T = 256 rows), LoRA rank 8 on q,v: ms per step (median
//               of --steps after one untimed step), WASM on each --threads, SwiftShader one step
//   memory      the WASM memory (every buffer + per-thread scratch + the module's data; it never
//               shrinks, so it is the run's peak) beside the WebGPU ledger's peak for the same work
//   forward     a prefill of --tokens tokens (one pass, the last row's logits): tokens/s on WASM and
//               in llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU binary, the same GGUF file)
//   torch       (--torch PYTHON) PyTorch CPU's prge step on the same shape (bench/torch_peer.py)
// Models: stories260K (the bundled llama2.c checkpoint, f32; its forward row uses a Q8_0 GGUF of
// it) and the SmolLM2-135M shape with random weights as F16 and Q4_K_M GGUFs (bench/real_size.ts).
//   node bin/with-gpu.js node --import tsx --import ./scripts/register-wgsl.mjs bench/wasm_step.ts \
//     [--models stories260k,smollm2-135m] [--layouts q4_k_m,f16] [--threads 1,2] [--steps 3]
//     [--tokens 128] [--no-swiftshader] [--no-llamacpp] [--torch /tmp/V/bin/python]
// Writes bench/results/wasm_step.json and prints a markdown table; the load average is printed
// before and after (the machine is shared: compare rows of one run).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { LoraState } from '../src/adapter/lora';
import type { TokenBatch } from '../src/data/batch';
import type { LlamaModelFile } from '../src/formats/config';
import { parseGguf, type GgufValue } from '../src/formats/gguf';
import { ggufToModelFile } from '../src/formats/gguf_model';
import { llama2cTokenizerMetadata, quantizeModelGguf } from '../src/formats/gguf_writer';
import type { CpuDevice } from '../src/gpu/cpu/device';
import { createGpu, type Gpu } from '../src/gpu/device';
import { ForwardPass } from '../src/model/forward';
import { Model } from '../src/model/model';
import { ZoScheduler } from '../src/train/scheduler';
import { stories260K } from './assets';
import { REAL_MODELS, realSizeGguf, type Layout } from './real_size';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const flag = (name: string) => process.argv.includes(`--${name}`);
const models = arg('models', 'stories260k,smollm2-135m').split(',');
const layouts = arg('layouts', 'q4_k_m,f16').split(',') as Layout[];
const threadList = arg('threads', '1,2').split(',').map(Number);
const steps = Number(arg('steps', '3'));
const tokens = Number(arg('tokens', '128'));
const torchPython = arg('torch', '');
const [q, T] = [2, 64];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MiB = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const load = () => os.loadavg().map((v) => v.toFixed(2)).join(' ');

interface Case {
  model: string;
  layout: string; // f32 (llama2.c), f16, q4_k_m
  file: () => LlamaModelFile & { rawTensors?: ReturnType<typeof ggufToModelFile>['rawTensors'] };
  gguf: () => Uint8Array; // the forward comparison's file
}

interface StepRow {
  backend: string; // wasm 1t, wasm 2t, swiftshader
  msPerStep: number;
  ledgerPeakMiB: number;
  wasmMemoryMiB?: number;
  loss: number;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const m of models) {
    if (m === 'stories260k') {
      const { file, tok } = stories260K();
      out.push({ model: m, layout: 'f32', file: () => file, gguf: () => quantizeModelGguf({ model: file, metadata: llama2cTokenizerMetadata(tok) }, 'Q8_0') });
      continue;
    }
    const shape = REAL_MODELS[m];
    if (!shape) throw new Error(`--models: no shape ${m} (stories260k, ${Object.keys(REAL_MODELS).join(', ')})`);
    for (const layout of layouts) {
      let bytes: Uint8Array | null = null;
      const gguf = () => (bytes ??= realSizeGguf(shape, layout, syntheticTokenizer(shape.vocab)));
      out.push({ model: m, layout, gguf, file: () => ggufToModelFile(parseGguf(gguf(), `${m}-${layout}.gguf`), gguf(), `${m}-${layout}.gguf`) });
    }
  }
  return out;
}

/** A SentencePiece-style vocabulary of `n` placeholder pieces (llama.cpp loads no GGUF without one; the bench feeds token ids). */
function syntheticTokenizer(n: number): Map<string, GgufValue> {
  const pieces = Array.from({ length: n }, (_, i) => new TextEncoder().encode(i >= 3 && i < 259 ? `<0x${(i - 3).toString(16).toUpperCase().padStart(2, '0')}>` : `t${i}`));
  return llama2cTokenizerMetadata({ vocabSize: n, pieces, scores: new Float32Array(n) });
}

function batchOf(n: number, vocab: number): TokenBatch {
  return {
    tokens: Int32Array.from({ length: n }, (_, i) => (i * 104729 + 3) % vocab),
    labels: Int32Array.from({ length: n }, (_, i) => (i < n - 1 ? ((i + 1) * 104729 + 3) % vocab : -100)),
  };
}

/** prge steps on a fresh device: `timed` steps after an untimed one (at T 8 when only one is timed: SwiftShader). */
async function stepRow(c: Case, gpu: Gpu, backend: string, timed: number): Promise<StepRow> {
  const file = c.file();
  const model = await Model.load(gpu, file, file.rawTensors);
  const lo = { rank: 8, alpha: 16, targets: ['q', 'v'] as ('q' | 'v')[] };
  const lora = LoraState.upload(gpu, file.config, lo, LoraState.initHost(file.config, lo, 1));
  const V = file.config.vocabSize;
  const zo = (seq: number) => new ZoScheduler(model, lora, { mode: 'prge', q, eps: 1e-3, lr: 1e-4, batch: 1, seq, seed: 1 });
  const warmT = timed > 1 ? T : 8;
  if (warmT !== T) {
    const w = zo(warmT);
    await w.step(0, batchOf(warmT, V));
    w.destroy();
  }
  const sched = zo(T);
  if (warmT === T) await sched.step(0, batchOf(T, V));
  const ms: number[] = [];
  let loss = 0;
  for (let k = 1; k <= timed; k++) {
    const t0 = performance.now();
    loss = (await sched.step(k, batchOf(T, V))).slotLosses[0];
    ms.push(performance.now() - t0);
  }
  gpu.throwIfFailed(`${c.model} ${c.layout} ${backend}`);
  const heap = gpu.backend === 'wasm' ? (gpu.device as unknown as CpuDevice).heap : null;
  const row: StepRow = { backend, msPerStep: Math.round(median(ms)), ledgerPeakMiB: MiB(gpu.ledger.report().peakTotal), loss };
  if (heap) row.wasmMemoryMiB = MiB(heap.size);
  sched.destroy();
  lora.destroy();
  model.destroy();
  gpu.device.destroy();
  console.error(`  ${c.model} ${c.layout} ${backend}: ${row.msPerStep} ms/step, ledger peak ${row.ledgerPeakMiB} MiB${heap ? `, WASM memory ${row.wasmMemoryMiB} MiB` : ''} (load ${load()})`);
  return row;
}

/** Prefill tokens/s: ours (WASM, the last --threads) and llama.cpp (as many threads) on the same GGUF. */
async function forwardRow(c: Case, threads: number): Promise<{ oursTokS: number; llamaTokS: number | null }> {
  const bytes = c.gguf();
  const mf = ggufToModelFile(parseGguf(bytes, 'f.gguf'), bytes, 'f.gguf');
  const V = mf.config.vocabSize;
  const toks = Array.from({ length: tokens }, (_, i) => (i === 0 ? 1 : 3 + ((i * 7919) % (V - 3))));
  const gpu = await createGpu({ backend: 'wasm', threads });
  const model = await Model.load(gpu, mf, mf.rawTensors);
  const pass = new ForwardPass(model, { B: 1, T: tokens, nSelect: 1 });
  const ours: number[] = [];
  for (let k = 0; k <= 3; k++) {
    const t0 = performance.now();
    await pass.run(toks, [tokens - 1]);
    if (k > 0) ours.push(performance.now() - t0);
  }
  pass.destroy();
  model.destroy();
  gpu.device.destroy();
  let llamaTokS: number | null = null;
  if (!flag('no-llamacpp')) {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'mobizo-wasm-step-'));
    try {
      const f = path.join(tmp, 'model.gguf');
      writeFileSync(f, bytes);
      const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
      const lm = await llama.loadModel({ modelPath: f });
      const ctx = await lm.createContext({ contextSize: Math.max(tokens, 64), batchSize: tokens, threads });
      const seq = ctx.getSequence();
      const lc: number[] = [];
      for (let k = 0; k <= 3; k++) {
        await seq.clearHistory();
        const t0 = performance.now();
        await seq.evaluateWithoutGeneratingNewTokens(toks as Token[]);
        if (k > 0) lc.push(performance.now() - t0);
      }
      await ctx.dispose();
      await lm.dispose();
      await llama.dispose();
      llamaTokS = Math.round((tokens * 1000) / median(lc));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { oursTokS: Math.round((tokens * 1000) / median(ours)), llamaTokS };
}

/** PyTorch CPU's prge step (bench/torch_peer.py) on the case's config, or null. */
function torchRow(c: Case): number | null {
  if (!torchPython || !existsSync(torchPython)) return null;
  const cfg = c.file().config;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mobizo-torch-'));
  try {
    const config = { dim: cfg.dim, headDim: cfg.headDim, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, hiddenDim: cfg.hiddenDim, vocabSize: cfg.vocabSize, sharedClassifier: cfg.sharedClassifier, nLayers: cfg.nLayers, ropeTheta: cfg.ropeTheta, normEps: cfg.normEps };
    const plan = { presets: [{ name: c.model, config }], zo: { qs: [q], batch: 1, seq: T, rank: 8, targets: ['q', 'v'], reps: steps, eps: 1e-3, lr: 1e-4 }, matmul: { shapes: [], M: [] } };
    writeFileSync(path.join(tmp, 'plan.json'), JSON.stringify(plan));
    execFileSync(torchPython, [path.join(import.meta.dirname, 'torch_peer.py'), path.join(tmp, 'plan.json'), path.join(tmp, 'out.json')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, OMP_NUM_THREADS: String(Math.max(...threadList)) } });
    const out = JSON.parse(readFileSync(path.join(tmp, 'out.json'), 'utf8'));
    return Math.round(out.presets[0].zo[0].prgeMs);
  } catch (e) {
    console.error(`  torch: ${(e as Error).message.split('\n')[0]}`);
    return null;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

console.error(`wasm_step: load average ${load()} on ${os.availableParallelism()} cores`);
const results = [];
for (const c of cases()) {
  const rows: StepRow[] = [];
  for (const t of threadList) rows.push(await stepRow(c, await createGpu({ backend: 'wasm', threads: t }), `wasm ${t}t`, steps));
  if (!flag('no-swiftshader')) {
    const gpu = await createGpu({ backend: 'webgpu' });
    rows.push(await stepRow(c, gpu, gpu.adapterInfo.includes('swiftshader') ? 'swiftshader' : `webgpu (${gpu.adapterInfo})`, 1));
  }
  const fwd = await forwardRow(c, Math.max(...threadList));
  const torchMs = torchRow(c);
  results.push({ model: c.model, layout: c.layout, rows, forward: fwd, torchMs });
}
const end = load();

const lines = [
  `prge step q ${q}, Bsz 1, T ${T} (256 rows), LoRA rank 8 on q,v; forward: prefill of ${tokens} tokens; ${os.availableParallelism()} cores, load average after: ${end}`,
  '',
  `| model | layout | ${threadList.map((t) => `WASM ${t} thread${t > 1 ? 's' : ''} s/step`).join(' | ')} | SwiftShader s/step | SwiftShader / WASM ${Math.max(...threadList)}t | WASM memory MiB (WebGPU ledger peak) | PyTorch CPU s/step | forward tok/s WASM / llama.cpp |`,
  `|---|---|${threadList.map(() => '---|').join('')}---|---|---|---|---|`,
];
for (const r of results) {
  const wasm = threadList.map((t) => r.rows.find((x) => x.backend === `wasm ${t}t`)!);
  const ss = r.rows.find((x) => !x.backend.startsWith('wasm'));
  const best = wasm.at(-1)!;
  const s = (ms?: number | null) => (ms == null ? '-' : (ms / 1000).toFixed(ms < 10000 ? 2 : 0));
  const mem = `${best.wasmMemoryMiB} (${ss ? ss.ledgerPeakMiB : '-'}${ss ? `, ${(((best.wasmMemoryMiB ?? 0) / ss.ledgerPeakMiB - 1) * 100).toFixed(1)}%` : ''})`;
  lines.push(`| ${r.model} | ${r.layout.toUpperCase()} | ${wasm.map((w) => s(w.msPerStep)).join(' | ')} | ${s(ss?.msPerStep)} | ${ss ? `${(ss.msPerStep / best.msPerStep).toFixed(1)}x` : '-'} | ${mem} | ${s(r.torchMs)} | ${r.forward.oursTokS} / ${r.forward.llamaTokS ?? '-'} |`);
}
console.log(lines.join('\n'));
const dir = path.join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(path.join(dir, 'wasm_step.json'), `${JSON.stringify({ date: new Date().toISOString(), loadAfter: end, q, T, tokens, results }, null, 1)}\n`);
process.exit(0);
