// The bench's Node runtime: one Dawn instance for the process (our engine's devices and gpu.js's
// share it), navigator.gpu pointed at it so gpu.js's `webgpu` mode finds it, and gpu.js loaded
// from node_modules. Run under bin/with-gpu.js (it sets up the Vulkan loader and SwiftShader).
import { createRequire } from 'node:module';
import { createGpu, type Gpu } from '../src/gpu/device';
import type { GpuJsModule } from './gpujs';

let dawn: GPU | null = null; // lives as long as the process (Dawn tears down devices with it)

/** The process's Dawn instance (npm `webgpu`), with the same options as src/gpu/device.ts. */
export async function dawnGpu(): Promise<GPU> {
  if (dawn) return dawn;
  const spec = 'webgpu';
  const mod = (await import(spec)) as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, mod.globals);
  const opts = ['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization'];
  if (process.env.MOBIZO_DAWN_ADAPTER) opts.push(`adapter=${process.env.MOBIZO_DAWN_ADAPTER}`);
  dawn = mod.create(opts);
  return dawn;
}

/** A fresh device of our engine on the shared Dawn instance. */
export async function nodeGpu(): Promise<Gpu> {
  return createGpu({ gpu: await dawnGpu() });
}

/** gpu.js with navigator.gpu = Dawn, or null + why when it cannot load. */
export async function nodeGpuJs(): Promise<{ mod: GpuJsModule | null; why?: string }> {
  const gpu = await dawnGpu();
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  try {
    const require = createRequire(import.meta.url);
    return { mod: require('gpu.js') as GpuJsModule };
  } catch (e) {
    return { mod: null, why: `gpu.js cannot be loaded (${(e as Error).message.split('\n')[0]}); run npm install` };
  }
}
