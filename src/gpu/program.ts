// A program is the list of GPU operations of one pass (a forward, a ZO step), built once for a
// shape and replayed: consecutive dispatches share a compute pass; buffer copies sit between.
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

export type Op = Dispatch | CopyRows;

export class Program {
  readonly ops: Op[] = [];

  constructor(readonly label: string) {}

  add(...ops: Op[]): void {
    this.ops.push(...ops);
  }

  /** Encodes all ops; each run of consecutive dispatches goes into one compute pass. */
  encode(encoder: GPUCommandEncoder): void {
    let pass: GPUComputePassEncoder | null = null;
    for (const op of this.ops) {
      if (op instanceof Dispatch) {
        pass ??= encoder.beginComputePass({ label: this.label });
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
