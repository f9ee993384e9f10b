// Reflection of WGSL with wgsl_reflect: an entry point's bindings, the layout of its Params
// uniform and its workgroup size (a KernelLayout). Used at build time (scripts/build-wasm.mjs
// writes every kernel of shaders/ into src/gpu/layouts.gen.ts) and by tests that compile a shader
// text of their own; the engine reads the generated layouts, so no bundle ships a WGSL parser.
import { ResourceType, WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { SHARED_BLOCKS, type BlockLayout, type KernelBinding, type KernelLayout, type ParamField } from './kernel';

const SCALARS = new Set(['u32', 'i32', 'f32']);

type Member = { name: string; offset: number; type: { name: string; format?: { name: string } | null } };

/** The fields of a uniform struct; only u32 / i32 / f32 and their vectors are supported. */
export function paramFields(kernel: string, members: readonly Member[]): ParamField[] {
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

/** A uniform's bytes as bound: the struct's size rounded up to 16. */
const uniformSize = (size: number) => Math.ceil(size / 16) * 16;

/** The layout of `entry` in `source` (includes already expanded); `file` names the shader in errors. */
export function reflectKernel(file: string, source: string | WgslReflect, entry: string): KernelLayout {
  const reflect = typeof source === 'string' ? new WgslReflect(source) : source;
  const fn = reflect.entry.compute.find((f) => f.name === entry);
  if (!fn) throw new Error(`shader ${file}: no @compute entry point named ${entry}`);
  const bindings: KernelBinding[] = [];
  let params: KernelLayout['params'] = null;
  for (const r of [...fn.resources].sort((a, b) => a.binding - b.binding)) {
    if (r.group !== 0) throw new Error(`shader ${file}: binding ${r.name} must be in @group(0)`);
    const struct = r.type?.name ?? '';
    if (r.resourceType === ResourceType.Uniform && SHARED_BLOCKS.has(struct)) {
      bindings.push({ name: r.name, binding: r.binding, kind: 'block', block: struct });
    } else if (r.resourceType === ResourceType.Uniform) {
      if (params) throw new Error(`shader ${file}: entry ${entry} binds more than one uniform`);
      params = { struct, size: uniformSize(r.size), fields: paramFields(entry, r.members ?? []) };
      bindings.push({ name: r.name, binding: r.binding, kind: 'uniform' });
    } else if (r.resourceType === ResourceType.Storage) {
      bindings.push({ name: r.name, binding: r.binding, kind: r.access === 'read' ? 'read' : 'read_write' });
    } else {
      throw new Error(`shader ${file}: binding ${r.name} is not a buffer`);
    }
  }
  const wg = (fn.workgroupSize ?? [1, 1, 1]) as [number, number, number];
  return { entry, file, bindings, params, workgroupSize: [wg[0] ?? 1, wg[1] ?? 1, wg[2] ?? 1] };
}

/** The layout of a uniform struct declared in `source` (a shared block such as StepParams). */
export function reflectBlock(file: string, source: string, struct: string): BlockLayout {
  const st = new WgslReflect(source).structs.find((s) => s.name === struct);
  if (!st) throw new Error(`${file}: no struct ${struct}`);
  return { struct, size: uniformSize(st.size), fields: paramFields(struct, st.members) };
}
