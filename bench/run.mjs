#!/usr/bin/env node
// `npm run bench` / `npm run profile`: runs bench/cli.ts under tsx (TypeScript, .wgsl imports)
// with the GPU environment of bin/with-gpu.js (Vulkan loader + SwiftShader for Dawn in Node; the
// headless-Chrome path does not need it but gets it harmlessly). Arguments pass through:
//   npm run bench -- --quick            npm run bench -- --node --preset stories15M
//   npm run profile -- --json           npm run profile -- --serve
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;
const r = spawnSync(
  node,
  [path.join(root, 'bin', 'with-gpu.js'), node, '--import', 'tsx', '--import', './scripts/register-wgsl.mjs', path.join(root, 'bench', 'cli.ts'), ...process.argv.slice(2)],
  { stdio: 'inherit', cwd: root },
);
if (r.error) {
  console.error(`bench: cannot run node: ${r.error.message}`);
  process.exit(127);
}
process.exit(r.status ?? 1);
