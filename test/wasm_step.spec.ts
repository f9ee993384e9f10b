// A whole prge ZO step on both backends (stories260K): the same slot losses and the same B after
// the update; on the WASM backend the step is bit-identical whatever the number of threads.
// (Mode equivalence, the float64 reference of a step and resume run on both backends in
// zo_step.spec.ts and optimizers.spec.ts.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { LoraState, type LoraConfig } from '../src/adapter/lora';
import type { CpuDevice } from '../src/gpu/cpu/device';
import type { TokenBatch } from '../src/data/batch';
import { LmDataset } from '../src/data/lm';
import { readTextDocuments } from '../src/data/readers';
import { Model } from '../src/model/model';
import { ZoScheduler, type ZoOptions } from '../src/train/scheduler';
import { assetPath, stories260K } from './assets';
import { gpuFixture, randoms } from './gpu';

describe('a prge step on WebGPU and on WASM (stories260K)', function () {
  const lcfg: LoraConfig = { rank: 4, alpha: 8, targets: ['q', 'v', 'down'] };
  const opts: ZoOptions = { mode: 'prge', q: 2, eps: 1e-2, lr: 5e-3, batch: 2, seq: 16, seed: 3 };
  let batches: TokenBatch[];

  before(() => {
    const { tok } = stories260K();
    const text = fs.readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 20000);
    const data = new LmDataset(readTextDocuments(text, 'tinystories'), tok, opts.seq);
    batches = Array.from({ length: 2 }, (_, k) => data.batchAt(k, opts.batch, 1));
  });

  /** Two prge steps on a fresh model and adapter (random B) of `backend`: the losses and every B after each. */
  async function steps(backend: 'webgpu' | 'wasm', threads?: number) {
    const { gpu } = await gpuFixture(backend, threads);
    if (threads) (gpu.device as unknown as CpuDevice).parallelBytes = 0; // split every dispatch
    const { file } = stories260K();
    const model = await Model.load(gpu, file);
    const host = LoraState.initHost(file.config, lcfg, 9);
    host.layers.forEach((e, l) => {
      for (const t of lcfg.targets) e[t]!.B = randoms(e[t]!.B.length, 100 + l, 0.05);
    });
    const lora = LoraState.upload(gpu, file.config, lcfg, host);
    const sched = new ZoScheduler(model, lora, opts);
    const out: { losses: number[]; B: Float32Array }[] = [];
    try {
      for (let k = 0; k < batches.length; k++) {
        const r = await sched.step(k, batches[k]);
        assert.ok(r.applied, `${backend} step ${k} applied`);
        const h = await lora.toHost();
        out.push({ losses: r.slotLosses, B: Float32Array.from(h.layers.flatMap((e) => lcfg.targets.flatMap((t) => Array.from(e[t]!.B)))) });
      }
      gpu.throwIfFailed(`${backend} steps`);
    } finally {
      sched.destroy();
      lora.destroy();
      model.destroy();
    }
    return { out, start: Float32Array.from(host.layers.flatMap((e) => lcfg.targets.flatMap((t) => Array.from(e[t]!.B)))) };
  }

  it('the same slot losses (rel <= 1e-5) and the same B after each update', async () => {
    const gpu = await steps('webgpu');
    const cpu = await steps('wasm');
    for (let k = 0; k < batches.length; k++) {
      gpu.out[k].losses.forEach((l, i) => {
        const w = cpu.out[k].losses[i];
        assert.ok(Math.abs(l - w) <= 1e-5 * Math.abs(l), `step ${k} slot ${i}: webgpu ${l}, wasm ${w}`);
      });
      let diff = 0;
      let moved = 0;
      const a = gpu.out[k].B;
      const b = cpu.out[k].B;
      for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
        moved = Math.max(moved, Math.abs(a[i] - gpu.start[i]));
      }
      // the update moved B by `moved`; the backends agree to a small fraction of it
      assert.ok(moved > 1e-4, `step ${k}: B moved by ${moved} only`);
      assert.ok(diff <= 1e-3 * moved, `step ${k}: max |B webgpu - B wasm| ${diff} vs update ${moved}`);
    }
  });

  it('on WASM, 1, 2 and 3 threads give the same bits (losses and B)', async () => {
    const one = await steps('wasm', 1);
    for (const threads of [2, 3]) {
      const many = await steps('wasm', threads);
      for (let k = 0; k < batches.length; k++) {
        assert.deepEqual(many.out[k].losses, one.out[k].losses, `${threads} threads, step ${k}: slot losses`);
        assert.ok(Buffer.from(many.out[k].B.buffer).equals(Buffer.from(one.out[k].B.buffer)), `${threads} threads, step ${k}: B differs from 1 thread`);
      }
    }
  });
});
