// The `mobizo` command as a user runs it: exact stdout, JSON logits, one-line errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseLlama2c } from '../src/formats/llama2c';
import { assetPath, knownOutput } from './assets';
import { relError } from './gpu';
import { referenceForward } from './reference/cpu_model';

const root = path.resolve(import.meta.dirname, '..');

function mobizo(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
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

  it('generate with no model runs the built-in toy model', () => {
    const r = mobizo('generate', '--steps', '20', '--temperature', '0');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /built-in toy model/);
    assert.ok(r.stdout.length > 1);
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
    it('bad option values', () => {
      assertOneLineError(mobizo('generate', '--steps', 'many'), /--steps must be an integer/);
      assertOneLineError(mobizo('logits', '--model', model, '--tokenizer', tokenizer, '--tokens', '1,x'), /--tokens: "x" is not a token id/);
    });
  });
});
