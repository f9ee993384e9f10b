#!/usr/bin/env node
// The `mobizo` command: re-executes node with the GPU environment (bin/gpu-env.js), TypeScript
// via tsx and .wgsl imports, then runs src/cli.ts.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpuEnv } from './gpu-env.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = [
  '--no-warnings=ExperimentalWarning',
  '--import', 'tsx',
  '--import', path.join(root, 'scripts', 'register-wgsl.mjs'),
  path.join(root, 'src', 'cli.ts'),
  ...process.argv.slice(2),
];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', env: gpuEnv(), cwd: process.cwd() });
if (r.error) {
  console.error(`mobizo: cannot start node: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? (r.signal ? 128 : 1));
