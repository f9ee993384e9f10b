// The package as a developer gets it: `npm pack`, the tarball installed into a fresh folder (no
// test, bench or build tooling pulled), then in that folder a plain `node app.mjs` (no launcher, no
// environment) loads stories260K.gguf, fine-tunes 3 steps with the model's own tokenizer, generates
// with the adapter and writes the PEFT files; `npx mobizo --help` and `npx mobizo finetune --steps 3`
// run there; a page bundled with esbuild from the installed package does the same in headless
// Chromium, and both examples type-check against the published declarations with skipLibCheck off.
// Sizes go to bench/results/pack.json (install MB and packages, bundle KB).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import type { Browser } from 'puppeteer-core';
import { repoRoot } from '../scripts/build.mjs';
import { startServer } from '../scripts/serve.mjs';
import { assetPath } from './assets';
import { launchBrowser, openPage, pageLog, waitForResult } from './browser/harness.ts';

/** Tooling of tests, benchmarks and builds: none may be installed by the package. */
const TOOLING = ['puppeteer-core', 'gpu.js', 'esbuild', 'tsx', 'mocha', 'typescript', '@sparticuz/chromium', 'wgsl_reflect', 'assemblyscript', 'typedoc', 'uplot', 'webgpu'];

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The environment of a user's shell: no GPU setup of the test runner (bin/with-gpu.js), no MOBIZO_*. */
function plainEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'npm_config_cache', 'NPM_CONFIG_CACHE', 'npm_config_registry'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}

function run(cmd: string, args: string[], cwd: string, timeout = 300_000) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd, env: plainEnv(), encoding: 'utf8', timeout });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: performance.now() - t0, error: r.error };
}

/** Bytes and package count of an installed node_modules. */
function installed(dir: string): { bytes: number; packages: string[] } {
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) bytes += fs.statSync(p).size;
    }
  };
  walk(path.join(dir, 'node_modules'));
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  const packages = Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/')).map((k) => k.slice(k.lastIndexOf('node_modules/') + 13));
  return { bytes, packages };
}

describe('the npm package (npm pack, installed into a fresh folder)', function () {
  this.timeout(900_000);
  const sizes: Record<string, number | string> = {};
  let tmp: string;
  let app: string;
  let tarball: string;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-pack-'));
    app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    // npm pack runs `prepare` (scripts/build.mjs --package: kernels, library, types, CLI)
    const t0 = performance.now();
    const out = execFileSync(npm, ['pack', '--json', '--pack-destination', tmp], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    sizes.packMs = Math.round(performance.now() - t0);
    const info = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    tarball = path.join(tmp, info[0].filename);
    sizes.tarballKB = Math.round(info[0].size / 1024);
    sizes.unpackedKB = Math.round(info[0].unpackedSize / 1024);
    sizes.files = info[0].files.length;
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'mobizo-pack-app', version: '1.0.0', private: true, type: 'module' }, null, 2));
  });

  after(function () {
    fs.mkdirSync(path.join(repoRoot, 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(repoRoot, 'bench', 'results', 'pack.json'), `${JSON.stringify(sizes, null, 2)}\n`);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the tarball holds the built package: dist (library, types, CLI), the bundled weights, LICENSE, README; no sources or tests', function () {
    const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    for (const f of ['package.json', 'LICENSE', 'README.md', 'bin/mobizo.js', 'dist/index.js', 'dist/worker.js', 'dist/cli.js', 'dist/types/index.d.ts', 'weights/stories260K.bin', 'weights/tok512.bin', 'weights/manifest.json']) {
      assert.ok(list.includes(f), `${f} is missing from the tarball`);
    }
    assert.deepEqual(list.filter((f) => /^(src|test|bench|scripts|shaders|wasm)\//.test(f)), []);
    assert.match(execFileSync('tar', ['-xzOf', tarball, 'package/LICENSE'], { encoding: 'utf8' }), /^MIT License\n\nCopyright \(c\) \d{4} mobizo-webgpu contributors\n/);
  });

  it('installs without test, bench or build tooling, and without engine warnings on this Node', function () {
    const r = run(npm, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], app);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EBADENGINE/);
    sizes.installMs = Math.round(r.ms);
    const { bytes, packages } = installed(app);
    sizes.installMB = Number((bytes / 1e6).toFixed(1));
    sizes.packages = packages.length;
    sizes.packageList = packages.sort().join(' ');
    for (const t of TOOLING) assert.ok(!packages.includes(t) && !fs.existsSync(path.join(app, 'node_modules', t)), `${t} was installed`);
    assert.ok(bytes < 20e6, `the install is ${(bytes / 1e6).toFixed(1)} MB`);
  });

  it('a plain `node app.mjs` loads the GGUF, fine-tunes 3 steps with model.tokenizer, generates with the adapter, writes PEFT files', function () {
    fs.copyFileSync(path.join(repoRoot, 'test', 'pack', 'app.mjs'), path.join(app, 'app.mjs'));
    const r = run(process.execPath, ['app.mjs', assetPath('models', 'stories260K.gguf')], app);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    sizes.nodeAppMs = Math.round(r.ms);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { backend: string; status: string; step: number; story: string; vocab: number };
    assert.equal(out.status, 'done');
    assert.equal(out.step, 3);
    assert.equal(out.vocab, 512);
    assert.ok(out.story.startsWith('Tom') && out.story.length > 10, out.story);
    sizes.nodeBackend = out.backend;
    const config = JSON.parse(fs.readFileSync(path.join(app, 'adapter', 'adapter_config.json'), 'utf8'));
    assert.equal(config.peft_type, 'LORA');
    assert.ok(fs.statSync(path.join(app, 'adapter', 'adapter_model.safetensors')).size > 1000);
  });

  it('the bundled weights are reachable by the package\'s exports (mobizo-webgpu/weights/...)', function () {
    const r = run(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('mobizo-webgpu/weights/stories260K.bin'))"], app);
    assert.equal(r.code, 0, r.stderr);
    const file = new URL(r.stdout.trim());
    assert.equal(fs.statSync(file).size, 1_056_540);
  });

  it('`npx mobizo --help` and `npx mobizo finetune --steps 3` run from the installed package', function () {
    const help = run('npx', ['--no', '--', 'mobizo', '--help'], app);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: mobizo /m);
    assert.match(help.stdout, /finetune \[options\]/);
    const ft = run('npx', ['--no', '--', 'mobizo', 'finetune', '--steps', '3', '--no-compare', '--json'], app);
    assert.equal(ft.code, 0, `${ft.stdout}\n${ft.stderr}`);
    sizes.cliFinetuneMs = Math.round(ft.ms);
    const lines = ft.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.filter((l) => 'step' in l && 'loss' in l && !('eval' in l)).length, 3);
    const done = lines.at(-1)!;
    assert.equal(done.done, true);
    assert.equal(done.steps, 3);
    assert.ok(fs.existsSync(path.join(app, 'mobizo-adapter', 'adapter_model.safetensors')));
  });

  it('a page bundled with esbuild from the installed package runs the same in headless Chromium', async function () {
    fs.copyFileSync(path.join(repoRoot, 'test', 'pack', 'page.ts'), path.join(app, 'page.ts'));
    const www = path.join(app, 'www');
    const build = async (minify: boolean) => {
      const r = await esbuild.build({ entryPoints: [path.join(app, 'page.ts')], absWorkingDir: app, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify, write: false, logLevel: 'silent', outdir: www });
      return r.outputFiles[0];
    };
    const min = await build(true);
    const plain = await build(false);
    sizes.bundleKB = Math.round(plain.contents.length / 1024);
    sizes.bundleMinKB = Math.round(min.contents.length / 1024);
    assert.doesNotMatch(plain.text, /WgslReflect/, 'the bundle carries no WGSL parser');
    fs.mkdirSync(www);
    fs.writeFileSync(path.join(www, 'page.js'), plain.contents);
    fs.writeFileSync(path.join(www, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="./page.js"></script>\n');
    const server = await startServer({ root: www, files: { '/models/stories260K.gguf': assetPath('models', 'stories260K.gguf') } });
    let browser: Browser | undefined;
    try {
      browser = await launchBrowser();
      const tp = await openPage(browser, server.url);
      const t0 = performance.now();
      const r = await waitForResult<{ error?: string; backend: string; status: string; step: number; story: string; vocab: number; config: string; safetensorsBytes: number }>(tp);
      sizes.pageMs = Math.round(performance.now() - t0);
      assert.equal(r.error, undefined, `${r.error}\n${pageLog(tp)}`);
      assert.deepEqual([r.status, r.step, r.vocab], ['done', 3, 512]);
      assert.ok(r.story.startsWith('Tom'), r.story);
      assert.equal(JSON.parse(r.config).peft_type, 'LORA');
      assert.ok(r.safetensorsBytes > 1000);
      sizes.pageBackend = r.backend;
    } finally {
      await browser?.close();
      await server.close();
    }
  });

  it('the worker engine ships in the package: createWorkerEngine drives dist/worker.js in headless Chromium', async function () {
    fs.copyFileSync(path.join(repoRoot, 'test', 'pack', 'worker_page.ts'), path.join(app, 'worker_page.ts'));
    const www = path.join(app, 'www-worker');
    await esbuild.build({ entryPoints: { page: path.join(app, 'worker_page.ts') }, absWorkingDir: app, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outdir: www, logLevel: 'silent' });
    fs.writeFileSync(path.join(www, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="./page.js"></script>\n');
    const server = await startServer({ root: www, routes: { '/mobizo-webgpu/': path.join(app, 'node_modules', 'mobizo-webgpu') }, files: { '/models/stories260K.gguf': assetPath('models', 'stories260K.gguf') } });
    let browser: Browser | undefined;
    try {
      browser = await launchBrowser();
      const tp = await openPage(browser, server.url);
      const r = await waitForResult<{ error?: string; backend: string; status: string; step: number; steps: number[]; story: string; zipBytes: number; files: string[] }>(tp);
      assert.equal(r.error, undefined, `${r.error}\n${pageLog(tp)}`);
      assert.deepEqual([r.status, r.step, r.steps], ['done', 3, [0, 1, 2]]);
      assert.ok(r.story?.startsWith('Tom'), r.story);
      assert.ok(r.files.includes('adapter_config.json') && r.files.includes('adapter_model.safetensors'), r.files.join(', '));
      assert.ok(r.zipBytes > 1000);
      sizes.workerBackend = r.backend;
    } finally {
      await browser?.close();
      await server.close();
    }
  });

  it('the examples type-check against the published declarations with skipLibCheck off (only the package and TypeScript)', function () {
    fs.copyFileSync(path.join(repoRoot, 'test', 'pack', 'page.ts'), path.join(app, 'page.ts'));
    fs.copyFileSync(path.join(repoRoot, 'test', 'pack', 'worker_page.ts'), path.join(app, 'worker_page.ts'));
    fs.writeFileSync(path.join(app, 'app.ts'), fs.readFileSync(path.join(repoRoot, 'test', 'pack', 'app.mjs'), 'utf8').replace(/^import \{ mkdirSync.*\n/m, 'declare function mkdirSync(p: string, o?: object): void;\ndeclare function writeFileSync(p: string, d: string | Uint8Array): void;\ndeclare const process: { argv: string[] };\n'));
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', strict: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ['page.ts', 'worker_page.ts', 'app.ts'],
    }));
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = run(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });
});
