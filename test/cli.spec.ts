// The `mobizo` command as a user runs it: exact stdout, JSON logits, the main job on the bundled
// model, eval's per-class report, divergence, one-line errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseLlama2c } from '../src/formats/llama2c';
import { assetPath, knownOutput } from './assets';
import { relError } from './gpu';
import { referenceForward } from './reference/cpu_model';

const root = path.resolve(import.meta.dirname, '..');

function mobizo(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), ...args], { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A failing command: exit code 1, one line on stderr that names the problem, no stack trace. */
function assertOneLineError(r: ReturnType<typeof mobizo>, pattern: RegExp) {
  assert.equal(r.code, 1, `exit code ${r.code}, stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('mobizo'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'stack trace printed');
}

describe('CLI', function () {
  const model = assetPath('models', 'stories260K.bin');
  const tokenizer = assetPath('models', 'tok512.bin');
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-cli-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('generate prints exactly the llama2.c output on stdout', () => {
    const r = mobizo('generate', '--model', model, '--tokenizer', tokenizer, '--temperature', '0', '--steps', '200');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, knownOutput() + '\n');
    assert.match(r.stderr, /tok\/s/);
  });

  it('generate with no model runs the bundled stories260K (weights/, the manifest\'s bytes)', () => {
    const r = mobizo('generate', '--steps', '20', '--temperature', '0');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /bundled stories260K/);
    assert.ok(knownOutput().startsWith(r.stdout.trimEnd()), r.stdout);
    const entry = (JSON.parse(fs.readFileSync(path.join(root, 'weights', 'manifest.json'), 'utf8')) as { models: { name: string; bundled?: boolean; files: { file: string; bytes: number; sha256: string }[] }[] }).models.find((m) => m.bundled)!;
    assert.equal(entry.name, 'stories260K');
    for (const f of entry.files) {
      const bytes = fs.readFileSync(path.join(root, 'weights', f.file));
      assert.equal(bytes.length, f.bytes, f.file);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), f.sha256, f.file);
    }
  });

  it('finetune with no model and no data: stories260K learns the built-in text, greedy samples before and after', function () {
    this.timeout(900_000);
    const out = path.join(tmp, 'main-job');
    const r = mobizo('finetune', '--steps', '8', '--json', '--no-compare', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /bundled stories260K/);
    assert.match(r.stderr, /keeper's log/);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.filter((l) => 'slotLosses' in l).length, 8);
    const done = lines.at(-1);
    assert.equal(done.done, true);
    assert.equal(done.diverged, null);
    assert.ok(done.evalLoss < done.evalLossBefore - 0.05, `held-out loss ${done.evalLossBefore} -> ${done.evalLoss}`);
    assert.match(done.sampleBefore, /^Day 121\./);
    assert.match(done.sampleAfter, /^Day 121\./);
    assert.ok(fs.existsSync(path.join(out, 'adapter_model.safetensors')));
  });

  it('eval --preset rt-polarity --json: per-class counts, precision, recall, confusion; seeds draw other test sets', function () {
    this.timeout(900_000);
    const run = (seed: string) => {
      const r = mobizo('eval', '--preset', 'rt-polarity', '--eval-size', '16', '--seed', seed, '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const a = run('0');
    assert.equal(a.n, 16);
    assert.equal(a.heldOut, 'test');
    assert.equal(a.sampled.n, 16);
    assert.ok(a.sampled.of > 1000, `the test split has ${a.sampled.of} examples`);
    assert.deepEqual(a.classes.map((c: { name: string; count: number }) => [c.name, c.count]), [
      ['neg', 8],
      ['pos', 8],
    ]);
    for (const [i, c] of a.classes.entries()) {
      assert.equal(c.predicted, a.confusion[0][i] + a.confusion[1][i]);
      assert.equal(c.correct, a.confusion[i][i]);
      assert.equal(c.recall, c.correct / c.count);
      assert.equal(c.precision, c.predicted ? c.correct / c.predicted : 0);
    }
    assert.equal(a.accuracy, (a.confusion[0][0] + a.confusion[1][1]) / 16);
    const b = run('1');
    assert.notEqual(b.loss, a.loss, 'seed 1 scored the same examples as seed 0');
  });

  it('eval --data F scores every chunk, or says how many it sampled', function () {
    this.timeout(900_000);
    const f = path.join(tmp, 'text.txt');
    fs.writeFileSync(f, fs.readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 6000));
    const all = mobizo('eval', '--data', f, '--seq', '32', '--json');
    assert.equal(all.code, 0, all.stderr);
    const a = JSON.parse(all.stdout);
    assert.equal(a.sampled, null);
    const some = JSON.parse(mobizo('eval', '--data', f, '--seq', '32', '--eval-size', '5', '--json').stdout);
    assert.equal(some.sampled.n, 5);
    assert.ok(some.sampled.of > 5 && a.tokens >= 31 * (some.sampled.of - 1), `${a.tokens} tokens over ${some.sampled.of} chunks`);
    assert.ok(some.tokens <= 32 * 5, `${some.tokens} tokens in 5 chunks of 32`);
  });

  it('a diverging run is flagged on stderr and in the JSON, and stops (or goes on with --on-diverge warn)', function () {
    this.timeout(900_000);
    const data = path.join(tmp, 'pos.txt');
    fs.writeFileSync(data, fs.readFileSync(assetPath('data', 'rt-polarity', 'rt-polarity.pos'), 'latin1').split('\n').slice(0, 60).join('\n'));
    const args = ['finetune', '--model', model, '--tokenizer', tokenizer, '--data', data, '--lr', '1', '--steps', '12', '--eval-every', '2', '--batch', '2', '--q', '1', '--seq', '16', '--json'];
    const stop = mobizo(...args, '--out', path.join(tmp, 'div-stop'));
    assert.equal(stop.code, 2, stop.stderr);
    assert.match(stop.stderr, /diverged at step \d+: .*lower lr; stopping/);
    const lines = stop.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const flagged = lines.find((l) => 'diverged' in l && !l.done);
    assert.ok(flagged && flagged.diverged.loss > flagged.diverged.limit, stop.stdout);
    const done = lines.at(-1);
    const { kept, ...seen } = done.diverged;
    assert.deepEqual(seen, flagged.diverged);
    assert.deepEqual(kept, done.kept, 'the summary names the adapter kept');
    assert.equal(done.status, 'diverged');
    assert.ok(done.steps < 12, `stopped after ${done.steps} steps`);
    const warn = mobizo(...args, '--on-diverge', 'warn', '--out', path.join(tmp, 'div-warn'));
    assert.equal(warn.code, 0, warn.stderr);
    assert.match(warn.stderr, /diverged at step \d+: .*going on \(--on-diverge warn\)/);
    const wdone = JSON.parse(warn.stdout.trim().split('\n').at(-1)!);
    assert.equal(wdone.steps, 12);
    assert.ok(wdone.diverged);
  });

  it('a run stopped for divergence goes back to its last adapter within the limit: OUT holds the adapter and moments a run of that many steps makes', function () {
    this.timeout(900_000);
    const data = path.join(tmp, 'pos.txt');
    fs.writeFileSync(data, fs.readFileSync(assetPath('data', 'rt-polarity', 'rt-polarity.pos'), 'latin1').split('\n').slice(0, 60).join('\n'));
    const args = ['finetune', '--model', model, '--tokenizer', tokenizer, '--data', data, '--optimizer', 'momentum', '--lr', '0.003', '--eval-every', '4', '--checkpoint-every', '2', '--batch', '2', '--q', '1', '--seq', '16', '--json'];
    const out = path.join(tmp, 'div-back');
    const r = mobizo(...args, '--steps', '12', '--out', out);
    assert.equal(r.code, 2, r.stderr);
    const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.ok(done.diverged, r.stdout);
    assert.ok(done.rolledBack, `no rollback: ${r.stderr}`);
    const { from, to } = done.rolledBack as { from: number; to: number };
    assert.ok(to > 0 && to < from && from >= done.diverged.step, JSON.stringify(done.rolledBack));
    assert.equal(done.steps, to);
    assert.equal(done.status, 'diverged');
    assert.deepEqual(done.kept, { step: to, loss: done.evalLoss });
    assert.deepEqual(done.diverged.kept, done.kept);
    assert.match(r.stderr, new RegExp(`kept the adapter of step ${to}, held-out .* \\(steps ${to + 1}-${from} dropped\\)`));
    const state = JSON.parse(fs.readFileSync(path.join(out, `checkpoint-${to}`, 'trainer_state.json'), 'utf8'));
    assert.equal(state.step, to);
    assert.ok(state.history.every((h: { step: number }) => h.step < to), 'the dropped steps are not in the history');
    // the same settings stopped at `to` steps by --steps: the same adapter and momentum, byte for byte
    const plain = path.join(tmp, 'div-plain');
    const p = mobizo(...args, '--steps', String(to), '--on-diverge', 'warn', '--out', plain);
    assert.equal(p.code, 0, p.stderr);
    for (const f of ['adapter_model.safetensors', `checkpoint-${to}/optimizer_state.safetensors`]) assert.deepEqual(fs.readFileSync(path.join(out, f)), fs.readFileSync(path.join(plain, f)), f);
  });

  it('logits prints JSON matching the float64 reference within 1e-4', () => {
    const r = mobizo('logits', '--model', model, '--tokenizer', tokenizer, '--prompt', 'A happy dog');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; logits: number[][] };
    assert.equal(out.tokens[0], 1);
    assert.equal(out.logits.length, out.tokens.length);
    const want = referenceForward(parseLlama2c(new Uint8Array(fs.readFileSync(model)), 'm'), out.tokens);
    assert.ok(relError(out.logits.flat(), want.flatMap((r) => Array.from(r))) < 1e-4);
    const byIds = mobizo('logits', '--model', model, '--tokenizer', tokenizer, '--tokens', out.tokens.join(','));
    assert.deepEqual(JSON.parse(byIds.stdout), out);
  });

  describe('bad input: one-line error, exit code 1', () => {
    it('a missing file', () => {
      assertOneLineError(mobizo('generate', '--model', path.join(tmp, 'nope.bin'), '--tokenizer', tokenizer), /model .*nope\.bin: no such file/);
    });
    it('a truncated checkpoint', () => {
      const f = path.join(tmp, 'cut.bin');
      fs.writeFileSync(f, fs.readFileSync(model).subarray(0, 300_000));
      assertOneLineError(mobizo('generate', '--model', f, '--tokenizer', tokenizer), /cut\.bin: llama2\.c checkpoint truncated/);
    });
    it('random bytes', () => {
      const f = path.join(tmp, 'random.bin');
      const bytes = new Uint8Array(4096);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
      fs.writeFileSync(f, bytes);
      assertOneLineError(mobizo('logits', '--model', f, '--tokenizer', tokenizer, '--tokens', '1'), /random\.bin: .*llama2\.c/);
    });
    it('a tokenizer whose size differs from the vocab', () => {
      const f = path.join(tmp, 'tok-short.bin');
      fs.writeFileSync(f, fs.readFileSync(tokenizer).subarray(0, 3000));
      assertOneLineError(mobizo('generate', '--model', model, '--tokenizer', f), /tok-short\.bin: .*vocab size is 512/);
    });
    it('a prompt longer than the context', () => {
      assertOneLineError(mobizo('generate', '--model', model, '--tokenizer', tokenizer, '--prompt', 'so long '.repeat(400)), /longer than the model's context of 512/);
    });
    it('bad option values; lr and eps outside their ranges, named by flag', () => {
      assertOneLineError(mobizo('generate', '--steps', 'many'), /--steps must be an integer/);
      assertOneLineError(mobizo('finetune', '--lr', '10'), /^mobizo finetune: --lr must be .*\[0, 1\].*, got 10$/);
      assertOneLineError(mobizo('finetune', '--lr', '1e9'), /: --lr must be .*\[0, 1\].*, got 1000000000$/);
      assertOneLineError(mobizo('finetune', '--eps', '0'), /: --eps must be .*\(0, 1\].*, got 0$/);
      assertOneLineError(mobizo('finetune', '--eps', '2'), /: --eps must be .*\(0, 1\].*, got 2$/);
      assertOneLineError(mobizo('finetune', '--eval-every', '1.5'), /--eval-every must be an integer >= 0, got 1.5/);
      assertOneLineError(mobizo('finetune', '--on-diverge', 'panic'), /--on-diverge must be stop or warn, got panic/);
      assertOneLineError(mobizo('eval', '--preset', 'sst2', '--held-out', 'train'), /--held-out must be validation or test, got train/);
      assertOneLineError(mobizo('logits', '--model', model, '--tokenizer', tokenizer, '--tokens', '1,x'), /--tokens: "x" is not a token id/);
    });
  });
});
