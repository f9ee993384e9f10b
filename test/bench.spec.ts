// The bench code cannot rot: a minimal bench run in Node (every scenario, stories260K, tiny
// shapes: ours vs gpu.js webgpu vs plain JS, the forward against gpu.js's, one ZO step per mode),
// its text and HTML reports; and the kernel profiler on one forward pass and one prge step.
import assert from 'node:assert/strict';
import { Model } from '../src/model/model';
import { TOY_CONFIG, toyModel } from '../src/model/toy';
import { ForwardPass } from '../src/model/forward';
import { dispatchCost, Profiler } from '../src/gpu/profiler';
import { fuseLoraEnabled } from '../src/gpu/kernels/matmul_lora';
import type { Gpu } from '../src/gpu/device';
import { nodeBenchEnv, nodeGpu } from '../bench/node_env';
import { profileStep } from '../bench/profile_step';
import { deviceInfo, htmlReport, SCHEMA, textReport, type BenchReport } from '../bench/report';
import { benchDefaults, linearShapes, runBench, type PresetResult } from '../bench/scenarios';
import { stories260K } from './assets';

describe('bench: minimal run in Node (Dawn)', function () {
  this.timeout(300_000);
  let result: PresetResult;
  let report: BenchReport;

  before(async function () {
    const log: string[] = [];
    const env = await nodeBenchEnv((l) => log.push(l));
    const o = { ...benchDefaults(true), batch: 1, seq: 8, qs: [1], reps: 1, minMs: 0 };
    const probe = await nodeGpu();
    const adapter = deviceInfo(probe);
    probe.device.destroy();
    [result] = await runBench(env, o);
    report = { schema: SCHEMA, startedAt: new Date().toISOString(), wallMs: 1, runtime: 'node', adapter, options: o, presets: [result] };
    assert.deepEqual(result.errors, {}, `scenario errors; log:\n${log.join('\n')}`);
  });

  it('matmul: one row per linear shape; ours and gpu.js webgpu agree with plain JS', function () {
    const m = result.matmul!;
    assert.equal(m.rows.length, linearShapes(result.config).length);
    for (const r of m.rows) {
      assert.equal(r.M, 8);
      assert.ok(r.impls.ours.gflops! > 0 && r.impls.js.gflops! > 0, JSON.stringify(r.impls));
      assert.ok(r.impls.ours.maxAbsDiff! < 1e-4, `ours ${r.names}: ${r.impls.ours.maxAbsDiff}`);
      assert.ok(r.impls['gpujs-webgpu'].maxAbsDiff! < 1e-4, `gpu.js ${r.names}: ${JSON.stringify(r.impls['gpujs-webgpu'])}`);
      assert.match(r.impls['gpujs-webgl2'].skipped ?? '', /WebGL2/);
    }
    assert.ok(m.ratios['gpujs-webgpu']! > 0);
  });

  it('forward: gpu.js logits equal ours within 1e-3', function () {
    const f = result.forward!;
    assert.equal(f.tokens, 8);
    assert.equal(f.gpujs.skipped, undefined);
    assert.ok(f.gpujs.ok, `max |diff| ${f.gpujs.maxAbsDiff}`);
    assert.ok(f.ours.tokensPerSec > 0 && f.ratio! > 0);
  });

  it('zo: each mode timed, speedups and the overhead ratio computed, memory per scenario', function () {
    const [row] = result.zo!.rows;
    assert.equal(row.skipped, undefined);
    assert.deepEqual(
      Object.fromEntries(Object.entries(row.modes!).map(([k, v]) => [k, v.submits])),
      { mezo: 2, outer: 2, prge: 1 },
    );
    for (const v of Object.values(row.modes!)) assert.ok(v.ms > 0 && v.heldBytes > 0);
    assert.ok(Number.isFinite(row.speedup!.prge) && Number.isFinite(row.overhead!));
    assert.ok(row.modes!.prge.heldBytes > row.modes!.mezo.heldBytes, 'prge holds 2q slots of activations');
    for (const s of ['matmul', 'forward', 'zo', 'decode'] as const) assert.ok(result.memory[s]!.peakTotal > 0, s);
  });

  it('decode: greedy tokens with the KV cache agree with one uncached pass, tokens/s measured', function () {
    const d = result.decode!;
    assert.equal(d.prompt, 8);
    assert.equal(d.tokens, 16);
    assert.ok(d.agrees, 'a greedy token differs from the uncached pass argmax');
    assert.ok(d.tokensPerSec > 0 && Number.isFinite(d.tokensPerSec));
  });

  it('renders the text and HTML reports', function () {
    const text = textReport(report);
    assert.match(text, /stories260K/);
    assert.match(text, /prge speedup/);
    const html = htmlReport(report);
    assert.equal((html.match(/<svg/g) ?? []).length, 5, 'matmul, forward, ZO ms, ZO ratios, memory charts');
    assert.match(html, /OK, &le; 1e-3/);
  });
});

describe('profiler (timestamp-query)', function () {
  this.timeout(300_000);
  let gpu: Gpu;

  before(async function () {
    gpu = await nodeGpu();
  });

  after(function () {
    gpu?.device.destroy();
  });

  it('counts FLOPs and bytes from params by kernel name', function () {
    assert.deepEqual(dispatchCost('matmul_vec4', { M: 2, N: 3, K: 4, accumulate: 0 }), { flops: 48, bytes: 4 * (8 + 12 + 6) });
    // issue 11: a launch without params, or a kernel without a formula, is an error, not a blank
    assert.throws(() => dispatchCost('matmul', undefined), /kernel matmul was dispatched without params/);
    assert.throws(() => dispatchCost('no_such_kernel', { n: 1 }), /kernel no_such_kernel has no cost formula/);
  });

  it('times every dispatch of a forward pass; one row per kernel', async function () {
    assert.ok(gpu.features.has('timestamp-query'), 'the Dawn adapter should offer timestamp-query');
    const model = await Model.load(gpu, toyModel(7, TOY_CONFIG));
    const fwd = new ForwardPass(model, { B: 1, T: 8, nSelect: 8 });
    try {
      fwd.setInput(Array.from({ length: 8 }, (_, i) => 3 + i), Array.from({ length: 8 }, (_, i) => i));
      for (const prof of [new Profiler(gpu), new Profiler(Object.assign(Object.create(gpu) as Gpu, { features: new Set<string>() }))]) {
        const p = await prof.profile(fwd.program);
        const ds = fwd.program.dispatches();
        assert.equal(p.method, prof.hasTimestamps ? 'timestamp' : 'host');
        assert.equal(p.dispatches.length, ds.length);
        for (const d of p.dispatches) assert.ok(d.ns > 0, `${d.label} (${d.kernel}): ${d.ns} ns`);
        const names = p.kernels.map((k) => k.kernel);
        assert.equal(new Set(names).size, names.length, 'one row per kernel');
        assert.deepEqual([...names].sort(), [...new Set(ds.map((d) => d.kernel.name))].sort());
        assert.ok(Math.abs(p.kernels.reduce((s, k) => s + k.share, 0) - 1) < 1e-9);
        for (const d of p.dispatches) assert.ok(d.flops !== undefined && d.bytes! > 0, `no cost for ${d.label}`);
        const att = p.kernels.find((k) => k.kernel === 'attention')!;
        assert.ok(att.file === 'shaders/attention.wgsl' && att.findings.length > 0 && att.staticCost! > 0, JSON.stringify(att));
      }
    } finally {
      fwd.destroy();
      model.destroy();
    }
  });

  it('profiles one prge step: forward, losses, gradient and every B update', async function () {
    const file = stories260K().file;
    const r = await profileStep(gpu, file, 'checkpoint', { preset: 'stories260K', q: 1, batch: 1, seq: 8, rank: 4, targets: ['q', 'v'], repeats: 1, seed: 0 }, 'node');
    const kernels = r.profile.kernels.map((k) => k.kernel);
    // the MP-LoRA term: its own kernel, or fused into the target's matmul (MOBIZO_FUSE_LORA)
    const lora = fuseLoraEnabled() ? 'matmul_lora_vec4' : 'mplora';
    for (const k of ['matmul_vec4', lora, 'attention', 'xent', 'slot_loss', 'zo_grad', 'zo_update']) assert.ok(kernels.includes(k), `${k} missing from ${kernels}`);
    assert.equal(r.profile.dispatches.filter((d) => d.kernel === 'zo_update').length, 2 * file.config.nLayers);
    assert.ok(Number.isFinite(r.step.loss));
  });
});
