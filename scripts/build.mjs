#!/usr/bin/env node
// Browser bundles with esbuild. `node scripts/build.mjs` (npm run build) writes the app (dist/app.js,
// app.css, worker.js); `--lib` (npm run build:lib) the library (dist/index.js + dist/types/).
// buildBrowser() is the one place the browser build is configured, reused by the dev server, the
// headless-Chrome tests and the bench pages.
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
 * `alias` maps import specifiers to files (e.g. 'mobizo-webgpu' to a built library bundle).
 * @param {{ entryPoints: string[] | Record<string, string>, outdir: string, minify?: boolean, alias?: Record<string, string> }} opts
 * @returns {import('esbuild').BuildOptions}
 */
export function browserBuildOptions({ entryPoints, outdir, minify = false, alias }) {
  return {
    ...(alias ? { alias } : {}),
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
 * @param {{ entryPoints: string[] | Record<string, string>, outdir: string, minify?: boolean, alias?: Record<string, string> }} opts
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

/** The app: dist/app.js (+ app.css, the charts' styles) from src/app/main.ts, dist/worker.js, the
 * engine's Web Worker, from src/worker/engine_worker.ts, and dist/profile.js, the script of
 * profile.html (the kernel profile of one step, bench/profile_page.ts) (+ .map each). */
export async function buildApp({ outdir = path.join(repoRoot, 'dist'), minify = false } = {}) {
  return buildBrowser({ entryPoints: { app: 'src/app/main.ts', worker: 'src/worker/engine_worker.ts', profile: 'bench/profile_page.ts' }, outdir, minify });
}

/**
 * The library: dist/index.js, one ES module of the public API (src/index.ts) for browsers and
 * Node (`import { ... } from 'mobizo-webgpu'`; package.json "exports"). Shaders are inlined; the
 * Node-only `webgpu` (Dawn) stays a runtime import. With `types`, tsc also writes the declarations
 * to dist/types/ (index.d.ts is the "types" entry).
 * @param {{ outdir?: string, minify?: boolean, types?: boolean }} [opts]
 */
export async function buildLibrary({ outdir = path.join(repoRoot, 'dist'), minify = false, types = false } = {}) {
  const opts = browserBuildOptions({ entryPoints: { index: 'src/index.ts' }, outdir, minify });
  let result;
  try {
    result = await esbuild.build({ ...opts, platform: 'neutral', mainFields: ['module', 'main'] });
  } catch (err) {
    if (err && Array.isArray(err.errors)) {
      const text = await esbuild.formatMessages(err.errors, { kind: 'error', color: false });
      throw new Error(`library build failed:\n${text.join('')}`);
    }
    throw err;
  }
  const outputs = Object.keys(result.metafile.outputs).map((f) => path.resolve(repoRoot, f)).sort();
  if (types) outputs.push(...(await buildTypes(path.join(outdir, 'types'))));
  return { outputs, warnings: result.warnings };
}

/** Declarations of the public API (tsc --emitDeclarationOnly over src/index.ts) into `outdir`. */
async function buildTypes(outdir) {
  const { execFileSync } = await import('node:child_process');
  const fs = await import('node:fs');
  // the temporary tsconfig sits inside the repository so that type packages resolve from node_modules
  const cache = path.join(repoRoot, 'node_modules', '.cache');
  fs.mkdirSync(cache, { recursive: true });
  const dir = fs.mkdtempSync(path.join(cache, 'mobizo-types-'));
  fs.rmSync(outdir, { recursive: true, force: true });
  const tsconfig = path.join(dir, 'tsconfig.json');
  fs.writeFileSync(tsconfig, JSON.stringify({
    extends: path.join(repoRoot, 'tsconfig.json'),
    compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, outDir: outdir, rootDir: path.join(repoRoot, 'src'), types: ['@webgpu/types', 'node'] },
    include: [],
    files: [path.join(repoRoot, 'src', 'index.ts'), path.join(repoRoot, 'types', 'wgsl.d.ts'), path.join(repoRoot, 'types', 'wgsl_reflect.d.ts')],
  }));
  try {
    execFileSync(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`declarations failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return [path.join(outdir, 'index.d.ts')];
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const t0 = performance.now();
  try {
    const minify = process.argv.includes('--minify');
    const { outputs, warnings } = process.argv.includes('--lib')
      ? await buildLibrary({ minify, types: !process.argv.includes('--no-types') })
      : await buildApp({ minify });
    for (const w of await esbuild.formatMessages(warnings, { kind: 'warning', color: false })) console.warn(w);
    const rel = outputs.map((f) => path.relative(repoRoot, f)).join(', ');
    console.log(`built ${rel} in ${Math.round(performance.now() - t0)} ms`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
