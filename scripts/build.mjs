#!/usr/bin/env node
// Bundles with esbuild, one place for every build of the repository:
//   node scripts/build.mjs            the app (dist/app.js, app.css, worker.js, profile.js), `npm run build`
//   node scripts/build.mjs --lib      the library (dist/index.js + dist/types/), `npm run build:lib`
//   node scripts/build.mjs --cli      the `mobizo` command (dist/cli.js), `npm run build:cli`
//   node scripts/build.mjs --package  what the npm package ships: the WebAssembly kernels, the library,
//                                     its types and the CLI (`prepare`: npm ci, npm pack, npm publish)
// buildBrowser() is the one place the browser build is configured, reused by the dev server, the
// headless-Chrome tests and the bench pages.
//
// Shaders: `import src from '../../shaders/x.wgsl'` gives the file's text (esbuild's text loader,
// the same contract as scripts/wgsl-hooks.mjs in Node); the WebAssembly kernels
// (wasm/build/mobizo.wasm, scripts/build-wasm.mjs) are inlined as bytes (binary loader).
// Node-only modules (`webgpu` = Dawn, `node:*`) stay external: the engine imports them
// dynamically with non-literal specifiers on its Node path, so no bundle loads them.
// The package's bundles (library, CLI) keep npm packages external too: each is a `dependency` of
// package.json, installed beside it and resolved by the app's bundler or by Node.
import * as esbuild from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileWasm, wasmStale } from './build-wasm.mjs';

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
    loader: { '.wgsl': 'text', '.wasm': 'binary' },
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
  ensureWasm();
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
  ensureWasm();
  const opts = browserBuildOptions({ entryPoints: { index: 'src/index.ts' }, outdir, minify });
  let result;
  try {
    result = await esbuild.build({ ...opts, platform: 'neutral', mainFields: ['module', 'main'], packages: 'external' });
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

/** Compiles the WebAssembly kernels when a wasm/*.ts is newer than wasm/build/mobizo.wasm (or it is missing). */
export function ensureWasm() {
  if (wasmStale()) compileWasm();
}

/**
 * The `mobizo` command: dist/cli.js, one ES module for Node (bin/mobizo.js imports it). npm
 * packages stay external (dependencies of package.json); no tsx, no loader hooks at run time.
 * @param {{ outdir?: string }} [opts]
 */
export async function buildCli({ outdir = path.join(repoRoot, 'dist') } = {}) {
  ensureWasm();
  let result;
  try {
    result = await esbuild.build({
      entryPoints: { cli: 'src/cli.ts' },
      outdir,
      absWorkingDir: repoRoot,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      loader: { '.wgsl': 'text', '.wasm': 'binary' },
      logLevel: 'silent',
      write: false,
    });
  } catch (err) {
    if (err && Array.isArray(err.errors)) {
      const text = await esbuild.formatMessages(err.errors, { kind: 'error', color: false });
      throw new Error(`CLI build failed:\n${text.join('')}`);
    }
    throw err;
  }
  // written whole, then renamed: a spec that starts the CLI while another rebuilds it reads one or the other
  const fs = await import('node:fs');
  fs.mkdirSync(outdir, { recursive: true });
  for (const f of result.outputFiles) {
    const tmp = `${f.path}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, f.contents);
    fs.renameSync(tmp, f.path);
  }
  return { outputs: result.outputFiles.map((f) => f.path).sort(), warnings: result.warnings };
}

/**
 * The engine's Web Worker for pages (`mobizo-webgpu/worker`, src/worker/engine_worker.ts, driven by
 * createWorkerEngine): dist/worker.js, self-contained (its npm packages bundled in), since a page
 * loads it by URL (`new Worker(url, { type: 'module' })`), not through a bundler.
 * @param {{ outdir?: string, minify?: boolean }} [opts]
 */
export async function buildWorker({ outdir = path.join(repoRoot, 'dist'), minify = false } = {}) {
  return buildBrowser({ entryPoints: { worker: 'src/worker/engine_worker.ts' }, outdir, minify });
}

/** Everything the npm package ships (package.json "files"): kernels, library + types, the worker, CLI. */
export async function buildPackage({ outdir = path.join(repoRoot, 'dist') } = {}) {
  const lib = await buildLibrary({ outdir, types: true });
  const worker = await buildWorker({ outdir, minify: true });
  const cli = await buildCli({ outdir });
  return { outputs: [...lib.outputs, ...worker.outputs, ...cli.outputs], warnings: [...lib.warnings, ...worker.warnings, ...cli.warnings] };
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
    compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, stripInternal: true, outDir: outdir, rootDir: path.join(repoRoot, 'src'), types: ['@webgpu/types', 'node'] },
    include: [],
    // the ambient declarations of types/ (.wgsl text, .wasm bytes, ...) let the sources compile; the
    // public declarations must not need them (test/pack.spec.ts type-checks an app against dist/types)
    files: [path.join(repoRoot, 'src', 'index.ts'), ...fs.readdirSync(path.join(repoRoot, 'types')).filter((f) => f.endsWith('.d.ts')).map((f) => path.join(repoRoot, 'types', f))],
  }));
  try {
    execFileSync(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`declarations failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // The WebGPU types (GPUDevice, GPUBuffer ...) come from @webgpu/types, a dependency of the
  // package; Blob, File, FileList and EventTarget from the DOM library (an app's default lib).
  const index = path.join(outdir, 'index.d.ts');
  fs.writeFileSync(index, `/// <reference types="@webgpu/types" />\n/// <reference lib="dom" />\n${fs.readFileSync(index, 'utf8')}`);
  return [index];
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const t0 = performance.now();
  try {
    const minify = process.argv.includes('--minify');
    const arg = (f) => process.argv.includes(f);
    const { outputs, warnings } = arg('--package')
      ? await buildPackage()
      : arg('--lib')
        ? await buildLibrary({ minify, types: !arg('--no-types') })
        : arg('--cli')
          ? await buildCli()
          : await buildApp({ minify });
    for (const w of await esbuild.formatMessages(warnings, { kind: 'warning', color: false })) console.warn(w);
    const rel = outputs.map((f) => path.relative(repoRoot, f)).join(', ');
    console.log(`built ${rel} in ${Math.round(performance.now() - t0)} ms`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
