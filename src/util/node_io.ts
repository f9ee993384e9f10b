// Node's file system for the library's Node paths (a model path, the hub cache folder), loaded on
// first use so browser bundles never see it: the specifiers are not literals (bundlers leave
// `import(variable)` alone). Internal: no exported API type mentions Node's types.

/** True in Node (and Node-compatible runtimes), false in browsers and workers. */
export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

export interface NodeIo {
  fs: typeof import('node:fs');
  fsp: typeof import('node:fs/promises');
  path: typeof import('node:path');
  os: typeof import('node:os');
  crypto: typeof import('node:crypto');
}

let io: Promise<NodeIo> | null = null;

/** Node's fs, path, os and crypto modules; throws outside Node. */
export function nodeIo(): Promise<NodeIo> {
  if (!isNode) return Promise.reject(new Error('file paths and the cache folder need Node: in a browser, pass bytes, a File or a URL'));
  if (!io) {
    const names = ['node:fs', 'node:fs/promises', 'node:path', 'node:os', 'node:crypto'];
    io = Promise.all(names.map((n) => import(/* @vite-ignore */ n))).then(([fs, fsp, path, os, crypto]) => ({ fs, fsp, path, os, crypto }));
  }
  return io;
}

/** An environment variable in Node; undefined in browsers. */
export function envVar(name: string): string | undefined {
  return isNode ? process.env[name] : undefined;
}
