// The compiled twins (wasm/*.ts, built by scripts/build-wasm.mjs into wasm/build/mobizo.wasm):
// the bytes reach every runtime through one import (a loader hook in Node under tsx, esbuild's
// binary loader in the bundles). The module imports one memory, `env.memory`, declared shared;
// where threads are off (a page that is not cross-origin isolated) the declaration is patched to
// unshared (one flag byte), so the same bytes serve both.
import wasmBytes from '../../../wasm/build/mobizo.wasm';

/** Exports of the module that are not kernels. */
const NOT_KERNELS = new Set(['memory', 'heapBase', 'setScratch']);

/** The module's import section patched so that it imports an unshared memory. */
export function unsharedBytes(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  let p = 8; // magic and version
  const leb = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = out[p++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) return v;
    }
  };
  while (p < out.length) {
    const id = out[p++];
    const size = leb();
    const end = p + size;
    if (id === 2) {
      const n = leb();
      for (let i = 0; i < n; i++) {
        const moduleName = leb();
        p += moduleName;
        const fieldName = leb();
        p += fieldName;
        const kind = out[p++];
        if (kind === 0x00) leb();
        else if (kind === 0x01) (p++, out[p++] & 1 ? (leb(), leb()) : leb());
        else if (kind === 0x03) p += 2;
        else if (kind === 0x02) {
          if (out[p] === 0x03) out[p] = 0x01; // shared, min, max -> min, max
          return out;
        }
      }
    }
    p = end;
  }
  throw new Error('wasm/build/mobizo.wasm imports no memory: rebuild it (node scripts/build-wasm.mjs)');
}

export interface KernelModule {
  module: WebAssembly.Module;
  /** Every kernel export (a WGSL entry's twin), in a fixed order shared with the threads. */
  entries: readonly string[];
  shared: boolean;
}

/** Compiles the twins for a shared (threads) or an unshared memory. */
export async function compileKernels(shared: boolean): Promise<KernelModule> {
  if (!(wasmBytes instanceof Uint8Array) || wasmBytes.length < 8) {
    throw new Error('the WebAssembly kernels are missing: run node scripts/build-wasm.mjs (npm run build:wasm)');
  }
  const bytes = shared ? wasmBytes : unsharedBytes(wasmBytes);
  const module = await WebAssembly.compile(bytes as BufferSource);
  const entries = WebAssembly.Module.exports(module)
    .filter((e) => e.kind === 'function' && !NOT_KERNELS.has(e.name))
    .map((e) => e.name)
    .sort();
  return { module, entries, shared };
}

/** The imports of an instance: the memory, and AssemblyScript's abort as an exception. */
export function kernelImports(memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort: (_msg: number, _file: number, line: number, col: number) => {
        throw new Error(`WebAssembly kernel aborted (wasm/ line ${line}:${col})`);
      },
    },
  };
}
