#!/usr/bin/env node
// The `mobizo` command: the CLI compiled into dist/cli.js (scripts/build.mjs --cli), plain Node: no
// TypeScript loader, no environment of its own. The GPU is found by createGpu() (a real GPU
// through the optional `webgpu` package, else the WebAssembly backend on the CPU).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('mobizo: dist/cli.js is missing: in a clone of the repository, run npm ci (or npm run build:cli)');
  process.exit(1);
}
await import(cli.href);
