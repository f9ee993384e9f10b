// The GPU runtime: one object holding the device, its limits, the memory ledger and the
// buffers' life cycle. Works with the browser's navigator.gpu, with Dawn in Node, and with the
// CPU backend (src/gpu/cpu/: the same programs on WebAssembly twins of the kernels).
// The backend is chosen once (createGpu): WebGPU on a real GPU adapter, WASM when there is no
// adapter or only a CPU emulator (SwiftShader, llvmpipe / lavapipe, WARP).
import { CpuDevice } from './cpu/device';
import { MemoryLedger, type MemoryCategory } from './ledger';

/** Which engine runs the kernels: 'auto' picks WebGPU on a real GPU, else WASM. */
export type Backend = 'auto' | 'webgpu' | 'wasm';
export const BACKENDS: readonly Backend[] = ['auto', 'webgpu', 'wasm'];

export interface GpuOptions {
  /** 'auto' (default; env MOBIZO_BACKEND in Node), 'webgpu' or 'wasm' (the CPU). */
  backend?: Backend;
  /** WASM backend: threads (default: the machine's cores; 1 where SharedArrayBuffer is off). */
  threads?: number;
  /** A navigator.gpu-like object; default: navigator.gpu, or Dawn (npm `webgpu`) in Node. Given, the backend defaults to 'webgpu'. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /**
   * Buffer limits below the adapter's, to act as a smaller device (tests of split weights): the
   * engine then splits and refuses as if the adapter had these limits.
   */
  capLimits?: Partial<Record<CappedLimit, number>>;
}

/** The limits that `capLimits` can lower. */
export type CappedLimit = 'maxStorageBufferBindingSize' | 'maxBufferSize';

// Every limit of GPUSupportedLimits (WebGPU spec), copied so that `capLimits` can lower some.
const LIMIT_NAMES = [
  'maxTextureDimension1D', 'maxTextureDimension2D', 'maxTextureDimension3D', 'maxTextureArrayLayers', 'maxBindGroups',
  'maxBindGroupsPlusVertexBuffers', 'maxBindingsPerBindGroup', 'maxDynamicUniformBuffersPerPipelineLayout',
  'maxDynamicStorageBuffersPerPipelineLayout', 'maxSampledTexturesPerShaderStage', 'maxSamplersPerShaderStage',
  'maxStorageBuffersPerShaderStage', 'maxStorageTexturesPerShaderStage', 'maxUniformBuffersPerShaderStage',
  'maxUniformBufferBindingSize', 'maxStorageBufferBindingSize', 'minUniformBufferOffsetAlignment', 'minStorageBufferOffsetAlignment',
  'maxVertexBuffers', 'maxBufferSize', 'maxVertexAttributes', 'maxVertexBufferArrayStride', 'maxInterStageShaderVariables',
  'maxColorAttachments', 'maxColorAttachmentBytesPerSample', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension',
] as const;

/** The device's limits as the engine sees them: the adapter's, lowered where `capLimits` asks. */
export type GpuLimits = Readonly<Record<(typeof LIMIT_NAMES)[number], number>>;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

// Dawn tears its instance down when the object from create() is garbage-collected, crashing any
// device made from it ("std::system_error"), so the instance lives as long as the process.
let dawnInstance: GPU | null = null;

/** The process's Dawn instance (npm `webgpu`), created once; shared by every device in Node. */
export async function dawnGpu(): Promise<GPU> {
  if (dawnInstance) return dawnInstance;
  // Kept out of browser bundles: the specifier is not a literal.
  const spec = 'webgpu';
  let mod: { create: (opts: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = await import(/* @vite-ignore */ spec);
  } catch (e) {
    throw new Error(`cannot load the Node WebGPU package 'webgpu' (Dawn): ${(e as Error).message}; run npm install`);
  }
  Object.assign(globalThis, mod.globals);
  const opts = ['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization'];
  const name = process.env.MOBIZO_DAWN_ADAPTER;
  if (name) opts.push(`adapter=${name}`);
  dawnInstance = mod.create(opts);
  return dawnInstance;
}

function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'unknown adapter';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s?.length);
  return parts.length ? parts.join(' / ') : 'unknown adapter';
}

/** How a Gpu came to be: its backend, threads, and why (auto's reason). */
export interface BackendInfo {
  backend: 'webgpu' | 'wasm';
  threads: number; // CPU threads running each dispatch (1 on WebGPU: the GPU's own parallelism)
  /** The entry points this device runs (null: every WGSL entry, compiled on demand). */
  entries: ReadonlySet<string> | null;
  note?: string; // e.g. why 'auto' chose the CPU
}

export class Gpu {
  readonly ledger = new MemoryLedger();
  private errors: string[] = [];
  lost: string | null = null;
  readonly limits: GpuLimits;
  readonly backend: 'webgpu' | 'wasm';
  readonly threads: number;
  /** The entry points this device runs (null: every WGSL entry of shaders/). */
  readonly entries: ReadonlySet<string> | null;
  private readonly note: string | undefined;

  constructor(
    readonly device: GPUDevice,
    readonly adapterInfo: string,
    readonly features: Set<string>,
    caps: Partial<Record<CappedLimit, number>> = {},
    info: BackendInfo = { backend: 'webgpu', threads: 1, entries: null },
  ) {
    this.backend = info.backend;
    this.threads = info.threads;
    this.entries = info.entries;
    this.note = info.note;
    const l = device.limits as unknown as Record<string, number>;
    const limits: Record<string, number> = {};
    for (const k of LIMIT_NAMES) if (typeof l[k] === 'number') limits[k] = l[k];
    for (const [k, v] of Object.entries(caps)) if (v !== undefined) limits[k] = Math.min(limits[k], v);
    this.limits = limits as GpuLimits;
    device.addEventListener('uncapturederror', (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error.message;
      this.errors.push(msg);
      if (this.errors.length > 20) this.errors.shift();
    });
    device.lost.then((info) => {
      this.lost = `GPU device lost (${info.reason}): ${info.message}`;
    });
  }

  /** One line for status output: the backend, the adapter or threads, and why auto chose it. */
  describe(): string {
    const why = this.note ? ` (${this.note})` : '';
    if (this.backend === 'wasm') return `wasm: ${this.adapterInfo}, ${this.threads} thread${this.threads === 1 ? '' : 's'}${why}`;
    return `webgpu: ${this.adapterInfo}${why}`;
  }

  /** Records an error found outside an uncaptured-error event (e.g. a lazily compiled kernel's). */
  reportError(message: string): void {
    this.errors.push(message);
    if (this.errors.length > 20) this.errors.shift();
  }

  /** Throws the first WebGPU error raised since the last check (validation, out-of-memory, loss). */
  throwIfFailed(context: string): void {
    if (this.lost) throw new Error(`${context}: ${this.lost}`);
    if (this.errors.length) {
      const first = this.errors[0];
      this.errors = [];
      throw new Error(`${context}: WebGPU error: ${first}`);
    }
  }

  /** Creates a buffer, recorded in the ledger; `label` names the tensor in every error. */
  createBuffer(label: string, bytes: number, usage: GPUBufferUsageFlags, category: MemoryCategory): GPUBuffer {
    const lim = this.limits;
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (size > lim.maxBufferSize) {
      throw new Error(`tensor ${label} needs ${size} bytes, more than this adapter's maxBufferSize ${lim.maxBufferSize} (${this.adapterInfo})`);
    }
    if (usage & GPUBufferUsage.STORAGE && size > lim.maxStorageBufferBindingSize) {
      throw new Error(
        `tensor ${label} needs ${size} bytes, more than this adapter's maxStorageBufferBindingSize ${lim.maxStorageBufferBindingSize} (${this.adapterInfo})`,
      );
    }
    const buffer = this.device.createBuffer({ label, size, usage });
    this.ledger.add(buffer, { label, category, bytes: size });
    return buffer;
  }

  destroyBuffer(buffer: GPUBuffer): void {
    this.ledger.remove(buffer);
    buffer.destroy();
  }

  /** Copies a buffer's first `bytes` to the host. Waits for the queue: not for hot loops. */
  async readBuffer(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const staging = this.createBuffer(`${buffer.label}.readback`, bytes, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ, 'readback');
    const enc = this.device.createCommandEncoder({ label: `read ${buffer.label}` });
    enc.copyBufferToBuffer(buffer, offset, staging, 0, staging.size);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.destroyBuffer(staging);
      this.throwIfFailed(`reading ${buffer.label}`);
      throw e;
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    this.destroyBuffer(staging);
    this.throwIfFailed(`reading ${buffer.label}`);
    return out;
  }
}

const EMULATOR = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|microsoft basic render|cpu/i;

/** Whether an adapter is a CPU emulator of a GPU (SwiftShader, llvmpipe / lavapipe, WARP). */
export function isEmulator(adapter: GPUAdapter): boolean {
  const info = adapter.info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined;
  if (info?.isFallbackAdapter || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter) return true;
  return EMULATOR.test(describeAdapter(info));
}

/** The backend asked for: the option, else MOBIZO_BACKEND (Node), else 'auto'. */
function backendOf(opts: GpuOptions): Backend {
  const env = isNode ? process.env.MOBIZO_BACKEND : undefined;
  const b = opts.backend ?? (opts.gpu ? 'webgpu' : env || 'auto');
  if (!BACKENDS.includes(b as Backend)) {
    throw new Error(`${opts.backend ? 'backend' : 'MOBIZO_BACKEND'} = ${b}: expected ${BACKENDS.join(', ')}`);
  }
  return b as Backend;
}

/**
 * Linux without any Vulkan loader in sight: Dawn could only fail (and print a warning), so
 * 'auto' goes straight to the CPU. Elsewhere (Metal, D3D12) Dawn is asked.
 */
async function vulkanAbsent(): Promise<boolean> {
  if (!isNode || process.platform !== 'linux') return false;
  const spec = 'node:fs'; // kept out of browser bundles: not a literal
  const fs = (await import(/* @vite-ignore */ spec)) as typeof import('node:fs');
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib64', '/lib'];
  return !dirs.some((d) => fs.existsSync(`${d}/libvulkan.so.1`));
}

/** The WASM backend: the CPU device of src/gpu/cpu/. */
async function createWasmGpu(opts: GpuOptions, note?: string): Promise<Gpu> {
  const dev = await CpuDevice.create({ threads: opts.threads });
  const info = `WebAssembly SIMD on the CPU`;
  return new Gpu(dev as unknown as GPUDevice, info, new Set(dev.features), opts.capLimits, { backend: 'wasm', threads: dev.threads, entries: new Set(dev.entries), note });
}

/**
 * Opens the device of the backend asked for (GpuOptions.backend, MOBIZO_BACKEND, else 'auto'):
 * 'auto' takes WebGPU on a real GPU adapter and the CPU (WASM) where there is no adapter or it is
 * a CPU emulator. On WebGPU the adapter's own limits are requested, not the 128/256 MiB defaults.
 */
export async function createGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const backend = backendOf(opts);
  if (backend === 'wasm') return createWasmGpu(opts);
  let gpu = opts.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu && isNode) {
    if (backend === 'auto' && (await vulkanAbsent())) return createWasmGpu(opts, 'auto: no Vulkan driver on this machine');
    try {
      gpu = await dawnGpu();
    } catch (e) {
      if (backend === 'auto') return createWasmGpu(opts, 'auto: no WebGPU in this Node');
      throw e;
    }
  }
  if (!gpu) {
    // browsers expose navigator.gpu only to secure contexts (https, or http://localhost / 127.0.0.1)
    const insecure = !isNode && typeof isSecureContext !== 'undefined' && !isSecureContext;
    const origin = (globalThis as { location?: { origin?: string } }).location?.origin ?? 'this page';
    if (backend === 'auto') return createWasmGpu(opts, insecure ? `auto: no WebGPU: ${origin} is not a secure context (https or localhost)` : 'auto: no WebGPU in this browser');
    if (insecure) throw new Error(`WebGPU needs a secure context (https or localhost): ${origin} is neither; serve the page over https or from localhost, or use the wasm backend`);
    throw new Error('WebGPU is not available in this browser: use a current Chrome or Edge (113+), or enable WebGPU, or the wasm backend');
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (backend === 'auto' && !adapter) return createWasmGpu(opts, 'auto: no WebGPU adapter');
  if (backend === 'auto' && adapter && isEmulator(adapter)) return createWasmGpu(opts, `auto: the WebGPU adapter is ${describeAdapter(adapter.info)}, a CPU emulator`);
  if (!adapter) {
    let hint = '';
    if (isNode) {
      hint = process.env.MOBIZO_GPU_ENV
        ? ' (no Vulkan driver answered; try MOBIZO_ADAPTER=swiftshader, or backend wasm: the CPU)'
        : ' (without a GPU driver use backend wasm or auto: the CPU; bin/with-gpu.js sets up SwiftShader for tests of the WGSL kernels)';
      if (process.env.MOBIZO_GPU_ENV_NOTE) hint += `; ${process.env.MOBIZO_GPU_ENV_NOTE}`;
    }
    throw new Error(`no WebGPU adapter found${hint}`);
  }
  const wanted: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'];
  const features = wanted.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const k of [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
  ] as const) {
    requiredLimits[k] = adapter.limits[k];
  }
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  return new Gpu(device, describeAdapter(adapter.info), new Set(features), opts.capLimits);
}
