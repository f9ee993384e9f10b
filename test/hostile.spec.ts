// Hostile or mistaken model files: counts in a header are checked against the tensors present
// before anything is sized by them, so a 480-byte GGUF or a config.json claiming 4294967295 layers
// is a one-line error in well under a second (it used to exhaust the heap after 13 s); a web page,
// random bytes or a Git LFS pointer given as a model are named for what they are.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseModel } from '../src/formats/parse';
import { parseHfModel } from '../src/formats/hf';
import { writeGguf } from '../src/formats/gguf_writer';
import type { GgufValue } from '../src/formats/gguf';
import { Tokenizer } from '../src/formats/tokenizer';

const root = path.resolve(import.meta.dirname, '..');
const gemmaDir = path.join(root, 'test', 'fixtures', 'families', 'gemma3');

function mobizo(...args: string[]) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stderr: r.stderr, ms: performance.now() - t0 };
}

/** Throws within `ms`, one line, matching `pattern`. */
function refusedFast(f: () => unknown, pattern: RegExp, ms = 2000): number {
  const t0 = performance.now();
  assert.throws(f, (e: Error) => {
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return true;
  });
  const took = performance.now() - t0;
  assert.ok(took < ms, `took ${took.toFixed(0)} ms`);
  return took;
}

/** A gemma3 GGUF of a few hundred bytes: sane metadata but block_count, and one small tensor. */
function hostileGguf(blockCount: number): Uint8Array {
  const u32 = (value: number): GgufValue => ({ type: 'UINT32', value });
  return writeGguf({
    metadata: {
      'general.architecture': { type: 'STRING', value: 'gemma3' },
      'gemma3.block_count': u32(blockCount),
      'gemma3.context_length': u32(32),
      'gemma3.embedding_length': u32(8),
      'gemma3.feed_forward_length': u32(16),
      'gemma3.attention.head_count': u32(2),
      'gemma3.attention.head_count_kv': u32(1),
    },
    tensors: [{ name: 'token_embd.weight', shape: [4, 8], type: 'F32', data: new Float32Array(32) }],
  });
}

describe('hostile and mistaken model files', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-hostile-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a gemma3 GGUF of a few hundred bytes with block_count = 4294967295: one line in milliseconds', () => {
    const bytes = hostileGguf(4294967295);
    assert.ok(bytes.length < 600, `${bytes.length} bytes`);
    const ms = refusedFast(() => parseModel(bytes, 'hostile.gguf'), /^hostile\.gguf: GGUF gemma3\.block_count is 4294967295, but the file holds the tensors of 0 blocks$/);
    console.log(`      ${bytes.length}-byte GGUF refused in ${ms.toFixed(1)} ms`);
    // a smaller lie is caught the same way
    refusedFast(() => parseModel(hostileGguf(1000), 'h.gguf'), /block_count is 1000, but the file holds the tensors of 0 blocks/);
  });

  it('an HF config.json with num_hidden_layers = 4294967295 (or more layers than its tensors): one line in milliseconds', () => {
    const config = JSON.parse(fs.readFileSync(path.join(gemmaDir, 'config.json'), 'utf8'));
    delete config.layer_types; // the layers' pattern comes from the count then: the path that sized an array by it
    const safetensors = [{ name: 'model.safetensors', bytes: new Uint8Array(fs.readFileSync(path.join(gemmaDir, 'model.safetensors'))) }];
    const files = (n: number) => ({ config: JSON.stringify({ ...config, num_hidden_layers: n }), safetensors });
    const ms = refusedFast(() => parseHfModel(files(4294967295), 'hostile'), /^hostile: config\.json: config field nLayers = 4294967295 is not a positive integer in range$/);
    console.log(`      config.json with 4294967295 layers refused in ${ms.toFixed(1)} ms`);
    refusedFast(() => parseHfModel(files(100000), 'hostile'), /^hostile: config\.json: num_hidden_layers is 100000, but the safetensors hold the tensors of 4 layers$/);
  });

  it('through the CLI: both are a one-line error and exit code 1 in seconds', () => {
    const gguf = path.join(tmp, 'hostile.gguf');
    fs.writeFileSync(gguf, hostileGguf(4294967295));
    const dir = path.join(tmp, 'hostile-hf');
    fs.mkdirSync(dir);
    const config = JSON.parse(fs.readFileSync(path.join(gemmaDir, 'config.json'), 'utf8'));
    delete config.layer_types;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 4294967295 }));
    fs.copyFileSync(path.join(gemmaDir, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    for (const [model, pattern] of [
      [gguf, /^mobizo generate: .*hostile\.gguf: GGUF gemma3\.block_count is 4294967295, but the file holds the tensors of 0 blocks$/],
      [dir, /^mobizo generate: .*hostile-hf: config\.json: config field nLayers = 4294967295 is not a positive integer in range$/],
    ] as const) {
      const r = mobizo('generate', '--model', model, '--steps', '1');
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], pattern);
      assert.ok(r.ms < 30_000, `${r.ms} ms`);
      console.log(`      CLI: ${path.basename(model)} refused in ${r.ms.toFixed(0)} ms (process start included)`);
    }
  });

  it('a web page and random bytes given as a model: named for what they look like (the CLI)', () => {
    const page = path.join(tmp, 'page.gguf');
    fs.writeFileSync(page, '<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>');
    const random = path.join(tmp, 'random.bin');
    fs.writeFileSync(random, Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24));
    for (const [file, pattern] of [
      [page, /^mobizo generate: .*page\.gguf: an HTML page, not a model file/],
      [random, /^mobizo generate: .*random\.bin: not a model file .*\(starts with 00 9e 3c da 78 17 b5 53 \("\.\.<\.x\.\.S"\)\): not GGUF .*not a llama2\.c checkpoint/],
    ] as const) {
      const r = mobizo('generate', '--model', file, '--steps', '1');
      assert.equal(r.code, 1);
      assert.match(r.stderr.trim(), pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });

  it('a llama2.c tokenizer whose model claims a huge vocabulary is refused before it is sized', () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(root, 'weights', 'tok512.bin')));
    refusedFast(() => Tokenizer.fromLlama2c(bytes, 1 << 24, 'tok512.bin'), /^tok512\.bin: tokenizer file ends early: it holds 512 whole tokens \(\d+ bytes\), the model's vocab size is 16777216$/, 500);
  });
});
