// The ZO optimizers (src/train/optimizer.ts) against float64 references: LOZO's low-rank Z and
// HiZOO's scaled Z in mplora (with HiZOO's unperturbed slot 2q), the momentum / adam / lozo /
// hizoo updates over several steps (random losses, ragged B, poisoned outputs, a non-finite loss
// that must change nothing), whole steps on stories260K (one submit each), exact resume of the
// moments, option validation, and `mobizo finetune --optimizer` end to end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mplora } from '../src/gpu/kernels/mplora';
import { zoGrad, zoOptimizerUpdate, type OptimizerUpdate } from '../src/gpu/kernels/zo_update';
import { StepBlock } from '../src/gpu/step_block';
import type { Tensor } from '../src/gpu/tensor';
import { zoNormal, zoNormals } from '../src/util/philox';
import type { LlamaModelFile } from '../src/formats/config';
import { Model } from '../src/model/model';
import { Tokenizer } from '../src/formats/tokenizer';
import { LmDataset } from '../src/data/lm';
import { readTextDocuments } from '../src/data/readers';
import { demoDocuments } from '../src/data/demo';
import { toyModel, toyTokenizerBytes } from '../src/model/toy';
import { LoraState, type LoraConfig } from '../src/adapter/lora';
import { ZoScheduler, stepSeed, type ZoOptions } from '../src/train/scheduler';
import { ADAM_EPS, OPTIMIZER_STATE_FILE, biasCorrections, optimizerSpec } from '../src/train/optimizer';
import { OptionError, validateRunOptions, validateZoOptions, type ZoOptimizerName } from '../src/train/options';
import { parseCheckpoint, train, type CheckpointFiles, type TrainConfig } from '../src/train/trainer';
import type { TokenBatch } from '../src/data/batch';
import { assetPath, stories260K } from './assets';
import { forBackends, gpuFixture, input, poisoned, randoms, relError, run, TEST_BACKENDS } from './gpu';
import { referenceLoss } from './reference/cpu_model';

const V_BASE = 0x80000000;

/** Z_i of LOZO, float64: (U V^T)[o, j] / sqrt(r') with U, V drawn as mplora / zo_update_lozo draw them. */
function lozoZ(seed: number, tensorId: number, query: number, out: number, rank: number, zr: number): Float64Array {
  const z = new Float64Array(out * rank);
  const v = Array.from({ length: rank * zr }, (_, t) => zoNormal(seed, tensorId, query, V_BASE + t));
  for (let o = 0; o < out; o++) {
    const u = Array.from({ length: zr }, (_, k) => zoNormal(seed, tensorId, query, o * zr + k));
    for (let j = 0; j < rank; j++) {
      let s = 0;
      for (let k = 0; k < zr; k++) s += u[k] * v[j * zr + k];
      z[o * rank + j] = s / Math.sqrt(zr);
    }
  }
  return z;
}

forBackends('ZO optimizers vs float64 references', (fx) => {
  it('mplora: LOZO Z = U V^T / sqrt(r\'), HiZOO Z / sqrt(h) with slot 2q unperturbed', async () => {
    const { gpu, ks } = await fx();
    const [q, rowsPerSlot, outDim, eps, scale, seed, tensorId] = [3, 70, 37, 1e-2, 2, 4242, 11];
    const cases: { rank: number; zoRank?: number; hizoo?: boolean }[] = [
      { rank: 5, zoRank: 1 },
      { rank: 5, zoRank: 3 },
      { rank: 8, zoRank: 2 },
      { rank: 16, zoRank: 8 },
      { rank: 5, hizoo: true },
      { rank: 8, hizoo: true },
    ];
    for (const c of cases) {
      const slots = 2 * q + (c.hizoo ? 1 : 0);
      const rows = slots * rowsPerSlot;
      const ax = randoms(rows * c.rank, 1);
      const b = randoms(outDim * c.rank, 2, 0.5);
      const h = Float32Array.from(randoms(outDim * c.rank, 3), (x) => 0.2 + 4 * Math.abs(x));
      const y0 = randoms(rows * outDim, 4);
      const y = input(gpu, 'y', [rows, outDim], y0);
      const hT = input(gpu, 'h', [outDim, c.rank], h);
      const step = new StepBlock(gpu, 'step');
      step.set({ seed, slotBase: 0, eps, lr: 0 });
      const zo = c.hizoo ? { hessian: hT } : { zoRank: c.zoRank };
      run(gpu, mplora(ks, 'test', input(gpu, 'ax', [rows, c.rank], ax), input(gpu, 'b', [outDim, c.rank], b), y, { rowsPerSlot, q, scale, tensor: tensorId, zo }, step));
      step.destroy();
      const want = Float64Array.from(y0);
      for (let p = 0; p < slots; p++) {
        const sign = p >= 2 * q ? 0 : p < q ? 1 : -1;
        const z = c.hizoo ? Float64Array.from(zoNormals(seed, tensorId, p % q, outDim * c.rank), (v, e) => v / Math.sqrt(h[e])) : lozoZ(seed, tensorId, p % q, outDim, c.rank, c.zoRank!);
        for (let r = p * rowsPerSlot; r < (p + 1) * rowsPerSlot; r++) {
          for (let o = 0; o < outDim; o++) {
            let acc = 0;
            for (let j = 0; j < c.rank; j++) acc += (b[o * c.rank + j] + sign * eps * z[o * c.rank + j]) * ax[r * c.rank + j];
            want[r * outDim + o] += scale * acc;
          }
        }
      }
      const err = relError(await y.read(), want);
      assert.ok(err < 1e-5, `${JSON.stringify(c)}: rel error ${err}`);
    }
  });

  it('mplora refuses a slot 2q without a Hessian, and a bad zoRank', async () => {
    const { gpu, ks } = await fx();
    const step = new StepBlock(gpu, 'step');
    const [q, rps, out, rank] = [2, 3, 5, 4];
    const mk = (slots: number) => [input(gpu, 'ax', [slots * rps, rank], randoms(slots * rps * rank, 1)), input(gpu, 'b', [out, rank], randoms(out * rank, 2)), input(gpu, 'y', [slots * rps, out], randoms(slots * rps * out, 3))] as const;
    const [ax, b, y] = mk(2 * q + 1);
    assert.throws(() => mplora(ks, 't', ax, b, y, { rowsPerSlot: rps, q, scale: 1, tensor: 0 }, step), /5 slots exceed 2q = 4/);
    const [ax2, b2, y2] = mk(2 * q);
    assert.throws(() => mplora(ks, 't', ax2, b2, y2, { rowsPerSlot: rps, q, scale: 1, tensor: 0, zo: { zoRank: 9 } }, step), /zoRank must be an integer in 1..8, got 9/);
    step.destroy();
  });

  it('momentum, adam, lozo and hizoo updates over 4 steps; a non-finite loss changes neither B nor the state', async () => {
    const { gpu, ks } = await fx();
    const [q, eps, lr, tensorId, out, rank] = [3, 1e-3, 0.02, 5, 29, 7]; // 203 elements: 4 ragged workgroups
    const n = out * rank;
    const b0 = randoms(n, 21, 0.3);
    const spec = optimizerSpec({ beta1: 0.8, beta2: 0.95, zoRank: 3, hessianSmooth: 0.3 });
    for (const kind of ['momentum', 'adam', 'lozo', 'hizoo'] as const) {
      const l0 = kind === 'hizoo';
      const nL = 2 * q + (l0 ? 1 : 0);
      const b = input(gpu, 'b', [out, rank], b0);
      const m = input(gpu, 'm', [out, rank], new Float32Array(n).fill(kind === 'hizoo' ? 1 : 0));
      const v = input(gpu, 'v', [out, rank], new Float32Array(n));
      const bias = poisoned(gpu, 'bias', [2]);
      const wantB = Float64Array.from(b0);
      const wantM = new Float64Array(n).fill(kind === 'hizoo' ? 1 : 0);
      const wantV = new Float64Array(n);
      const step = new StepBlock(gpu, 'step');
      let lastB: Float32Array<ArrayBufferLike> = b0;
      let lastM: Float32Array<ArrayBufferLike> = new Float32Array(0);
      for (let k = 0; k < 4; k++) {
        const seed = 1000 + 17 * k;
        const L = Float32Array.from(randoms(nL, 50 + k, 0.01), (x) => 2.5 + x);
        const bad = k === 2; // step 2: a NaN loss (the HiZOO one in L0)
        if (bad) L[nL - 1] = NaN;
        step.set({ seed, slotBase: 0, eps, lr });
        bias.write(Float32Array.from(biasCorrections(spec, k)));
        const losses = input(gpu, 'L', [nL], L);
        const grad = poisoned(gpu, 'g', [q + 1 + (l0 ? q : 0)]);
        const u: OptimizerUpdate =
          kind === 'momentum' ? { kind, beta1: spec.beta1, m, biasCorrection: bias }
          : kind === 'adam' ? { kind, beta1: spec.beta1, beta2: spec.beta2, adamEps: ADAM_EPS, m, v, biasCorrection: bias }
          : kind === 'lozo' ? { kind, zoRank: spec.zoRank }
          : { kind, alpha: spec.hessianSmooth, h: m };
        run(gpu, zoGrad(ks, 't', losses, grad, q, step, l0), zoOptimizerUpdate(ks, 't', grad, b, { q, tensor: tensorId }, step, u));
        const g = await grad.read();
        assert.equal(g[q], bad ? 0 : 1, `${kind} step ${k}: finite flag`);
        if (!bad) {
          const gi = Array.from({ length: q }, (_, i) => (L[i] - L[i + q]) / (2 * eps));
          gi.forEach((x, i) => assert.ok(Math.abs(g[i] - x) <= 1e-3 * Math.abs(x) + 1e-3, `g[${i}] ${g[i]} vs ${x}`));
          const zs = Array.from({ length: q }, (_, i) => (kind === 'lozo' ? lozoZ(seed, tensorId, i, out, rank, spec.zoRank) : zoNormals(seed, tensorId, i, n)));
          const [c1, c2] = biasCorrections(spec, k);
          for (let e = 0; e < n; e++) {
            let gh = 0;
            for (let i = 0; i < q; i++) gh += gi[i] * zs[i][e];
            gh /= q;
            if (kind === 'momentum') {
              wantM[e] = spec.beta1 * wantM[e] + (1 - spec.beta1) * gh;
              wantB[e] -= (lr * wantM[e]) / c1;
            } else if (kind === 'adam') {
              wantM[e] = spec.beta1 * wantM[e] + (1 - spec.beta1) * gh;
              wantV[e] = spec.beta2 * wantV[e] + (1 - spec.beta2) * gh * gh;
              wantB[e] -= (lr * (wantM[e] / c1)) / (Math.sqrt(wantV[e] / c2) + ADAM_EPS);
            } else if (kind === 'lozo') {
              wantB[e] -= lr * gh;
            } else {
              let c = 0;
              for (let i = 0; i < q; i++) {
                const ci = Math.abs(L[i] + L[i + q] - 2 * L[2 * q]) / (2 * eps * eps);
                if (e === 0) assert.ok(Math.abs(g[q + 1 + i] - ci) <= 2e-3 * ci + 1e-2, `curvature ${i}: ${g[q + 1 + i]} vs ${ci}`);
                c += ci * zs[i][e] ** 2;
              }
              wantM[e] = (1 - spec.hessianSmooth) * wantM[e] + spec.hessianSmooth * (c / q) * wantM[e];
              wantB[e] -= (lr * gh) / Math.sqrt(wantM[e]);
            }
          }
        }
        const tag = `${kind} step ${k}`;
        const got = await b.read();
        // HiZOO's curvature |L+ + L- - 2 L0| / (2 eps^2) cancels in f32 on the GPU (L ~ 2.5, the
        // differences ~ 1e-2): ~1e-5 relative per step, compounding in h
        const tol = kind === 'hizoo' ? 1e-4 : 2e-5;
        assert.ok(relError(got, wantB) < tol, `${tag}: B rel error ${relError(got, wantB)}`);
        if (kind !== 'lozo') assert.ok(relError(await m.read(), wantM) < tol, `${tag}: ${kind === 'hizoo' ? 'h' : 'm'} rel error ${relError(await m.read(), wantM)}`);
        if (kind === 'adam') assert.ok(relError(await v.read(), wantV) < 2e-5, `${tag}: v rel error`);
        if (bad) {
          assert.deepEqual(got, lastB, `${tag}: B unchanged`);
          assert.deepEqual(await m.read(), lastM, `${tag}: state unchanged`);
        }
        lastB = got;
        lastM = await m.read();
        losses.destroy();
        grad.destroy();
      }
      step.destroy();
      for (const t of [b, m, v, bias] as Tensor[]) t.destroy();
    }
  });

  it('option validation names the option', () => {
    const bad: [Record<string, unknown>, string, RegExp][] = [
      [{ optimizer: 'lion' }, 'optimizer', /must be one of sgd, momentum, adam, lozo, hizoo, got lion/],
      [{ beta1: 1 }, 'beta1', /must be in \[0, 1\), got 1/],
      [{ beta2: -0.1 }, 'beta2', /must be in \[0, 1\), got -0.1/],
      [{ zoRank: 0 }, 'zoRank', /1..8, got 0/],
      [{ zoRank: 2.5 }, 'zoRank', /1..8, got 2.5/],
      [{ hessianSmooth: 0 }, 'hessianSmooth', /\(0, 1\], got 0/],
      [{ optimizer: 'hizoo', mode: 'outer' }, 'optimizer', /hizoo needs mode prge or mezo/],
    ];
    for (const [o, name, re] of bad) {
      assert.throws(() => validateRunOptions(o), (e: unknown) => e instanceof OptionError && e.option === name && re.test(e.problem), JSON.stringify(o));
    }
    for (const optimizer of ['sgd', 'momentum', 'adam', 'lozo', 'hizoo'] as ZoOptimizerName[]) {
      validateZoOptions({ mode: 'prge', q: 2, eps: 1e-2, lr: 1e-3, batch: 1, seq: 8, seed: 0, optimizer, beta1: 0, beta2: 0.999, zoRank: 8, hessianSmooth: 1 });
    }
  });
});

describe('ZO optimizers: whole steps on stories260K', function () {
  let file: LlamaModelFile;
  let model: Model;
  let batches: TokenBatch[];
  const lcfg: LoraConfig = { rank: 4, alpha: 8, targets: ['q', 'v'] };
  const base: ZoOptions = { mode: 'prge', q: 2, eps: 1e-2, lr: 5e-3, batch: 2, seq: 16, seed: 3 };

  before(async () => {
    const { gpu } = await gpuFixture();
    let tok: Tokenizer;
    ({ file, tok } = stories260K());
    model = await Model.load(gpu, file);
    const text = fs.readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 20000);
    const data = new LmDataset(readTextDocuments(text, 'tinystories'), tok, base.seq);
    batches = Array.from({ length: 3 }, (_, k) => data.batchAt(k, base.batch, 1));
  });

  function loraWithRandomB(seed: number): LoraState {
    const host = LoraState.initHost(file.config, lcfg, seed);
    host.layers.forEach((e, l) => {
      for (const t of lcfg.targets) e[t]!.B = randoms(e[t]!.B.length, 100 + l, 0.05);
    });
    return LoraState.upload(model.gpu, file.config, lcfg, host);
  }

  const refLoss = (b: TokenBatch, layers: Record<string, { A: Float32Array; B: Float64Array | Float32Array }>[]) =>
    referenceLoss(file, b.tokens, b.labels, base.seq, { scale: lcfg.alpha / lcfg.rank, rank: lcfg.rank, layers }).loss;

  it('lozo and hizoo: each slot loss (and HiZOO\'s unperturbed L0) matches the float64 reference; one submit per step', async () => {
    for (const optimizer of ['lozo', 'hizoo'] as const) {
      const lora = loraWithRandomB(7);
      const sched = new ZoScheduler(model, lora, { ...base, optimizer, zoRank: 2, hessianSmooth: 0.5 });
      assert.equal(sched.passes, 1);
      assert.equal(sched.slotsPerPass, 2 * base.q + (optimizer === 'hizoo' ? 1 : 0));
      await sched.step(0, batches[0]); // hizoo: h moves away from 1
      const before = await lora.toHost();
      const h = optimizer === 'hizoo' ? await Promise.all(lora.adapters().map((ad) => ad.zo!.hessian!.read())) : [];
      const r = await sched.step(1, batches[1]);
      assert.equal(sched.submitsLastStep, 1);
      const seed = stepSeed(base.seed, 1);
      const ads = lora.adapters();
      for (let g = 0; g < 2 * base.q + (optimizer === 'hizoo' ? 1 : 0); g++) {
        const sign = g >= 2 * base.q ? 0 : g < base.q ? 1 : -1;
        const layers = before.layers.map((e, l) => {
          const o: Record<string, { A: Float32Array; B: Float64Array }> = {};
          for (const t of lcfg.targets) {
            const i = ads.findIndex((a) => a.layer === l && a.target === t);
            const B = e[t]!.B;
            const [out, rank] = [B.length / lcfg.rank, lcfg.rank];
            const z = optimizer === 'lozo' ? lozoZ(seed, ads[i].id, g % base.q, out, rank, 2) : Float64Array.from(zoNormals(seed, ads[i].id, g % base.q, B.length), (v, k) => v / Math.sqrt(h[i][k]));
            o[t] = { A: e[t]!.A, B: Float64Array.from(B, (b, k) => b + sign * base.eps * z[k]) };
          }
          return o;
        });
        const want = refLoss(batches[1], layers);
        const got = g < 2 * base.q ? r.slotLosses[g] : r.unperturbedLoss!;
        assert.ok(Math.abs(got - want) <= 1e-4 * want, `${optimizer} slot ${g}: ${got} vs ${want}`);
      }
      if (optimizer === 'hizoo') assert.ok(h.some((x) => x.some((v) => Math.abs(v - 1) > 1e-4)), 'h moved after step 0');
      sched.destroy();
      assert.equal(lora.adapters()[0].zo, undefined, 'destroy clears the form of Z');
      lora.destroy();
    }
  });

  it('every optimizer: one queue.submit per prge step, no readback awaited in between', async () => {
    for (const optimizer of ['sgd', 'momentum', 'adam', 'lozo', 'hizoo'] as const) {
      const lora = loraWithRandomB(5);
      const sched = new ZoScheduler(model, lora, { ...base, optimizer });
      const dev = model.gpu.device;
      const events: string[] = [];
      const submit = dev.queue.submit.bind(dev.queue);
      dev.queue.submit = (cbs: Iterable<GPUCommandBuffer>) => (events.push('submit'), submit(cbs));
      try {
        const pending = [0, 1, 2].map((k) => sched.step(k, batches[k]).then((res) => (events.push(`done${k}`), res)));
        const rs = await Promise.all(pending);
        assert.deepEqual(events, ['submit', 'submit', 'submit', 'done0', 'done1', 'done2'], optimizer);
        assert.ok(rs.every((x) => x.applied && Number.isFinite(x.loss)), optimizer);
      } finally {
        dev.queue.submit = submit;
        sched.destroy();
        lora.destroy();
      }
    }
  });
});

describe('ZO optimizers: checkpoints and the CLI', function () {
  const root = path.resolve(import.meta.dirname, '..');

  for (const backend of TEST_BACKENDS) {
  it(`momentum, adam and hizoo [${backend}]: a resumed run (state from optimizer_state.safetensors) reproduces the uninterrupted one exactly`, async () => {
    const { gpu } = await gpuFixture(backend);
    const file = toyModel();
    const model = await Model.load(gpu, file);
    const tok = Tokenizer.fromLlama2c(toyTokenizerBytes(), file.config.vocabSize, 'toy');
    const data = new LmDataset(demoDocuments(60), tok, 16).split(0.1, 0);
    for (const optimizer of ['momentum', 'adam', 'hizoo'] as const) {
      const cfg: TrainConfig = {
        mode: 'prge', q: 2, eps: 1e-2, lr: optimizer === 'adam' ? 2e-3 : 0.05, batch: 2, seq: 16, seed: 4, steps: 6, evalEvery: 0, checkpointEvery: 3,
        lora: { rank: 4, alpha: 8, targets: ['q', 'v', 'down'] }, optimizer, hessianSmooth: 0.2,
      };
      const saved: CheckpointFiles[] = [];
      const store = { save: async (f: CheckpointFiles) => void saved.push(f) };
      const full = await train(model, data.train, cfg, { store });
      assert.equal(saved.length, 2);
      const [mid, end] = saved;
      assert.ok(mid[OPTIMIZER_STATE_FILE] && end[OPTIMIZER_STATE_FILE], `${optimizer}: the state is checkpointed`);
      const files = (f: CheckpointFiles, opt = true) => ({ config: f['adapter_config.json'], safetensors: f['adapter_model.safetensors'], state: f['trainer_state.json'], optimizer: opt ? f[OPTIMIZER_STATE_FILE] : undefined });
      const restSaved: CheckpointFiles[] = [];
      const rest = await train(model, data.train, { ...cfg, mode: 'mezo' }, { resume: parseCheckpoint(files(mid), model, 'mem'), store: { save: async (f) => void restSaved.push(f) } });
      assert.deepEqual(rest.state.history, full.state.history, `${optimizer}: same losses, step for step`);
      assert.deepEqual((await rest.lora.toHost()).layers, (await full.lora.toHost()).layers, `${optimizer}: the same adapter`);
      assert.deepEqual(restSaved.at(-1)![OPTIMIZER_STATE_FILE], end[OPTIMIZER_STATE_FILE], `${optimizer}: the same optimizer state`);
      assert.notDeepEqual(mid[OPTIMIZER_STATE_FILE], end[OPTIMIZER_STATE_FILE]);
      // the manifest in trainer_state.json lists the moments: a checkpoint without them is refused as incomplete
      assert.throws(() => parseCheckpoint(files(mid, false), model, 'mem'), /mem\/optimizer_state.safetensors: missing, but trainer_state.json lists it/);
      await assert.rejects(train(model, data.train, { ...cfg, optimizer: 'sgd' }, { resume: parseCheckpoint(files(mid), model, 'mem') }), new RegExp(`trained with optimizer = ${optimizer}, this run has sgd`));
      for (const s of [full, rest]) s.lora.destroy();
    }
    model.destroy();
  });
  }

  it('mobizo finetune --optimizer adam trains end to end; a bad --optimizer / --beta1 names the flag', () => {
    const mobizo = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), 'finetune', ...args], { encoding: 'utf8', timeout: 600_000 });
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-opt-'));
    try {
      const r = mobizo('--optimizer', 'adam', '--lr', '1e-3', '--steps', '4', '--seq', '16', '--batch', '2', '--q', '2', '--eval-fraction', '0', '--eval-size', '4', '--json', '--no-compare', '--out', out);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.filter((l) => 'slotLosses' in l).length, 4);
      assert.ok(fs.existsSync(path.join(out, 'checkpoint-4', OPTIMIZER_STATE_FILE)));
      const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint-4', 'trainer_state.json'), 'utf8'));
      assert.equal(state.config.optimizer, 'adam');
      const bad = mobizo('--optimizer', 'lion', '--steps', '1');
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /--optimizer must be one of sgd, momentum, adam, lozo, hizoo, got lion/);
      const b1 = mobizo('--beta1', '1.5', '--steps', '1');
      assert.match(b1.stderr, /--beta1 must be in \[0, 1\), got 1.5/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
