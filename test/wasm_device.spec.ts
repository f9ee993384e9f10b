// The WASM backend as a device: the backend choice (auto / webgpu / wasm, MOBIZO_BACKEND, plain
// Node without a launcher), WebGPU's error behaviour, memory (reuse is zeroed, the heap agrees
// with the ledger), timestamps for the profiler, and kernels bit-identical for any thread count.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { CpuDevice, SCRATCH_BYTES } from '../src/gpu/cpu/device';
import { createGpu, isEmulator, type Gpu } from '../src/gpu/device';
import { Kernel } from '../src/gpu/kernel';
import { attention } from '../src/gpu/kernels/attention';
import { gather } from '../src/gpu/kernels/gather';
import { mplora } from '../src/gpu/kernels/mplora';
import { rmsnorm } from '../src/gpu/kernels/rmsnorm';
import { rngFill } from '../src/gpu/kernels/rng_fill';
import { rope, ropeTable } from '../src/gpu/kernels/rope';
import { elementwise, swiglu } from '../src/gpu/kernels/swiglu';
import { zoOptimizerUpdate } from '../src/gpu/kernels/zo_update';
import type { Kernels } from '../src/gpu/kernels/registry';
import { Profiler } from '../src/gpu/profiler';
import { reflectKernel } from '../src/gpu/reflect';
import { StepBlock } from '../src/gpu/step_block';
import { tensor, type Tensor } from '../src/gpu/tensor';
import { ForwardPass } from '../src/model/forward';
import { Model } from '../src/model/model';
import { stories260K } from './assets';
import { gpuFixture, input, poisoned, randoms, run } from './gpu';

const root = path.resolve(import.meta.dirname, '..');

describe('WASM backend: the device', () => {
  describe('choosing the backend', () => {
    it('backend wasm: the CPU device, its threads and a one-line description', async () => {
      const gpu = await createGpu({ backend: 'wasm', threads: 2 });
      assert.equal(gpu.backend, 'wasm');
      assert.equal(gpu.threads, 2);
      assert.ok((gpu.device as unknown) instanceof CpuDevice);
      assert.match(gpu.describe(), /^wasm: WebAssembly SIMD on the CPU, 2 threads$/);
      gpu.device.destroy();
      await assert.rejects(createGpu({ backend: 'wasm', threads: 0 }), /backend wasm: threads must be a positive integer, got 0/);
      await assert.rejects(createGpu({ backend: 'gpu' as 'wasm' }), /backend = gpu: expected auto, webgpu, wasm/);
    });

    it('auto takes WASM where the only WebGPU adapter is a CPU emulator (SwiftShader here), and says why', async () => {
      const web = await createGpu({ backend: 'webgpu' });
      const auto = await createGpu();
      try {
        if (/swiftshader|llvmpipe|lavapipe/i.test(web.adapterInfo)) {
          assert.equal(auto.backend, 'wasm');
          assert.match(auto.describe(), /\(auto: the WebGPU adapter is .*swiftshader.*, a CPU emulator\)$/);
        } else {
          assert.equal(auto.backend, 'webgpu', `a real GPU (${web.adapterInfo}) keeps WebGPU`);
        }
      } finally {
        auto.device.destroy();
      }
    });

    it('MOBIZO_BACKEND chooses when the option does not; a bad value names the variable', async () => {
      const saved = process.env.MOBIZO_BACKEND;
      try {
        process.env.MOBIZO_BACKEND = 'wasm';
        const g = await createGpu({ threads: 1 });
        assert.equal(g.backend, 'wasm');
        g.device.destroy();
        const w = await createGpu({ backend: 'webgpu' }); // the option wins
        assert.equal(w.backend, 'webgpu');
        process.env.MOBIZO_BACKEND = 'cuda';
        await assert.rejects(createGpu(), /MOBIZO_BACKEND = cuda: expected auto, webgpu, wasm/);
      } finally {
        if (saved === undefined) delete process.env.MOBIZO_BACKEND;
        else process.env.MOBIZO_BACKEND = saved;
      }
    });

    it('emulators are recognised by name or as fallback adapters', () => {
      const a = (info: Record<string, unknown>) => ({ info }) as unknown as GPUAdapter;
      assert.ok(isEmulator(a({ vendor: 'google', architecture: 'swiftshader' })));
      assert.ok(isEmulator(a({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })));
      assert.ok(isEmulator(a({ description: 'Microsoft Basic Render Driver' })));
      assert.ok(isEmulator(a({ vendor: 'x', isFallbackAdapter: true })));
      assert.ok(!isEmulator(a({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA H100' })));
      assert.ok(!isEmulator(a({ vendor: 'apple', architecture: 'metal-3' })));
    });

    it('plain node (no launcher, no environment): createGpu() opens the CPU backend within seconds', () => {
      const script = "import { createGpu } from './src/gpu/device.ts'; const t = performance.now(); const g = await createGpu(); console.log(JSON.stringify({ backend: g.backend, describe: g.describe(), ms: performance.now() - t })); process.exit(0);";
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', './scripts/register-wgsl.mjs', '--input-type=module', '-e', script], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      assert.equal(out.backend, 'wasm', r.stdout);
      assert.match(out.describe, /^wasm: WebAssembly SIMD on the CPU, \d+ threads? \(auto: /);
      assert.ok(out.ms < 10_000, `createGpu took ${out.ms} ms`);
      assert.doesNotMatch(r.stderr, /Couldn't load Vulkan/, 'no Dawn warning when there is no Vulkan loader');
    });
  });

  describe('WebGPU behaviour', () => {
    it('an entry without a twin fails to compile by name; feature-gated kernels are absent', async () => {
      const { gpu, ks } = await gpuFixture('wasm');
      const code = `struct Params { n: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // [n]
@compute @workgroup_size(64) fn unlisted(@builtin(global_invocation_id) gid: vec3<u32>) { if (gid.x < params.n) { out[gid.x] = 1.0; } }`;
      await assert.rejects(Kernel.create(gpu, 'test/unlisted.wgsl', code, reflectKernel('test/unlisted.wgsl', code, 'unlisted')), /entry unlisted failed to compile: .*entry point unlisted .*has no WebAssembly twin/);
      assert.ok(!ks.has('matmul_half') && !ks.has('matmul_subgroup'), 'no shader-f16 / subgroups on the CPU');
      assert.ok(ks.has('rmsnorm') && ks.has('matmul_q4_k_r8') && ks.has('zo_update_lozo'));
    });

    it('out-of-range writes and copies are validation errors (throwIfFailed), never silent', async () => {
      const { gpu } = await gpuFixture('wasm');
      const t = tensor(gpu, 't', [4], 'scratch');
      gpu.device.queue.writeBuffer(t.buffer, 8, new Float32Array(4));
      assert.throws(() => gpu.throwIfFailed('write'), /write: WebGPU error: writeBuffer t: 16 bytes at 8 do not fit its 16 bytes/);
      const u = tensor(gpu, 'u', [4], 'scratch');
      u.destroy();
      const enc = gpu.device.createCommandEncoder();
      enc.copyBufferToBuffer(t.buffer, 0, u.buffer, 0, 16);
      gpu.device.queue.submit([enc.finish()]);
      assert.throws(() => gpu.throwIfFailed('copy'), /copyBufferToBuffer t -> u: a buffer is destroyed/);
      t.destroy();
    });

    it('the profiler times every dispatch with timestamps', async () => {
      const { gpu } = await gpuFixture('wasm');
      const model = await Model.load(gpu, stories260K().file);
      const fwd = new ForwardPass(model, { B: 2, T: 16, nSelect: 4 });
      fwd.setInput(Array.from({ length: 32 }, (_, i) => (i * 7) % 512), [0, 5, 17, 31]);
      const prof = await new Profiler(gpu).profile(fwd.program, { findings: false });
      assert.equal(prof.method, 'timestamp');
      assert.ok(prof.dispatches.length > 20 && prof.dispatches.every((d) => d.ns >= 0), `${prof.dispatches.length} dispatches`);
      assert.ok(prof.totalNs > 0);
      assert.ok(prof.kernels.some((k) => k.kernel === 'attention') && prof.kernels.some((k) => k.kernel.startsWith('matmul')));
      fwd.destroy();
      model.destroy();
    });
  });

  describe('memory', () => {
    it('a freed buffer\'s memory is reused, and zeroed as WebGPU buffers are', async () => {
      const { gpu } = await gpuFixture('wasm');
      const dev = gpu.device as unknown as CpuDevice;
      const a = input(gpu, 'a', [1000], new Float32Array(1000).fill(7));
      const at = (a.buffer as unknown as { addr: number }).addr;
      a.destroy();
      const b = tensor(gpu, 'b', [1000], 'scratch');
      assert.equal((b.buffer as unknown as { addr: number }).addr, at, 'the freed block is reused');
      assert.ok((await b.read()).every((v) => v === 0));
      const size = dev.heap.size;
      for (let i = 0; i < 50; i++) tensor(gpu, `c${i}`, [5000], 'scratch').destroy();
      assert.equal(dev.heap.size, size, 'create / destroy cycles do not grow the memory');
      b.destroy();
    });

    it('the heap holds what the ledger lists (+ alignment), and the memory is the peak of it', async () => {
      const gpu = await createGpu({ backend: 'wasm', threads: 2 });
      const dev = gpu.device as unknown as CpuDevice;
      const fixed = dev.heap.liveBytes; // bind table, scratch, thread control
      assert.ok(fixed >= 2 * SCRATCH_BYTES && fixed < 2 * SCRATCH_BYTES + 4096);
      const model = await Model.load(gpu, stories260K().file);
      const fwd = new ForwardPass(model, { B: 4, T: 32, nSelect: 8 });
      const buffers = gpu.ledger.entries().length;
      const held = dev.heap.liveBytes - fixed;
      const listed = gpu.ledger.totalBytes();
      assert.ok(held >= listed && held <= listed + 64 * buffers, `heap ${held} B, ledger ${listed} B over ${buffers} buffers`);
      assert.ok(dev.heap.size <= dev.heap.peakBytes + 4 * 65536 + 2048, `memory ${dev.heap.size} B, peak of live buffers ${dev.heap.peakBytes} B`);
      fwd.destroy();
      model.destroy();
      const after = dev.heap.liveBytes - fixed;
      assert.ok(after >= gpu.ledger.totalBytes() && after <= gpu.ledger.totalBytes() + 64 * gpu.ledger.entries().length, 'freed with the ledger');
      gpu.device.destroy();
    });
  });
});

/** Records every non-matmul kernel family on random inputs; returns the outputs to compare. */
function kernelZoo(gpu: Gpu, ks: Kernels): { dispatches: ReturnType<typeof rmsnorm>[]; outputs: Tensor[] } {
  const ds = [];
  const outs: Tensor[] = [];
  const out = (label: string, shape: number[]) => {
    const t = poisoned(gpu, label, shape);
    outs.push(t);
    return t;
  };
  const [rows, width] = [37, 70];
  const x = input(gpu, 'x', [rows, width], randoms(rows * width, 1, 2));
  ds.push(rmsnorm(ks, 'rms', x, input(gpu, 'w', [width], randoms(width, 2)), out('rms', [rows, width]), 1e-5));
  ds.push(ks.get('rmsnorm_rows').dispatch('rows', { x, weight: input(gpu, 'w2', [width], randoms(width, 3)), out: out('rows', [rows, width]) }, { rows, width, eps: 1e-5, accumulate: 0 }, [1, 1, 1]));
  const [T, nH, hd] = [9, 5, 14];
  const q = input(gpu, 'q', [2 * T, nH * hd], randoms(2 * T * nH * hd, 4));
  const table = input(gpu, 'table', [T, hd / 2, 2], ropeTable(T, hd, 10000));
  ds.push(rope(ks, 'rope', q, table, out('rope', [2 * T, nH * hd]), { T, pos0: 0, nHeads: nH, headDim: hd, style: 'halfsplit' }));
  const kv = (s: number) => input(gpu, `kv${s}`, [2 * T, hd], randoms(2 * T * hd, s));
  for (const k of ['attention', 'attention_flash'] as const) {
    ds.push(attention(ks, k, q, kv(5), kv(6), out(k, [2 * T, nH * hd]), { B: 2, T, S: T, pos0: 0, nHeads: nH, nKvHeads: 1, headDim: hd }, k));
  }
  const n = 5003;
  ds.push(swiglu(ks, 'swiglu', input(gpu, 'g', [n], randoms(n, 7, 5)), input(gpu, 'u', [n], randoms(n, 8)), out('swiglu', [n])));
  const sc = input(gpu, 'sc', [n], randoms(n, 9, 40));
  outs.push(sc);
  ds.push(elementwise(ks, 'softcap', 'softcap', sc, 30));
  ds.push(gather(ks, 'gather', x, input(gpu, 'idx', [6], Uint32Array.of(3, 0, 36, 5, 5, 1), 'u32'), out('gather', [6, width])));
  ds.push(rngFill(ks, 'rng', out('rng', [n]), { seed: 5, tensor: 6, query: 7 }, 3));
  const step = new StepBlock(gpu, 'step');
  step.set({ seed: 77, slotBase: 0, eps: 1e-2, lr: 1e-2 });
  const [slots, rps, outDim, rank] = [4, 19, 43, 6];
  const y = input(gpu, 'y', [slots * rps, outDim], randoms(slots * rps * outDim, 10));
  outs.push(y);
  const ax = input(gpu, 'ax', [slots * rps, rank], randoms(slots * rps * rank, 11));
  ds.push(mplora(ks, 'mplora', ax, input(gpu, 'bm', [outDim, rank], randoms(outDim * rank, 12)), y, { rowsPerSlot: rps, q: 2, scale: 2, tensor: 3, zo: { zoRank: 3 } }, step));
  const grad = input(gpu, 'grad', [3], Float32Array.of(0.5, -1.5, 1));
  const b = input(gpu, 'b', [211, 5], randoms(1055, 13));
  const [m, v] = [input(gpu, 'm', [211, 5], randoms(1055, 14)), input(gpu, 'v', [211, 5], Float32Array.from(randoms(1055, 15), Math.abs))];
  outs.push(b, m, v);
  ds.push(zoOptimizerUpdate(ks, 'adam', grad, b, { q: 2, tensor: 4 }, step, { kind: 'adam', beta1: 0.9, beta2: 0.99, adamEps: 1e-8, m, v, biasCorrection: input(gpu, 'c', [2], Float32Array.of(0.1, 0.01)) }));
  ds.push(zoOptimizerUpdate(ks, 'lozo', grad, b, { q: 2, tensor: 5 }, step, { kind: 'lozo', zoRank: 2 }));
  return { dispatches: ds, outputs: outs };
}

describe('WASM backend: every kernel family gives the same bits on 1, 2 and 5 threads', () => {
  it('rmsnorm (both), rope, attention (both), swiglu, softcap, gather, rng_fill, mplora (LOZO), adam and lozo updates', async () => {
    const results: Uint8Array[][] = [];
    for (const threads of [1, 2, 5]) {
      const { gpu, ks } = await gpuFixture('wasm', threads);
      (gpu.device as unknown as CpuDevice).parallelBytes = 0; // split even these small dispatches
      const zoo = kernelZoo(gpu, ks);
      run(gpu, ...zoo.dispatches);
      gpu.throwIfFailed(`${threads} threads`);
      results.push(await Promise.all(zoo.outputs.map(async (t) => new Uint8Array(await gpu.readBuffer(t.buffer, t.bytes)))));
    }
    for (const [k, r] of results.entries()) {
      r.forEach((bytes, i) => assert.ok(Buffer.from(bytes).equals(Buffer.from(results[0][i])), `output ${i} differs with ${[1, 2, 5][k]} threads`));
    }
    const f = new Float32Array(results[0][0].buffer);
    assert.ok(f.every(Number.isFinite), 'the outputs were written');
  });
});
