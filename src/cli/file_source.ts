// A file on disk as a ByteSource (src/formats/byte_source.ts), Node only: each read is one
// positioned read of the bytes asked for, so a model file of any size (past the 2 GiB that one
// readFileSync can return) is read tensor by tensor.
import fs from 'node:fs';
import { checkRange, type ByteSource } from '../formats/byte_source';

/** The file `file` as a source; `name` names it in messages (default: the path). */
export function fileSource(file: string, name = file): ByteSource {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    throw new Error(`${name}: no such file`);
  }
  return {
    name,
    size,
    async read(offset, length) {
      checkRange(this, offset, length);
      const out = new Uint8Array(length);
      const fd = await fs.promises.open(file, 'r');
      try {
        for (let got = 0; got < length; ) {
          const { bytesRead } = await fd.read(out, got, Math.min(length - got, 1 << 30), offset + got);
          if (bytesRead === 0) throw new Error(`${name}: the file ended at byte ${offset + got} while ${length} bytes at ${offset} were read (it shrank while open?)`);
          got += bytesRead;
        }
      } finally {
        await fd.close();
      }
      return out;
    },
  };
}
