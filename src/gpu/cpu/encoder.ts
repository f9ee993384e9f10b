// Command recording of the CPU device: an encoder turns compute passes, copies and timestamp
// queries into a flat list of commands that CpuDevice.execute runs in order at submit.
import type { CpuBindGroup, CpuBuffer, CpuPipeline, CpuQuerySet } from './objects';

export interface DispatchCmd {
  kind: 'dispatch';
  pass: string;
  pipeline: CpuPipeline | null;
  bindGroup: CpuBindGroup | null;
  workgroups: [number, number, number];
}

export type Command =
  | DispatchCmd
  | { kind: 'copy'; src: CpuBuffer; srcOffset: number; dst: CpuBuffer; dstOffset: number; size: number }
  | { kind: 'timestamp'; querySet: CpuQuerySet; index: number }
  | { kind: 'resolve'; querySet: CpuQuerySet; first: number; count: number; dst: CpuBuffer; dstOffset: number }
  | { kind: 'clear'; buffer: CpuBuffer; offset: number; size: number };

export class CpuComputePass {
  private pipeline: CpuPipeline | null = null;
  private bindGroup: CpuBindGroup | null = null;
  private ended = false;

  constructor(
    private readonly label: string,
    private readonly out: Command[],
    private readonly end_: Command | null,
  ) {}

  setPipeline(p: GPUComputePipeline): void {
    this.pipeline = p as unknown as CpuPipeline;
  }

  setBindGroup(index: number, g: GPUBindGroup | null): void {
    if (index !== 0) throw new Error(`compute pass ${this.label}: only bind group 0 exists on the WebAssembly device`);
    this.bindGroup = g as unknown as CpuBindGroup | null;
  }

  dispatchWorkgroups(x: number, y = 1, z = 1): void {
    this.out.push({ kind: 'dispatch', pass: this.label, pipeline: this.pipeline, bindGroup: this.bindGroup, workgroups: [x, y, z] });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.end_) this.out.push(this.end_);
  }
}

export class CpuCommandEncoder {
  private readonly commands: Command[] = [];

  constructor(readonly label: string) {}

  beginComputePass(d: GPUComputePassDescriptor = {}): CpuComputePass {
    const tw = d.timestampWrites;
    const qs = tw?.querySet as unknown as CpuQuerySet | undefined;
    if (qs && tw?.beginningOfPassWriteIndex !== undefined) this.commands.push({ kind: 'timestamp', querySet: qs, index: tw.beginningOfPassWriteIndex });
    const end: Command | null = qs && tw?.endOfPassWriteIndex !== undefined ? { kind: 'timestamp', querySet: qs, index: tw.endOfPassWriteIndex } : null;
    return new CpuComputePass(d.label ?? this.label, this.commands, end);
  }

  copyBufferToBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.commands.push({ kind: 'copy', src: src as unknown as CpuBuffer, srcOffset, dst: dst as unknown as CpuBuffer, dstOffset, size });
  }

  resolveQuerySet(querySet: GPUQuerySet, first: number, count: number, dst: GPUBuffer, dstOffset: number): void {
    this.commands.push({ kind: 'resolve', querySet: querySet as unknown as CpuQuerySet, first, count, dst: dst as unknown as CpuBuffer, dstOffset });
  }

  clearBuffer(buffer: GPUBuffer, offset = 0, size?: number): void {
    const b = buffer as unknown as CpuBuffer;
    this.commands.push({ kind: 'clear', buffer: b, offset, size: size ?? b.size - offset });
  }

  finish(): { label: string; commands: Command[] } {
    return { label: this.label, commands: this.commands };
  }
}
