// Loader hooks registered by register-wgsl.mjs (they run on Node's loader thread).
// `.wgsl`: the file's text. `.wasm`: the file's bytes (a Uint8Array, as esbuild's binary loader
// gives); wasm/build/mobizo.wasm is rebuilt first when a wasm/*.ts is newer (scripts/build-wasm.mjs).
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export async function load(url, context, nextLoad) {
  if (url.endsWith('.wgsl')) {
    const text = await readFile(new URL(url), 'utf8');
    return { format: 'module', shortCircuit: true, source: `export default ${JSON.stringify(text)};` };
  }
  if (url.endsWith('.wasm')) {
    const file = fileURLToPath(url);
    if (file.endsWith('/wasm/build/mobizo.wasm')) {
      const script = fileURLToPath(new URL('./build-wasm.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--if-stale'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`building ${file} failed:\n${r.stdout}${r.stderr}`);
    }
    const bytes = await readFile(file);
    return { format: 'module', shortCircuit: true, source: `export default Uint8Array.from(atob(${JSON.stringify(bytes.toString('base64'))}), (c) => c.charCodeAt(0));` };
  }
  return nextLoad(url, context);
}
