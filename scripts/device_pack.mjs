#!/usr/bin/env node
// `npm run device:pack`: builds .devpack/ (git-ignored), what a GPU machine without Node or a
// registry needs to run bench/device.sh from a bare copy of the tree:
//   .devpack/runtime.tar.xz   one xz tarball (unpacked by device.sh with `xz`, or python3's lzma):
//     bin/node                          this machine's Node (linux-x64, official build: glibc only)
//     node_modules/webgpu/...           Dawn: dawn.node for linux-x64 + the package's index.js
//     vulkan/libvulkan.so.1             the Vulkan loader (GPU machines may lack one)
//     swiftshader/                      SwiftShader (CPU Vulkan driver) for the rehearsal
//     js/device.mjs, js/specs.mjs       bench/device.ts and the kernel specs (+ mocha), bundled by
//                                       esbuild: .wgsl as text, .wasm as bytes (wasm/build/mobizo.wasm,
//                                       built first when stale), nothing else needed
//     assets/                           the few shared test assets the specs and stories260K read
//   .devpack/manifest.json    every file (bytes, sha256, what it is), the archive's bytes and sha256,
//                             the git commit it was built from, and the size check
// The loader and SwiftShader come from @sparticuz/chromium's swiftshader.tar.br (bin/gpu-env.js
// unpacks it). The tracked tree plus .devpack must stay under 60 MiB (64 MiB travel to a GPU
// machine): the build fails otherwise.
//   node scripts/device_pack.mjs [--out DIR]
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { ensureSwiftShader } from '../bin/gpu-env.js';
import { browserBuildOptions, ensureWasm } from './build.mjs';

const require = createRequire(import.meta.url);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PACK_FORMAT = 'mobizo-devpack/1';
export const PACK_DIR = path.join(repoRoot, '.devpack');
export const ARCHIVE = 'runtime.tar.xz';
/** Tracked tree + .devpack (the device machine takes 64 MiB of tree; 4 MiB left for the rest). */
export const LIMIT_BYTES = 60 * 2 ** 20;

/** The bundles (js/NAME.mjs) and their entry points. */
export const BUNDLES = { device: 'bench/device.ts', specs: 'bench/device_specs.ts' };

/** The shared assets the pack carries (specs: stories260K, tok512, the TinyStories head). */
const ASSETS = [
  ['models/stories260K.bin', 'weights/stories260K.bin'],
  ['models/tok512.bin', 'weights/tok512.bin'],
  ['data/tinystories/tinystories-head-2MiB.txt', '../shared/assets/data/tinystories/tinystories-head-2MiB.txt'],
];

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function packageRoot(name) {
  let dir = path.dirname(require.resolve(name));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

/**
 * esbuild options of the pack's bundles: the browser build's loaders (scripts/build.mjs) for
 * platform node, plus `.wasm` as bytes; only `webgpu` (Dawn, in the pack's node_modules) and
 * Node's built-ins stay outside. `import.meta.url` / `dirname` of a source file become that file's
 * place in the tree the bundle runs beside (MOBIZO_ROOT, default the working directory), so specs
 * that read shaders/ or test/fixtures/ find them.
 */
export function bundleOptions(outdir) {
  const base = browserBuildOptions({ entryPoints: BUNDLES, outdir });
  const metaPlugin = {
    name: 'tree-paths',
    setup(build) {
      build.onLoad({ filter: /\.(ts|mjs|js)$/ }, async (args) => {
        if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
        const text = await fs.promises.readFile(args.path, 'utf8');
        if (!text.includes('import.meta.')) return undefined;
        const rel = JSON.stringify(path.relative(repoRoot, args.path).split(path.sep).join('/'));
        const contents = text.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, k) => `__mobizoMeta(${rel}).${k}`);
        return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
      });
    },
  };
  return {
    ...base,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: false,
    external: ['webgpu'],
    loader: { ...base.loader, '.wasm': 'binary' },
    outExtension: { '.js': '.mjs' },
    plugins: [metaPlugin],
    banner: {
      js: [
        "import { createRequire as __mobizoRequire } from 'node:module';",
        "import __mobizoPath from 'node:path';",
        "import { pathToFileURL as __mobizoUrl } from 'node:url';",
        'const require = __mobizoRequire(import.meta.url);',
        'const __mobizoMeta = (rel) => { const f = __mobizoPath.resolve(process.env.MOBIZO_ROOT || process.cwd(), rel); return { url: __mobizoUrl(f).href, dirname: __mobizoPath.dirname(f), filename: f }; };',
      ].join('\n'),
    },
  };
}

const BUILTIN = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Bundles js/device.mjs and js/specs.mjs into `outdir`. Throws when a bundle would need anything
 * but Node's built-ins and `webgpu` at run time (the pack has nothing else).
 */
export async function bundle(outdir) {
  ensureWasm(); // the WASM backend's module, inlined (src/gpu/cpu/module.ts imports it)
  let result;
  try {
    result = await esbuild.build(bundleOptions(outdir));
  } catch (err) {
    if (err && Array.isArray(err.errors)) {
      const text = await esbuild.formatMessages(err.errors, { kind: 'error', color: false });
      throw new Error(`device pack: bundling failed:\n${text.join('')}`);
    }
    throw err;
  }
  const outputs = [];
  for (const [file, o] of Object.entries(result.metafile.outputs)) {
    const bad = o.imports.filter((i) => i.external && !BUILTIN.has(i.path) && i.path !== 'webgpu').map((i) => i.path);
    if (bad.length) throw new Error(`device pack: ${file} imports ${[...new Set(bad)].join(', ')} at run time; the pack carries only Node's built-ins and webgpu`);
    outputs.push({ file: path.resolve(repoRoot, file), bytes: o.bytes, inputs: Object.keys(o.inputs) });
  }
  return outputs;
}

/**
 * Every file of the archive: `path` inside it, `from` (a file here) or `text`, and `role`.
 * Throws naming what is missing. The bundles are not listed: bundle() makes them.
 */
export function packInputs() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`device pack: carries this machine's Node for the linux-x64 GPU machines; this is ${process.platform}-${process.arch}`);
  }
  const webgpu = packageRoot('webgpu');
  const webgpuVersion = JSON.parse(fs.readFileSync(path.join(webgpu, 'package.json'), 'utf8')).version;
  const ss = ensureSwiftShader();
  if (ss.error) throw new Error(`device pack: SwiftShader and the Vulkan loader: ${ss.error}`);
  const icd = JSON.parse(fs.readFileSync(ss.icd, 'utf8'));
  icd.ICD.library_path = './libvk_swiftshader.so'; // relative to the json (the loader's rule), wherever it is unpacked
  const inputs = [
    { path: 'bin/node', from: process.execPath, role: `Node ${process.version} linux-x64` },
    { path: 'node_modules/webgpu/package.json', from: path.join(webgpu, 'package.json'), role: `webgpu ${webgpuVersion} (Dawn)` },
    { path: 'node_modules/webgpu/index.js', from: path.join(webgpu, 'index.js'), role: `webgpu ${webgpuVersion} (Dawn)` },
    { path: 'node_modules/webgpu/dist/linux-x64/dawn.node', from: path.join(webgpu, 'dist', 'linux-x64', 'dawn.node'), role: `Dawn ${webgpuVersion} for linux-x64` },
    { path: 'vulkan/libvulkan.so.1', from: path.join(ss.dir, 'libvulkan.so.1'), role: 'Vulkan loader (@sparticuz/chromium swiftshader.tar.br)' },
    { path: 'swiftshader/libvk_swiftshader.so', from: path.join(ss.dir, 'libvk_swiftshader.so'), role: 'SwiftShader Vulkan driver (the CPU rehearsal)' },
    { path: 'swiftshader/vk_swiftshader_icd.json', text: `${JSON.stringify(icd, null, 2)}\n`, role: 'SwiftShader ICD manifest' },
  ];
  for (const [to, from] of ASSETS) inputs.push({ path: `assets/${to}`, from: path.resolve(repoRoot, from), role: 'test asset' });
  const missing = inputs.filter((i) => i.from && !fs.existsSync(i.from)).map((i) => `${i.path} (from ${i.from})`);
  if (missing.length) throw new Error(`device pack: missing ${missing.join(', ')}`);
  return inputs;
}

/** Copies the inputs and the bundles into `dir` (the archive's contents); returns the manifest's file list. */
export async function stage(dir) {
  const files = [];
  for (const i of packInputs()) {
    const to = path.join(dir, i.path);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    if (i.text !== undefined) fs.writeFileSync(to, i.text);
    else fs.copyFileSync(i.from, to);
    if (i.path === 'bin/node' || i.path.endsWith('.so') || i.path.endsWith('.so.1')) fs.chmodSync(to, 0o755);
    files.push({ path: i.path, role: i.role });
  }
  for (const b of await bundle(path.join(dir, 'js'))) {
    files.push({ path: path.relative(dir, b.file), role: `bundle of ${b.inputs.filter((f) => !f.includes('node_modules')).length} sources + ${b.inputs.filter((f) => f.includes('node_modules')).length} from node_modules` });
  }
  return files.map((f) => {
    const p = path.join(dir, f.path);
    return { ...f, bytes: fs.statSync(p).size, sha256: sha256(p) };
  });
}

/** Bytes of the files git tracks (what travels besides .devpack). */
export function trackedBytes() {
  const list = execFileSync('git', ['ls-files', '-z'], { cwd: repoRoot, encoding: 'utf8' }).split('\0').filter(Boolean);
  return list.reduce((s, f) => {
    try {
      return s + fs.statSync(path.join(repoRoot, f)).size;
    } catch {
      return s; // deleted in the working tree
    }
  }, 0);
}

/** The manifest's checks: format, files, archive and the size limit. Returns a list of problems. */
export function checkManifest(m, dir = PACK_DIR) {
  const bad = [];
  if (m.format !== PACK_FORMAT) bad.push(`format ${m.format}, expected ${PACK_FORMAT}`);
  const need = ['bin/node', 'node_modules/webgpu/index.js', 'node_modules/webgpu/dist/linux-x64/dawn.node', 'vulkan/libvulkan.so.1', 'swiftshader/libvk_swiftshader.so', 'swiftshader/vk_swiftshader_icd.json', 'js/device.mjs', 'js/specs.mjs'];
  for (const p of need) if (!m.files?.some((f) => f.path === p && f.bytes > 0 && /^[0-9a-f]{64}$/.test(f.sha256))) bad.push(`no file ${p} in the manifest`);
  const archive = path.join(dir, m.archive?.file ?? ARCHIVE);
  if (!fs.existsSync(archive)) bad.push(`missing ${archive}`);
  else if (fs.statSync(archive).size !== m.archive.bytes) bad.push(`${archive} is ${fs.statSync(archive).size} bytes, the manifest says ${m.archive.bytes}`);
  if (!(m.size?.total <= LIMIT_BYTES)) bad.push(`tracked tree + pack ${m.size?.total} bytes, over ${LIMIT_BYTES}`);
  return bad;
}

function xzCompress(src, dst) {
  // -9: the archive travels on every GPU call; -T0: every core
  const tar = spawnSync('bash', ['-c', 'set -o pipefail; tar -C "$1" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . | xz -9 -T0 -c > "$2"', 'pack', src, dst], { stdio: 'inherit' });
  if (tar.status !== 0) throw new Error(`device pack: tar | xz failed (exit ${tar.status}); xz (xz-utils) is needed here`);
}

/** Builds the pack into `out`; returns the manifest. */
export async function buildPack(out = PACK_DIR, log = (s) => console.log(s)) {
  const t0 = performance.now();
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-devpack-'));
  try {
    const files = await stage(staging);
    log(`staged ${files.length} files, ${(files.reduce((s, f) => s + f.bytes, 0) / 2 ** 20).toFixed(1)} MiB, in ${((performance.now() - t0) / 1000).toFixed(1)} s; compressing (xz -9)`);
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out, { recursive: true });
    const archive = path.join(out, ARCHIVE);
    xzCompress(staging, archive);
    const git = (...a) => spawnSync('git', a, { cwd: repoRoot, encoding: 'utf8' }).stdout?.trim() ?? '';
    const bytes = fs.statSync(archive).size;
    const tracked = trackedBytes();
    const m = {
      format: PACK_FORMAT,
      builtAt: new Date().toISOString(),
      git: { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no') !== '' },
      node: process.version,
      platform: 'linux-x64',
      archive: { file: ARCHIVE, bytes, sha256: sha256(archive), unpackedBytes: files.reduce((s, f) => s + f.bytes, 0) },
      files,
      size: { pack: bytes, tracked, total: bytes + tracked, limit: LIMIT_BYTES },
    };
    fs.writeFileSync(path.join(out, 'manifest.json'), `${JSON.stringify(m, null, 1)}\n`);
    m.size.pack += fs.statSync(path.join(out, 'manifest.json')).size;
    m.size.total = m.size.pack + tracked;
    fs.writeFileSync(path.join(out, 'manifest.json'), `${JSON.stringify(m, null, 1)}\n`);
    const problems = checkManifest(m, out);
    if (problems.length) throw new Error(`device pack: ${problems.join('; ')}`);
    const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    log(`wrote ${path.relative(repoRoot, out) || out}/: ${ARCHIVE} ${mib(bytes)} (${mib(m.archive.unpackedBytes)} unpacked) + manifest.json; tracked tree ${mib(tracked)}; total ${mib(m.size.total)} of ${mib(LIMIT_BYTES)}; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return m;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const i = process.argv.indexOf('--out');
  try {
    await buildPack(i > 0 ? path.resolve(process.argv[i + 1]) : PACK_DIR);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
