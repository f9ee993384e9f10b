// The kernel layer: every shader parses and declares what its wrapper binds, uniforms are packed
// by name from reflection, and wrong buffers or params give errors naming kernel and binding.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { matmul } from '../src/gpu/kernels/matmul';
import { INCLUDES, SHADERS, preprocess } from '../src/gpu/kernels/registry';
import { grid1d } from '../src/gpu/kernel';
import { gpuFixture, input, poisoned, randoms } from './gpu';

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
    assert.equal(new DataView(rms.pack({ rows: 1, width: 2, eps: 0.5 })).getFloat32(8, true), 0.5);
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

  it('fails with the tensor name when a buffer exceeds the adapter limits', async () => {
    const { gpu } = await gpuFixture();
    const big = gpu.limits.maxStorageBufferBindingSize + 4;
    assert.throws(() => gpu.createBuffer('huge.weight', big, GPUBufferUsage.STORAGE, 'weights'), /tensor huge\.weight needs \d+ bytes, more than this adapter's max/);
  });
});
