// bench/device.sh on a machine without a GPU (CI, the CPU machines): its dry run lists every step,
// and a real run stops at the probe with a clear message and exit code 2 (the GPU run itself is
// never part of CI).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const sh = (args: string[], env: Record<string, string>) =>
  spawnSync('bash', [path.join(root, 'bench', 'device.sh'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });

describe('bench/device.sh without a GPU', () => {
  it('--dry-run prints the probe, the kernel specs and every preset run, and runs nothing', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-device-'));
    const r = sh(['--dry-run'], { DEVICE_OUT: out });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /NVIDIA Vulkan ICD: /);
    assert.match(r.stdout, /bench\/device\.ts probe /);
    assert.match(r.stdout, /scripts\/spec\.sh test\/kernels\.spec\.ts test\/matmul_variants\.spec\.ts test\/attention\.spec\.ts/);
    for (const p of ['stories15M', 'stories110M', 'tinyllama']) assert.match(r.stdout, new RegExp(`--preset ${p} --scenario forward,zo,decode --q 1,2,4,8,16`));
    assert.deepEqual(fs.readdirSync(out), [], 'a dry run writes no results');
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('a real run finds no GPU adapter through Dawn, says so, writes the probe and exits 2', function () {
    if (fs.existsSync('/usr/share/vulkan/icd.d/nvidia_icd.json')) this.skip(); // a GPU machine: the run would go on
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-device-'));
    const r = sh([], { DEVICE_OUT: out, DEVICE_NO_CHROME: '1' });
    assert.equal(r.status, 2, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /Dawn \(Node\): (no adapter: no WebGPU adapter found|.* <- a CPU driver, not a GPU)/);
    assert.match(r.stdout, /NO GPU: neither Dawn \(Node\) nor headless Chrome found a GPU adapter/);
    const probe = fs.readdirSync(out).filter((f) => f.endsWith('-probe-device.json'));
    assert.equal(probe.length, 1);
    const j = JSON.parse(fs.readFileSync(path.join(out, probe[0]), 'utf8'));
    assert.equal(j.route, null);
    assert.doesNotMatch(r.stdout, /kernel specs on the GPU/);
    fs.rmSync(out, { recursive: true, force: true });
  });
});
