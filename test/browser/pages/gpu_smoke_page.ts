// Browser smoke page: WebGPU present, adapter info and limits, and one tiny compute shader
// (out[i] = 2 i) read back. Puts the report on window.__result (or { error }).
import shader from './gpu_smoke.wgsl';

export interface SmokeReport {
  hasGpu: boolean;
  secureContext: boolean;
  userAgent: string;
  adapter?: { vendor: string; architecture: string; device: string; description: string };
  features?: string[];
  limits?: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  n?: number;
  values?: number[]; // out[0 .. n + 8): the last 8 must still hold the poison value
  poison?: number;
  error?: string;
}

const N = 1000; // not a multiple of the workgroup size (64)
const PAD = 8; // elements past n, poisoned, that the shader must not write
const POISON = 0xdeadbeef;

async function run(): Promise<SmokeReport> {
  const report: SmokeReport = { hasGpu: 'gpu' in navigator, secureContext: isSecureContext, userAgent: navigator.userAgent };
  if (!navigator.gpu) return report;
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned null');
  const info = adapter.info;
  report.adapter = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
  report.features = [...adapter.features].sort();
  report.limits = {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  device.pushErrorScope('validation');

  const module = device.createShaderModule({ label: 'gpu_smoke', code: shader });
  const pipeline = device.createComputePipeline({
    label: 'gpu_smoke',
    layout: 'auto',
    compute: { module, entryPoint: 'gpu_smoke' },
  });
  const bytes = (N + PAD) * 4;
  const out = device.createBuffer({
    label: 'gpu_smoke.out',
    size: bytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    mappedAtCreation: true,
  });
  new Uint32Array(out.getMappedRange()).fill(POISON);
  out.unmap();
  const params = device.createBuffer({ label: 'gpu_smoke.params', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(params, 0, new Uint32Array([N, 0, 0, 0]));
  const readback = device.createBuffer({ label: 'gpu_smoke.readback', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const bindGroup = device.createBindGroup({
    label: 'gpu_smoke',
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: params } },
      { binding: 1, resource: { buffer: out } },
    ],
  });

  const encoder = device.createCommandEncoder({ label: 'gpu_smoke' });
  const pass = encoder.beginComputePass({ label: 'gpu_smoke' });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(Math.ceil(N / 64));
  pass.end();
  encoder.copyBufferToBuffer(out, 0, readback, 0, bytes);
  device.queue.submit([encoder.finish()]);

  await readback.mapAsync(GPUMapMode.READ);
  report.values = Array.from(new Uint32Array(readback.getMappedRange().slice(0)));
  readback.unmap();
  const err = await device.popErrorScope();
  if (err) throw new Error(`WebGPU validation error: ${err.message}`);
  report.n = N;
  report.poison = POISON;
  device.destroy();
  return report;
}

run().then(
  (r) => ((window as any).__result = r),
  (e) => ((window as any).__result = { error: e instanceof Error ? e.stack ?? e.message : String(e) }),
);
