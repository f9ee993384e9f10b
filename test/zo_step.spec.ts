// ZO steps on stories260K: the three schedules agree, each slot loss and the update match the
// float64 reference with B +/- eps Z_i, a prge step is one submit that awaits no readback, the
// trainer submits a 10-step run without awaiting any readback, and the ledger holds no copies of B.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { LlamaModelFile } from '../src/formats/config';
import { Model } from '../src/model/model';
import type { Tokenizer } from '../src/formats/tokenizer';
import { ForwardPass } from '../src/model/forward';
import { LmDataset } from '../src/data/lm';
import { readTextDocuments } from '../src/data/readers';
import { LoraState, type LoraConfig } from '../src/adapter/lora';
import { zoNormals } from '../src/util/philox';
import { ZoScheduler, lrAt, stepSeed, type ZoMode, type ZoOptions } from '../src/train/scheduler';
import { train } from '../src/train/trainer';
import type { TokenBatch } from '../src/data/batch';
import { assetPath, stories260K } from './assets';
import { forBackends, randoms } from './gpu';
import { referenceLoss } from './reference/cpu_model';

forBackends('ZO step (stories260K)', (fx) => {
  let file: LlamaModelFile;
  let model: Model;
  let batches: TokenBatch[];
  const lcfg: LoraConfig = { rank: 4, alpha: 8, targets: ['q', 'v'] };
  const base: Omit<ZoOptions, 'mode'> = { q: 2, eps: 1e-2, lr: 5e-3, batch: 2, seq: 16, seed: 3 };

  before(async () => {
    const { gpu } = await fx();
    let tok: Tokenizer;
    ({ file, tok } = stories260K());
    model = await Model.load(gpu, file);
    const text = fs.readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 20000);
    const data = new LmDataset(readTextDocuments(text, 'tinystories'), tok, base.seq);
    batches = Array.from({ length: 5 }, (_, k) => data.batchAt(k, base.batch, 1));
  });

  /** LoRA with a random (non-zero) B, so the oracle sees real adapter terms. */
  function hostWithRandomB(seed: number) {
    const host = LoraState.initHost(file.config, lcfg, seed);
    host.layers.forEach((e, l) => {
      for (const t of lcfg.targets) e[t]!.B = randoms(e[t]!.B.length, 100 + l, 0.05);
    });
    return host;
  }
  function loraWithRandomB(seed: number): LoraState {
    return LoraState.upload(model.gpu, file.config, lcfg, hostWithRandomB(seed));
  }

  async function run(mode: ZoMode, steps: number, extra: Partial<ZoOptions> = {}, keep?: { after: Awaited<ReturnType<LoraState['toHost']>>[] }) {
    const lora = loraWithRandomB(9);
    const sched = new ZoScheduler(model, lora, { ...base, mode, ...extra });
    const results = [];
    for (let k = 0; k < steps; k++) {
      results.push(await sched.step(k, batches[k]));
      keep?.after.push(await lora.toHost());
    }
    const host = await lora.toHost();
    sched.destroy();
    lora.destroy();
    return { results, host };
  }

  it('mezo, outer and prge give the same slot losses and the same adapter after 5 steps', async () => {
    const runs = { mezo: await run('mezo', 5), outer: await run('outer', 5), prge: await run('prge', 5) };
    for (const mode of ['mezo', 'outer'] as const) {
      for (let k = 0; k < 5; k++) {
        runs.prge.results[k].slotLosses.forEach((l, i) => {
          const other = runs[mode].results[k].slotLosses[i];
          assert.ok(Math.abs(l - other) <= 1e-4 * Math.abs(l), `step ${k} slot ${i}: prge ${l} vs ${mode} ${other}`);
        });
      }
      let maxDiff = 0;
      runs.prge.host.layers.forEach((e, l) => {
        for (const t of lcfg.targets) {
          const a = e[t]!.B;
          const b = runs[mode].host.layers[l][t]!.B;
          for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
        }
      });
      assert.ok(maxDiff <= 1e-6, `adapter max |diff| prge vs ${mode}: ${maxDiff}`);
    }
    // and training did something: every B moved from the B the runs started from
    const start = hostWithRandomB(9);
    assert.ok(runs.prge.results.every((r) => r.applied));
    start.layers.forEach((e, l) => {
      for (const t of lcfg.targets) {
        const a = runs.prge.host.layers[l][t]!.B;
        const moved = Math.max(...Array.from(a, (v, i) => Math.abs(v - e[t]!.B[i])));
        assert.ok(moved > 1e-5, `layer ${l} ${t}: B moved by at most ${moved}`);
      }
    });
  });

  it('q = 3: mezo runs 2q passes (a submit each), outer 2, prge 1; the same slot losses', async () => {
    const q = 3;
    const want = { mezo: 2 * q, outer: 2, prge: 1 };
    const losses: Record<string, number[]> = {};
    for (const mode of ['mezo', 'outer', 'prge'] as const) {
      const lora = loraWithRandomB(9);
      const sched = new ZoScheduler(model, lora, { ...base, q, mode });
      const heads = sched.program.ops.filter((op) => op.label === 'lm_head').length;
      const r = await sched.step(0, batches[0]);
      assert.equal(sched.passes, want[mode], `${mode} passes`);
      assert.equal(heads, want[mode], `${mode}: forward passes recorded in the step program`);
      assert.equal(sched.submitsLastStep, want[mode], `${mode} submits`);
      assert.equal(r.slotLosses.length, 2 * q);
      losses[mode] = r.slotLosses;
      sched.destroy();
      lora.destroy();
    }
    for (const mode of ['mezo', 'outer']) {
      losses.prge.forEach((l, i) => assert.ok(Math.abs(l - losses[mode][i]) <= 1e-4 * Math.abs(l), `slot ${i}: prge ${l} vs ${mode} ${losses[mode][i]}`));
    }
    // the 2q slots really differ (each pass saw its own slot base)
    assert.equal(new Set(losses.mezo.map((l) => l.toFixed(6))).size, 2 * q, `${losses.mezo}`);
  });

  it('a linear lr schedule scales each step\'s update by 1 - step / steps', async () => {
    assert.equal(lrAt({ ...base, mode: 'prge', schedule: 'linear', steps: 4 }, 3), base.lr / 4);
    assert.equal(lrAt({ ...base, mode: 'prge' }, 3), base.lr);
    const l = loraWithRandomB(1);
    assert.throws(() => new ZoScheduler(model, l, { ...base, mode: 'prge', schedule: 'linear' }), /a linear lr schedule needs the total number of steps/);
    l.destroy();
    const constant = { after: [] as Awaited<ReturnType<LoraState['toHost']>>[] };
    const linear = { after: [] as Awaited<ReturnType<LoraState['toHost']>>[] };
    await run('prge', 2, {}, constant);
    await run('prge', 2, { schedule: 'linear', steps: 4 }, linear);
    // step 0 has the full lr in both; step 1 starts from the same B, sees the same losses and Z,
    // and moves B by 3/4 of the constant run's update
    const B = (h: (typeof constant.after)[0]) => h.layers[2].v!.B;
    assert.deepEqual(B(linear.after[0]), B(constant.after[0]));
    const ratio = B(linear.after[1]).map((b, i) => (b - B(linear.after[0])[i]) / (B(constant.after[1])[i] - B(constant.after[0])[i]));
    const worst = Math.max(...Array.from(ratio, (r, i) => (Math.abs(B(constant.after[1])[i] - B(constant.after[0])[i]) > 1e-6 ? Math.abs(r - 0.75) : 0)));
    assert.ok(worst < 1e-2, `update ratio off 3/4 by ${worst}`);
  });

  it('each slot loss and the updated B match the float64 reference with B +/- eps Z_i', async () => {
    const lora = loraWithRandomB(11);
    const before = await lora.toHost();
    const sched = new ZoScheduler(model, lora, { ...base, mode: 'prge' });
    const r = await sched.step(0, batches[0]);
    const after = await lora.toHost();
    sched.destroy();
    lora.destroy();
    const { q, eps, lr } = base;
    const seed = stepSeed(base.seed, 0);
    const zOf = (l: number, t: 'q' | 'v', i: number) => zoNormals(seed, LoraState.tensorId(l, t), i, before.layers[l][t]!.B.length);
    const refLosses: number[] = [];
    for (let g = 0; g < 2 * q; g++) {
      const sign = g < q ? 1 : -1;
      const layers = before.layers.map((e, l) => {
        const out: Record<string, { A: Float32Array; B: Float64Array }> = {};
        for (const t of lcfg.targets as ('q' | 'v')[]) {
          const z = zOf(l, t, g % q);
          out[t] = { A: e[t]!.A, B: Float64Array.from(e[t]!.B, (b, i) => b + sign * eps * z[i]) };
        }
        return out;
      });
      refLosses.push(referenceLoss(file, batches[0].tokens, batches[0].labels, base.seq, { scale: lcfg.alpha / lcfg.rank, rank: lcfg.rank, layers }).loss);
    }
    r.slotLosses.forEach((l, i) => assert.ok(Math.abs(l - refLosses[i]) <= 1e-4 * refLosses[i], `slot ${i}: ${l} vs ${refLosses[i]}`));
    // the update, with the reference's own projected gradients
    let maxDiff = 0;
    before.layers.forEach((e, l) => {
      for (const t of lcfg.targets as ('q' | 'v')[]) {
        const want = Float64Array.from(e[t]!.B);
        for (let i = 0; i < q; i++) {
          const g = (refLosses[i] - refLosses[i + q]) / (2 * eps);
          const z = zOf(l, t, i);
          for (let j = 0; j < want.length; j++) want[j] -= (lr / q) * g * z[j];
        }
        const got = after.layers[l][t]!.B;
        for (let j = 0; j < want.length; j++) maxDiff = Math.max(maxDiff, Math.abs(got[j] - want[j]));
      }
    });
    console.log(`      slot losses ${r.slotLosses.map((v) => v.toFixed(4)).join(' ')}; updated B max |diff| ${maxDiff.toExponential(2)}`);
    assert.ok(maxDiff <= 1e-5, `updated B max |diff| ${maxDiff}`);
  });

  it('a prge step is one queue.submit and never waits for a readback', async () => {
    const lora = loraWithRandomB(5);
    const sched = new ZoScheduler(model, lora, { ...base, mode: 'prge' });
    const dev = model.gpu.device;
    const events: string[] = [];
    const submit = dev.queue.submit.bind(dev.queue);
    dev.queue.submit = (cbs: Iterable<GPUCommandBuffer>) => (events.push('submit'), submit(cbs));
    try {
      // three steps issued back to back, none awaited: all submit before any result is read
      const pending = [0, 1, 2].map((k) => sched.step(k, batches[k]).then((res) => (events.push(`done${k}`), res)));
      await Promise.all(pending);
      assert.deepEqual(events, ['submit', 'submit', 'submit', 'done0', 'done1', 'done2']);
      assert.equal(sched.submitsLastStep, 1);
    } finally {
      dev.queue.submit = submit;
      sched.destroy();
      lora.destroy();
    }
  });

  it('the trainer submits a 10-step run without awaiting any readback (instrumented device)', async () => {
    const dev = model.gpu.device;
    const events: string[] = [];
    const submit = dev.queue.submit.bind(dev.queue);
    const workDone = dev.queue.onSubmittedWorkDone.bind(dev.queue);
    const createBuffer = dev.createBuffer.bind(dev);
    dev.queue.submit = (cbs: Iterable<GPUCommandBuffer>) => (events.push('submit'), submit(cbs));
    dev.queue.onSubmittedWorkDone = () => workDone().then(() => void events.push('work done'));
    dev.createBuffer = (d: GPUBufferDescriptor) => {
      const buf = createBuffer(d);
      const map = buf.mapAsync.bind(buf);
      buf.mapAsync = (...a: Parameters<GPUBuffer['mapAsync']>) => map(...a).then(() => void events.push('mapped'));
      return buf;
    };
    const data = { seqLen: base.seq, batchAt: (k: number) => batches[k % batches.length] };
    const cfg = { ...base, mode: 'prge' as const, steps: 10, evalEvery: 0, checkpointEvery: 0, lora: lcfg };
    const run = async (depth?: number) => {
      events.length = 0;
      const s = await train(model, data, cfg, { depth });
      s.lora.destroy();
      return s;
    };
    try {
      const s = await run();
      const between = events.slice(events.indexOf('submit'), events.lastIndexOf('submit'));
      assert.equal(events.filter((e) => e === 'submit').length >= 10, true, `${events}`);
      assert.deepEqual(between.filter((e) => e !== 'submit'), [], `resolved between two submits: ${events.join(' ')}`);
      assert.deepEqual(s.state.history.map((h) => h.step), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'losses collected in step order');
      assert.ok(s.state.history.every((h) => Number.isFinite(h.loss)));
      // the check bites: a pipeline of 2 waits for step k before submitting step k + 2
      await run(2);
      const shallow = events.slice(events.indexOf('submit'), events.lastIndexOf('submit'));
      assert.ok(shallow.includes('mapped'), `depth 2 should wait: ${events.join(' ')}`);
    } finally {
      dev.queue.submit = submit;
      dev.queue.onSubmittedWorkDone = workDone;
      dev.createBuffer = createBuffer;
    }
  });

  it('a non-finite loss skips the update and leaves B unchanged', async () => {
    const lora = loraWithRandomB(6);
    const before = await lora.toHost();
    const sched = new ZoScheduler(model, lora, { ...base, mode: 'prge' });
    const bad = { tokens: batches[0].tokens, labels: Int32Array.from(batches[0].labels) };
    bad.labels[3] = 512; // a label outside the vocabulary poisons its slot's loss with NaN
    const r = await sched.step(0, bad);
    assert.equal(r.applied, false);
    assert.ok(r.slotLosses.some((l) => Number.isNaN(l)));
    assert.deepEqual((await lora.toHost()).layers, before.layers);
    sched.destroy();
    lora.destroy();
  });

  it('memory: no copy of B per query; the step needs inference at the same rows + adapters + O(rows + q)', async () => {
    const { gpu } = await fx();
    const q = 4;
    const rows = 2 * q * base.batch * base.seq;
    const before = gpu.ledger.totalBytes();
    const plain = new ForwardPass(model, { B: 2 * q * base.batch, T: base.seq, nSelect: rows });
    const inference = gpu.ledger.totalBytes() - before;
    plain.destroy();
    const preLora = new Set(gpu.ledger.entries()); // other specs' adapters may share the labels
    const lora = loraWithRandomB(7);
    const adapterBytes = lora.adapters().reduce((s, a) => s + a.A.bytes + a.B.bytes, 0);
    const start = gpu.ledger.totalBytes();
    const existing = new Set(gpu.ledger.entries());
    const sched = new ZoScheduler(model, lora, { ...base, q, mode: 'prge' });
    const step = gpu.ledger.totalBytes() - start;
    const bBytes = lora.adapters().reduce((s, a) => s + a.B.bytes, 0);
    // what the step allocated (other specs' buffers in this process are not its own)
    const entries = gpu.ledger.entries().filter((e) => !existing.has(e));
    assert.equal(entries.filter((e) => e.category === 'adapters').length, 0, 'the step allocates no adapter copies');
    const own = lora.adapters().flatMap((a) => [a.A.label, a.B.label]);
    const adapterEntries = gpu.ledger.entries().filter((e) => !preLora.has(e) && own.includes(e.label));
    assert.equal(adapterEntries.reduce((s, e) => s + e.bytes, 0), adapterBytes, 'adapters hold A and B once');
    const scratch = entries.filter((e) => e.category === 'scratch' || e.category === 'readback');
    assert.ok(scratch.every((e) => e.bytes <= 64 * (3 * q + 1)), `O(q) scratch: ${JSON.stringify(scratch)}`);
    // beyond inference: labels, per-row losses and x A^T ([rows, r]) plus the O(q) scalars
    const extra = step - inference;
    const allowed = rows * (2 + lcfg.rank) * 4 + 8 * 64 * (3 * q + 1) + 64 * 1024;
    console.log(`      inference ${inference} B, step ${step} B (+${extra}), adapters ${adapterBytes} B, q x |B| would be ${q * bBytes} B`);
    assert.ok(extra <= allowed, `step adds ${extra} bytes, allowed ${allowed}`);
    sched.destroy();
    lora.destroy();
  });
});
