// A WebGPU-shaped device that runs on the CPU: buffers are ranges of one WebAssembly memory,
// pipelines are the WASM twins of the WGSL entry points (looked up by entry name), a command
// buffer is the list of recorded dispatches and copies, executed in order by queue.submit before
// it returns (so mapAsync and onSubmittedWorkDone resolve at once). Only what the engine uses is
// implemented; everything above src/gpu/ runs on it unchanged. Errors follow WebGPU: validation
// errors go to the innermost matching error scope, or to 'uncapturederror' listeners.
import { createMemory, MAX_PAGES, PAGE, WasmHeap } from './memory';
import { compileKernels, kernelImports, type KernelModule } from './module';
import { controlBytes, ThreadPool, threadsPossible } from './pool';
import { CpuCommandEncoder, type Command, type DispatchCmd } from './encoder';
import { CpuBindGroup, CpuBuffer, CpuError, CpuPipeline, CpuQuerySet } from './objects';

/** Bytes of scratch memory per thread (wasm/common.ts setScratch / scratch). */
export const SCRATCH_BYTES = 1 << 20;
/** Most bindings of an entry point (the bind table's words). */
const MAX_BINDINGS = 16;

/** Adds GPUBufferUsage, GPUMapMode and GPUShaderStage where the platform has no WebGPU. */
export function installWebGpuConstants(): void {
  const g = globalThis as Record<string, unknown>;
  g.GPUBufferUsage ??= { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128, INDIRECT: 256, QUERY_RESOLVE: 512 };
  g.GPUMapMode ??= { READ: 1, WRITE: 2 };
  g.GPUShaderStage ??= { VERTEX: 1, FRAGMENT: 2, COMPUTE: 4 };
}

interface Scope {
  filter: GPUErrorFilter;
  error: CpuError | null;
}

export interface CpuDeviceOptions {
  /** Threads (default: the cores, os.availableParallelism / navigator.hardwareConcurrency). */
  threads?: number;
}

/** The cores of this machine (1 where unknown). */
export async function availableCores(): Promise<number> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const spec = 'node:os'; // kept out of browser bundles: not a literal
    const os = (await import(/* @vite-ignore */ spec)) as typeof import('node:os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
}

export class CpuDevice {
  readonly label = 'mobizo WebAssembly device';
  readonly features: ReadonlySet<string> = new Set(['timestamp-query']);
  readonly limits: Readonly<Record<string, number>>;
  readonly queue: CpuQueue;
  readonly lost: Promise<GPUDeviceLostInfo>;
  private resolveLost!: (info: GPUDeviceLostInfo) => void;
  private scopes: Scope[] = [];
  private listeners = new Set<(ev: { error: CpuError }) => void>();
  private fns: ((...a: number[]) => void)[];
  private bindTable: Uint32Array | null = null;
  private destroyed = false;
  /**
   * A dispatch whose bindings hold fewer bytes (or of one workgroup) runs on the calling thread
   * alone: waking the workers costs ~10 us in Node, more in a page. 0 splits every dispatch (tests).
   */
  parallelBytes = 262144;

  private constructor(
    readonly heap: WasmHeap,
    readonly kernels: KernelModule,
    instance: WebAssembly.Instance,
    private readonly pool: ThreadPool | null,
    private readonly bindAt: number,
  ) {
    const maxBuffer = Math.min(2 ** 31, heap.maxBytes);
    this.limits = cpuLimits(maxBuffer);
    this.queue = new CpuQueue(this);
    this.lost = new Promise((r) => (this.resolveLost = r));
    this.fns = kernels.entries.map((e) => instance.exports[e] as (...a: number[]) => void);
  }

  /** Threads that run each dispatch. */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /** The WGSL entry points that have a twin here. */
  get entries(): readonly string[] {
    return this.kernels.entries;
  }

  static async create(opts: CpuDeviceOptions = {}): Promise<CpuDevice> {
    installWebGpuConstants();
    const wanted = opts.threads ?? (await availableCores());
    if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`backend wasm: threads must be a positive integer, got ${opts.threads}`);
    const threads = threadsPossible() ? wanted : 1;
    const shared = threads > 1;
    const kernels = await compileKernels(shared);
    const memory = createMemory(1, shared);
    const maxBytes = Math.min(MAX_PAGES, (memory as { maximum?: number }).maximum ?? MAX_PAGES) * PAGE;
    const instance = await WebAssembly.instantiate(kernels.module, kernelImports(memory));
    const base = Number((instance.exports.heapBase as () => number)());
    const heap = new WasmHeap(memory, base, maxBytes);
    const bindAt = heap.alloc(4 * MAX_BINDINGS, 'bind table');
    const scratch = heap.alloc(threads * SCRATCH_BYTES, 'scratch');
    (instance.exports.setScratch as (base: number, bytes: number) => void)(scratch, SCRATCH_BYTES); // thread k: scratch + k SCRATCH_BYTES
    let pool: ThreadPool | null = null;
    if (threads > 1) {
      const ctl = heap.alloc(controlBytes(threads), 'thread control');
      pool = await ThreadPool.create(kernels.module, memory, kernels.entries, ctl, threads, { base: scratch, bytes: SCRATCH_BYTES });
    }
    return new CpuDevice(heap, kernels, instance, pool, bindAt);
  }

  // ---- errors (WebGPU error scopes) ----

  pushErrorScope(filter: GPUErrorFilter): void {
    this.scopes.push({ filter, error: null });
  }

  async popErrorScope(): Promise<CpuError | null> {
    const s = this.scopes.pop();
    if (!s) throw new Error('popErrorScope: no error scope');
    return s.error;
  }

  addEventListener(type: string, fn: (ev: { error: CpuError }) => void): void {
    if (type === 'uncapturederror') this.listeners.add(fn);
  }

  removeEventListener(type: string, fn: (ev: { error: CpuError }) => void): void {
    if (type === 'uncapturederror') this.listeners.delete(fn);
  }

  /** Reports an error as WebGPU would: the innermost scope of its kind, else an uncaptured error. */
  raise(filter: GPUErrorFilter, message: string): void {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      if (this.scopes[i].filter !== filter) continue;
      this.scopes[i].error ??= new CpuError(message);
      return;
    }
    for (const fn of this.listeners) fn({ error: new CpuError(message) });
  }

  // ---- objects ----

  /** Whether destroy() was called (WebGPU: the device is lost; its objects are invalid, work is dropped). */
  get isLost(): boolean {
    return this.destroyed;
  }

  createBuffer(d: GPUBufferDescriptor): CpuBuffer {
    const label = d.label ?? 'buffer';
    if (this.destroyed) return new CpuBuffer(this, label, d.size, d.usage, -1, false); // an invalid buffer, as WebGPU's
    if (d.size > this.limits.maxBufferSize) {
      this.raise('validation', `buffer ${label}: ${d.size} bytes exceed maxBufferSize ${this.limits.maxBufferSize}`);
    }
    const addr = this.heap.alloc(d.size, `buffer ${label}`);
    return new CpuBuffer(this, label, d.size, d.usage, addr, d.mappedAtCreation ?? false);
  }

  createShaderModule(d: GPUShaderModuleDescriptor): object {
    return { label: d.label ?? '', getCompilationInfo: async () => ({ messages: [] }) };
  }

  createBindGroupLayout(d: GPUBindGroupLayoutDescriptor): object {
    return { label: d.label ?? '' };
  }

  createPipelineLayout(d: GPUPipelineLayoutDescriptor): object {
    return { label: d.label ?? '' };
  }

  createComputePipeline(d: GPUComputePipelineDescriptor): CpuPipeline {
    const entry = d.compute.entryPoint ?? '';
    const index = this.kernels.entries.indexOf(entry);
    if (index < 0) this.raise('validation', `entry point ${entry} (${d.label ?? ''}) has no WebAssembly twin in wasm/`);
    return new CpuPipeline(d.label ?? entry, entry, index);
  }

  async createComputePipelineAsync(d: GPUComputePipelineDescriptor): Promise<CpuPipeline> {
    const entry = d.compute.entryPoint ?? '';
    if (!this.kernels.entries.includes(entry)) throw new Error(`entry point ${entry} (${d.label ?? ''}) has no WebAssembly twin in wasm/`);
    return this.createComputePipeline(d);
  }

  createBindGroup(d: GPUBindGroupDescriptor): CpuBindGroup {
    const entries = [...d.entries].map((e) => {
      const r = e.resource as GPUBufferBinding;
      const buffer = r.buffer as unknown as CpuBuffer;
      const offset = r.offset ?? 0;
      return { binding: e.binding, buffer, offset, size: r.size ?? buffer.size - offset };
    });
    for (const e of entries) if (e.binding >= MAX_BINDINGS) this.raise('validation', `bind group ${d.label}: binding ${e.binding} >= ${MAX_BINDINGS}`);
    return new CpuBindGroup(d.label ?? '', entries);
  }

  createCommandEncoder(d: GPUCommandEncoderDescriptor = {}): CpuCommandEncoder {
    return new CpuCommandEncoder(d.label ?? '');
  }

  createQuerySet(d: GPUQuerySetDescriptor): CpuQuerySet {
    if (d.type !== 'timestamp') this.raise('validation', `query set ${d.label}: only timestamp queries exist here`);
    return new CpuQuerySet(d.type, d.count);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pool?.destroy();
    this.resolveLost({ reason: 'destroyed', message: 'device.destroy() was called' } as GPUDeviceLostInfo);
  }

  // ---- execution ----

  /** Runs the commands of one command buffer, in order. */
  execute(cmds: readonly Command[]): void {
    if (this.destroyed) return; // a lost device drops the work silently (the lost promise tells)
    const u8 = this.heap.u8();
    for (const c of cmds) {
      if (c.kind === 'dispatch') this.dispatch(c);
      else if (c.kind === 'copy') {
        const bad = c.src.destroyed || c.dst.destroyed ? 'a buffer is destroyed' : c.srcOffset + c.size > c.src.size || c.dstOffset + c.size > c.dst.size ? 'range out of bounds' : '';
        if (bad) {
          this.raise('validation', `copyBufferToBuffer ${c.src.label} -> ${c.dst.label}: ${bad}`);
          continue;
        }
        this.heap.u8().copyWithin(c.dst.addr + c.dstOffset, c.src.addr + c.srcOffset, c.src.addr + c.srcOffset + c.size);
      } else if (c.kind === 'timestamp') {
        c.querySet.values[c.index] = BigInt(Math.round(performance.now() * 1e6));
      } else if (c.kind === 'resolve') {
        const bytes = new Uint8Array(c.querySet.values.buffer, c.first * 8, c.count * 8);
        if (c.dst.destroyed || c.dstOffset + bytes.length > c.dst.size) this.raise('validation', `resolveQuerySet into ${c.dst.label}: out of bounds`);
        else this.heap.u8().set(bytes, c.dst.addr + c.dstOffset);
      } else if (c.kind === 'clear') {
        u8.fill(0, c.buffer.addr + c.offset, c.buffer.addr + c.offset + c.size);
      }
    }
  }

  private dispatch(c: DispatchCmd): void {
    const { pipeline, bindGroup } = c;
    if (!pipeline || !bindGroup) {
      this.raise('validation', `dispatch in pass ${c.pass}: ${pipeline ? 'no bind group set' : 'no pipeline set'}`);
      return;
    }
    if (pipeline.index < 0) {
      this.raise('validation', `dispatch of ${pipeline.label}: its pipeline is invalid (no WebAssembly twin)`);
      return;
    }
    const [wx, wy, wz] = c.workgroups;
    if (wx === 0 || wy === 0 || wz === 0) return;
    if (this.bindTable?.buffer !== this.heap.memory.buffer) this.bindTable = new Uint32Array(this.heap.memory.buffer, this.bindAt, MAX_BINDINGS);
    const t = this.bindTable;
    t.fill(0);
    let bytes = 0;
    for (const e of bindGroup.entries) {
      if (e.buffer.destroyed) {
        this.raise('validation', `dispatch of ${pipeline.label}: buffer ${e.buffer.label} (binding ${e.binding}) is destroyed`);
        return;
      }
      t[e.binding] = e.buffer.addr + e.offset;
      bytes += e.size;
    }
    const fn = this.fns[pipeline.index];
    const small = wx * wy * wz < 2 || bytes < this.parallelBytes;
    const parts = small ? 1 : (this.pool?.threads ?? 1);
    let failed: number[];
    try {
      failed = this.pool ? this.pool.run(pipeline.index, fn, this.bindAt, wx, wy, wz, parts) : (fn(this.bindAt, wx, wy, wz, 0, 1), []);
    } catch (e) {
      this.raise('internal', `kernel ${pipeline.label} failed on the CPU: ${(e as Error).message}`);
      return;
    }
    if (failed.length) {
      // rerun a failed part here to learn its error
      let why = 'a worker thread trapped';
      try {
        fn(this.bindAt, wx, wy, wz, failed[0], parts);
      } catch (e) {
        why = (e as Error).message;
      }
      this.raise('internal', `kernel ${pipeline.label} failed on the CPU (part ${failed[0]} of ${parts}): ${why}`);
    }
  }
}

export class CpuQueue {
  readonly label = 'queue';

  constructor(private readonly dev: CpuDevice) {}

  writeBuffer(buffer: GPUBuffer, bufferOffset: number, data: BufferSource | SharedArrayBuffer, dataOffset = 0, size?: number): void {
    const b = buffer as unknown as CpuBuffer;
    if (this.dev.isLost) return;
    const view = ArrayBuffer.isView(data);
    const unit = view ? (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1 : 1;
    const src = view ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data as ArrayBuffer);
    const from = dataOffset * unit;
    const bytes = size === undefined ? src.length - from : size * unit;
    if (b.destroyed || bufferOffset + bytes > b.size || from + bytes > src.length || bytes % 4 !== 0) {
      this.dev.raise('validation', `writeBuffer ${b.label}: ${bytes} bytes at ${bufferOffset} ${b.destroyed ? '(destroyed)' : `do not fit its ${b.size} bytes (or are not a multiple of 4)`}`);
      return;
    }
    this.dev.heap.u8().set(src.subarray(from, from + bytes), b.addr + bufferOffset);
  }

  submit(cbs: Iterable<GPUCommandBuffer>): void {
    for (const cb of cbs) this.dev.execute((cb as unknown as { commands: Command[] }).commands);
  }

  async onSubmittedWorkDone(): Promise<void> {}
}

/** WebGPU's limits as this device has them: large buffers, the usual compute limits. */
function cpuLimits(maxBuffer: number): Record<string, number> {
  return {
    maxTextureDimension1D: 0, maxTextureDimension2D: 0, maxTextureDimension3D: 0, maxTextureArrayLayers: 0, maxBindGroups: 4,
    maxBindGroupsPlusVertexBuffers: 4, maxBindingsPerBindGroup: MAX_BINDINGS, maxDynamicUniformBuffersPerPipelineLayout: 0,
    maxDynamicStorageBuffersPerPipelineLayout: 0, maxSampledTexturesPerShaderStage: 0, maxSamplersPerShaderStage: 0,
    maxStorageBuffersPerShaderStage: MAX_BINDINGS, maxStorageTexturesPerShaderStage: 0, maxUniformBuffersPerShaderStage: MAX_BINDINGS,
    maxUniformBufferBindingSize: 65536, maxStorageBufferBindingSize: maxBuffer, minUniformBufferOffsetAlignment: 256, minStorageBufferOffsetAlignment: 256,
    maxVertexBuffers: 0, maxBufferSize: maxBuffer, maxVertexAttributes: 0, maxVertexBufferArrayStride: 0, maxInterStageShaderVariables: 0,
    maxColorAttachments: 0, maxColorAttachmentBytesPerSample: 0, maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupSizeZ: 64, maxComputeWorkgroupsPerDimension: 0xffff,
  };
}
