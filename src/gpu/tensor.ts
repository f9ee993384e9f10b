// A tensor is a GPU buffer with a name, a shape and an element type. Shapes are checked at the
// kernel wrappers' boundary against these fields.
import type { Gpu } from './device';
import type { MemoryCategory } from './ledger';

export type DType = 'f32' | 'u32' | 'i32';

export class Tensor {
  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly label: string,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {}

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get bytes(): number {
    return this.numel * 4;
  }

  /** Uploads host data (length must equal numel). */
  write(data: Float32Array | Uint32Array | Int32Array, elementOffset = 0): void {
    if (elementOffset + data.length > this.numel) {
      throw new Error(`tensor ${this.label} [${this.shape}]: writing ${data.length} elements at ${elementOffset} overflows ${this.numel}`);
    }
    this.gpu.device.queue.writeBuffer(this.buffer, elementOffset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  async read(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new Error(`tensor ${this.label} is ${this.dtype}, read it with readU32`);
    return new Float32Array(await this.gpu.readBuffer(this.buffer, this.bytes));
  }

  async readU32(): Promise<Uint32Array> {
    return new Uint32Array(await this.gpu.readBuffer(this.buffer, this.bytes));
  }

  destroy(): void {
    this.gpu.destroyBuffer(this.buffer);
  }
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** Allocates a tensor (optionally uploading `data`). */
export function tensor(
  gpu: Gpu,
  label: string,
  shape: readonly number[],
  category: MemoryCategory,
  opts: { dtype?: DType; data?: Float32Array | Uint32Array | Int32Array } = {},
): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`tensor ${label}: bad shape [${shape}]`);
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  // checked before the buffer exists: a refused tensor leaves nothing behind
  if (opts.data && opts.data.length !== numel) throw new Error(`tensor ${label}: data has ${opts.data.length} elements, shape [${shape}] needs ${numel}`);
  const buffer = gpu.createBuffer(label, numel * 4, STORAGE(), category);
  const t = new Tensor(gpu, buffer, label, shape, opts.dtype ?? 'f32');
  if (opts.data) t.write(opts.data);
  return t;
}

/** Throws unless `t` has exactly the expected shape; `who` names the kernel and the argument. */
export function expectShape(who: string, t: Tensor, expected: readonly number[]): void {
  const ok = t.shape.length === expected.length && t.shape.every((d, i) => d === expected[i]);
  if (!ok) throw new Error(`${who}: tensor ${t.label} has shape [${t.shape}], expected [${expected}]`);
}

/** Throws unless `t` has at least `numel` elements (views into larger buffers, e.g. caches). */
export function expectAtLeast(who: string, t: Tensor, numel: number): void {
  if (t.numel < numel) throw new Error(`${who}: tensor ${t.label} [${t.shape}] has ${t.numel} elements, needs at least ${numel}`);
}
