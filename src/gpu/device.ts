// The GPU runtime: one object holding the device, its limits, the memory ledger and the
// buffers' life cycle. Works with the browser's navigator.gpu and with Dawn in Node.
import { MemoryLedger, type MemoryCategory } from './ledger';

export interface GpuOptions {
  /** A navigator.gpu-like object; default: navigator.gpu, or Dawn (npm `webgpu`) in Node. */
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

export class Gpu {
  readonly ledger = new MemoryLedger();
  private errors: string[] = [];
  lost: string | null = null;
  readonly limits: GpuLimits;

  constructor(
    readonly device: GPUDevice,
    readonly adapterInfo: string,
    readonly features: Set<string>,
    caps: Partial<Record<CappedLimit, number>> = {},
  ) {
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

/** Opens the GPU: the adapter's own limits are requested, not the 128/256 MiB defaults. */
export async function createGpu(opts: GpuOptions = {}): Promise<Gpu> {
  let gpu = opts.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu && isNode) gpu = await dawnGpu();
  if (!gpu) {
    throw new Error('WebGPU is not available in this browser: use a current Chrome or Edge (113+), or enable WebGPU');
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    let hint = '';
    if (isNode) {
      hint = process.env.MOBIZO_GPU_ENV
        ? ' (no Vulkan driver answered; try MOBIZO_ADAPTER=swiftshader)'
        : ' (start Node through bin/mobizo.js or bin/with-gpu.js, which set up the Vulkan loader and SwiftShader)';
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
