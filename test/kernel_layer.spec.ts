// The kernel layer: every shader parses and declares what its wrapper binds, uniforms are packed
// by name from reflection, and wrong buffers or params give errors naming kernel and binding.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { matmul } from '../src/gpu/kernels/matmul';
import { MAX_RANK, mplora } from '../src/gpu/kernels/mplora';
import { INCLUDES, LIMITS, SHADERS, dumpMatcher, finalWgsl, Kernels, limitsOf, preprocess, shaderConst } from '../src/gpu/kernels/registry';
import { grid1d, Kernel } from '../src/gpu/kernel';
import { COSTS, dispatchCost, Profiler } from '../src/gpu/profiler';
import { reflectKernel } from '../src/gpu/reflect';
import { StepBlock } from '../src/gpu/step_block';
import { LoraState, type LoraConfig } from '../src/adapter/lora';
import type { LlamaConfig } from '../src/formats/config';
import { ForwardPass } from '../src/model/forward';
import { Model } from '../src/model/model';
import { TOY_CONFIG, toyModel } from '../src/model/toy';
import { gpuFixture, input, poisoned, randoms, relError } from './gpu';

describe('kernel layer', () => {
  it('registers every shaders/*.wgsl file, and each declares its entry points', () => {
    const files = fs.readdirSync(path.join(import.meta.dirname, '..', 'shaders')).filter((f) => f.endsWith('.wgsl'));
    const registered = [...Object.keys(SHADERS), ...Object.keys(INCLUDES).map((f) => f.replace('.wgsl', ''))];
    assert.deepEqual(files.map((f) => f.replace('.wgsl', '')).sort(), registered.sort());
    for (const [file, [src, entries]] of Object.entries(SHADERS)) {
      const r = new WgslReflect(preprocess(file, src));
      assert.ok(entries.some((e) => e === file || e.startsWith(`${file.split('_')[0]}_`)), `${file}.wgsl has no entry point named like the file`);
      for (const e of entries) assert.ok(r.entry.compute.some((f) => f.name === e), `${file}.wgsl lacks entry ${e}`);
    }
  });

  it('an unknown #include is an error naming the shader', () => {
    assert.throws(() => preprocess('shaders/x.wgsl', '#include "nope.wgsl"\nfn f() {}'), /shader shaders\/x\.wgsl: #include "nope\.wgsl" names no file/);
  });

  it('every storage binding carries a shape comment', () => {
    for (const [file, [src]] of Object.entries(SHADERS)) {
      for (const line of src.split('\n')) {
        if (/var<storage/.test(line)) assert.match(line, /\/\/ \[.+\]/, `${file}.wgsl: binding without a shape comment: ${line.trim()}`);
      }
    }
  });

  it('packs params by name and rejects missing, unknown and mistyped fields', async () => {
    const { ks } = await gpuFixture();
    const k = ks.get('matmul');
    const view = new DataView(k.pack({ M: 3, N: 4, K: 5, accumulate: 1 }));
    assert.deepEqual([0, 4, 8, 12].map((o) => view.getUint32(o, true)), [3, 4, 5, 1]);
    assert.throws(() => k.pack({ M: 3, N: 4, K: 5 }), /kernel matmul: missing param accumulate/);
    assert.throws(() => k.pack({ M: 3, N: 4, K: 5, accumulate: 0, extra: 1 }), /kernel matmul: unknown param extra/);
    assert.throws(() => k.pack({ M: -1, N: 4, K: 5, accumulate: 0 }), /kernel matmul: param M = -1 is not a valid u32/);
    assert.throws(() => k.pack({ M: 1.5, N: 4, K: 5, accumulate: 0 }), /param M = 1.5/);
    const rms = ks.get('rmsnorm');
    assert.equal(new DataView(rms.pack({ rows: 1, width: 2, eps: 0.5, accumulate: 0 })).getFloat32(8, true), 0.5);
  });

  it('rejects missing and unknown bindings, and wrong shapes, by name', async () => {
    const { gpu, ks } = await gpuFixture();
    const x = input(gpu, 'x', [2, 3], randoms(6, 1));
    const w = input(gpu, 'w', [4, 3], randoms(12, 2));
    const y = poisoned(gpu, 'y', [2, 4]);
    const k = ks.get('matmul');
    const params = { M: 2, N: 4, K: 3, accumulate: 0 };
    assert.throws(() => k.dispatch('t', { x, w }, params, [1, 1, 1]), /kernel matmul \(t\): binding y not given/);
    assert.throws(() => k.dispatch('t', { x, w, y, z: y }, params, [1, 1, 1]), /kernel matmul \(t\): unknown binding\(s\) z/);
    const bad = poisoned(gpu, 'y_bad', [2, 5]);
    assert.throws(() => matmul(ks, 'proj', x, w, bad), /matmul proj: tensor y_bad has shape \[2,5\], expected \[2,4\]/);
  });

  it('folds big 1-D grids into two dimensions', () => {
    assert.deepEqual(grid1d(100), { workgroups: [2, 1, 1], stride: 128 });
    const g = grid1d(65535 * 64 + 1);
    assert.equal(g.workgroups[0], 65535);
    assert.equal(g.workgroups[1], 2);
    assert.ok(g.workgroups[0] * g.workgroups[1] * 64 >= 65535 * 64 + 1);
  });

  it('the literal 65535 lives in grid1d only (shaders read the grid from num_workgroups or a stride)', () => {
    const root = path.join(import.meta.dirname, '..');
    const files = [
      ...fs.readdirSync(path.join(root, 'shaders')).map((f) => `shaders/${f}`),
      ...fs.readdirSync(path.join(root, 'src/gpu'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => `src/gpu/${f}`),
    ];
    const hits = files.filter((f) => /\b65535\b/.test(fs.readFileSync(path.join(root, f), 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')));
    assert.deepEqual(hits, ['src/gpu/kernel.ts']);
  });

  it('every entry point has a cost formula; a kernel without one, or a param it lacks, is an error', async () => {
    for (const [file, [, entries]] of Object.entries(SHADERS)) {
      for (const e of entries) assert.equal(typeof (COSTS as Record<string, unknown>)[e], 'function', `${file}.wgsl entry ${e} has no cost formula`);
    }
    assert.deepEqual(dispatchCost('matmul_vec4', { M: 2, N: 3, K: 4, accumulate: 0 }), { flops: 48, bytes: 4 * (8 + 12 + 6) });
    assert.throws(() => dispatchCost('no_such_kernel', { n: 1 }), /profile: kernel no_such_kernel has no cost formula/);
    assert.throws(() => dispatchCost('swiglu', { stride: 64 }), /profile: cost of kernel swiglu: param n is missing/);
    assert.throws(() => dispatchCost('swiglu', null), /kernel swiglu was dispatched without params/);
    // a real dispatch of a kernel that no wrapper knows: profiling it throws instead of leaving a blank
    const { gpu } = await gpuFixture();
    const code = `struct Params { n: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // [n]
@compute @workgroup_size(64) fn unlisted(@builtin(global_invocation_id) gid: vec3<u32>) { if (gid.x < params.n) { out[gid.x] = 1.0; } }`;
    const k = await Kernel.create(gpu, 'test/unlisted.wgsl', code, reflectKernel('test/unlisted.wgsl', code, 'unlisted'));
    const d = k.dispatch('t', { out: poisoned(gpu, 'out', [4]) }, { n: 4 }, [1, 1, 1]);
    await assert.rejects(new Profiler(gpu).profile([d]), /profile: kernel unlisted has no cost formula/);
  });

  it('limits are WGSL overrides set from TS: MAX_RANK is declared once, in LIMITS', async () => {
    const src = preprocess('shaders/mplora.wgsl', SHADERS.mplora[0]);
    assert.match(src, /^override MAX_RANK: u32;/m, 'mplora.wgsl declares MAX_RANK as an override without a default');
    for (const [file, [code]] of Object.entries(SHADERS)) {
      for (const name of Object.keys(LIMITS)) assert.doesNotMatch(code, new RegExp(`const ${name}\\b`), `${file}.wgsl redefines ${name}`);
    }
    assert.deepEqual(limitsOf(src), { MAX_RANK: 64, MAX_ZO_RANK: 8 });
    assert.equal(MAX_RANK, LIMITS.MAX_RANK);
    // constants WGSL must keep const (private array sizes, tiles) are read from the shader, not repeated
    assert.equal(shaderConst('mplora', 'OT'), 16);
    assert.throws(() => shaderConst('mplora', 'NOPE'), /shaders\/mplora\.wgsl: no integer constant NOPE/);
    const { gpu, ks } = await gpuFixture();
    const rank = MAX_RANK + 1;
    const ax = input(gpu, 'ax', [2, rank], randoms(2 * rank, 1));
    const b = input(gpu, 'b', [3, rank], randoms(3 * rank, 2));
    assert.throws(() => mplora(ks, 't', ax, b, poisoned(gpu, 'y', [2, 3]), { rowsPerSlot: 2, q: 1, scale: 1, tensor: 0 }, new StepBlock(gpu, 'step')), /rank 65 exceeds the kernel's 64/);
  });

  it('MOBIZO_DUMP_WGSL prints the final WGSL (includes expanded, overrides set) of matching kernels', async () => {
    const m = dumpMatcher('rope, rms*_rows')!;
    assert.ok(m(['rope']) && m(['rmsnorm_rows']) && !m(['rmsnorm']) && !m(['gather']));
    assert.ok(dumpMatcher('all')!(['x']) && dumpMatcher('1')!(['x']));
    assert.equal(dumpMatcher(undefined), null);
    assert.equal(dumpMatcher(''), null);
    assert.equal(dumpMatcher('0'), null);
    assert.equal(finalWgsl('override A: u32;\noverride B: f32 = 1.0;\noverride C = 2;\n', { A: 3, B: 0.5, C: 4 }), 'override A: u32 = 3u;  // set from TS\noverride B: f32 = 0.5f;  // set from TS\noverride C = 4;  // set from TS\n');
    const { gpu } = await gpuFixture();
    const dumps: string[] = [];
    const saved = process.env.MOBIZO_DUMP_WGSL;
    process.env.MOBIZO_DUMP_WGSL = 'mplora';
    try {
      await Kernels.load(gpu, { log: (t) => dumps.push(t) });
    } finally {
      if (saved === undefined) delete process.env.MOBIZO_DUMP_WGSL;
      else process.env.MOBIZO_DUMP_WGSL = saved;
    }
    assert.equal(dumps.length, 1, dumps.map((d) => d.split('\n')[0]).join('; '));
    const [text] = dumps;
    assert.match(text, /^\/\/ ---- MOBIZO_DUMP_WGSL: shaders\/mplora\.wgsl, entry mplora \(MAX_RANK=64, MAX_ZO_RANK=8\) ----\n/);
    assert.match(text, /^override MAX_RANK: u32 = 64u;/m);
    assert.match(text, /^override MAX_ZO_RANK: u32 = 8u;/m);
    assert.match(text, /fn philox4x32/, 'the #include is expanded');
    assert.doesNotMatch(text, /#include/);
    // the dumped text compiles alone, with no constants given
    const dumped = text.slice(text.indexOf('\n') + 1);
    await Kernel.create(gpu, 'dump', dumped, reflectKernel('dump', dumped, 'mplora'));
  });

  it('fails with the tensor name when a buffer exceeds the adapter limits', async () => {
    const { gpu } = await gpuFixture();
    const big = gpu.limits.maxStorageBufferBindingSize + 4;
    assert.throws(() => gpu.createBuffer('huge.weight', big, GPUBufferUsage.STORAGE, 'weights'), /tensor huge\.weight needs \d+ bytes, more than this adapter's max/);
  });
});

describe('a prge pass of more than 65,535 rows', function () {
  this.timeout(600_000);

  it('2q x Bsz x T = 2 x 16400 x 2 rows on a tiny toy model: logits equal a 20-row pass of the same examples', async () => {
    const { gpu } = await gpuFixture();
    const config: LlamaConfig = { ...TOY_CONFIG, dim: 8, hiddenDim: 16, nLayers: 1, nHeads: 2, nKvHeads: 1, headDim: 4, vocabSize: 32, seqLen: 4 };
    const model = await Model.load(gpu, toyModel(5, config));
    const lcfg: LoraConfig = { rank: 2, alpha: 4, targets: ['q', 'v', 'down'] };
    const host = LoraState.initHost(config, lcfg, 3);
    host.layers.forEach((e, l) => {
      for (const t of lcfg.targets) e[t]!.B = randoms(e[t]!.B.length, 10 + l, 0.5);
    });
    const lora = LoraState.upload(gpu, config, lcfg, host);
    const [q, T, small] = [1, 2, 5];
    // example b of every slot is the pattern b % 5 (the small pass holds the 5 patterns)
    const tokensOf = (bsz: number) => Array.from({ length: 2 * q * bsz * T }, (_, i) => {
      const b = Math.floor(i / T) % bsz;
      return ((b % small) * 7 + (i % T) * 3 + 1) % config.vocabSize;
    });
    const pass = (bsz: number, select: number[]) => {
      const fwd = new ForwardPass(model, { B: 2 * q * bsz, T, nSelect: select.length, lora, slots: 2 * q, q });
      fwd.step.set({ seed: 11, slotBase: 0, eps: 0.5, lr: 0 });
      return { fwd, logits: fwd.run(tokensOf(bsz), select) };
    };
    const bsz = 16400;
    const rows = [0, 1, 32798, 32799, 32800, 65536, 65598, 65599]; // past 65535: slot 1's last examples
    assert.ok(2 * q * bsz * T > 65535);
    const big = pass(bsz, rows);
    const got = await big.logits;
    big.fwd.destroy();
    const toSmall = (r: number) => {
      const [seq, t] = [Math.floor(r / T), r % T];
      const [p, b] = [Math.floor(seq / bsz), seq % bsz];
      return (p * small + (b % small)) * T + t;
    };
    const ref = pass(small, rows.map(toSmall));
    const want = await ref.logits;
    ref.fwd.destroy();
    assert.ok(relError(got, want) < 1e-5, `rel error ${relError(got, want)}`);
    // the two slots of one example differ: the +/- perturbations are live
    const V = config.vocabSize;
    const row = (i: number) => got.subarray(i * V, (i + 1) * V);
    assert.ok(relError(row(3), row(7)) > 1e-3, 'slot 0 and slot 1 of example 16399 give the same logits');
    lora.destroy();
    model.destroy();
  });
});
