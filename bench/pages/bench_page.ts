// The bench in a browser tab: bench/cli.ts serves this page (with gpu.js's browser bundle loaded
// by a <script> before it, as window.GPU, and the shared assets at /assets/), passes the options
// as ?opts=<json>, prints the page's "[bench]" console lines as progress and reads
// window.__bench: { userAgent, adapter, presets } or { error }.
import { createGpu } from '../../src/gpu/device';
import type { GpuJsModule } from '../gpujs';
import { deviceInfo } from '../report';
import { runBench, type BenchEnv, type BenchOptions } from '../scenarios';

async function main() {
  const opts = JSON.parse(new URLSearchParams(location.search).get('opts') ?? 'null') as BenchOptions | null;
  if (!opts) throw new Error('bench page: no ?opts= given');
  const mod = ((window as any).GPU ?? null) as GpuJsModule | null;
  const env: BenchEnv = {
    runtime: 'chrome',
    createGpu: () => createGpu(),
    gpujs: mod,
    gpujsWhy: mod ? undefined : 'gpu.js browser bundle not loaded (/vendor/gpu-browser.min.js)',
    async gpujsModeWhy(mode) {
      if (!mod) return 'gpu.js not loaded';
      if (mode === 'webgpu') return (await mod.GPU.isWebGPUAvailable?.()) ? null : 'gpu.js found no WebGPU adapter';
      return document.createElement('canvas').getContext('webgl2') ? null : 'this browser gives no WebGL2 context';
    },
    async readAsset(path) {
      const res = await fetch(`/assets/${path}`);
      if (!res.ok) throw new Error(`fetch /assets/${path}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
    log: (line) => console.log(`[bench] ${line}`),
  };
  const probe = await createGpu();
  const adapter = deviceInfo(probe);
  probe.device.destroy();
  env.log(`adapter: ${adapter.info}`);
  const presets = await runBench(env, opts);
  return { userAgent: navigator.userAgent, adapter, presets };
}

main().then(
  (r) => ((window as any).__bench = r),
  (e) => ((window as any).__bench = { error: e instanceof Error ? e.stack ?? e.message : String(e) }),
);
