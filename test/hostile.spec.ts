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
import { createGpu, type Gpu } from '../src/gpu/device';
import { Model } from '../src/model/model';
import { ForwardPass } from '../src/model/forward';
import { toyModel } from '../src/model/toy';
import { memoryTensors, type ModelTensors } from '../src/formats/model_tensors';
import { decodeText } from '../src/data/examples';
import { LmDataset } from '../src/data/lm';
import { LoraState } from '../src/adapter/lora';
import { readAdapter, writeAdapter } from '../src/adapter/peft';
import { tokenizingProgress } from '../src/cli/task_data';

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

// A load that fails half way (a bad tensor, a read error) frees every buffer it made: the ledger
// is back where it started (a retried load used to leak the weights of each failed one). RoPE
// tables cover the positions in use, not the model's whole context.
describe('Model.load: a failed load leaks nothing; RoPE sized by the positions in use', function () {
  this.timeout(120_000);
  let gpu: Gpu;
  before(async () => (gpu = await createGpu()));
  after(() => gpu?.device.destroy());

  it('a tensor of the wrong size in the last layer: the error, and the ledger back to its start', async () => {
    const file = toyModel();
    const bad = { ...file, weights: { ...file.weights, layers: file.weights.layers.map((l, i) => (i === file.config.nLayers - 1 ? { ...l, w2: new Float32Array(7) } : l)) } };
    const before = gpu.ledger.totalBytes();
    for (let attempt = 0; attempt < 3; attempt++) {
      await assert.rejects(Model.load(gpu, bad), /7/);
      assert.equal(gpu.ledger.totalBytes(), before, `attempt ${attempt}: ${gpu.ledger.entries().slice(0, 3).map((e) => e.label)}`);
    }
  });

  it('a read that fails at the classifier (an I/O error mid-file): the ledger back to its start', async () => {
    const file = toyModel();
    const t = memoryTensors({ ...file, config: { ...file.config, sharedClassifier: false }, weights: { ...file.weights, classifier: file.weights.tokenEmbedding } });
    const failing: ModelTensors = { ...t, f32: async (name) => (name === 'output.weight' ? Promise.reject(new Error('EIO: i/o error, read')) : t.f32(name)) };
    const before = gpu.ledger.totalBytes();
    await assert.rejects(Model.load(gpu, failing), /EIO/);
    assert.equal(gpu.ledger.totalBytes(), before);
    const ok = await Model.load(gpu, t);
    assert.ok(gpu.ledger.totalBytes() > before);
    ok.destroy();
    assert.equal(gpu.ledger.totalBytes(), before, 'destroy frees all, RoPE tables included');
  });

  it('a model of a 1M-token context: no RoPE table at load, a pass of 16 tokens makes one of 64 positions, the same logits', async () => {
    const file = toyModel();
    const long = { ...file, config: { ...file.config, seqLen: 1 << 20 } };
    const held = () => {
      const r = gpu.ledger.report().current;
      return (r.weights ?? 0) + (r.activations ?? 0); // (the device's uniform arena is a pool that stays)
    };
    const before = held();
    const a = await Model.load(gpu, file);
    const b = await Model.load(gpu, long);
    const weights = (held() - before) / 2;
    assert.ok(gpu.ledger.entries().every((e) => !e.label.startsWith('rope_table')), 'no table at load');
    const tokens = Array.from({ length: 16 }, (_, i) => (i * 7 + 1) % file.config.vocabSize);
    const logits = async (m: Model) => {
      const pass = new ForwardPass(m, { B: 1, T: 16, nSelect: 16 });
      try {
        return await pass.run(tokens, Array.from({ length: 16 }, (_, i) => i));
      } finally {
        pass.destroy();
      }
    };
    assert.deepEqual(await logits(b), await logits(a));
    const ropes = gpu.ledger.entries().filter((e) => e.label.startsWith('rope_table'));
    assert.deepEqual(ropes.map((e) => e.label).sort(), ['rope_table[64]', 'rope_table[64]']);
    assert.ok(ropes[0].bytes === 64 * file.config.headDim * 4, `${ropes[0].bytes} bytes`);
    console.log(`      weights ${weights} bytes; the whole-context table would have been ${(1 << 20) * file.config.headDim * 4} bytes, the one made ${ropes[0].bytes}`);
    a.destroy();
    b.destroy();
    assert.equal(held(), before);
  });
});

describe('mistaken inputs: what the error says', () => {
  it('a UTF-16 text is refused in latin-1 and UTF-8 alike (it would read as NULs between letters)', () => {
    const le = new Uint8Array([...'Day 1. Wind'].flatMap((c) => [c.charCodeAt(0), 0]));
    for (const enc of ['latin1', 'utf-8'] as const) {
      assert.throws(() => decodeText(le, 'log.txt', enc), new RegExp(`^Error: log\\.txt: a UTF-16 file or binary data \\(a NUL byte at offset 1\\), not ${enc} text: save it as UTF-8$`));
      assert.throws(() => decodeText(new Uint8Array([0xff, 0xfe, ...le]), 'bom.txt', enc), /bom\.txt: a UTF-16 file or binary data \(its byte-order mark ff fe\)/);
    }
    assert.equal(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), 'latin.txt', 'latin1'), 'café');
  });

  it('adapter errors name each file once, and a rank that disagrees with the tensors is named as such', () => {
    const cfg = toyModel().config;
    const files = writeAdapter(LoraState.initHost(cfg, { rank: 4, alpha: 8, targets: ['q', 'v'] }, 1));
    // the app names an adapter by the file the user picked
    assert.throws(() => readAdapter({ config: '{', safetensors: files['adapter_model.safetensors'] }, cfg, 'run/adapter_model.safetensors'), /^Error: run\/adapter_config\.json: not JSON/);
    assert.throws(() => readAdapter({ config: '{', safetensors: files['adapter_model.safetensors'] }, cfg, 'run'), /^Error: run\/adapter_config\.json: not JSON/);
    const r8 = JSON.stringify({ ...JSON.parse(files['adapter_config.json']), r: 8 });
    assert.throws(() => readAdapter({ config: r8, safetensors: files['adapter_model.safetensors'] }, cfg, 'run'), (e: Error) => {
      assert.match(e.message, /^run\/adapter_model\.safetensors: tensor .*lora_A\.weight has shape \[4, 64\], expected \[8, 64\]: rank 4, but run\/adapter_config\.json says r = 8: the config and the weights disagree$/);
      assert.doesNotMatch(e.message, /different model/);
      return true;
    });
  });

  it('tokenizing a long text reports progress: one line per tenth from 4 M characters', () => {
    const lines: string[] = [];
    const progress = tokenizingProgress((s) => lines.push(s));
    for (let done = 0; done <= 5e6; done += 2.5e5) progress('big.txt', done, 5e6);
    assert.equal(lines.length, 11);
    assert.equal(lines[3], 'tokenizing big.txt: 30% (1.5 of 5.0 M characters)');
    progress('small.txt', 10, 100);
    assert.equal(lines.length, 11, 'a short text is quiet');
    const seen: [number, number][] = [];
    new LmDataset(['one story.', 'another one.'], Tokenizer.fromLlama2c(new Uint8Array(fs.readFileSync(path.join(root, 'weights', 'tok512.bin'))), 512, 'tok'), 4, { onProgress: (d, t) => seen.push([d, t]) });
    assert.deepEqual(seen, [[10, 22], [22, 22]]);
  });
});
