// The first-order comparison: what a user would otherwise pick is backprop LoRA. The same Llama +
// LoRA in TensorFlow.js (bench/fo_tfjs_llama.ts, autodiff, Adam on A and B as PEFT trains them)
// against the engine's train() (prge at the main job's defaults, src/train/defaults.ts), on the
// same device (tfjs's WebGPU backend on the same Dawn as the engine), the same data (the main
// job's keeper's log, tok512, seq 32, the same seeded 10% held out and the same batches per step)
// and the same loss (mean next-token cross-entropy). Held-out loss is scored for both sides by the
// engine's evaluateLm (FO's A and B are uploaded into a LoraState). stories260K for quality; the
// stories15M shape (random weights) for memory and ms/step only.
// Run: npm run bench:fo -- [--steps 30] [--fo-steps N] [--eval-every 10] [--fo-lr 3e-3]
//        [--fo-train AB|B] [--fo-optimizer adam|sgd] [--big-steps 2] [--models stories260K,stories15M]
//        [--big-sides zo,fo] [--backend webgpu|cpu]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { createGpu, dawnGpu, type Gpu } from '../src/gpu/device';
import { LmChunkSet, LmDataset } from '../src/data/lm';
import { keeperLogDocuments } from '../src/data/demo';
import type { LlamaModelFile } from '../src/formats/config';
import { Model } from '../src/model/model';
import { ForwardPass } from '../src/model/forward';
import { evaluateLm } from '../src/eval/evaluate';
import { train, type TrainConfig } from '../src/train/trainer';
import { defaultOptions } from '../src/train/defaults';
import { LoraState, type LoraConfig } from '../src/adapter/lora';
import type { AdapterTensors } from '../src/adapter/peft';
import type { Target } from '../src/model/targets';
import { mulberry32 } from '../src/util/random';
import { stories260K } from './assets';
import { randomPreset } from './presets';
import { disposeTfLlama, lmLoss, logits, loraToHost, loraVariables, tfLlama, tfLora, type TfLlama } from './fo_tfjs_llama';

const { values: a } = parseArgs({
  options: {
    steps: { type: 'string', default: '30' },
    'fo-steps': { type: 'string' },
    'eval-every': { type: 'string', default: '10' },
    'fo-lr': { type: 'string', default: '3e-3' },
    'fo-train': { type: 'string', default: 'AB' },
    'fo-optimizer': { type: 'string', default: 'adam' },
    'big-steps': { type: 'string', default: '2' },
    models: { type: 'string', default: 'stories260K,stories15M' },
    'big-sides': { type: 'string', default: 'zo,fo' },
    backend: { type: 'string', default: 'webgpu' },
  },
});
const steps = Number(a.steps);
const foSteps = Number(a['fo-steps'] ?? steps);
const evalEvery = Number(a['eval-every']);
const foLr = Number(a['fo-lr']);
const foTrain = a['fo-train'] as 'AB' | 'B';
const foOpt = a['fo-optimizer'] as 'adam' | 'sgd';
const bigSteps = Number(a['big-steps']);
const models = a.models!.split(',');
for (const m of models) if (!['stories260K', 'stories15M'].includes(m)) throw new Error(`--models: ${m} is not stories260K or stories15M`);
const clock = performance.now();
const log = (s: string) => console.log(`[${((performance.now() - clock) / 1000).toFixed(0)} s] ${s}`);
if (!['AB', 'B'].includes(foTrain)) throw new Error(`--fo-train must be AB or B, got ${foTrain}`);
if (!['adam', 'sgd'].includes(foOpt)) throw new Error(`--fo-optimizer must be adam or sgd, got ${foOpt}`);
for (const [k, v] of Object.entries({ steps, foSteps, evalEvery, bigSteps })) if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be an integer >= 1`);

// The ZO side: the main job's options (prge, q 2, eps 1e-2, lr 3e-3, batch 4, seq 32, q,v rank 16 alpha 32).
const opts = defaultOptions(true, false);
const loraCfg: LoraConfig = { rank: opts.rank, alpha: opts.alpha, targets: opts.targets.split(',') as Target[] };
const zoCfg = (n: number, every: number): TrainConfig => ({
  mode: opts.mode, q: opts.q, eps: opts.eps, lr: opts.lr, schedule: opts.schedule, batch: opts.batch, seq: opts.seq, seed: opts.seed,
  steps: n, evalEvery: every, checkpointEvery: 0, lora: loraCfg,
});

// tfjs on the same Dawn instance as the engine (its own device), or its cpu backend when asked.
(globalThis as { navigator?: unknown }).navigator = { gpu: await dawnGpu(), userAgent: 'node' };
await import('@tensorflow/tfjs-backend-webgpu');
if (!(await tf.setBackend(a.backend!))) throw new Error(`tfjs: backend ${a.backend} did not start`);
await tf.ready();
const tfBackend = tf.getBackend();
type WebgpuBackend = { memory(): { numBytesAllocatedInGPU?: number }; adapterInfo?: { vendor?: string; architecture?: string }; bufferManager?: { freeBuffers: Map<string, GPUBuffer[]>; numBytesAllocated: number; numFreeBuffers: number } };
const backend = tf.backend() as unknown as WebgpuBackend;
const allocated = () => backend.memory().numBytesAllocatedInGPU ?? 0;
/** Destroys tfjs-webgpu's pool of free buffers, so the next model's high-water mark is its own. */
function releasePool(): void {
  const bm = backend.bufferManager;
  if (!bm) return;
  for (const list of bm.freeBuffers.values()) for (const b of list.splice(0)) (bm.numBytesAllocated -= b.size, b.destroy());
  bm.numFreeBuffers = 0;
}

const mib = (b: number) => b / 2 ** 20;
const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const out: Record<string, unknown> = { date: new Date().toISOString(), tfjs: tf.version.tfjs, tfBackend, zo: zoCfg(steps, evalEvery), fo: { lr: foLr, optimizer: foOpt, trains: foTrain, steps: foSteps } };

/** Max |x - y| over max |y|: the logits agreement measure. */
function relDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < y.length; i++) (d = Math.max(d, Math.abs(x[i] - y[i])), (s = Math.max(s, Math.abs(y[i]))));
  return d / s;
}

/** tfjs's logits against the engine's on one batch, base and with nonzero adapters: the same model? */
async function checkLogits(model: Model, m: TfLlama, data: LmChunkSet): Promise<{ base: number; lora: number }> {
  const Bsz = 2;
  const T = data.seqLen;
  const b = data.batchAt(0, Bsz, 0);
  const rows = Int32Array.from({ length: Bsz * T }, (_, i) => i);
  const host = LoraState.initHost(model.config, loraCfg, 0);
  const rand = mulberry32(99);
  for (const e of host.layers) for (const t of host.targets) e[t]!.B.forEach((_, i, B) => (B[i] = (rand() * 2 - 1) * 0.2));
  const state = LoraState.upload(model.gpu, model.config, loraCfg, host);
  const tl = tfLora(m, host);
  const res = { base: 0, lora: 0 };
  for (const which of ['base', 'lora'] as const) {
    const pass = new ForwardPass(model, { B: Bsz, T, nSelect: Bsz * T, lora: which === 'lora' ? state : undefined });
    const ours = await pass.run(b.tokens, rows);
    pass.destroy();
    const z = tf.tidy(() => logits(m, which === 'lora' ? tl : null, b.tokens, Bsz, T, rows));
    res[which] = relDiff((await z.data()) as Float32Array, ours);
    z.dispose();
  }
  state.destroy();
  for (const v of loraVariables(tl, 'AB')) v.dispose();
  return res;
}

interface Point { step: number; loss: number; trainS: number }
interface SideResult { msPerStep: number; firstStepMs: number; trainS: number; evals: Point[]; trainLoss: number[] }

/** Backprop LoRA in tfjs: `n` steps on data.batchAt(k); `evaluate` every `every` steps (its time excluded). */
async function foRun(m: TfLlama, data: LmChunkSet, n: number, every: number, evaluate?: (h: AdapterTensors) => Promise<number>): Promise<SideResult & { peakAllocatedBytes: number; liveTensorBytes: number }> {
  const init = LoraState.initHost(m.file.config, loraCfg, opts.seed); // the engine's A (seeded), B = 0
  const lora = tfLora(m, init);
  const vars = loraVariables(lora, foTrain);
  const opt = foOpt === 'adam' ? tf.train.adam(foLr) : tf.train.sgd(foLr);
  const evals: Point[] = [];
  const trainLoss: number[] = [];
  let trainMs = 0;
  let firstStepMs = 0;
  let peakAllocatedBytes = allocated();
  let liveTensorBytes = tf.memory().numBytes;
  const score = async (step: number) => {
    if (evaluate) evals.push({ step, loss: await evaluate(await loraToHost(lora, init)), trainS: trainMs / 1000 });
  };
  await score(0);
  for (let k = 0; k < n; k++) {
    const b = data.batchAt(k, opts.batch, opts.seed);
    const t0 = performance.now();
    const loss = opt.minimize(() => lmLoss(m, lora, b.tokens, b.labels, opts.batch, data.seqLen), true, vars)!;
    trainLoss.push((await loss.data())[0]);
    loss.dispose();
    const ms = performance.now() - t0;
    if (ms > 10_000) log(`FO step ${k}: ${f(ms / 1000, 1)} s, tfjs GPU allocated ${f(mib(allocated()), 1)} MiB`);
    if (k === 0) firstStepMs = ms;
    trainMs += ms;
    peakAllocatedBytes = Math.max(peakAllocatedBytes, allocated());
    liveTensorBytes = Math.max(liveTensorBytes, tf.memory().numBytes); // between steps: weights, A, B, optimizer state
    if ((k + 1) % every === 0 || k + 1 === n) await score(k + 1);
  }
  opt.dispose();
  for (const v of loraVariables(lora, 'AB')) v.dispose();
  return { msPerStep: n > 1 ? (trainMs - firstStepMs) / (n - 1) : trainMs, firstStepMs, trainS: trainMs / 1000, evals, trainLoss, peakAllocatedBytes, liveTensorBytes };
}

/** The engine's train(); evaluation time is measured and taken out of the training time. */
async function zoRun(model: Model, data: LmChunkSet, n: number, every: number, evaluate?: (l: LoraState) => Promise<number>): Promise<SideResult> {
  const evals: Point[] = [];
  const trainLoss: number[] = [];
  let evalMs = 0;
  let t0 = 0;
  let firstStepMs = 0;
  const started = performance.now();
  const s = await train(model, data, zoCfg(n, evaluate ? every : 0), {
    evaluate: evaluate
      ? async (lora) => {
          const e0 = performance.now();
          const step = evals.length === 0 ? 0 : Math.min(n, evals.at(-1)!.step + every);
          const trainS = t0 ? (e0 - t0 - evalMs) / 1000 : 0;
          const loss = await evaluate(lora);
          if (!t0) t0 = performance.now();
          else evalMs += performance.now() - e0;
          evals.push({ step, loss, trainS });
          return { loss };
        }
      : undefined,
    events: { onStep: (r) => (trainLoss.push(r.loss), r.step === 0 && (firstStepMs = r.ms)) },
  });
  const trainS = evaluate ? evals.at(-1)!.trainS : (performance.now() - started) / 1000;
  s.lora.destroy();
  const steadyMs = s.steps > 1 ? (trainS * 1000 - firstStepMs) / (s.steps - 1) : trainS * 1000;
  return { msPerStep: steadyMs, firstStepMs, trainS, evals, trainLoss };
}

/** The ledger's peak of a short ZO run on a fresh device (nothing else allocated there). */
async function zoMemory(file: LlamaModelFile, data: LmChunkSet, n: number): Promise<{ peakBytes: number; peak: Record<string, number>; run: SideResult }> {
  const gpu: Gpu = await createGpu();
  const model = await Model.load(gpu, file);
  const run = await zoRun(model, data, n, n);
  const r = gpu.ledger.report();
  model.destroy();
  return { peakBytes: r.peakTotal, peak: r.peak, run };
}

const ZO_SIDE = `ZO: engine prge q ${opts.q}`;
const FO_SIDE = `FO: tfjs-${tfBackend} ${foOpt}, ${foTrain === 'AB' ? 'A+B' : 'B'}`;
const rows: string[][] = [];
const row = (...c: (string | number)[]) => rows.push(c.map(String));

const engineGpu = await createGpu();
console.log(`engine: ${engineGpu.adapterInfo}; tfjs ${tf.version.tfjs} backend ${tfBackend}${backend.adapterInfo ? ` (${backend.adapterInfo.vendor} ${backend.adapterInfo.architecture})` : ''}`);
out.adapter = engineGpu.adapterInfo;

// ---- stories260K: the same model, then quality and cost ----
if (models.includes('stories260K')) {
  const gpu = engineGpu;
  const { file: file260, tok } = stories260K();
  const all = new LmDataset(keeperLogDocuments(), tok, opts.seq, { source: "the keeper's log" });
  const { train: trainSet, eval: heldOut } = all.split(0.1, opts.seed); // as src/train/task_source.ts splits the main job
  console.log(`data: the keeper's log, ${trainSet.chunks} train / ${heldOut.chunks} held-out chunks of ${opts.seq}; ZO prge q ${opts.q} lr ${opts.lr} eps ${opts.eps}; FO ${foOpt} lr ${foLr} on ${foTrain === 'AB' ? 'A and B' : 'B only'}; batch ${opts.batch}, LoRA ${loraCfg.targets} r ${loraCfg.rank} alpha ${loraCfg.alpha}`);
  const model = await Model.load(gpu, file260);
  const m260 = tfLlama(file260);
  const agree = await checkLogits(model, m260, trainSet);
  log(`logits, tfjs vs engine (max |diff| / max |logit|): base ${agree.base.toExponential(2)}, with LoRA ${agree.lora.toExponential(2)}`);
  out.logitsAgreement = agree;
  if (!(agree.base < 1e-4 && agree.lora < 1e-4)) throw new Error(`tfjs and the engine disagree on stories260K's logits (${agree.base}, ${agree.lora}): not the same model`);

  const evalHost = async (h: AdapterTensors) => {
    const st = LoraState.upload(gpu, model.config, loraCfg, h);
    const r = await evaluateLm(model, st, heldOut, opts.batch);
    st.destroy();
    return r.loss;
  };
  log(`ZO: ${steps} steps...`);
  const zo = await zoRun(model, trainSet, steps, evalEvery, async (l) => (await evaluateLm(model, l, heldOut, opts.batch)).loss);
  log(`ZO: ${f(zo.msPerStep, 0)} ms/step; FO: ${foSteps} steps...`);
  releasePool();
  const fo = await foRun(m260, trainSet, foSteps, evalEvery, evalHost);
  log(`FO: ${f(fo.msPerStep, 0)} ms/step; ZO memory run...`);
  const zoMem = await zoMemory(file260, trainSet, 3);

  // equal steps: the last step both ran; equal wall time: the shorter run's training time
  const lossAt = (ev: Point[], step: number) => ev.filter((p) => p.step <= step).at(-1)!;
  const lossWithin = (ev: Point[], s: number) => ev.filter((p) => p.trainS <= s + 1e-9).at(-1)!;
  const common = Math.min(steps, foSteps);
  const budget = Math.min(zo.trainS, fo.trainS);
  const quality = {
    before: zo.evals[0].loss,
    equalSteps: { steps: common, zo: lossAt(zo.evals, common), fo: lossAt(fo.evals, common) },
    equalTime: { seconds: budget, zo: lossWithin(zo.evals, budget), fo: lossWithin(fo.evals, budget) },
  };
  out.stories260K = { zo, fo, zoMemory: zoMem, quality };
  console.log(`held-out loss before ${f(quality.before)}; at step ${common}: ZO ${f(quality.equalSteps.zo.loss)}, FO ${f(quality.equalSteps.fo.loss)}; within ${f(budget, 1)} s of training: ZO ${f(quality.equalTime.zo.loss)} (step ${quality.equalTime.zo.step}), FO ${f(quality.equalTime.fo.loss)} (step ${quality.equalTime.fo.step})`);
  const at = (p: Point) => `${f(p.loss)} (step ${p.step}, ${f(p.trainS, 1)} s)`;
  row('stories260K', ZO_SIDE, f(mib(zoMem.peakBytes), 2), f(zo.msPerStep, 0), f(zo.firstStepMs, 0), f(quality.before), at(quality.equalSteps.zo), at(quality.equalTime.zo));
  row('stories260K', FO_SIDE, f(mib(fo.peakAllocatedBytes), 2), f(fo.msPerStep, 0), f(fo.firstStepMs, 0), f(quality.before), at(quality.equalSteps.fo), at(quality.equalTime.fo));
  model.destroy();
  disposeTfLlama(m260);
}

// ---- the stories15M shape: random weights, random tokens; memory and ms/step only ----
if (models.includes('stories15M')) {
  const file15 = randomPreset('stories15M');
  const rand = mulberry32(5);
  const stream = Int32Array.from({ length: 64 * opts.seq + 1 }, () => Math.floor(rand() * file15.config.vocabSize));
  const data15 = new LmChunkSet(stream, opts.seq, 'random tokens');
  const sides = a['big-sides']!.split(',');
  log(`stories15M shape: ${bigSteps} steps a side (${sides})...`);
  const res: Record<string, unknown> = {};
  if (sides.includes('zo')) {
    const zo15 = await zoMemory(file15, data15, bigSteps);
    res.zo = zo15;
    log(`ZO: ${f(zo15.run.msPerStep, 0)} ms/step, peak ${f(mib(zo15.peakBytes), 1)} MiB`);
    row('stories15M shape', ZO_SIDE, f(mib(zo15.peakBytes), 1), f(zo15.run.msPerStep, 0), f(zo15.run.firstStepMs, 0), '-', '-', '-');
  }
  if (sides.includes('fo')) {
    releasePool();
    const m15 = tfLlama(file15);
    const fo15 = await foRun(m15, data15, bigSteps, bigSteps);
    res.fo = fo15;
    log(`FO: ${f(fo15.msPerStep, 0)} ms/step, peak ${f(mib(fo15.peakAllocatedBytes), 1)} MiB`);
    row('stories15M shape', FO_SIDE, f(mib(fo15.peakAllocatedBytes), 1), f(fo15.msPerStep, 0), f(fo15.firstStepMs, 0), '-', '-', '-');
    disposeTfLlama(m15);
  }
  out.stories15M = res;
}

const header = ['model', 'side', 'peak GPU MiB', 'ms/step', 'first step ms', 'held-out loss before', 'at equal steps', 'at equal training time'];
const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
console.log(`\n${table}\n`);
console.log('peak GPU: ZO the ledger\'s peak (every buffer of a fresh device: weights, adapters, activations); FO tfjs-webgpu\'s allocated GPU bytes (its pool included).');
out.table = table;
fs.mkdirSync(path.join(import.meta.dirname, 'results'), { recursive: true });
const file = path.join(import.meta.dirname, 'results', `fo_vs_zo-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, JSON.stringify(out, null, 1));
console.log(`wrote ${path.relative(process.cwd(), file)}`);
