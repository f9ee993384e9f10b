// Shared GPU fixtures for specs: one device and one compiled kernel set per process, seeded
// random data, NaN-poisoned outputs and the error measure every kernel test uses.
import { createGpu, type Gpu } from '../src/gpu/device';
import type { Dispatch } from '../src/gpu/kernel';
import { Kernels } from '../src/gpu/kernels/registry';
import { tensor, type DType, type Tensor } from '../src/gpu/tensor';
import { mulberry32 } from '../src/util/random';

/** The backends a kernel spec runs on: WebGPU (SwiftShader here) and the CPU twins (WASM). */
export type TestBackend = 'webgpu' | 'wasm';
export const TEST_BACKENDS: readonly TestBackend[] = ['webgpu', 'wasm'];

const shared = new Map<string, Promise<{ gpu: Gpu; ks: Kernels }>>();

/** The default backend of gpuFixture(): webgpu, or MOBIZO_TEST_BACKEND (e.g. wasm, to run a WebGPU spec on the CPU). */
const DEFAULT_BACKEND = (process.env.MOBIZO_TEST_BACKEND ?? 'webgpu') as TestBackend;
if (!TEST_BACKENDS.includes(DEFAULT_BACKEND)) throw new Error(`MOBIZO_TEST_BACKEND=${DEFAULT_BACKEND}: expected ${TEST_BACKENDS.join(' or ')}`);

/**
 * One device and kernel set per backend (and thread count) per process. The default is WebGPU, so
 * the WGSL kernels stay tested on SwiftShader; 'wasm' runs the same calls on the CPU twins.
 */
export function gpuFixture(backend: TestBackend = DEFAULT_BACKEND, threads?: number): Promise<{ gpu: Gpu; ks: Kernels }> {
  const key = `${backend}/${threads ?? ''}`;
  let f = shared.get(key);
  if (!f) shared.set(key, (f = createGpu({ backend, threads }).then(async (gpu) => ({ gpu, ks: await Kernels.load(gpu) }))));
  return f;
}

/** Runs `body` once per backend, inside a describe named for it; `fx()` gives that backend's fixture. */
export function forBackends(title: string, body: (fx: () => Promise<{ gpu: Gpu; ks: Kernels }>, backend: TestBackend) => void): void {
  for (const backend of TEST_BACKENDS) describe(`${title} [${backend}]`, () => body(() => gpuFixture(backend), backend));
}

export function randoms(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** An input tensor holding `data`. */
export function input(gpu: Gpu, label: string, shape: number[], data: Float32Array | Uint32Array, dtype: DType = 'f32'): Tensor {
  return tensor(gpu, label, shape, 'scratch', { data, dtype });
}

/** An output tensor filled with NaN, so any element a kernel fails to write shows up. */
export function poisoned(gpu: Gpu, label: string, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(gpu, label, shape, 'scratch', { data: new Float32Array(n).fill(NaN) });
}

/** Runs dispatches in one submit and checks for WebGPU errors. */
export function run(gpu: Gpu, ...ds: Dispatch[]): void {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const d of ds) d.encode(pass);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}

/** max |got - want| / max |want| (NaN anywhere in got gives Infinity). */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} != ${want.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i])) return Infinity;
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}
