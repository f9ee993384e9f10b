// Every shader file of shaders/, compiled once per device. A kernel's name is its entry point;
// its TS wrapper (src/gpu/kernels/<file>.ts) checks shapes and records dispatches.
import attentionSrc from '../../../shaders/attention.wgsl';
import gatherSrc from '../../../shaders/gather.wgsl';
import matmulSrc from '../../../shaders/matmul.wgsl';
import rmsnormSrc from '../../../shaders/rmsnorm.wgsl';
import ropeSrc from '../../../shaders/rope.wgsl';
import swigluSrc from '../../../shaders/swiglu.wgsl';
import type { Gpu } from '../device';
import { Kernel } from '../kernel';

/** shader file -> [source, entry points] */
export const SHADERS: Record<string, [string, string[]]> = {
  attention: [attentionSrc, ['attention']],
  gather: [gatherSrc, ['gather']],
  matmul: [matmulSrc, ['matmul', 'matmul_vec4']],
  rmsnorm: [rmsnormSrc, ['rmsnorm']],
  rope: [ropeSrc, ['rope']],
  swiglu: [swigluSrc, ['swiglu']],
};

export class Kernels {
  private constructor(
    readonly gpu: Gpu,
    private readonly byEntry: Map<string, Kernel>,
  ) {}

  static async load(gpu: Gpu): Promise<Kernels> {
    const byEntry = new Map<string, Kernel>();
    for (const [file, [src, entries]] of Object.entries(SHADERS)) {
      for (const e of entries) byEntry.set(e, await Kernel.create(gpu, `shaders/${file}.wgsl`, src, e));
    }
    return new Kernels(gpu, byEntry);
  }

  get(entry: string): Kernel {
    const k = this.byEntry.get(entry);
    if (!k) throw new Error(`no kernel ${entry} (have ${[...this.byEntry.keys()].join(', ')})`);
    return k;
  }
}
