// The GPU run (bench/device.sh + the device pack, issue 25) on a machine without a GPU. CI never
// builds the pack (minutes of xz) nor runs the run itself (minutes on SwiftShader: the rehearsal,
// DEVICE_ALLOW_CPU=1, is run by hand). What is checked here: the pack's inputs and bundles (built
// in a temp folder, a second), a built pack's manifest when one exists, the dry run, the driver
// search under a fake /usr/local/nvidia, and a real run that finds no GPU.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pack from '../scripts/device_pack.mjs';
import { fp32Peak } from '../bench/device_matmul';
import { makePlan } from '../bench/device';

const root = path.resolve(import.meta.dirname, '..');
const script = fs.readFileSync(path.join(root, 'bench', 'device.sh'), 'utf8');

/** Runs bench/device.sh with no Vulkan variables of the parent (the test runner's launcher sets some). */
function sh(args: string[], env: Record<string, string>) {
  const base = { ...process.env };
  for (const k of ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'VK_ADD_DRIVER_FILES', 'OUT', 'DEVICE_OUT', 'DEVICE_ALLOW_CPU']) delete base[k];
  return spawnSync('bash', [path.join(root, 'bench', 'device.sh'), ...args], { cwd: root, encoding: 'utf8', env: { ...base, ...env }, timeout: 120_000 });
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-device-'));
const line = (out: string, head: string) => out.split('\n').find((l) => l.startsWith(head)) ?? `(no line "${head}")`;

describe('the device pack (scripts/device_pack.mjs)', () => {
  it('bundles the run and the kernel specs so they need only Node built-ins and webgpu; every $RUN path device.sh uses is in the pack', async function () {
    this.timeout(120_000);
    const dir = tmp();
    try {
      const outputs = await pack.bundle(dir); // throws on any other import
      assert.deepEqual(outputs.map((o) => path.basename(o.file)).sort(), ['device.mjs', 'specs.mjs']);
      const specs = outputs.find((o) => o.file.endsWith('specs.mjs'))!;
      for (const s of ['kernels', 'matmul_variants', 'attention', 'quants', 'zo_kernels']) assert.ok(specs.inputs.includes(`test/${s}.spec.ts`), `specs.mjs lacks test/${s}.spec.ts`);
      assert.ok(specs.inputs.some((f) => f.includes('node_modules/mocha/')), 'mocha is bundled');
      const device = outputs.find((o) => o.file.endsWith('device.mjs'))!;
      assert.ok(device.inputs.some((f) => f.endsWith('.wgsl')), 'the shaders are inlined');
      for (const o of outputs) {
        const text = fs.readFileSync(o.file, 'utf8');
        // the sources' import.meta paths point into the tree (MOBIZO_ROOT), not at the bundle
        assert.equal(/import\.meta\.dirname/.test(text), false, `${o.file} keeps import.meta.dirname`);
      }
      const files = [...pack.packInputs().map((i) => i.path), ...outputs.map((o) => `js/${path.basename(o.file)}`)];
      const used = [...new Set([...script.matchAll(/\$RUN\/(\w[\w./-]*)/g)].map((m) => m[1]))]; // .unpacked: the marker device.sh writes
      assert.ok(used.length >= 5, `device.sh uses ${used}`);
      for (const u of used) assert.ok(files.some((f) => f === u || f.startsWith(`${u.replace(/\/$/, '')}/`)), `device.sh uses $RUN/${u}, not in the pack (${files.join(', ')})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a built .devpack: the manifest names every file, matches the archive, and tree + pack stay under 60 MiB', function () {
    const file = path.join(pack.PACK_DIR, 'manifest.json');
    if (!fs.existsSync(file)) this.skip(); // no pack built here (CI never builds one)
    const m = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.deepEqual(pack.checkManifest(m), []);
    assert.ok(m.size.pack + pack.trackedBytes() <= pack.LIMIT_BYTES, `pack ${m.size.pack} + tracked ${pack.trackedBytes()} bytes`);
    assert.match(m.node, /^v\d+\./);
  });
});

describe('bench/device.sh without a GPU', () => {
  it('--dry-run reports the pack and the driver search, lists every stage with its limit, and writes nothing', () => {
    const out = path.join(tmp(), 'out');
    const r = sh(['--dry-run'], { DEVICE_OUT: out, DEVICE_PACK: path.join(out, 'no-pack') });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /no device pack at .*no-pack: run 'npm run device:pack'/);
    assert.match(r.stdout, /^Vulkan ICD: /m);
    for (const s of ['probe', 'specs', 'matmul', 'bench:stories15M', 'bench:tinyllama', 'torch', 'real-size', 'profile']) assert.match(r.stdout, new RegExp(`^\\+ \\[${s}: up to \\d+ s\\] `, 'm'));
    assert.match(r.stdout, /js\/device\.mjs summary /);
    assert.equal(fs.existsSync(out), false, 'a dry run writes no results');
  });

  it('finds the NVIDIA ICD under /usr/local/nvidia first, then /usr/share/vulkan, then /etc/vulkan; VK_DRIVER_FILES wins; reports the one it chose', () => {
    const r0 = tmp();
    const put = (p: string, text = '') => {
      fs.mkdirSync(path.dirname(path.join(r0, p)), { recursive: true });
      fs.writeFileSync(path.join(r0, p), text);
    };
    const icd = (lib: string) => JSON.stringify({ file_format_version: '1.0.1', ICD: { library_path: lib, api_version: '1.4.312' } });
    const local = '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json';
    put(local, icd('libGLX_nvidia.so.0'));
    put('/usr/local/nvidia/lib64/libGLX_nvidia.so.0');
    put('/usr/share/vulkan/icd.d/nvidia_icd.json', icd('libGLX_nvidia.so.0'));
    put('/etc/vulkan/icd.d/nvidia_icd.json', icd('/opt/missing/libGLX_nvidia.so.0'));
    const dry = (env: Record<string, string> = {}) => sh(['--dry-run'], { DEVICE_DRIVER_ROOT: r0, DEVICE_PACK: path.join(r0, 'no-pack'), ...env }).stdout;
    try {
      let o = dry();
      assert.equal(line(o, 'Vulkan ICD:'), `Vulkan ICD: ${r0}${local} (under /usr/local/nvidia)`);
      assert.equal(line(o, 'ICD library:'), `ICD library: libGLX_nvidia.so.0: ${r0}/usr/local/nvidia/lib64/libGLX_nvidia.so.0`);
      assert.match(line(o, 'Vulkan loader:'), /\/vulkan\/libvulkan\.so\.1 \(the pack's: the machine has none\)/);
      assert.match(o, new RegExp(`^export VK_DRIVER_FILES=${r0}${local} LD_LIBRARY_PATH=${r0}/usr/local/nvidia/lib64:`, 'm'));

      put('/usr/local/nvidia/lib64/libvulkan.so.1');
      assert.equal(line(dry(), 'Vulkan loader:'), `Vulkan loader: ${r0}/usr/local/nvidia/lib64/libvulkan.so.1 (the machine's)`);

      fs.rmSync(path.join(r0, local));
      assert.equal(line(dry(), 'Vulkan ICD:'), `Vulkan ICD: ${r0}/usr/share/vulkan/icd.d/nvidia_icd.json (the system's /usr/share/vulkan (none under /usr/local/nvidia))`);
      fs.rmSync(path.join(r0, 'usr/share/vulkan'), { recursive: true });
      o = dry();
      assert.match(line(o, 'Vulkan ICD:'), new RegExp(`^Vulkan ICD: ${r0}/etc/vulkan/icd.d/nvidia_icd.json \\(the system's /etc/vulkan`));
      assert.equal(line(o, 'ICD library:'), 'ICD library: /opt/missing/libGLX_nvidia.so.0 (MISSING)');

      put('/custom/my_icd.json', icd('libGLX_nvidia.so.0'));
      assert.match(line(dry({ VK_DRIVER_FILES: `${r0}/nowhere.json:${r0}/custom/my_icd.json` }), 'Vulkan ICD:'), /custom\/my_icd\.json \(named by \$VK_DRIVER_FILES\)/);
      // SwiftShader left in the environment by a launcher never counts as the GPU driver
      put('/ss/vk_swiftshader_icd.json', icd('./libvk_swiftshader.so'));
      assert.match(line(dry({ VK_ICD_FILENAMES: `${r0}/ss/vk_swiftshader_icd.json` }), 'Vulkan ICD:'), /etc\/vulkan\/icd\.d\/nvidia_icd\.json/);

      fs.rmSync(path.join(r0, 'etc'), { recursive: true });
      o = dry();
      assert.match(line(o, 'Vulkan ICD:'), /^Vulkan ICD: none \(looked in /);
      assert.match(o, /NO GPU DRIVER: no nvidia_icd\.json found/);
      assert.match(line(dry({ DEVICE_ALLOW_CPU: '1' }), 'Vulkan ICD:'), /swiftshader\/vk_swiftshader_icd\.json \(the pack's SwiftShader/);
    } finally {
      fs.rmSync(r0, { recursive: true, force: true });
    }
  });

  it('a real run without a pack or without a driver says so, exits 2 and leaves its log in the results folder', function () {
    this.timeout(120_000);
    const out = path.join(tmp(), 'out');
    const r = sh([], { DEVICE_OUT: out, DEVICE_PACK: path.join(out, '..', 'no-pack') });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.deepEqual(fs.readdirSync(out), ['log.txt']);
    assert.match(fs.readFileSync(path.join(out, 'log.txt'), 'utf8'), /no device pack at/);
    if (!fs.existsSync(path.join(pack.PACK_DIR, 'manifest.json'))) return; // CI: no pack, the rest needs one
    // with the pack: unpacked, its own Node; a fake driver whose library is missing: Dawn finds no adapter
    const r0 = tmp();
    const icd = path.join(r0, 'usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json');
    fs.mkdirSync(path.dirname(icd), { recursive: true });
    fs.writeFileSync(icd, JSON.stringify({ file_format_version: '1.0.1', ICD: { library_path: '/nonexistent/libGLX_nvidia.so.0', api_version: '1.4.312' } }));
    const out2 = path.join(r0, 'out');
    const r2 = sh([], { DEVICE_OUT: out2, DEVICE_DRIVER_ROOT: r0 });
    assert.equal(r2.status, 2, r2.stdout + r2.stderr);
    assert.match(r2.stdout, /Vulkan ICD: .*nvidia_icd\.json \(under \/usr\/local\/nvidia\)/);
    assert.match(r2.stdout, /NO GPU: Dawn found no GPU adapter/);
    assert.deepEqual(fs.readdirSync(out2).sort(), ['log.txt', 'probe.json']);
    const probe = JSON.parse(fs.readFileSync(path.join(out2, 'probe.json'), 'utf8'));
    assert.equal(probe.ok, false);
    assert.equal(probe.driver.icd, icd);
    fs.rmSync(r0, { recursive: true, force: true });
  });
});

describe('bench/torch_peer.py (the PyTorch peer)', () => {
  it('--self-check: each slot of its batched LoRA pass equals that slot alone; L+ and L- straddle the base loss', function () {
    this.timeout(120_000);
    const py = process.env.DEVICE_PYTHON ?? 'python3';
    if (spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) this.skip(); // no torch here (CI): the GPU machines have it
    const r = spawnSync(py, [path.join(root, 'bench', 'torch_peer.py'), '--self-check'], { encoding: 'utf8', timeout: 110_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const c = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(c.ok, true);
    assert.ok(c.slotIsolationRelErr < 1e-5 && c.centralAsymmetry < 5e-5 && c.minPlusMinusGap > 0, JSON.stringify(c));
  });
});

describe('the device run\'s plan and peaks', () => {
  it('the plan of a GPU run and of a rehearsal; the fp32 peak by device name', () => {
    const gpu = makePlan({});
    assert.deepEqual(gpu.presets.map((p) => p.name), ['stories15M', 'tinyllama']);
    assert.deepEqual([gpu.zo.qs, gpu.zo.batch, gpu.zo.seq], [[1, 2, 4, 8, 16], 4, 64]);
    assert.deepEqual(gpu.realSize.models, ['smollm2-135m', 'qwen2.5-0.5b', 'llama-3.2-1b']);
    assert.ok(gpu.matmul.shapes.some((s) => s.preset === 'tinyllama' && s.names.includes('lm_head') && s.N === 32000 && s.K === 2048));
    const cpu = makePlan({ cpu: true, qs: '1,3' });
    assert.deepEqual([cpu.presets.map((p) => p.name), cpu.zo.qs, cpu.realSize.models], [['stories260K'], [1, 3], ['rehearsal-tiny']]);
    assert.throws(() => makePlan({ presets: 'gpt2' }), /--presets gpt2: one of /);
    assert.throws(() => makePlan({ 'real-size': 'llama-70b' }), /--real-size llama-70b: one of /);
    assert.equal(fp32Peak(['NVIDIA H100 80GB HBM3'])?.gflops, 67_000);
    assert.equal(fp32Peak(['NVIDIA H100 PCIe'])?.gflops, 51_000);
    assert.equal(fp32Peak([undefined, 'NVIDIA H200, 580.159.03, 143771 MiB, 1980 MHz'])?.gflops, 67_000);
    assert.equal(fp32Peak(['SwiftShader driver 5.0.0']), null);
    assert.equal(fp32Peak(['SwiftShader'], 1234)?.gflops, 1234);
  });
});
