// Every matmul variant (register-blocked, workgroup-tiled, subgroup, native f16) against the
// float64 reference on ragged shapes (M, N, K not multiples of any tile, K % 4 != 0 where the
// variant allows it), outputs poisoned with NaN; and how a variant is chosen (override, autotune
// cache, defaults).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachePath, tuned } from '../src/gpu/autotune';
import { chooseMatmul, MATMUL_VARIANTS, matmul, matmulVariants, tuneKey, tuneMatmuls } from '../src/gpu/kernels/matmul';
import { preprocess, SHADERS } from '../src/gpu/kernels/registry';
import { Kernel, type Dispatch } from '../src/gpu/kernel';
import { reflectKernel } from '../src/gpu/reflect';
import { uploadCompressed, type CompressedWeight } from '../src/gpu/weight';
import type { Gpu } from '../src/gpu/device';
import type { Tensor } from '../src/gpu/tensor';
import { floatToF16Bits } from '../src/formats/gguf_writer';
import { f16BitsToFloat } from '../src/formats/safetensors';
import { gpuFixture, input, poisoned, randoms, relError, run } from './gpu';
import * as ref from './reference/ops';

const TOL = 1e-5;
// [M, N, K]: one row (decoding); ragged everything; K % 4 != 0; past one 64 x 64 tile both ways
const SHAPES: [number, number, number][] = [
  [1, 70, 37],
  [3, 5, 7],
  [67, 130, 19],
  [65, 66, 68],
  [2, 129, 100],
  [130, 3, 33],
];

const F32 = Object.keys(MATMUL_VARIANTS).filter((n) => MATMUL_VARIANTS[n].weight === 'f32');
const HALF = ['matmul_half', 'matmul_half_tiled'];

/** Temporarily sets environment variables (undefined deletes) around `f`. */
async function withEnv<T>(vars: Record<string, string | undefined>, f: () => Promise<T> | T): Promise<T> {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (vs: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vs)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  };
  set(vars);
  try {
    return await f();
  } finally {
    set(old);
  }
}

/**
 * One matmul kernel on every SHAPE (K rounded up to 4 for a vec4 kernel), plain (y poisoned) and
 * accumulating, against float64: `weight` makes W and says the values it holds, `mm` the dispatch.
 */
async function checkShapes(
  gpu: Gpu,
  label: string,
  vec4: boolean,
  weight: (N: number, K: number) => { w: Tensor | CompressedWeight; values: ArrayLike<number> },
  mm: (x: Tensor, w: Tensor | CompressedWeight, y: Tensor, accumulate: boolean, M: number, N: number, K: number) => Dispatch,
): Promise<void> {
  let ran = 0;
  for (const [M, N, K0] of SHAPES) {
    const K = vec4 ? Math.ceil(K0 / 4) * 4 : K0;
    const xd = randoms(M * K, M * 7 + K);
    const y0 = randoms(M * N, 99);
    const x = input(gpu, 'x', [M, K], xd);
    const { w, values } = weight(N, K);
    for (const accumulate of [false, true]) {
      const y = accumulate ? input(gpu, 'y', [M, N], y0) : poisoned(gpu, 'y', [M, N]);
      run(gpu, mm(x, w, y, accumulate, M, N, K));
      const want = ref.matmulT(xd, values, K);
      if (accumulate) for (let i = 0; i < want.length; i++) want[i] += y0[i];
      const err = relError(await y.read(), want);
      assert.ok(err < TOL, `${label} [${M}x${K}] x [${N}x${K}]^T${accumulate ? ' accumulate' : ''}: rel error ${err}`);
      y.destroy();
      ran++;
    }
    x.destroy();
    w.destroy();
  }
  assert.equal(ran, 2 * SHAPES.length);
}

/** Random f32 weights, uploaded as they are. */
const f32Weight = (gpu: Gpu) => (N: number, K: number) => {
  const values = randoms(N * K, N * 13 + K);
  return { w: input(gpu, 'w', [N, K], values), values };
};

describe('matmul variants vs float64 reference', () => {
  for (const name of F32) {
    it(`${name}: ragged shapes, plain and accumulating`, async function () {
      const { gpu, ks } = await gpuFixture();
      if (!gpu.features.has('subgroups') && name === 'matmul_subgroup') this.skip(); // SwiftShader has it
      assert.ok(ks.has(name), `${name} did not compile: ${ks.failed.get(name)}`);
      await checkShapes(gpu, name, MATMUL_VARIANTS[name].vec4, f32Weight(gpu), (x, w, y, acc) => matmul(ks, 'test', x, w, y, acc, name));
    });
  }

  for (const name of HALF) {
    it(`${name} (shader-f16): f16 weights, ragged shapes`, async function () {
      const { gpu, ks } = await gpuFixture();
      if (!gpu.features.has('shader-f16')) {
        console.log(`      skipped ${name}: this adapter (${gpu.adapterInfo}) has no shader-f16; bench/device.sh runs it on a GPU`);
        this.skip();
      }
      assert.ok(ks.has(name), `${name} did not compile: ${ks.failed.get(name)}`);
      const f16Weight = (N: number, K: number) => {
        const h = Uint16Array.from(randoms(N * K, N * 3 + K, 0.5), (v) => floatToF16Bits(v));
        return { w: uploadCompressed(gpu, 'w', 'f16', [N, K], new Uint8Array(h.buffer)), values: Float32Array.from(h, (b) => f16BitsToFloat(b)) };
      };
      await checkShapes(gpu, name, true, f16Weight, (x, w, y, acc) => matmul(ks, 'test', x, w, y, acc, name));
    });
  }

  // Where the adapter has no shader-f16 (SwiftShader), matmul_half.wgsl is never compiled: this
  // compiles it with f16 spelled f32 and checks its math the same way, so a change to the file
  // (or to block4.wgsl) is tested in CI; the f16 loads themselves are the device run's.
  it('matmul_half and matmul_half_tiled with f16 read as f32: compile and match float64 (ragged shapes)', async function () {
    const { gpu } = await gpuFixture();
    const file = 'shaders/matmul_half.wgsl';
    const code = preprocess(file, SHADERS.matmul_half[0]).replace(/^enable f16;$/m, '').replace(/\bf16\b/g, 'f32').replace(/\b(\d+\.\d*)h\b/g, '$1');
    for (const name of HALF) {
      const kernel = await Kernel.create(gpu, `${file} (f16 as f32)`, code, reflectKernel(file, code, name));
      const { tile } = MATMUL_VARIANTS[name];
      await checkShapes(gpu, `${name} (f16 as f32)`, true, f32Weight(gpu), (x, w, y, acc, M, N, K) =>
        kernel.dispatch('test', { x4: x, wh: w as Tensor, y }, { M, N, K, accumulate: acc ? 1 : 0 }, [Math.ceil(N / tile[0]), Math.ceil(M / tile[1]), 1]),
      );
    }
  });

  it('a variant that cannot take the shape or weight is refused by name', async () => {
    const { gpu, ks } = await gpuFixture();
    const x = input(gpu, 'x', [3, 7], randoms(21, 1));
    const w = input(gpu, 'w', [5, 7], randoms(35, 2));
    const y = poisoned(gpu, 'y', [3, 5]);
    assert.throws(() => matmul(ks, 'p', x, w, y, false, 'matmul_tiled_vec4'), /matmul p: kernel matmul_tiled_vec4 needs K % 4 == 0, K = 7/);
    assert.throws(() => matmul(ks, 'p', x, w, y, false, 'matmul_f16'), /matmul p: kernel matmul_f16 takes f16 weights, w is f32/);
    assert.throws(() => matmul(ks, 'p', x, w, y, false, 'matmul_nope'), /matmul p: no matmul kernel matmul_nope/);
  });
});

describe('matmul variant choice', () => {
  it('SwiftShader defaults to the register-blocked kernels; MOBIZO_KERNEL overrides where it applies', async () => {
    const { ks } = await gpuFixture();
    await withEnv({ MOBIZO_KERNEL: undefined }, () => {
      assert.equal(chooseMatmul(ks, 64, 64, 64, 'f32'), 'matmul_vec4');
      assert.equal(chooseMatmul(ks, 64, 64, 7, 'f32'), 'matmul');
    });
    await withEnv({ MOBIZO_KERNEL: 'matmul_tiled_vec4' }, () => {
      assert.equal(chooseMatmul(ks, 64, 64, 64, 'f32'), 'matmul_tiled_vec4');
      assert.equal(chooseMatmul(ks, 64, 64, 7, 'f32'), 'matmul', 'K % 4 != 0: the override does not apply, the default stays');
    });
    await withEnv({ MOBIZO_KERNEL: 'matmul_tiled_vec4,matmul_tiled' }, () => assert.equal(chooseMatmul(ks, 64, 64, 7, 'f32'), 'matmul_tiled'));
    await withEnv({ MOBIZO_KERNEL: 'matmul_fast' }, () => assert.throws(() => chooseMatmul(ks, 1, 2, 4, 'f32'), /MOBIZO_KERNEL=matmul_fast: no such matmul kernel/));
    assert.ok(matmulVariants(ks, 7, 'f32').every((n) => !MATMUL_VARIANTS[n].vec4));
  });

  it('autotune times every applicable variant once, caches the winner in a file, and the choice follows it', async () => {
    const { gpu, ks } = await gpuFixture();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-autotune-'));
    await withEnv({ MOBIZO_CACHE: dir, MOBIZO_AUTOTUNE: '1', MOBIZO_KERNEL: undefined }, async () => {
      const [N, K] = [40, 24];
      const w = input(gpu, 'w', [N, K], randoms(N * K, 3));
      await tuneMatmuls(ks, [w], 20);
      const file = await cachePath();
      assert.equal(file, path.join(dir, 'autotune.json'));
      const saved = JSON.parse(fs.readFileSync(file!, 'utf8'));
      assert.equal(saved.schema, 'mobizo-autotune/1');
      const entries = Object.values(saved.adapters)[0] as Record<string, { kernel: string; ms: Record<string, number> }>;
      for (const M of [1, 20]) {
        const key = tuneKey(M, N, K, 'f32');
        const r = entries[key];
        assert.ok(r, `no entry ${key} in ${Object.keys(entries)}`);
        assert.deepEqual(Object.keys(r.ms).sort(), matmulVariants(ks, K, 'f32').sort());
        assert.ok(Object.values(r.ms).every((ms) => ms > 0 && Number.isFinite(ms)));
        assert.equal(r.kernel, Object.entries(r.ms).reduce((a, b) => (b[1] < a[1] ? b : a))[0]);
        assert.equal(chooseMatmul(ks, M, N, K, 'f32'), r.kernel);
      }
      // a second call finds everything tuned: the file is not rewritten
      const before = fs.statSync(file!).mtimeMs;
      await tuneMatmuls(ks, [w], 20);
      assert.equal(fs.statSync(file!).mtimeMs, before);
    });
    tuned(gpu).clear(); // other specs in this process keep the defaults
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
