// The CPU backend's device memory: one WebAssembly.Memory (shared between the threads when they
// exist) holding every buffer, and a first-fit allocator over it. Addresses are byte offsets,
// aligned to ALIGN (a cache line; v128 loads need 16). The module's static data and a few control
// words live below `base`; the memory grows in whole pages when a buffer does not fit and never
// shrinks (WebAssembly cannot), so its size is the run's peak of live buffers plus fragmentation.

export const PAGE = 65536;
/** 4 GiB: the most a 32-bit WebAssembly memory addresses. */
export const MAX_PAGES = 65536;
export const ALIGN = 64;

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

interface Block {
  at: number;
  bytes: number;
}

/** A new memory of `pages` pages, shared when `shared`; the largest maximum the platform grants. */
export function createMemory(pages: number, shared: boolean): WebAssembly.Memory {
  let err: unknown;
  // a maximum reserves address space up front (shared memories): some platforms grant less than 4 GiB
  for (let max = MAX_PAGES; max >= 4096; max /= 2) {
    try {
      return new WebAssembly.Memory({ initial: pages, maximum: max, shared } as WebAssembly.MemoryDescriptor);
    } catch (e) {
      err = e;
    }
  }
  throw new Error(`WebAssembly backend: cannot create a ${shared ? 'shared ' : ''}memory: ${(err as Error).message}`);
}

export class WasmHeap {
  private free: Block[] = []; // by address, coalesced
  private live = new Map<number, number>(); // address -> bytes
  private top: number; // first byte of the space above every allocation
  private touched: number; // first byte never allocated (above it the memory is still zero)
  private view: Uint8Array;
  /** Bytes of buffers live now, and their peak. */
  liveBytes = 0;
  peakBytes = 0;

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
    readonly maxBytes: number,
  ) {
    this.top = alignUp(base, ALIGN);
    this.touched = this.top;
    this.view = new Uint8Array(memory.buffer);
  }

  /** A view of the whole memory (refreshed after growth). */
  u8(): Uint8Array {
    if (this.view.byteLength !== this.memory.buffer.byteLength) this.view = new Uint8Array(this.memory.buffer);
    return this.view;
  }

  /** Bytes the memory holds now (its pages). */
  get size(): number {
    return this.memory.buffer.byteLength;
  }

  /** Allocates `bytes` zeroed bytes; returns the address. */
  alloc(bytes: number, what: string): number {
    const size = alignUp(Math.max(bytes, 1), ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.bytes < size) continue;
      const at = b.at;
      if (b.bytes === size) this.free.splice(i, 1);
      else (b.at += size), (b.bytes -= size);
      this.u8().fill(0, at, at + size); // WebGPU buffers start zeroed; freed memory is not
      return this.take(at, size);
    }
    const at = this.top;
    const end = at + size;
    if (end > this.maxBytes) {
      throw new Error(`${what}: ${bytes} bytes do not fit the WebAssembly memory (${this.liveBytes} bytes live of at most ${this.maxBytes})`);
    }
    if (end > this.size) {
      const pages = Math.ceil((end - this.size) / PAGE);
      try {
        this.memory.grow(pages);
      } catch (e) {
        throw new Error(`${what}: growing the WebAssembly memory to ${this.size + pages * PAGE} bytes failed: ${(e as Error).message}`);
      }
    }
    if (at < this.touched) this.u8().fill(0, at, Math.min(end, this.touched));
    this.top = end;
    this.touched = Math.max(this.touched, end);
    return this.take(at, size);
  }

  private take(at: number, size: number): number {
    this.live.set(at, size);
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return at;
  }

  /** Returns a block to the free list, merged with its neighbours. */
  release(at: number): void {
    const size = this.live.get(at);
    if (size === undefined) return;
    this.live.delete(at);
    this.liveBytes -= size;
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid].at < at) lo = mid + 1;
      else hi = mid;
    }
    this.free.splice(lo, 0, { at, bytes: size });
    const next = this.free[lo + 1];
    if (next && at + size === next.at) {
      this.free[lo].bytes += next.bytes;
      this.free.splice(lo + 1, 1);
    }
    const prev = this.free[lo - 1];
    if (prev && prev.at + prev.bytes === at) {
      prev.bytes += this.free[lo].bytes;
      this.free.splice(lo, 1);
    }
    // a free block at the top goes back to the untouched space
    const last = this.free[this.free.length - 1];
    if (last && last.at + last.bytes === this.top) {
      this.top = last.at;
      this.free.pop();
    }
  }
}
