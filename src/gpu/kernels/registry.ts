// Every shader file of shaders/, compiled once per device. A kernel's name is its entry point;
// its TS wrapper (src/gpu/kernels/<file>.ts) checks shapes and records dispatches.
import attentionSrc from '../../../shaders/attention.wgsl';
import gatherSrc from '../../../shaders/gather.wgsl';
import matmulSrc from '../../../shaders/matmul.wgsl';
import matmulQuantSrc from '../../../shaders/matmul_quant.wgsl';
import mploraSrc from '../../../shaders/mplora.wgsl';
import rmsnormSrc from '../../../shaders/rmsnorm.wgsl';
import rngSrc from '../../../shaders/rng.wgsl';
import rngFillSrc from '../../../shaders/rng_fill.wgsl';
import ropeSrc from '../../../shaders/rope.wgsl';
import swigluSrc from '../../../shaders/swiglu.wgsl';
import xentSrc from '../../../shaders/xent.wgsl';
import zoUpdateSrc from '../../../shaders/zo_update.wgsl';
import type { Gpu } from '../device';
import { Kernel } from '../kernel';

/**
 * Shared WGSL helpers (files without entry points), pulled in by a line `#include "name.wgsl"`.
 * This is the one text step applied to shaders, identical in Node and in the browser bundle.
 */
export const INCLUDES: Record<string, string> = {
  'rng.wgsl': rngSrc,
};

/** Replaces each `#include "x.wgsl"` line by the helper file's text. */
export function preprocess(file: string, source: string): string {
  return source.replace(/^#include "([^"]+)"[ \t]*$/gm, (_, name: string) => {
    const inc = INCLUDES[name];
    if (inc === undefined) throw new Error(`shader ${file}: #include "${name}" names no file in INCLUDES (${Object.keys(INCLUDES).join(', ') || 'none'})`);
    return inc;
  });
}

/** shader file -> [source, entry points] */
export const SHADERS: Record<string, [string, string[]]> = {
  attention: [attentionSrc, ['attention']],
  gather: [gatherSrc, ['gather']],
  matmul: [matmulSrc, ['matmul', 'matmul_vec4']],
  matmul_quant: [matmulQuantSrc, ['matmul_f16', 'matmul_q8_0', 'matmul_q4_0']],
  mplora: [mploraSrc, ['mplora']],
  rmsnorm: [rmsnormSrc, ['rmsnorm', 'rmsnorm_rows']],
  rng_fill: [rngFillSrc, ['rng_fill', 'rng_bits']],
  rope: [ropeSrc, ['rope']],
  swiglu: [swigluSrc, ['swiglu']],
  xent: [xentSrc, ['xent', 'slot_loss', 'class_loss']],
  zo_update: [zoUpdateSrc, ['zo_update', 'zo_grad']],
};

export class Kernels {
  private constructor(
    readonly gpu: Gpu,
    private readonly byEntry: Map<string, Kernel>,
  ) {}

  static async load(gpu: Gpu): Promise<Kernels> {
    const byEntry = new Map<string, Kernel>();
    for (const [file, [src, entries]] of Object.entries(SHADERS)) {
      const name = `shaders/${file}.wgsl`;
      const code = preprocess(name, src);
      for (const e of entries) byEntry.set(e, await Kernel.create(gpu, name, code, e));
    }
    return new Kernels(gpu, byEntry);
  }

  get(entry: string): Kernel {
    const k = this.byEntry.get(entry);
    if (!k) throw new Error(`no kernel ${entry} (have ${[...this.byEntry.keys()].join(', ')})`);
    return k;
  }
}
