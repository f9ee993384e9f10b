// The build of the WASM backend: the generated modules (src/gpu/layouts.gen.ts, wasm/params.gen.ts)
// are fresh against shaders/, every WGSL entry the CPU can run has its twin in the module, the
// module patches to an unshared memory for single-threaded pages, and no bundle of the library
// carries a WGSL parser any more (the layouts are reflected at build time).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { browserBuildOptions } from '../scripts/build.mjs';
import { compileKernels, unsharedBytes } from '../src/gpu/cpu/module';
import { KERNEL_LAYOUTS } from '../src/gpu/layouts.gen';
import { SHADERS } from '../src/gpu/kernels/registry';

const root = path.resolve(import.meta.dirname, '..');

describe('WASM backend: the build', () => {
  it('src/gpu/layouts.gen.ts and wasm/params.gen.ts are fresh (node scripts/build-wasm.mjs --check)', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-wasm.mjs'), '--check'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    // what it holds: every entry's layout, from the reflection of the WGSL
    const file = path.join(root, 'src', 'gpu', 'layouts.gen.ts');
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /rmsnorm: \{ entry: "rmsnorm", file: "shaders\/rmsnorm.wgsl", workgroupSize: \[64,1,1\]/);
    assert.ok(Object.keys(KERNEL_LAYOUTS).length >= 90);
  });

  it('every WGSL entry the CPU runs (all but the shader-f16 and subgroups files) has its twin, and nothing else is exported', async () => {
    const { entries } = await compileKernels(false);
    const want = Object.values(SHADERS)
      .filter((s) => s.length === 2)
      .flatMap(([, e]) => [...e])
      .sort();
    assert.deepEqual([...entries].sort(), want);
  });

  it('the shared-memory module patches to an unshared one (single-threaded pages); each instantiates only with its kind', async () => {
    const bytes = fs.readFileSync(path.join(root, 'wasm', 'build', 'mobizo.wasm'));
    const shared = new WebAssembly.Module(bytes);
    const unshared = new WebAssembly.Module(unsharedBytes(bytes) as Uint8Array<ArrayBuffer>);
    const env = (s: boolean) => ({ env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: s } as WebAssembly.MemoryDescriptor), abort: () => {} } });
    assert.ok(new WebAssembly.Instance(unshared, env(false)));
    assert.ok(new WebAssembly.Instance(shared, env(true)));
    assert.throws(() => new WebAssembly.Instance(shared, env(false)));
    assert.throws(() => new WebAssembly.Instance(unshared, env(true)));
  });

  it('a browser bundle of the library holds the kernels (bytes) and no wgsl_reflect', async function () {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-bundle-'));
    try {
      const r = await esbuild.build({ ...browserBuildOptions({ entryPoints: { index: 'src/index.ts' }, outdir }), write: false });
      const inputs = Object.keys(r.metafile!.inputs);
      assert.deepEqual(inputs.filter((f) => /wgsl_reflect/.test(f)), [], 'wgsl_reflect is bundled');
      assert.ok(inputs.some((f) => f.endsWith('wasm/build/mobizo.wasm')), 'the kernels are bundled');
      const js = r.outputFiles!.find((f) => f.path.endsWith('index.js'))!;
      console.log(`      library bundle (browser, unminified): ${(js.contents.length / 1024).toFixed(0)} KiB`);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
