// A kernel is one compute entry point of a shaders/*.wgsl file. Its bind-group layout and the
// layout of its `Params` uniform come from reflection of the WGSL (a KernelLayout, generated at
// build time into layouts.gen.ts: see src/gpu/reflect.ts), so the shader is the only place where
// bindings and uniforms are declared. Callers bind buffers by name and pass params by name;
// anything missing, extra or mistyped throws an error naming the kernel and the binding.
// A dispatch's own Params live at an aligned offset of a shared uniform arena; a uniform whose
// struct is a shared block (SHARED_BLOCKS, e.g. the ZO step's StepParams) is bound by name like
// a storage buffer, so one small buffer written once can feed every dispatch that reads it.
import type { Gpu } from './device';

export type ParamValue = number | readonly number[];
export type Params = Record<string, ParamValue>;

/** One @binding of an entry point. */
export interface KernelBinding {
  readonly name: string;
  readonly binding: number;
  readonly kind: 'uniform' | 'block' | 'read' | 'read_write'; // uniform: the entry's own Params; block: a shared uniform block
  readonly block?: string; // kind block: its struct
}

/** One field of a uniform struct: byte offset, scalar type, 1 (scalar) or N (vecN) values. */
export interface ParamField {
  readonly name: string;
  readonly offset: number;
  readonly scalar: 'u32' | 'i32' | 'f32';
  readonly count: number;
}

/** A uniform struct's layout: its fields and its size as bound (a multiple of 16 bytes). */
export interface BlockLayout {
  readonly struct: string;
  readonly size: number;
  readonly fields: readonly ParamField[];
}

/** What reflection of the WGSL tells about an entry point. */
export interface KernelLayout {
  readonly entry: string;
  readonly file: string; // shaders/<file>.wgsl
  readonly bindings: readonly KernelBinding[];
  readonly params: BlockLayout | null; // the entry's own Params uniform
  readonly workgroupSize: readonly [number, number, number];
}

/** Uniform structs that are shared blocks, written by their owner and bound by name. */
export const SHARED_BLOCKS = new Set(['StepParams']);

/** What a binding can be given: a tensor, or a shared uniform block. */
export interface Bindable {
  readonly buffer: GPUBuffer;
  readonly label: string;
  readonly block?: string; // a shared uniform block: its struct name
}

/** Packs `params` into the reflected Params layout; every field must be given, none extra. */
export function packParams(kernel: string, fields: readonly ParamField[], size: number, params: Params): ArrayBuffer {
  const buf = new ArrayBuffer(size);
  const view = new DataView(buf);
  const known = new Set(fields.map((f) => f.name));
  for (const k of Object.keys(params)) {
    if (!known.has(k)) throw new Error(`kernel ${kernel}: unknown param ${k} (Params has ${[...known].join(', ')})`);
  }
  for (const f of fields) {
    const v = params[f.name];
    if (v === undefined) throw new Error(`kernel ${kernel}: missing param ${f.name}`);
    const vals = typeof v === 'number' ? [v] : v;
    if (vals.length !== f.count) throw new Error(`kernel ${kernel}: param ${f.name} needs ${f.count} values, got ${vals.length}`);
    vals.forEach((x, i) => {
      const at = f.offset + 4 * i;
      if (f.scalar === 'f32') view.setFloat32(at, x, true);
      else {
        const lo = f.scalar === 'u32' ? 0 : -(2 ** 31);
        const hi = f.scalar === 'u32' ? 2 ** 32 - 1 : 2 ** 31 - 1;
        if (!Number.isInteger(x) || x < lo || x > hi) throw new Error(`kernel ${kernel}: param ${f.name} = ${x} is not a valid ${f.scalar}`);
        if (f.scalar === 'u32') view.setUint32(at, x, true);
        else view.setInt32(at, x, true);
      }
    });
  }
  return buf;
}

/** A dispatch's Params: `size` bytes at `offset` of an arena chunk. */
interface UniformSlot {
  buffer: GPUBuffer;
  offset: number;
}

/**
 * The uniforms of every dispatch of a device: chunks of fixed slots at offsets aligned to
 * minUniformBufferOffsetAlignment, instead of one buffer per dispatch. A destroyed dispatch
 * returns its slot for reuse.
 */
export class UniformArena {
  private static readonly arenas = new WeakMap<Gpu, UniformArena>();
  static readonly SLOT_BYTES = 256; // >= every Params struct, and a multiple of the alignment
  static readonly SLOTS_PER_CHUNK = 64;
  readonly stride: number;
  private readonly free: UniformSlot[] = [];
  private chunks = 0;

  private constructor(private readonly gpu: Gpu) {
    const align = gpu.limits.minUniformBufferOffsetAlignment;
    this.stride = Math.ceil(UniformArena.SLOT_BYTES / align) * align;
  }

  static of(gpu: Gpu): UniformArena {
    let a = UniformArena.arenas.get(gpu);
    if (!a) UniformArena.arenas.set(gpu, (a = new UniformArena(gpu)));
    return a;
  }

  alloc(who: string, bytes: number): UniformSlot {
    if (bytes > UniformArena.SLOT_BYTES) throw new Error(`${who}: Params of ${bytes} bytes exceed the uniform arena's slot of ${UniformArena.SLOT_BYTES} bytes`);
    if (!this.free.length) {
      const n = UniformArena.SLOTS_PER_CHUNK;
      const buffer = this.gpu.createBuffer(`uniforms.arena.${this.chunks++}`, n * this.stride, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'uniforms');
      for (let i = n - 1; i >= 0; i--) this.free.push({ buffer, offset: i * this.stride });
    }
    return this.free.pop()!;
  }

  release(slot: UniformSlot): void {
    this.free.push(slot);
  }
}

/** One recorded launch: a bind group, its Params slot in the arena and a grid. Built once, replayed. */
export class Dispatch {
  constructor(
    readonly kernel: Kernel,
    readonly label: string,
    private readonly bindGroup: GPUBindGroup,
    private uniform: UniformSlot | null,
    public workgroups: [number, number, number],
    /** The params last written (for profilers: FLOPs and bytes are derived from them). */
    public params: Params | null,
  ) {}

  /** Rewrites this dispatch's uniforms (e.g. the position during generation). */
  setParams(params: Params): void {
    if (!this.uniform) throw new Error(`kernel ${this.kernel.name} has no Params`);
    this.kernel.gpu.device.queue.writeBuffer(this.uniform.buffer, this.uniform.offset, this.kernel.pack(params));
    this.params = params;
  }

  /** Rewrites some fields, keeping the others (for the wrappers' typed setters). */
  update(fields: Params): void {
    if (!this.params) throw new Error(`kernel ${this.kernel.name} has no Params`);
    this.setParams({ ...this.params, ...fields });
  }

  destroy(): void {
    if (this.uniform) UniformArena.of(this.kernel.gpu).release(this.uniform);
    this.uniform = null;
  }

  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.kernel.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(...this.workgroups);
  }
}

export class Kernel {
  private constructor(
    readonly gpu: Gpu,
    readonly name: string,
    readonly pipeline: GPUComputePipeline,
    private readonly layout: GPUBindGroupLayout,
    private readonly bindings: readonly KernelBinding[],
    private readonly fields: readonly ParamField[],
    private readonly paramsSize: number,
    readonly workgroupSize: readonly [number, number, number],
  ) {}

  /**
   * Compiles the entry `layout` describes from `source`; `file` names the shader in errors.
   * `overrides` select a variant (and name it); `limits` are program-wide constants (not in the name).
   */
  static async create(gpu: Gpu, file: string, source: string, layout: KernelLayout, overrides: Record<string, number> = {}, limits: Record<string, number> = {}): Promise<Kernel> {
    const entry = layout.entry;
    const k = Kernel.prepare(gpu, layout, overrides);
    const dev = gpu.device;
    dev.pushErrorScope('validation');
    const module = dev.createShaderModule({ label: file, code: source });
    let pipeline: GPUComputePipeline | null = null;
    let failure = '';
    try {
      pipeline = await dev.createComputePipelineAsync(k.descriptor(module, { ...limits, ...overrides }));
    } catch (e) {
      failure = (e as Error).message;
    }
    const scoped = await dev.popErrorScope();
    if (scoped || !pipeline) {
      const info = await module.getCompilationInfo();
      const msgs = info.messages.map((m) => `${file}:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`).join('\n');
      throw new Error(`shader ${file} entry ${entry} failed to compile: ${scoped?.message ?? failure}${msgs ? `\n${msgs}` : ''}`);
    }
    return k.finish(pipeline);
  }

  /**
   * Compiles an entry synchronously, from a shader module shared by the entries of one file
   * (Kernels compiles an entry the first time it is asked for). A compile error surfaces as a
   * WebGPU error naming the shader and entry (Gpu.throwIfFailed), as any validation error.
   */
  static createSync(gpu: Gpu, file: string, module: GPUShaderModule, layout: KernelLayout, limits: Record<string, number> = {}): Kernel {
    const k = Kernel.prepare(gpu, layout, {});
    const dev = gpu.device;
    dev.pushErrorScope('validation');
    const pipeline = dev.createComputePipeline(k.descriptor(module, limits));
    void dev.popErrorScope().then((err) => {
      if (err) gpu.reportError(`shader ${file} entry ${layout.entry} failed to compile: ${err.message}`);
    });
    return k.finish(pipeline);
  }

  /** The bind-group layout of an entry (no pipeline yet). */
  private static prepare(gpu: Gpu, layout: KernelLayout, overrides: Record<string, number>) {
    const entry = layout.entry;
    const name = Object.keys(overrides).length ? `${entry}(${Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join(',')})` : entry;
    const dev = gpu.device;
    const bgl = dev.createBindGroupLayout({
      label: name,
      entries: layout.bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.kind === 'uniform' || b.kind === 'block' ? 'uniform' : b.kind === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    const fields = layout.params?.fields ?? [];
    const paramsSize = layout.params?.size ?? 0;
    return {
      descriptor: (module: GPUShaderModule, constants: Record<string, number>): GPUComputePipelineDescriptor => ({
        label: name,
        layout: dev.createPipelineLayout({ label: name, bindGroupLayouts: [bgl] }),
        compute: { module, entryPoint: entry, constants },
      }),
      finish: (pipeline: GPUComputePipeline) => new Kernel(gpu, name, pipeline, bgl, layout.bindings, fields, paramsSize, layout.workgroupSize),
    };
  }

  pack(params: Params): ArrayBuffer {
    return packParams(this.name, this.fields, this.paramsSize, params);
  }

  /** Records a launch: binds `buffers` (tensors, shared blocks) by name, writes `params` to its arena slot. */
  dispatch(label: string, buffers: Record<string, Bindable>, params: Params | null, workgroups: [number, number, number]): Dispatch {
    const lim = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (workgroups.some((w) => !Number.isInteger(w) || w < 0 || w > lim)) {
      throw new Error(`kernel ${this.name} (${label}): grid [${workgroups}] exceeds maxComputeWorkgroupsPerDimension ${lim}`);
    }
    const entries: GPUBindGroupEntry[] = [];
    const given = new Set(Object.keys(buffers));
    let uniform: UniformSlot | null = null;
    for (const b of this.bindings) {
      if (b.kind === 'uniform') {
        if (!params) throw new Error(`kernel ${this.name} (${label}): params missing`);
        const data = this.pack(params);
        uniform = UniformArena.of(this.gpu).alloc(`kernel ${this.name} (${label})`, this.paramsSize);
        this.gpu.device.queue.writeBuffer(uniform.buffer, uniform.offset, data);
        entries.push({ binding: b.binding, resource: { buffer: uniform.buffer, offset: uniform.offset, size: this.paramsSize } });
        continue;
      }
      const t = buffers[b.name];
      if (!t && uniform) UniformArena.of(this.gpu).release(uniform);
      if (!t) throw new Error(`kernel ${this.name} (${label}): binding ${b.name} not given (got ${[...given].join(', ') || 'none'})`);
      given.delete(b.name);
      if (b.kind === 'block' ? t.block !== b.block : t.block !== undefined) {
        if (uniform) UniformArena.of(this.gpu).release(uniform);
        throw new Error(`kernel ${this.name} (${label}): binding ${b.name} takes ${b.block ? `a ${b.block} block` : 'a tensor'}, got ${t.label}`);
      }
      entries.push({ binding: b.binding, resource: { buffer: t.buffer } });
    }
    const bad = given.size ? `unknown binding(s) ${[...given].join(', ')}` : params && !uniform ? 'takes no params' : '';
    if (bad) {
      if (uniform) UniformArena.of(this.gpu).release(uniform);
      throw new Error(`kernel ${this.name} (${label}): ${bad}`);
    }
    const bindGroup = this.gpu.device.createBindGroup({ label, layout: this.layout, entries });
    return new Dispatch(this, label, bindGroup, uniform, workgroups, params);
  }
}

/** A 1-D launch of `threads` threads in workgroups of `wg`, folded into 2-D past 65535 groups. */
export function grid1d(threads: number, wg = 64): { workgroups: [number, number, number]; stride: number } {
  const groups = Math.max(1, Math.ceil(threads / wg));
  const x = Math.min(groups, 65535);
  return { workgroups: [x, Math.ceil(groups / x), 1], stride: x * wg };
}
