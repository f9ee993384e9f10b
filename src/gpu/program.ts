// A program is the list of GPU operations of one pass (a forward, a ZO step), built once for a
// shape and replayed: consecutive dispatches share a compute pass; buffer copies sit between; a
// Submit op ends a command buffer (the sequential baselines submit each pass on its own).
import { Dispatch } from './kernel';
import type { Tensor } from './tensor';

/** copyBufferToBuffer of `rows` rows of `width` floats; offsets may change between replays. */
export class CopyRows {
  constructor(
    readonly label: string,
    readonly src: Tensor,
    public srcRow: number,
    readonly dst: Tensor,
    public dstRow: number,
    public rows: number,
    readonly width: number,
  ) {}

  encode(encoder: GPUCommandEncoder): void {
    const bytes = this.rows * this.width * 4;
    if (bytes === 0) return;
    const srcOff = this.srcRow * this.width * 4;
    const dstOff = this.dstRow * this.width * 4;
    if (srcOff + bytes > this.src.bytes || dstOff + bytes > this.dst.bytes) {
      throw new Error(`copy ${this.label}: rows out of range (${this.src.label} -> ${this.dst.label})`);
    }
    encoder.copyBufferToBuffer(this.src.buffer, srcOff, this.dst.buffer, dstOff, bytes);
  }
}

/** copyBufferToBuffer between raw buffers (uniform blocks, readback staging); `dst` may change between replays. */
export class CopyBuffer {
  constructor(
    readonly label: string,
    readonly src: GPUBuffer,
    readonly srcOffset: number,
    public dst: GPUBuffer,
    readonly dstOffset: number,
    readonly bytes: number,
  ) {}

  encode(encoder: GPUCommandEncoder): void {
    encoder.copyBufferToBuffer(this.src, this.srcOffset, this.dst, this.dstOffset, this.bytes);
  }
}

/** Ends the current command buffer: what follows goes into the next queue.submit. */
export class Submit {
  constructor(readonly label: string) {}

  encode(_encoder: GPUCommandEncoder): void {} // a profiler replaying the ops keeps its own submits
}

export type Op = Dispatch | CopyRows | CopyBuffer | Submit;

export class Program {
  readonly ops: Op[] = [];

  constructor(readonly label: string) {}

  add(...ops: Op[]): void {
    this.ops.push(...ops);
  }

  /** Encodes all ops into one encoder (Submit ops ignored); consecutive dispatches share a compute pass. */
  encode(encoder: GPUCommandEncoder): void {
    Program.encodeOps(this.label, this.ops, encoder);
  }

  /**
   * Encodes and submits the ops, one command buffer per Submit-separated segment, with `tail`
   * (e.g. a copy into a readback buffer that changes per replay) at the end; returns the submits.
   */
  submit(device: GPUDevice, tail: readonly Op[] = []): number {
    const ops = [...this.ops, ...tail];
    let n = 0;
    let start = 0;
    for (let i = 0; i <= ops.length; i++) {
      if (i < ops.length && !(ops[i] instanceof Submit)) continue;
      if (i > start) {
        const enc = device.createCommandEncoder({ label: `${this.label} #${n}` });
        Program.encodeOps(this.label, ops.slice(start, i), enc);
        device.queue.submit([enc.finish()]);
        n++;
      }
      start = i + 1;
    }
    return n;
  }

  private static encodeOps(label: string, ops: readonly Op[], encoder: GPUCommandEncoder): void {
    let pass: GPUComputePassEncoder | null = null;
    for (const op of ops) {
      if (op instanceof Submit) continue;
      if (op instanceof Dispatch) {
        pass ??= encoder.beginComputePass({ label });
        op.encode(pass);
      } else {
        pass?.end();
        pass = null;
        op.encode(encoder);
      }
    }
    pass?.end();
  }

  dispatches(): Dispatch[] {
    return this.ops.filter((o): o is Dispatch => o instanceof Dispatch);
  }
}
