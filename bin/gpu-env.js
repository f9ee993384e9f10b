// Node-side GPU environment: decides, BEFORE node starts the engine, which Vulkan loader and
// drivers Dawn will see. The Vulkan loader reads LD_LIBRARY_PATH only at process start, so the
// launchers (bin/mobizo.js, bin/with-gpu.js) compute the env here and re-execute node with it.
//
// MOBIZO_ADAPTER   auto (default) | swiftshader | gpu
//   auto         real GPU drivers if the system has them, plus SwiftShader as a fallback driver
//   swiftshader  only SwiftShader (the CPU Vulkan driver shipped by @sparticuz/chromium)
//   gpu          only the system's drivers (fails clearly when there are none)
// MOBIZO_VK_ICD    path to a Vulkan ICD json to use instead of the bundled SwiftShader
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Minimal ustar reader: yields {name, data} for the regular files of a tar buffer. */
function* untar(buf) {
  let off = 0;
  let longName = null;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (s, n) => header.subarray(s, s + n).toString('latin1').replace(/\0.*$/s, '');
    let name = field(0, 100);
    const prefix = field(345, 155);
    if (prefix) name = `${prefix}/${name}`;
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const data = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') { longName = data.toString('latin1').replace(/\0.*$/s, ''); continue; }
    if (longName) { name = longName; longName = null; }
    if (type === '0' || type === '\0') yield { name, data };
  }
}

function cacheDir() {
  const base = process.env.MOBIZO_CACHE || path.join(repoRoot, 'node_modules', '.cache', 'mobizo');
  return path.join(base, 'swiftshader');
}

/** Unpacks @sparticuz/chromium's swiftshader.tar.br once; returns the folder (or null + reason). */
export function ensureSwiftShader() {
  const dir = cacheDir();
  const icd = path.join(dir, 'vk_swiftshader_icd.json');
  if (fs.existsSync(icd) && fs.existsSync(path.join(dir, 'libvulkan.so.1'))) return { dir, icd };
  let archive;
  try {
    // The package's exports map hides package.json: resolve its entry and walk up to the root.
    let root = path.dirname(require.resolve('@sparticuz/chromium'));
    while (!fs.existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
    archive = path.join(root, 'bin', 'swiftshader.tar.br');
  } catch {
    return { error: 'package @sparticuz/chromium is not installed (run npm install)' };
  }
  if (!fs.existsSync(archive)) return { error: `missing ${archive}` };
  const tar = zlib.brotliDecompressSync(fs.readFileSync(archive));
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(tmp, { recursive: true });
  for (const { name, data } of untar(tar)) {
    fs.writeFileSync(path.join(tmp, path.basename(name)), data, { mode: 0o755 });
  }
  // The ICD json names its library relative to itself; make it absolute so any cwd works.
  const icdTmp = path.join(tmp, 'vk_swiftshader_icd.json');
  const json = JSON.parse(fs.readFileSync(icdTmp, 'utf8'));
  json.ICD.library_path = path.join(dir, path.basename(json.ICD.library_path));
  fs.writeFileSync(icdTmp, JSON.stringify(json, null, 2));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return { dir, icd };
}

function systemHasVulkanLoader() {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];
  for (const d of [...(process.env.LD_LIBRARY_PATH || '').split(':').filter(Boolean), ...dirs]) {
    if (fs.existsSync(path.join(d, 'libvulkan.so.1'))) return true;
  }
  return false;
}

/** The environment variables a child node process needs so Dawn finds a usable adapter. */
export function gpuEnv(env = process.env) {
  const out = { ...env, XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR || os.tmpdir(), MOBIZO_GPU_ENV: '1' };
  if (process.platform !== 'linux') return out;
  const mode = (env.MOBIZO_ADAPTER || 'auto').toLowerCase();
  const custom = env.MOBIZO_VK_ICD;
  const ss = custom ? { icd: custom, dir: null } : ensureSwiftShader();
  const hasLoader = systemHasVulkanLoader();
  if (!hasLoader && ss.dir) out.LD_LIBRARY_PATH = [ss.dir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  if (ss.error) {
    out.MOBIZO_GPU_ENV_NOTE = `SwiftShader fallback unavailable: ${ss.error}`;
    return out;
  }
  if (mode === 'swiftshader') {
    out.VK_ICD_FILENAMES = ss.icd;
    out.VK_DRIVER_FILES = ss.icd;
  } else if (mode === 'auto') {
    // Keep the system's drivers and add SwiftShader beside them; Dawn prefers a real GPU.
    out.VK_ADD_DRIVER_FILES = [ss.icd, env.VK_ADD_DRIVER_FILES].filter(Boolean).join(':');
  }
  out.MOBIZO_SWIFTSHADER_ICD = ss.icd;
  return out;
}
