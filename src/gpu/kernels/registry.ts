// Every shader file of shaders/, compiled once per device. A kernel's name is its entry point;
// its TS wrapper (src/gpu/kernels/<file>.ts) checks shapes and records dispatches.
import attentionSrc from '../../../shaders/attention.wgsl';
import block4Src from '../../../shaders/block4.wgsl';
import gatherSrc from '../../../shaders/gather.wgsl';
import gatherQuantSrc from '../../../shaders/gather_quant.wgsl';
import matmulSrc from '../../../shaders/matmul.wgsl';
import matmulHalfSrc from '../../../shaders/matmul_half.wgsl';
import matmulLoraSrc from '../../../shaders/matmul_lora.wgsl';
import matmulQuantSrc from '../../../shaders/matmul_quant.wgsl';
import matmulSubgroupSrc from '../../../shaders/matmul_subgroup.wgsl';
import mploraSrc from '../../../shaders/mplora.wgsl';
import multiLoraSrc from '../../../shaders/multi_lora.wgsl';
import quantBlocksSrc from '../../../shaders/quant_blocks.wgsl';
import rmsnormSrc from '../../../shaders/rmsnorm.wgsl';
import rngSrc from '../../../shaders/rng.wgsl';
import rngFillSrc from '../../../shaders/rng_fill.wgsl';
import ropeSrc from '../../../shaders/rope.wgsl';
import swigluSrc from '../../../shaders/swiglu.wgsl';
import xentSrc from '../../../shaders/xent.wgsl';
import zoUpdateSrc from '../../../shaders/zo_update.wgsl';
import zoStepSrc from '../../../shaders/zo_step.wgsl';
import type { Gpu } from '../device';
import { Kernel, type KernelLayout } from '../kernel';
import { KERNEL_LAYOUTS } from '../layouts.gen';

/**
 * Shared WGSL helpers (files without entry points), pulled in by a line `#include "name.wgsl"`.
 * This is the one text step applied to shaders, identical in Node and in the browser bundle.
 */
export const INCLUDES: Record<string, string> = {
  'block4.wgsl': block4Src,
  'quant_blocks.wgsl': quantBlocksSrc,
  'rng.wgsl': rngSrc,
  'zo_step.wgsl': zoStepSrc,
};

/** Replaces each `#include "x.wgsl"` line by the helper file's text. */
export function preprocess(file: string, source: string): string {
  return source.replace(/^#include "([^"]+)"[ \t]*$/gm, (_, name: string) => {
    const inc = INCLUDES[name];
    if (inc === undefined) throw new Error(`shader ${file}: #include "${name}" names no file in INCLUDES (${Object.keys(INCLUDES).join(', ') || 'none'})`);
    return inc;
  });
}

/**
 * Limits compiled into the kernels as WGSL `override` constants: set here only, passed to every
 * pipeline whose shader declares them, and checked by the wrappers against the shapes they get.
 */
export const LIMITS = {
  /** mplora: the largest LoRA rank (a workgroup holds a [16, MAX_RANK] tile of B). */
  MAX_RANK: 64,
  /** mplora, zo_update (LOZO): the largest rank r' of the low-rank perturbation Z = U V^T. */
  MAX_ZO_RANK: 8,
} as const;

/** The LIMITS that `code` declares as `override`s. */
export function limitsOf(code: string): Record<string, number> {
  return Object.fromEntries(Object.entries(LIMITS).filter(([k]) => new RegExp(`\\boverride\\s+${k}\\b`).test(code)));
}

/** shader file -> [source, entry points, the adapter feature it needs (compiled only where present)] */
export const SHADERS = {
  attention: [attentionSrc, ['attention', 'attention_flash']],
  gather: [gatherSrc, ['gather']],
  gather_quant: [gatherQuantSrc, ['gather_f32_part', 'gather_f16', 'gather_bf16', 'gather_q8_0', 'gather_q4_0', 'gather_q4_1', 'gather_q5_0', 'gather_q5_1', 'gather_q2_k', 'gather_q3_k', 'gather_q4_k', 'gather_q5_k', 'gather_q6_k']],
  matmul: [matmulSrc, ['matmul', 'matmul_vec4', 'matmul_tiled', 'matmul_tiled_vec4']],
  matmul_half: [matmulHalfSrc, ['matmul_half', 'matmul_half_tiled'], 'shader-f16'],
  matmul_lora: [matmulLoraSrc, ['matmul_lora', 'matmul_lora_vec4']],
  matmul_subgroup: [matmulSubgroupSrc, ['matmul_subgroup'], 'subgroups'],
  matmul_quant: [matmulQuantSrc, ['matmul_f32_part', 'matmul_f16', 'matmul_bf16', 'matmul_q8_0', 'matmul_q4_0', 'matmul_q4_1', 'matmul_q5_0', 'matmul_q5_1', 'matmul_q2_k', 'matmul_q3_k', 'matmul_q4_k', 'matmul_q5_k', 'matmul_q6_k', 'matmul_f16_r1', 'matmul_bf16_r1', 'matmul_q8_0_r1', 'matmul_q4_0_r1', 'matmul_q4_1_r1', 'matmul_q5_0_r1', 'matmul_q5_1_r1', 'matmul_q2_k_r1', 'matmul_q3_k_r1', 'matmul_q4_k_r1', 'matmul_q5_k_r1', 'matmul_q6_k_r1', 'matmul_f16_r8', 'matmul_bf16_r8', 'matmul_q8_0_r8', 'matmul_q4_0_r8', 'matmul_q4_1_r8', 'matmul_q5_0_r8', 'matmul_q5_1_r8', 'matmul_q2_k_r8', 'matmul_q3_k_r8', 'matmul_q4_k_r8', 'matmul_q5_k_r8', 'matmul_q6_k_r8', 'matmul_q8_0_elem', 'matmul_q4_0_elem', 'matmul_q4_1_elem', 'matmul_q5_0_elem', 'matmul_q5_1_elem', 'matmul_q2_k_elem', 'matmul_q3_k_elem', 'matmul_q4_k_elem', 'matmul_q5_k_elem', 'matmul_q6_k_elem']],
  mplora: [mploraSrc, ['mplora']],
  multi_lora: [multiLoraSrc, ['multi_lora']],
  rmsnorm: [rmsnormSrc, ['rmsnorm', 'rmsnorm_rows']],
  rng_fill: [rngFillSrc, ['rng_fill', 'rng_bits']],
  rope: [ropeSrc, ['rope']],
  swiglu: [swigluSrc, ['swiglu', 'geglu', 'scale', 'softcap', 'add_row']],
  xent: [xentSrc, ['xent', 'slot_loss', 'class_loss']],
  zo_update: [zoUpdateSrc, ['zo_update', 'zo_grad', 'zo_update_momentum', 'zo_update_adam', 'zo_update_lozo', 'zo_update_hizoo']],
} as const satisfies Record<string, readonly [string, readonly string[], GPUFeatureName?]>;

/** Every kernel's name: the entry points of SHADERS. */
export type EntryName = (typeof SHADERS)[keyof typeof SHADERS][1][number];

/**
 * The value of `const NAME[: u32] = N[u];` in shaders/<file>.wgsl, for a wrapper that sizes its grid
 * or checks a shape against a constant WGSL must keep `const` (it sizes a private array, or a
 * tile the kernel's indexing assumes): the shader stays the one place that sets it.
 */
export function shaderConst(file: keyof typeof SHADERS, name: string): number {
  const m = new RegExp(`^const ${name}(?:\\s*:\\s*[iu]32)?\\s*=\\s*(\\d+)[iu]?\\s*;`, 'm').exec(SHADERS[file][0]);
  if (!m) throw new Error(`shaders/${file}.wgsl: no integer constant ${name}`);
  return Number(m[1]);
}

export interface LoadOptions {
  /** Kernels whose final WGSL is printed when compiled (default: env MOBIZO_DUMP_WGSL); see dumpMatcher. */
  dumpWgsl?: string;
  /** Where dumps go (default: stderr, or the console in a browser). */
  log?: (text: string) => void;
}

/**
 * MOBIZO_DUMP_WGSL's pattern: comma-separated names, each a substring or a glob (`*`, `?`) of an
 * entry point or shader file name (`matmul`, `rms*_rows`, `xent,rope`); `1`, `all` or `*` match
 * every kernel; unset, empty or `0`: none (null).
 */
export function dumpMatcher(pattern: string | undefined): ((names: readonly string[]) => boolean) | null {
  const parts = (pattern ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== '0');
  if (!parts.length) return null;
  if (parts.some((s) => s === '1' || s === 'all' || s === '*')) return () => true;
  const tests = parts.map((s) => {
    if (!/[*?]/.test(s)) return (n: string) => n.includes(s);
    const re = new RegExp(`^${s.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return (n: string) => re.test(n);
  });
  return (names) => names.some((n) => tests.some((t) => t(n)));
}

/**
 * The WGSL a pipeline runs: `code` (includes expanded) with each `override` declaration given the
 * value the pipeline sets, so the text reads, and compiles alone, as what runs.
 */
export function finalWgsl(code: string, constants: Record<string, number>): string {
  let out = code;
  for (const [name, value] of Object.entries(constants)) {
    const decl = new RegExp(`^([ \\t]*(?:@id\\(\\d+\\)\\s*)?override\\s+${name}(?:\\s*:\\s*(\\w+))?)\\s*(?:=[^;]*)?;`, 'm');
    out = out.replace(decl, (_, head: string, type?: string) => {
      const lit = type === 'u32' ? `${value}u` : type === 'i32' ? `${value}i` : type === 'f32' ? `${value}f` : type === 'bool' ? String(value !== 0) : String(value);
      return `${head} = ${lit};  // set from TS`;
    });
  }
  return out;
}

/** One dump: a header naming shader, entry and constants, then the final WGSL. */
function dumpText(file: string, entry: string, code: string, constants: Record<string, number>): string {
  const set = Object.entries(constants).map(([k, v]) => `${k}=${v}`).join(', ');
  return `// ---- MOBIZO_DUMP_WGSL: ${file}, entry ${entry}${set ? ` (${set})` : ''} ----\n${finalWgsl(code, constants)}\n`;
}

function envDumpPattern(): string | undefined {
  return typeof process !== 'undefined' ? process.env?.MOBIZO_DUMP_WGSL : undefined;
}

function stderr(text: string): void {
  if (typeof process !== 'undefined' && process.stderr?.write) process.stderr.write(text);
  else console.error(text);
}

/** The reflected layout of an entry of SHADERS (generated at build time: layouts.gen.ts). */
export function layoutOf(entry: string): KernelLayout {
  const l = Object.hasOwn(KERNEL_LAYOUTS, entry) ? KERNEL_LAYOUTS[entry] : undefined;
  if (!l) throw new Error(`kernel ${entry}: no layout in src/gpu/layouts.gen.ts (run node scripts/build-wasm.mjs --gen after adding an entry)`);
  return l;
}

/** One shader file's entries, compiled the first time each is asked for. */
interface LazyFile {
  name: string; // shaders/<file>.wgsl
  code: string; // includes expanded
  limits: Record<string, number>;
  module?: GPUShaderModule;
}

export class Kernels {
  private constructor(
    readonly gpu: Gpu,
    private readonly byEntry: Map<string, Kernel>,
    private readonly lazy: Map<string, LazyFile>,
    /** Feature-gated entries whose compilation failed on this driver, with the error (the rest run). */
    readonly failed: ReadonlyMap<string, string> = new Map(),
  ) {}

  /**
   * The kernels of SHADERS the adapter can run, each with the LIMITS its shader declares.
   * Feature-gated shaders (subgroups, shader-f16) compile now, so `has` can tell whether they run
   * here; every other entry compiles the first time `get` asks for it (a model uses a third of
   * them: one weight layout, one attention variant), with one shader module and one reflection
   * per file. MOBIZO_DUMP_WGSL dumps matching entries here, compiled or not.
   */
  static async load(gpu: Gpu, opts: LoadOptions = {}): Promise<Kernels> {
    const dump = dumpMatcher(opts.dumpWgsl ?? envDumpPattern());
    const log = opts.log ?? stderr;
    const byEntry = new Map<string, Kernel>();
    const lazy = new Map<string, LazyFile>();
    const failed = new Map<string, string>();
    for (const [file, [src, entries, feature]] of Object.entries(SHADERS) as [string, readonly [string, readonly string[], GPUFeatureName?]][]) {
      if (feature && !gpu.features.has(feature)) continue;
      const name = `shaders/${file}.wgsl`;
      const code = preprocess(name, src);
      const limits = limitsOf(code);
      const lf: LazyFile = { name, code, limits };
      for (const e of entries) {
        if (gpu.entries && !gpu.entries.has(e)) continue; // the CPU backend: only entries with a twin
        if (dump?.([e, file])) log(dumpText(name, e, code, limits));
        if (!feature) {
          lazy.set(e, lf);
          continue;
        }
        try {
          byEntry.set(e, await Kernel.create(gpu, name, code, layoutOf(e), {}, limits));
        } catch (err) {
          failed.set(e, (err as Error).message); // an optional variant: the others still serve
        }
      }
    }
    return new Kernels(gpu, byEntry, lazy, failed);
  }

  /** Whether `entry` runs here (a feature-gated shader is skipped without its feature). */
  has(entry: string): boolean {
    return this.byEntry.has(entry) || this.lazy.has(entry);
  }

  get(entry: string): Kernel {
    let k = this.byEntry.get(entry);
    if (!k && this.lazy.has(entry)) {
      const f = this.lazy.get(entry)!;
      f.module ??= this.gpu.device.createShaderModule({ label: f.name, code: f.code });
      k = Kernel.createSync(this.gpu, f.name, f.module, layoutOf(entry), f.limits);
      this.byEntry.set(entry, k);
      this.lazy.delete(entry);
    }
    if (!k && this.failed.has(entry)) throw new Error(`kernel ${entry} failed to compile on this adapter: ${this.failed.get(entry)}`);
    if (!k) throw new Error(`no kernel ${entry} (have ${[...this.byEntry.keys(), ...this.lazy.keys()].join(', ')})`);
    return k;
  }
}
