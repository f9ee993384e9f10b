// The memory planner (src/train/memory_plan.ts) against the ledger's measured peak of real ZO steps
// and generation, the choice of a shape under a limit, and `mobizo finetune --max-memory`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoraState, type LoraConfig } from '../src/adapter/lora';
import type { LlamaModelFile } from '../src/formats/config';
import { Model } from '../src/model/model';
import { toyModel } from '../src/model/toy';
import { ForwardPass, KvCache } from '../src/model/forward';
import { ZoScheduler } from '../src/train/scheduler';
import { fitStep, modelShape, parseBytes, planGenerate, planStep, type StepShape } from '../src/train/memory_plan';
import { OptionError, type ZoMode, type ZoOptimizerName } from '../src/train/options';
import { FineTuner } from '../src/train/finetuner';
import { mulberry32 } from '../src/util/random';
import { stories260K } from './assets';
import { gpuFixture } from './gpu';

const root = path.resolve(import.meta.dirname, '..');

const stories = (): LlamaModelFile => stories260K().file;

interface Case { model: string; q: number; batch: number; seq: number; mode: ZoMode; optimizer: ZoOptimizerName; lora: LoraConfig }
const lora = (rank: number, targets: LoraConfig['targets']): LoraConfig => ({ rank, alpha: 2 * rank, targets });
const CASES: Case[] = [
  { model: 'stories260K', q: 2, batch: 4, seq: 32, mode: 'prge', optimizer: 'sgd', lora: lora(16, ['q', 'v']) },
  { model: 'stories260K', q: 4, batch: 2, seq: 64, mode: 'prge', optimizer: 'adam', lora: lora(8, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']) },
  { model: 'stories260K', q: 1, batch: 1, seq: 17, mode: 'prge', optimizer: 'sgd', lora: lora(4, ['down']) },
  { model: 'stories260K', q: 3, batch: 3, seq: 48, mode: 'outer', optimizer: 'momentum', lora: lora(16, ['q', 'v']) },
  { model: 'toy', q: 2, batch: 3, seq: 40, mode: 'prge', optimizer: 'hizoo', lora: lora(8, ['v', 'o']) },
  { model: 'toy', q: 3, batch: 1, seq: 100, mode: 'mezo', optimizer: 'lozo', lora: lora(4, ['q', 'up']) },
];

async function load(name: string) {
  const { gpu, ks } = await gpuFixture();
  const file = name === 'toy' ? toyModel() : stories();
  const model = await Model.load(gpu, file, undefined, ks);
  return { gpu, model };
}

function batchOf(rows: number, seq: number, vocab: number, seed: number) {
  const r = mulberry32(seed);
  const tokens = Int32Array.from({ length: rows * seq }, () => Math.floor(r() * vocab));
  const labels = Int32Array.from({ length: rows * seq }, (_, i) => ((i + 1) % seq === 0 ? -1 : tokens[i + 1]));
  return { tokens, labels };
}

describe('memory planner vs the ledger', function () {
  const table: string[] = [];
  after(() => {
    console.log('      model        mode/opt        q  batch seq   predicted   measured  (step bytes beside what was resident)');
    for (const l of table) console.log(l);
  });

  for (const c of CASES) {
    const name = `${c.model} ${c.mode}/${c.optimizer} q ${c.q} batch ${c.batch} seq ${c.seq}`;
    it(`${name}: activations, adapters, scratch, readback exact; the peak never below, above by at most the uniform arena`, async () => {
      const { gpu, model } = await load(c.model);
      const weights = gpu.ledger.report().current.weights ?? 0;
      const before = gpu.ledger.report().current;
      const baseline = gpu.ledger.totalBytes();
      gpu.ledger.resetPeak();
      const s: StepShape = { q: c.q, batch: c.batch, seq: c.seq, mode: c.mode, optimizer: c.optimizer, lora: c.lora };
      const plan = planStep(modelShape(model), weights, s);
      const state = LoraState.create(gpu, model.config, c.lora, 7);
      const sched = new ZoScheduler(model, state, { mode: c.mode, optimizer: c.optimizer, q: c.q, batch: c.batch, seq: c.seq, eps: 1e-2, lr: 1e-3, seed: 3 });
      const r = await sched.step(0, batchOf(c.batch, c.seq, model.config.vocabSize, 11));
      const rep = gpu.ledger.report();
      sched.destroy();
      state.destroy();
      model.destroy();
      assert.ok(Number.isFinite(r.loss), `loss ${r.loss}`);
      const grew = (k: string) => (rep.peak[k] ?? 0) - (before[k] ?? 0);
      const measured = rep.peakTotal - baseline;
      const predicted = plan.total - weights; // what the step adds (its RoPE table included: made on first need)
      table.push(`      ${c.model.padEnd(12)} ${`${c.mode}/${c.optimizer}`.padEnd(15)} ${String(c.q).padStart(2)} ${String(c.batch).padStart(5)} ${String(c.seq).padStart(4)} ${String(predicted).padStart(11)} ${String(measured).padStart(10)}  (${(100 * (predicted / measured - 1)).toFixed(2)}%)`);
      assert.equal(grew('activations'), plan.activations, 'activations');
      assert.equal(grew('adapters'), plan.adapters, 'adapters');
      assert.equal(grew('scratch'), plan.scratch, 'scratch');
      assert.equal(grew('readback'), plan.readback, 'readback');
      // uniforms: the planner counts a slot per dispatch; the arena may still have free slots of earlier passes
      assert.ok(grew('uniforms') <= plan.uniforms, `uniforms: measured ${grew('uniforms')} > predicted ${plan.uniforms}`);
      assert.ok(predicted >= measured, `predicted ${predicted} < measured ${measured}`);
      assert.ok(predicted - measured <= Math.max(0.03 * measured, plan.uniforms), `predicted ${predicted} vs measured ${measured}`);
    });
  }

  it('generate (stories260K, 2 sequences, prompt 5, 64 positions): activations exact; the peak never below, above by at most the uniform arena', async () => {
    const { gpu, model } = await load('stories260K');
    const weights = gpu.ledger.report().current.weights ?? 0;
    const before = gpu.ledger.report().current;
    const baseline = gpu.ledger.totalBytes();
    gpu.ledger.resetPeak();
    const plan = planGenerate(modelShape(model), weights, { batch: 2, prompt: 5, steps: 64 });
    // the passes generate.ts records (its readback: the logits of the selected rows)
    const cache = new KvCache(model, 2, 64);
    const prefill = new ForwardPass(model, { B: 2, T: 5, nSelect: 2, cache });
    const decode = new ForwardPass(model, { B: 2, T: 1, nSelect: 2, cache });
    await prefill.run([1, 2, 3, 4, 5, 1, 5, 4, 3, 2], [4, 9]);
    await decode.run([6, 7], [0, 1], 5);
    const rep = gpu.ledger.report();
    for (const x of [prefill, decode, cache]) x.destroy();
    model.destroy();
    assert.equal((rep.peak.activations ?? 0) - (before.activations ?? 0), plan.activations);
    const measured = rep.peakTotal - baseline;
    const predicted = plan.total - weights;
    console.log(`      generate: predicted ${predicted} B, measured ${measured} B`);
    assert.ok(predicted >= measured && predicted - measured <= plan.uniforms, `predicted ${predicted} vs measured ${measured}`);
  });
});

describe('fitting a step under a limit', () => {
  const file = stories();
  const m = { config: file.config, qkNorm: false, biases: false, postNorms: false };
  const asked: StepShape = { q: 4, batch: 8, seq: 64, lora: lora(16, ['q', 'v']) };
  const W = 1_000_000;

  it('parseBytes reads units and refuses junk by option name', () => {
    assert.equal(parseBytes('512MiB'), 512 * 2 ** 20);
    assert.equal(parseBytes('2GiB'), 2 * 2 ** 30);
    assert.equal(parseBytes('1.5GB'), 1.5e9);
    assert.equal(parseBytes('800000'), 800000);
    assert.equal(parseBytes('64 kib'), 65536);
    assert.throws(() => parseBytes('lots'), /option maxMemoryMiB must be a size like 512MiB/);
    assert.throws(() => parseBytes('0MiB'), /more than 0 bytes/);
  });

  it('the asked shape when it fits; else the largest batch; then q; then seq unless fixed', () => {
    const need = (s: Partial<StepShape>) => planStep(m, W, { ...asked, ...s }).total;
    assert.deepEqual(fitStep(m, W, asked, need({}), false).shape, asked);
    const b = fitStep(m, W, asked, need({ batch: 5 }) + 1, true);
    assert.equal(b.shape.batch, 5);
    assert.equal(b.shape.q, 4);
    assert.match(b.note, /q 4 batch 8 seq 64 needs [\d.]+ MiB \(weights 0.9[56] MiB \+ adapters .* \+ activations .*\), more than .*: lowered batch 8 -> 5/);
    const q = fitStep(m, W, asked, need({ batch: 1, q: 2 }) + 1, true);
    assert.deepEqual([q.shape.batch, q.shape.q, q.shape.seq], [1, 2, 64]);
    const seq = fitStep(m, W, asked, need({ batch: 1, q: 1, seq: 20 }) + 1, false);
    assert.deepEqual([seq.shape.batch, seq.shape.q, seq.shape.seq], [1, 1, 20]);
    for (const f of [b, q, seq]) assert.ok(f.estimate.total <= need({}) && f.estimate.total === planStep(m, W, f.shape).total);
  });

  it('nothing fits: the error says what the shape needs and what the floor needs', () => {
    const floor = planStep(m, W, { ...asked, batch: 1, q: 1 }).total;
    assert.throws(() => fitStep(m, W, asked, floor - 1, true), /option maxMemoryMiB q 4 batch 8 seq 64 needs .* MiB .*; nothing fits in .* MiB: even q 1 batch 1 seq 64 needs .*; a smaller seq may fit/);
    assert.throws(() => fitStep(m, W, asked, W / 2, false), /the weights and adapters alone need/);
  });
});

describe('FineTuner maxMemoryMiB (the app\'s Max GPU memory)', () => {
  it('lowers batch (seq kept) to fit, runs a step within the limit; nothing fits is an OptionError naming maxMemoryMiB', async () => {
    const { gpu, model } = await load('stories260K');
    const tok = stories260K().tok;
    const base = { q: 2, batch: 8, seq: 32, steps: 1, evalEvery: 0, evalSize: 4, checkpointEvery: 0 };
    const limit = gpu.ledger.totalBytes() + 2 * 2 ** 20; // what is resident + 2 MiB
    const ft = new FineTuner(model, tok, { demo: true }, { ...base, maxMemoryMiB: limit / 2 ** 20 });
    assert.ok(ft.memoryFit && ft.options.batch < 8 && ft.options.batch >= 1 && ft.options.seq === 32 && ft.options.q === 2, JSON.stringify(ft.options));
    assert.match(ft.memoryFit.note, /lowered batch 8 -> \d+/);
    gpu.ledger.resetPeak();
    await ft.run();
    const peak = gpu.ledger.report().peakTotal;
    ft.lora?.destroy();
    console.log(`      FineTuner: batch ${ft.options.batch}, planned ${ft.memoryFit.estimate.total} B, peak ${peak} B, limit ${limit} B`);
    assert.ok(peak <= limit, `peak ${peak} > limit ${limit}`);
    assert.throws(() => new FineTuner(model, tok, { demo: true }, { ...base, maxMemoryMiB: 0.5 }), (e: Error) => e instanceof OptionError && e.option === 'maxMemoryMiB' && /nothing fits in 0.50 MiB/.test(e.message));
    model.destroy();
  });
});

describe('mobizo finetune --max-memory (the bundled stories260K)', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-maxmem-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const mobizo = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), ...args], { encoding: 'utf8', timeout: 300_000 });

  it('nothing fits: one line naming --max-memory, what the shape needs and what does not fit', () => {
    const r = mobizo('finetune', '--max-memory', '1MiB', '--seq', '32', '--steps', '1', '--no-compare', '--out', path.join(tmp, 'a'));
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--max-memory q 2 batch 4 seq 32 needs [\d.]+ MiB \(weights [\d.]+ MiB \+ .*\); nothing fits in 1.0 MiB/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });

  it('a limit below the asked shape: batch is lowered, said on stderr, and the run stays within the limit', () => {
    const limit = 3 * 2 ** 20;
    const r = mobizo('finetune', '--max-memory', '3MiB', '--seq', '32', '--batch', '8', '--steps', '2', '--eval-size', '4', '--no-compare', '--json', '--out', path.join(tmp, 'b'));
    assert.equal(r.status, 0, r.stderr);
    const m = /--max-memory 3.0 MiB: q 2 batch 8 seq 32 needs .*: lowered batch 8 -> (\d+); q 2 batch \d+ seq 32 needs ([\d.]+) MiB/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const picked = Number(m[1]);
    assert.ok(picked >= 1 && picked < 8);
    const final = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(final.done, true);
    console.log(`      picked batch ${picked}; the run's peak ${final.memory.peakTotal} B of the ${limit} B limit`);
    assert.ok(final.memory.peakTotal <= limit, `peak ${final.memory.peakTotal} > ${limit}`);
  });
});
