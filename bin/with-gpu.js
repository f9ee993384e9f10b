#!/usr/bin/env node
// Runs a command with the GPU environment of bin/gpu-env.js (used by `npm test`, bench, scripts).
import { spawnSync } from 'node:child_process';
import { gpuEnv } from './gpu-env.js';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: with-gpu.js COMMAND [ARGS...]');
  process.exit(2);
}
const r = spawnSync(cmd, args, { stdio: 'inherit', env: gpuEnv() });
if (r.error) { console.error(`with-gpu: cannot run ${cmd}: ${r.error.message}`); process.exit(127); }
process.exit(r.status ?? 1);
