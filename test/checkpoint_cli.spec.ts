// `mobizo finetune --out OUT` as a user meets it when things go wrong: a process killed (SIGKILL)
// at a checkpoint and a full disk, each followed by --resume, end with the uninterrupted run's
// adapter and optimizer state byte for byte; one writer per OUT (a second is refused, a dead one's
// lock taken over); a non-empty OUT is never overwritten without --resume or --overwrite; a resume
// on other data or another model is refused naming both; a diverged run leaves an adapter within
// the limit. Every crash point, in process: checkpoint.spec.ts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSafetensors, tensorToFloat32 } from '../src/formats/safetensors';
import { assetPath } from './assets';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'bin', 'mobizo.js');

function mobizo(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
const summary = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);

describe('finetune --out: atomic checkpoints, one writer, checked resumes (CLI)', function () {
  this.timeout(600_000);
  let tmp: string;
  let data: string;
  let run: string[];
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-out-'));
    data = path.join(tmp, 'pos.txt');
    fs.writeFileSync(data, fs.readFileSync(assetPath('data', 'rt-polarity', 'rt-polarity.pos'), 'latin1').split('\n').slice(0, 60).join('\n'));
    const model = ['--model', assetPath('models', 'stories260K.bin'), '--tokenizer', assetPath('models', 'tok512.bin')];
    run = ['finetune', ...model, '--data', data, '--optimizer', 'adam', '--lr', '0.001', '--checkpoint-every', '2', '--batch', '2', '--q', '1', '--seq', '16', '--eval-size', '16', '--on-diverge', 'warn', '--json'];
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('SIGKILL at a checkpoint and a full disk, each then --resume: the uninterrupted adapter and optimizer state, byte for byte', () => {
    const ref = path.join(tmp, 'ref');
    const a = mobizo([...run, '--steps', '6', '--out', ref]);
    assert.equal(a.code, 0, a.stderr);
    const out = path.join(tmp, 'crashed');
    // disk full at operation 14: the moments of the second checkpoint (step 4); see checkpoint_dir.ts for the order
    const full = mobizo([...run, '--steps', '6', '--out', out], { MOBIZO_FAULT_CHECKPOINT: '14:enospc' });
    assert.equal(full.code, 1, full.stderr);
    assert.match(full.stderr, /mobizo finetune: disk full writing the checkpoint of step 4 to .*crashed: it needs [\d.]+ MiB \(\d+ bytes\).*; the checkpoint of step 2 is intact in .*checkpoint-2; free some space and continue with --resume\n/);
    assert.deepEqual(fs.readdirSync(out).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'checkpoint-2']);
    // without --resume or --overwrite a non-empty OUT is refused, before the model is even loaded
    const plain = mobizo([...run, '--steps', '6', '--out', out]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /--out .*crashed already holds an adapter \(checkpoints up to step 2\): continue it with --resume, replace it with --overwrite/);
    // resumed, then killed at operation 6 of its first checkpoint (the rename that switches in step 4)
    const killed = mobizo([...run, '--steps', '6', '--out', out, '--resume'], { MOBIZO_FAULT_CHECKPOINT: '6:kill' });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.match(killed.stderr, /--resume: continuing from .*checkpoint-2 at step 2/);
    const lock = JSON.parse(fs.readFileSync(path.join(out, '.mobizo.lock'), 'utf8'));
    assert.ok(fs.readdirSync(out).some((n) => n.startsWith('.checkpoint-4.tmp-')), 'the killed run left its unfinished checkpoint');
    const done = mobizo([...run, '--steps', '6', '--out', out, '--resume']);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, new RegExp(`took over the lock of process ${lock.pid} \\(started .*\\), which no longer runs`));
    assert.match(done.stderr, /--resume: continuing from .*checkpoint-2 at step 2/);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json', 'checkpoint-6/optimizer_state.safetensors', 'checkpoint-6/adapter_model.safetensors']) {
      assert.deepEqual(fs.readFileSync(path.join(out, f)), fs.readFileSync(path.join(ref, f)), f);
    }
    assert.deepEqual(fs.readdirSync(out).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'checkpoint-6'], 'leftovers cleaned, lock released');
    // --resume checks what it resumes: other data, or another file of the same model, is refused naming both
    const other = path.join(tmp, 'other.txt');
    fs.writeFileSync(other, `${fs.readFileSync(data, 'utf8')}\nOne more line.`);
    const d = mobizo([...run.map((x) => (x === data ? other : x)), '--steps', '8', '--out', out, '--resume']);
    assert.equal(d.code, 1, d.stderr);
    assert.match(d.stderr, /mobizo finetune: --resume: the checkpoint was trained on data sha256:[0-9a-f]{12}... \(.*pos\.txt\), this run's data is sha256:[0-9a-f]{12}... \(.*other\.txt\)/);
    const gguf = ['--model', assetPath('models', 'stories260K.gguf')];
    const m = mobizo([...run.slice(0, 1), ...gguf, ...run.slice(5), '--steps', '8', '--out', out, '--resume']);
    assert.equal(m.code, 1, m.stderr);
    assert.match(m.stderr, /--resume: the checkpoint was trained on model sha256:[0-9a-f]{12}\.\.\. \(stories260K\.bin\), this run's model is sha256:[0-9a-f]{12}\.\.\. \(stories260K\.gguf\)/);
    // --resume with nothing to resume starts from step 0 and says so
    const fresh = mobizo([...run, '--steps', '2', '--out', path.join(tmp, 'fresh'), '--resume']);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.match(fresh.stderr, /--resume: no complete checkpoint in .*fresh: starting from step 0/);
  });

  it('two writers on one --out: the second is refused naming the first; --overwrite then replaces the dead one\'s run', async () => {
    const out = path.join(tmp, 'shared');
    const first = spawn(process.execPath, [bin, ...run, '--steps', '100000', '--checkpoint-every', '1', '--out', out], { stdio: 'ignore' });
    try {
      const lockFile = path.join(out, '.mobizo.lock');
      const t0 = Date.now();
      while (!fs.existsSync(path.join(out, 'checkpoint-1')) && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 100));
      const holder = JSON.parse(fs.readFileSync(lockFile, 'utf8'));
      assert.equal(holder.pid, first.pid);
      const second = mobizo([...run, '--steps', '2', '--out', out, '--overwrite']);
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, new RegExp(`mobizo finetune: --out .*shared is in use by another run \\(pid ${first.pid}, started .*\\): one writer per directory`));
      assert.ok(fs.existsSync(path.join(out, 'checkpoint-1')) || fs.readdirSync(out).some((n) => /^checkpoint-\d+$/.test(n)), 'the first run\'s checkpoints are untouched');
    } finally {
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
    }
    const third = mobizo([...run, '--steps', '2', '--out', out, '--overwrite']);
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stderr, /took over the lock of process \d+ .*which no longer runs/);
    assert.match(third.stderr, /--overwrite: removed the adapter and checkpoints in .*shared/);
    assert.deepEqual(fs.readdirSync(out).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'checkpoint-2']);
  });

  it('--model by a known name (the bundled stories260K, no --tokenizer: its own comes with it): the run fingerprints the file the name stands for', () => {
    const out = path.join(tmp, 'named');
    assert.deepEqual(run.slice(3, 5), ['--tokenizer', assetPath('models', 'tok512.bin')]);
    const r = mobizo(['finetune', '--model', 'stories260K', ...run.slice(5), '--steps', '2', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /stories260K: the bundled copy in /);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint-2', 'trainer_state.json'), 'utf8'));
    assert.equal(state.fingerprint.modelName, 'stories260K.bin');
    assert.match(state.fingerprint.model, /^sha256:[0-9a-f]{64}$/);
  });

  it('the issue\'s run (--lr 0.05 --steps 10, no earlier checkpoint) diverges and leaves the base adapter, not the diverged one', () => {
    const out = path.join(tmp, 'diverged');
    const r = mobizo(['finetune', '--lr', '0.05', '--steps', '10', '--no-compare', '--json', '--out', out]);
    assert.equal(r.code, 2, r.stderr);
    const done = summary(r.stdout);
    assert.equal(done.status, 'diverged');
    assert.ok(done.diverged.loss > done.diverged.limit, JSON.stringify(done.diverged));
    assert.deepEqual(done.kept, { step: 0, loss: done.evalLossBefore });
    assert.equal(done.evalLoss, done.evalLossBefore);
    assert.match(r.stderr, /kept the adapter of step 0 \(the base: no evaluation was within the limit\)/);
    // the adapter OUT holds is the base: every B is zero
    const st = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(out, 'adapter_model.safetensors'))), 'adapter');
    const bs = [...st.tensors].filter(([n]) => n.includes('lora_B'));
    assert.ok(bs.length > 0);
    for (const [n, t] of bs) assert.ok(tensorToFloat32(t, n, 'adapter').every((x) => x === 0), n);
  });
});
