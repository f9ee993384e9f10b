// The objects of the CPU device (src/gpu/cpu/device.ts): buffers (ranges of the WebAssembly
// memory), pipelines (a twin's index), bind groups and timestamp query sets.
import type { WasmHeap } from './memory';

/** What a buffer needs of its device. */
export interface BufferHost {
  readonly heap: WasmHeap;
  readonly isLost: boolean;
  raise(filter: GPUErrorFilter, message: string): void;
}

export class CpuError {
  constructor(readonly message: string) {}
}

export class CpuBuffer {
  mapState: GPUBufferMapState = 'unmapped';
  destroyed = false;
  private mapped: ArrayBuffer | null = null;
  private mapWrite = false;

  constructor(
    private readonly dev: BufferHost,
    readonly label: string,
    readonly size: number,
    readonly usage: number,
    readonly addr: number,
    mappedAtCreation: boolean,
  ) {
    if (mappedAtCreation) {
      this.mapState = 'mapped';
      this.mapWrite = true;
    }
  }

  async mapAsync(mode: number, offset = 0, size?: number): Promise<void> {
    if (this.dev.isLost) throw new Error(`mapAsync of buffer ${this.label}: the device is lost`);
    const end = offset + (size ?? this.size - offset);
    const why = this.destroyed ? 'it is destroyed' : this.mapState !== 'unmapped' ? 'it is already mapped' : end > this.size ? `range ${offset}..${end} exceeds its ${this.size} bytes` : '';
    if (why) {
      this.dev.raise('validation', `mapAsync of buffer ${this.label}: ${why}`);
      throw new Error(`mapAsync of buffer ${this.label} failed: ${why}`);
    }
    this.mapWrite = (mode & 2) !== 0;
    this.mapState = 'mapped';
  }

  getMappedRange(offset = 0, size?: number): ArrayBuffer {
    if (this.mapState !== 'mapped') throw new Error(`getMappedRange of buffer ${this.label}: not mapped`);
    const n = size ?? this.size - offset;
    if (!this.mapped) {
      this.mapped = new ArrayBuffer(this.size);
      if (!this.mapWrite) new Uint8Array(this.mapped).set(this.dev.heap.u8().subarray(this.addr, this.addr + this.size));
    }
    return n === this.size && offset === 0 ? this.mapped : this.mapped.slice(offset, offset + n);
  }

  unmap(): void {
    if (this.mapState !== 'mapped') return;
    if (this.mapWrite && this.mapped && !this.destroyed) this.dev.heap.u8().set(new Uint8Array(this.mapped), this.addr);
    this.mapped = null;
    this.mapState = 'unmapped';
  }

  destroy(): void {
    if (this.destroyed) return;
    this.unmap();
    this.destroyed = true;
    if (this.addr >= 0) this.dev.heap.release(this.addr);
  }
}

export class CpuQuerySet {
  readonly values: BigInt64Array;
  constructor(
    readonly type: GPUQueryType,
    readonly count: number,
  ) {
    this.values = new BigInt64Array(count);
  }

  destroy(): void {}
}

export class CpuPipeline {
  constructor(
    readonly label: string,
    readonly entry: string,
    readonly index: number, // in the module's entry list (-1: no twin)
  ) {}

  getBindGroupLayout(_i: number): object {
    return { label: this.label };
  }
}

export class CpuBindGroup {
  constructor(
    readonly label: string,
    readonly entries: readonly { binding: number; buffer: CpuBuffer; offset: number; size: number }[],
  ) {}
}
