#!/usr/bin/env node
// Browser bundles with esbuild. `node scripts/build.mjs` (npm run build) writes dist/app.js from
// src/app/main.ts; buildBrowser() is the one place the browser build is configured, reused by the
// dev server, the headless-Chrome tests and the bench pages.
//
// Shaders: `import src from '../../shaders/x.wgsl'` gives the file's text (esbuild's text loader,
// the same contract as scripts/wgsl-hooks.mjs in Node).
// Node-only modules (`webgpu` = Dawn, `node:*`) stay external: the engine must import them
// dynamically (`await import('webgpu')`) on its Node path, so the bundle never loads them.
import * as esbuild from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Modules the browser bundle must never contain (Node-only). */
const NODE_ONLY = ['webgpu', 'node:*'];

/**
 * esbuild options for a browser bundle: ESM, sourcemaps, `.wgsl` as text, platform browser.
 * @param {{ entryPoints: string[] | Record<string, string>, outdir: string, minify?: boolean }} opts
 * @returns {import('esbuild').BuildOptions}
 */
export function browserBuildOptions({ entryPoints, outdir, minify = false }) {
  return {
    entryPoints,
    outdir,
    absWorkingDir: repoRoot,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022', // every browser that ships WebGPU runs ES2022
    sourcemap: true,
    minify,
    splitting: false,
    loader: { '.wgsl': 'text' },
    external: NODE_ONLY,
    logLevel: 'silent',
    metafile: true,
  };
}

/**
 * Builds browser bundles. Relative entry points and outdir resolve against the repository root.
 * @param {{ entryPoints: string[] | Record<string, string>, outdir: string, minify?: boolean }} opts
 * @returns {Promise<{ outputs: string[], warnings: import('esbuild').Message[] }>} absolute paths written
 */
export async function buildBrowser(opts) {
  let result;
  try {
    result = await esbuild.build(browserBuildOptions(opts));
  } catch (err) {
    // esbuild's BuildFailure carries formatted messages; make them the error text.
    if (err && Array.isArray(err.errors)) {
      const text = await esbuild.formatMessages(err.errors, { kind: 'error', color: false });
      throw new Error(`browser build failed:\n${text.join('')}`);
    }
    throw err;
  }
  const outputs = Object.keys(result.metafile.outputs).map((f) => path.resolve(repoRoot, f)).sort();
  return { outputs, warnings: result.warnings };
}

/** The app bundle: dist/app.js (+ .map) from src/app/main.ts. */
export async function buildApp({ outdir = path.join(repoRoot, 'dist'), minify = false } = {}) {
  return buildBrowser({ entryPoints: { app: 'src/app/main.ts' }, outdir, minify });
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const t0 = performance.now();
  try {
    const { outputs, warnings } = await buildApp({ minify: process.argv.includes('--minify') });
    for (const w of await esbuild.formatMessages(warnings, { kind: 'warning', color: false })) console.warn(w);
    const rel = outputs.map((f) => path.relative(repoRoot, f)).join(', ');
    console.log(`built ${rel} in ${Math.round(performance.now() - t0)} ms`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
