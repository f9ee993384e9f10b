// The ZO step's per-step uniforms (shaders/zo_step.wgsl StepParams: seed, slot base, eps, lr) in
// one small uniform buffer that every dispatch needing them binds by name. The block's layout is
// reflected from the WGSL at build time (layouts.gen.ts), so the shader is the only place it is declared.
//
// A step of several passes (mezo, outer) writes one image per pass into a staging buffer, once
// per step; its program copies image k into the block before pass k (loadPass), so nothing is
// written between the passes of a step.
import type { Gpu } from './device';
import { packParams, type Bindable } from './kernel';
import { BLOCK_LAYOUTS } from './layouts.gen';
import { CopyBuffer } from './program';

export interface StepValues {
  seed: number; // step seed (u32)
  slotBase: number; // global slot of the pass's first slot
  eps: number; // 0: no perturbation
  lr: number;
}

export const NO_STEP: StepValues = { seed: 0, slotBase: 0, eps: 0, lr: 0 };

const layout = BLOCK_LAYOUTS.StepParams;

export class StepBlock implements Bindable {
  readonly block = 'StepParams';
  readonly buffer: GPUBuffer;
  private readonly staging: GPUBuffer | null;

  /** `passes` > 0: a staging buffer holds that many per-pass images (setPasses / loadPass). */
  constructor(
    private readonly gpu: Gpu,
    readonly label: string,
    readonly passes = 0,
  ) {
    this.buffer = gpu.createBuffer(label, layout.size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'uniforms');
    this.staging = passes > 0 ? gpu.createBuffer(`${label}.passes`, passes * layout.size, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'uniforms') : null;
    this.set(NO_STEP);
  }

  static pack(v: StepValues): ArrayBuffer {
    return packParams('StepParams', layout.fields, layout.size, { ...v });
  }

  /** Writes the block itself (a pass without a step: evaluation, generation). */
  set(v: StepValues): void {
    this.gpu.device.queue.writeBuffer(this.buffer, 0, StepBlock.pack(v));
  }

  /** Writes every pass's image in one writeBuffer (once per step). */
  setPasses(vs: readonly StepValues[]): void {
    if (!this.staging || vs.length !== this.passes) throw new Error(`${this.label}: ${vs.length} pass images for a block of ${this.passes} passes`);
    const all = new Uint8Array(this.passes * layout.size);
    vs.forEach((v, k) => all.set(new Uint8Array(StepBlock.pack(v)), k * layout.size));
    this.gpu.device.queue.writeBuffer(this.staging, 0, all);
  }

  /** The op that loads pass k's image into the block (the first op of pass k). */
  loadPass(k: number): CopyBuffer {
    if (!this.staging || k >= this.passes) throw new Error(`${this.label}: no pass ${k} (${this.passes} passes)`);
    return new CopyBuffer(`${this.label}.load${k}`, this.staging, k * layout.size, this.buffer, 0, layout.size);
  }

  destroy(): void {
    this.gpu.destroyBuffer(this.buffer);
    if (this.staging) this.gpu.destroyBuffer(this.staging);
  }
}
