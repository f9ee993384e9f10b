// Classification fine-tuning vs zero-shot over seeds, on a held-out split the defaults never saw:
// each seed draws its own seeded, stratified, deduplicated split (train / validation / test) and
// trains on its train part; zero-shot and fine-tuned are scored on the same test part (or, with
// --held-out validation, on validation: that is the split to choose settings on).
// Run: npm run bench:tasks -- [--preset sms-spam] [--seeds 0,1,2] [--held-out test] [--eval-every 200] and any
// of --steps --lr --schedule --q --batch --seq --targets --rank --eps --loss --eval-size (defaults: `mobizo
// finetune`'s for a classification task, seq 40, eval-size 0 = the whole held-out split), and the ZO
// optimizer: --optimizer sgd | momentum | adam | lozo | hizoo with --beta1 --beta2 --zo-rank
// --hessian-smooth (every optimizer does one forward pass per step: equal passes at equal steps).
// With --eval-every n the accuracy at every n steps is summarised over the seeds too (the trainer then
// scores the base model at step 0: that is the zero-shot row, and its last evaluation the fine-tuned one).
// Each seed's run goes to bench/results/task_seeds-<preset>-<split>-<optimizer>-...-seed<n>.json as it
// ends (a long table survives a stopped process); --table prints the optimizer table (README) of them all:
//   npm run bench:tasks -- --table
import path from 'node:path';
import { parseArgs } from 'node:util';
import fs, { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createGpu } from '../src/gpu/device';
import { loadTask } from '../src/cli/task_data';
import { Model } from '../src/model/model';
import type { LoraState } from '../src/adapter/lora';
import { parseTargets } from '../src/adapter/peft';
import type { LrSchedule, ZoOptimizerName } from '../src/train/scheduler';
import { train } from '../src/train/trainer';
import { STATE_TENSORS } from '../src/train/optimizer';
import { defaultOptions } from '../src/train/defaults';
import { DEFAULT_TASK_LOSS } from '../src/data/tasks';
import type { TaskMetrics } from '../src/eval/metrics';
import { ASSETS, stories260K } from './assets';

/** One seed's run, as written to bench/results. */
interface SeedRun {
  preset: string;
  heldOut: string;
  seed: number;
  steps: number;
  lr: number;
  q: number;
  batch: number;
  seq: number;
  targets: string;
  rank: number;
  loss: string;
  optimizer: ZoOptimizerName;
  beta1: number;
  beta2: number;
  zoRank: number;
  hessianSmooth: number;
  diverged: string | null;
  msPerStep: number; // training only (the evaluations between steps excluded)
  peakMiB: number;
  stateKiB: number; // the optimizer's state on the GPU
  evals: { step: number; loss: number; accuracy?: number; f1?: number }[];
  tuned: { loss: number; accuracy?: number; f1?: number; classes: TaskMetrics['classes'] };
}

/** The settings that make runs comparable (everything but the seed and the results). */
function runKey(r: SeedRun): string {
  const o = r.optimizer === 'momentum' ? `-b${r.beta1}` : r.optimizer === 'adam' ? `-b${r.beta1},${r.beta2}` : r.optimizer === 'lozo' ? `-zr${r.zoRank}` : r.optimizer === 'hizoo' ? `-hs${r.hessianSmooth}` : '';
  return `${r.preset}-${r.heldOut}-${r.optimizer}${o}-lr${r.lr}-q${r.q}-b${r.batch}-T${r.seq}-${r.targets.replace(/,/g, '')}-r${r.rank}-${r.loss}-${r.steps}`;
}

const results = path.resolve(import.meta.dirname, 'results');
if (process.argv.includes('--table')) {
  printTable();
  process.exit(0);
}

/** The optimizer table of every bench/results/task_seeds-*.json: one row per setting, mean +/- std over its seeds. */
function printTable() {
  const files = fs.existsSync(results) ? readdirSync(results).filter((f) => /^task_seeds-.*\.json$/.test(f) && !f.startsWith('task_seeds-base-')) : [];
  if (!files.length) throw new Error(`no task_seeds-*.json in ${results}: run the bench first`);
  const groups = new Map<string, SeedRun[]>();
  for (const f of files) {
    const r = JSON.parse(readFileSync(path.join(results, f), 'utf8')) as SeedRun;
    groups.set(runKey(r), [...(groups.get(runKey(r)) ?? []), r]);
  }
  const steps = [...new Set([...groups.values()].flatMap((rs) => rs.flatMap((r) => r.evals.map((e) => e.step))))].filter((s) => s > 0).sort((a, b) => a - b);
  const ms = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
    return { m, sd };
  };
  const pm = (xs: number[], scale: number, digits: number, unit = '') => {
    if (!xs.length) return '-'; // not evaluated at that step (a shorter run)
    const { m, sd } = ms(xs);
    return `${(scale * m).toFixed(digits)} ± ${(scale * sd).toFixed(digits)}${unit}`;
  };
  console.log(`| optimizer | lr | split | seeds | ${steps.map((s) => `accuracy at ${s}`).join(' | ')} | macro-F1 at ${steps.at(-1)} | ms/step | optimizer state KiB | peak MiB |`);
  console.log(`|---|---|---|---|${steps.map(() => '---|').join('')}---|---|---|---|`);
  for (const rs of [...groups.values()].sort((a, b) => a[0].optimizer.localeCompare(b[0].optimizer) || a[0].lr - b[0].lr)) {
    rs.sort((a, b) => a.seed - b.seed);
    const at = (s: number, k: 'accuracy' | 'f1') => rs.flatMap((r) => r.evals.filter((e) => e.step === s && e[k] !== undefined).map((e) => e[k]!));
    const div = rs.filter((r) => r.diverged).length;
    console.log(`| ${rs[0].optimizer} | ${rs[0].lr} | ${rs[0].heldOut} | ${rs.map((r) => r.seed).join(',')}${div ? ` (${div} diverged)` : ''} | ${steps.map((s) => pm(at(s, 'accuracy'), 100, 1, '%')).join(' | ')} | ${pm(at(steps.at(-1)!, 'f1'), 1, 3)} | ${ms(rs.map((r) => r.msPerStep)).m.toFixed(0)} | ${rs[0].stateKiB.toFixed(1)} | ${ms(rs.map((r) => r.peakMiB)).m.toFixed(2)} |`);
  }
}

const d = defaultOptions(false, false, 'classify'); // the CLI's defaults for a classification task
const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'sms-spam' },
    steps: { type: 'string', default: String(d.steps) },
    lr: { type: 'string', default: String(d.lr) },
    seq: { type: 'string', default: '40' },
    q: { type: 'string', default: String(d.q) },
    batch: { type: 'string', default: String(d.batch) },
    'eval-size': { type: 'string', default: '0' },
    'held-out': { type: 'string', default: 'test' },
    'zero-shot': { type: 'string', default: 'yes' }, // no: skip scoring the base model (when known from an earlier run)
    seeds: { type: 'string', default: '0,1,2' },
    table: { type: 'boolean', default: false },
    targets: { type: 'string', default: d.targets },
    loss: { type: 'string', default: DEFAULT_TASK_LOSS },
    schedule: { type: 'string', default: d.schedule },
    'eval-every': { type: 'string', default: '0' },
    rank: { type: 'string', default: String(d.rank) },
    eps: { type: 'string', default: String(d.eps) },
    optimizer: { type: 'string', default: d.optimizer },
    beta1: { type: 'string', default: String(d.beta1) },
    beta2: { type: 'string', default: String(d.beta2) },
    'zo-rank': { type: 'string', default: String(d.zoRank) },
    'hessian-smooth': { type: 'string', default: String(d.hessianSmooth) },
  },
});
const optimizer = { optimizer: values.optimizer as ZoOptimizerName, beta1: Number(values.beta1), beta2: Number(values.beta2), zoRank: Number(values['zo-rank']), hessianSmooth: Number(values['hessian-smooth']) };
const { file, tok } = stories260K();
const gpu = await createGpu();
const model = await Model.load(gpu, file);
const seq = Number(values.seq);
const steps = Number(values.steps);
const flags = { preset: values.preset, trainSize: '0', evalSize: values['eval-size']!, evalFraction: '0.1', encoding: 'utf-8', assets: ASSETS, loss: values.loss, heldOut: values['held-out']! };
const lcfg = { rank: Number(values.rank), alpha: 2 * Number(values.rank), targets: parseTargets(values.targets!) };
interface Row {
  seed: number;
  zeroShot: TaskMetrics | null;
  tuned: TaskMetrics;
}
const rows: Row[] = [];
let wall = 0;
const msPerStep: number[] = [];
const peakMiB: number[] = [];
const curve = new Map<number, number[]>(); // step -> accuracy per seed (--eval-every)
let stateKiB = 0; // the optimizer's state on the GPU (moments / Hessian: O(|B|))
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const recalls = (m: TaskMetrics) => m.classes.map((c) => `${c.name} ${c.correct}/${c.count}`).join(', ');
const brief = (m: TaskMetrics) => ({ loss: values.loss === 'classes' ? m.classLoss : m.loss, n: m.n, accuracy: m.accuracy, f1: m.f1 });
for (const seed of values.seeds!.split(',').map(Number)) {
  const task = loadTask({ ...flags }, tok, seq, seed); // this seed's split: train on train, score the held-out part
  const score = (lora: LoraState | null) => task.metrics!(model, lora, 64);
  const evalEvery = Number(values['eval-every']);
  // With --eval-every the trainer scores the base model first (step 0: the zero-shot row) and every n
  // steps; the last of those is the fine-tuned row (not scored twice).
  const evals: { step: number; m: TaskMetrics }[] = [];
  // The base model's scores on this seed's held-out split are the same for every optimizer: kept in
  // bench/results and reused (the trainer's step-0 evaluation; the watch's reference).
  const baseFile = path.join(results, `task_seeds-base-${values.preset}-${values['held-out']}-T${seq}-n${values['eval-size']}-seed${seed}.json`);
  const baseScore = async () => {
    if (fs.existsSync(baseFile)) return JSON.parse(readFileSync(baseFile, 'utf8')) as TaskMetrics;
    const m = await score(null);
    mkdirSync(results, { recursive: true });
    writeFileSync(baseFile, JSON.stringify(m));
    return m;
  };
  let scored: TaskMetrics | null = null;
  const zeroShot = evalEvery || values['zero-shot'] === 'no' ? null : await score(null); // the base model
  console.log(`${values.preset} seed ${seed}: ${task.describe}`);
  if (zeroShot) console.log(`  zero-shot: accuracy ${pct(zeroShot.accuracy)}, macro-F1 ${zeroShot.f1.toFixed(3)} (right: ${recalls(zeroShot)})`);
  const t0 = performance.now();
  gpu.ledger.resetPeak();
  const s = await train(model, task.train, { mode: 'prge', q: Number(values.q), eps: Number(values.eps), lr: Number(values.lr), schedule: values.schedule as LrSchedule, batch: Number(values.batch), seq, seed, steps, evalEvery, checkpointEvery: 0, lora: lcfg, lossPerExample: true, ...optimizer }, {
    ...(evalEvery ? { evaluate: async (lora: LoraState) => brief((scored = evals.length ? await score(lora) : await baseScore())), events: { onEval: (e: { step: number; accuracy?: number; f1?: number; loss: number }) => {
      evals.push({ step: e.step, m: scored! });
      console.log(`  seed ${seed} step ${e.step}: accuracy ${pct(e.accuracy!)}, F1 ${e.f1!.toFixed(3)}, held-out ${values.loss === 'classes' ? 'class' : 'label-token'} loss ${e.loss.toFixed(3)}${e.step === 0 ? ` (the base model; right: ${recalls(scored!)})` : ''}`);
      if (e.step > 0) curve.set(e.step, [...(curve.get(e.step) ?? []), e.accuracy!]);
    } } } : {}),
  });
  wall += (performance.now() - t0) / 1000;
  msPerStep.push(s.msPerStep);
  peakMiB.push(gpu.ledger.report().peakTotal / 2 ** 20); // the run's peak GPU memory (evaluations included with --eval-every)
  stateKiB = (STATE_TENSORS[optimizer.optimizer].length * s.lora.adapters().reduce((a, ad) => a + ad.B.bytes, 0)) / 1024;
  const last = evals.at(-1);
  const tuned = last && last.step === s.steps ? last.m : await score(s.lora);
  rows.push({ seed, zeroShot: zeroShot ?? (evals[0]?.step === 0 ? evals[0].m : null), tuned });
  console.log(`  fine-tuned (${s.steps} steps${s.diverged ? `, diverged: ${s.diverged.message}` : ''}): accuracy ${pct(tuned.accuracy)}, macro-F1 ${tuned.f1.toFixed(3)} (right: ${recalls(tuned)}); last losses ${s.state.history.slice(-3).map((h) => h.loss.toFixed(3)).join(' ')}; ${s.msPerStep.toFixed(0)} ms/step`);
  const run: SeedRun = {
    preset: values.preset!, heldOut: values['held-out']!, seed, steps: s.steps, lr: Number(values.lr), q: Number(values.q), batch: Number(values.batch), seq, targets: values.targets!, rank: lcfg.rank, loss: values.loss!, ...optimizer,
    diverged: s.diverged?.message ?? null, msPerStep: s.msPerStep, peakMiB: peakMiB.at(-1)!, stateKiB,
    evals: evals.map((e) => ({ step: e.step, ...brief(e.m) })), tuned: { ...brief(tuned), classes: tuned.classes },
  };
  mkdirSync(results, { recursive: true });
  writeFileSync(path.join(results, `task_seeds-${runKey(run)}-seed${seed}.json`), JSON.stringify(run, null, 1));
  s.lora.destroy();
}
const stats = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, std };
};
const show = (xs: number[], f: (x: number) => string, u: number) => {
  const { mean, std } = stats(xs);
  return `${f(mean)} +/- ${(u * std).toFixed(u === 100 ? 1 : 3)} (${xs.map(f).join(', ')})`;
};
const acc = (x: number) => `${(100 * x).toFixed(1)}%`;
const f1 = (x: number) => x.toFixed(3);
console.log(`\n${values.preset}, ${values['held-out']} split, seeds ${values.seeds}, ${steps} steps, ${(wall / rows.length).toFixed(0)} s per run, optimizer ${JSON.stringify(optimizer)}`);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`${values.optimizer}: ${mean(msPerStep).toFixed(1)} ms per step, peak GPU memory ${mean(peakMiB).toFixed(2)} MiB, optimizer state ${stateKiB.toFixed(1)} KiB${values.optimizer === 'hizoo' ? ` (+ 1 row slot of ${2 * Number(values.q)}: the unperturbed loss)` : ''}`);
for (const [step, accs] of [...curve].sort((a, b) => a[0] - b[0])) console.log(`  accuracy at step ${step}: ${show(accs, acc, 100)}`);
console.log('|  | accuracy mean +/- std | macro-F1 mean +/- std |');
console.log('|---|---|---|');
const zs = rows.flatMap((r) => (r.zeroShot ? [r.zeroShot] : []));
if (zs.length) console.log(`| zero-shot | ${show(zs.map((m) => m.accuracy), acc, 100)} | ${show(zs.map((m) => m.f1), f1, 1)} |`);
console.log(`| fine-tuned | ${show(rows.map((r) => r.tuned.accuracy), acc, 100)} | ${show(rows.map((r) => r.tuned.f1), f1, 1)} |`);
