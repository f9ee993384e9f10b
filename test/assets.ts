// Test assets live beside the repository, in ../shared/assets (see its README.md); never copied in.
// MOBIZO_ASSETS names another folder of the same layout (the device pack carries the few the GPU
// run's specs read: bench/device.sh).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLlama2c } from '../src/formats/llama2c';
import { Tokenizer } from '../src/formats/tokenizer';
import type { LlamaModelFile } from '../src/formats/config';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const assetsRoot = process.env.MOBIZO_ASSETS ? path.resolve(process.env.MOBIZO_ASSETS) : path.resolve(repoRoot, '..', 'shared', 'assets');

/** Absolute path of a shared test asset, e.g. assetPath('models', 'stories260K.bin'). Throws if missing. */
export function assetPath(...parts: string[]): string {
  const p = path.resolve(assetsRoot, ...parts);
  if (!existsSync(p)) {
    throw new Error(`test asset missing: ${p} (the shared assets are expected in ${assetsRoot}, beside the repository)`);
  }
  return p;
}

/** The fenced block after "Known output" in the assets README (llama2.c run.c, temperature 0, 200 steps). */
export function knownOutput(): string {
  const readme = readFileSync(assetPath('README.md'), 'utf8');
  const m = /Known output[^\n]*\n+```[^\n]*\n([\s\S]*?)\n```/.exec(readme);
  if (!m) throw new Error('no fenced block after "Known output" in the assets README');
  return m[1];
}

/** The shared stories260K checkpoint and its tok512 tokenizer, parsed. */
export function stories260K(): { file: LlamaModelFile; tok: Tokenizer } {
  const file = parseLlama2c(new Uint8Array(readFileSync(assetPath('models', 'stories260K.bin'))), 'stories260K.bin');
  const tok = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(assetPath('models', 'tok512.bin'))), 512, 'tok512.bin');
  return { file, tok };
}
