// The bench's Node runtime: one Dawn instance for the process (our engine's devices and gpu.js's
// share it), navigator.gpu pointed at it so gpu.js's `webgpu` mode finds it, and gpu.js loaded
// from node_modules. Run under bin/with-gpu.js (it sets up the Vulkan loader and SwiftShader).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { createGpu, dawnGpu, type Gpu } from '../src/gpu/device';
import { assetsDir } from '../test/browser/harness.ts';
import type { BenchEnv } from './scenarios';
import type { GpuJsModule } from './gpujs';

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

/** The bench's environment in Node: our engine and gpu.js (webgpu mode) on Dawn, assets from disk. */
export async function nodeBenchEnv(log: (line: string) => void): Promise<BenchEnv> {
  const { mod, why } = await nodeGpuJs();
  return {
    runtime: 'node',
    createGpu: nodeGpu,
    gpujs: mod,
    gpujsWhy: why,
    gpujsModeWhy: async (mode) => (mode === 'webgpu' ? null : 'WebGL2 needs a browser (gpu.js uses headless-gl in Node, not installed)'),
    readAsset: async (p) => new Uint8Array(fs.readFileSync(path.join(assetsDir, p))),
    log,
  };
}
