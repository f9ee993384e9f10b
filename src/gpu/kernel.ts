// A kernel is one compute entry point of a shaders/*.wgsl file. Its bind-group layout and the
// layout of its `Params` uniform come from wgsl_reflect, so the shader is the only place where
// bindings and uniforms are declared. Callers bind buffers by name and pass params by name;
// anything missing, extra or mistyped throws an error naming the kernel and the binding.
// A dispatch's own Params live at an aligned offset of a shared uniform arena; a uniform whose
// struct is a shared block (SHARED_BLOCKS, e.g. the ZO step's StepParams) is bound by name like
// a storage buffer, so one small buffer written once can feed every dispatch that reads it.
import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { Gpu } from './device';

export type ParamValue = number | readonly number[];
export type Params = Record<string, ParamValue>;

interface Binding {
  name: string;
  binding: number;
  kind: 'uniform' | 'block' | 'read' | 'read_write'; // uniform: the entry's own Params; block: a shared uniform block
  block?: string; // kind block: its struct
}

/** Uniform structs that are shared blocks, written by their owner and bound by name. */
export const SHARED_BLOCKS = new Set(['StepParams']);

/** What a binding can be given: a tensor, or a shared uniform block. */
export interface Bindable {
  readonly buffer: GPUBuffer;
  readonly label: string;
  readonly block?: string; // a shared uniform block: its struct name
}

interface ParamField {
  name: string;
  offset: number;
  scalar: 'u32' | 'i32' | 'f32';
  count: number; // 1 for scalars, N for vecN
}

const SCALARS = new Set(['u32', 'i32', 'f32']);

export function paramFields(kernel: string, members: { name: string; offset: number; type: { name: string; format?: { name: string } | null } }[]): ParamField[] {
  return members.map((m) => {
    const t = m.type.name;
    if (SCALARS.has(t)) return { name: m.name, offset: m.offset, scalar: t as ParamField['scalar'], count: 1 };
    const vec = /^vec([234])/.exec(t);
    const inner = m.type.format?.name ?? t.replace(/^vec[234](<|)/, '').replace(/[>]$/, '');
    const scalar = inner === 'f' ? 'f32' : inner === 'u' ? 'u32' : inner === 'i' ? 'i32' : inner;
    if (vec && SCALARS.has(scalar)) return { name: m.name, offset: m.offset, scalar: scalar as ParamField['scalar'], count: Number(vec[1]) };
    throw new Error(`kernel ${kernel}: Params field ${m.name} has type ${t}; only u32/i32/f32 and their vectors are supported`);
  });
}

/** Packs `params` into the reflected Params layout; every field must be given, none extra. */
export function packParams(kernel: string, fields: ParamField[], size: number, params: Params): ArrayBuffer {
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
    private readonly bindings: Binding[],
    private readonly fields: ParamField[],
    private readonly paramsSize: number,
    readonly workgroupSize: [number, number, number],
  ) {}

  /** Compiles `entry` of `source`; `file` names the shader in errors. */
  /** `overrides` select a variant (and name it); `limits` are program-wide constants (not in the name). */
  static async create(gpu: Gpu, file: string, source: string, entry: string, overrides: Record<string, number> = {}, limits: Record<string, number> = {}): Promise<Kernel> {
    const k = Kernel.prepare(gpu, file, entry, overrides, new WgslReflect(source));
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
   * Compiles `entry` synchronously, from a shader module and reflection shared by the entries of
   * one file (Kernels compiles an entry the first time it is asked for). A compile error surfaces
   * as a WebGPU error naming the shader and entry (Gpu.throwIfFailed), as any validation error.
   */
  static createSync(gpu: Gpu, file: string, module: GPUShaderModule, reflect: WgslReflect, entry: string, limits: Record<string, number> = {}): Kernel {
    const k = Kernel.prepare(gpu, file, entry, {}, reflect);
    const dev = gpu.device;
    dev.pushErrorScope('validation');
    const pipeline = dev.createComputePipeline(k.descriptor(module, limits));
    void dev.popErrorScope().then((err) => {
      if (err) gpu.reportError(`shader ${file} entry ${entry} failed to compile: ${err.message}`);
    });
    return k.finish(pipeline);
  }

  /** Reflection of one entry: bindings, Params layout, the bind-group layout (no pipeline yet). */
  private static prepare(gpu: Gpu, file: string, entry: string, overrides: Record<string, number>, reflect: WgslReflect) {
    const name = Object.keys(overrides).length ? `${entry}(${Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join(',')})` : entry;
    const fn = reflect.entry.compute.find((f) => f.name === entry);
    if (!fn) throw new Error(`shader ${file}: no @compute entry point named ${entry}`);
    const bindings: Binding[] = [];
    let fields: ParamField[] = [];
    let paramsSize = 0;
    for (const r of fn.resources) {
      if (r.group !== 0) throw new Error(`shader ${file}: binding ${r.name} must be in @group(0)`);
      if (r.resourceType === ResourceType.Uniform && SHARED_BLOCKS.has(r.type?.name ?? '')) {
        bindings.push({ name: r.name, binding: r.binding, kind: 'block', block: r.type!.name });
      } else if (r.resourceType === ResourceType.Uniform) {
        if (fields.length) throw new Error(`shader ${file}: entry ${entry} binds more than one uniform`);
        fields = paramFields(name, r.members ?? []);
        paramsSize = Math.ceil(r.size / 16) * 16;
        bindings.push({ name: r.name, binding: r.binding, kind: 'uniform' });
      } else if (r.resourceType === ResourceType.Storage) {
        bindings.push({ name: r.name, binding: r.binding, kind: r.access === 'read' ? 'read' : 'read_write' });
      } else {
        throw new Error(`shader ${file}: binding ${r.name} is not a buffer`);
      }
    }
    const dev = gpu.device;
    const layout = dev.createBindGroupLayout({
      label: name,
      entries: bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.kind === 'uniform' || b.kind === 'block' ? 'uniform' : b.kind === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    const wg = (fn.workgroupSize ?? [1, 1, 1]) as [number, number, number];
    return {
      descriptor: (module: GPUShaderModule, constants: Record<string, number>): GPUComputePipelineDescriptor => ({
        label: name,
        layout: dev.createPipelineLayout({ label: name, bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: entry, constants },
      }),
      finish: (pipeline: GPUComputePipeline) => new Kernel(gpu, name, pipeline, layout, bindings, fields, paramsSize, wg),
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
