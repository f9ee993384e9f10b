// Where a model file's bytes come from, read piece by piece: bytes already in memory, a Blob / File
// (browser-safe), or a file on disk (src/cli/file_source.ts, Node only). Parsers read a header
// through it and each tensor's bytes when that tensor is uploaded, so a file larger than one JS
// buffer can hold (2 GiB in Node) loads, and peak host memory is about one tensor, not the file.

export interface ByteSource {
  /** Names the file in messages. */
  readonly name: string;
  /** Bytes in the file. */
  readonly size: number;
  /** Exactly `length` bytes from `offset` (an error names the file when they are not all there). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Checks a read's range against the source's size; throws one line naming the file. */
export function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new Error(`${src.name}: a read of ${length} bytes at byte ${offset} is outside the file (${src.size} bytes)`);
  }
}

/** Bytes in memory as a source (reads are views, not copies). */
export function bytesSource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(this, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A Blob or File (browser, Web Worker, Node 20) as a source: each read is one slice of it. */
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(this, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}
