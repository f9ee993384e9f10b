// loadModel from every kind of source, the model carrying its tokenizer (GGUF metadata, HF
// tokenizer.json, a llama2.c tokenizer given beside it), URL errors reported as such, and the API's
// checks of options and data (an OptionError naming the option, never the data's text).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createGpu, type Gpu } from '../src/gpu/device';
import { loadModel, resolveModel } from '../src/model/load';
import type { Model } from '../src/model/model';
import { generateText } from '../src/model/generate';
import { FineTuner, finetune } from '../src/train/finetuner';
import { OptionError } from '../src/train/options';
import { train } from '../src/train/trainer';
import { assetPath } from './assets';
import { hfDirContents, hfStories260K, writeDir } from './hf_fixture';
import { writeSparseGguf } from './sparse_gguf';

const ggufPath = assetPath('models', 'stories260K.gguf');
const binPath = assetPath('models', 'stories260K.bin');
const tokPath = assetPath('models', 'tok512.bin');
const read = (p: string) => new Uint8Array(fs.readFileSync(p));

/** A server with a GGUF, a 404, an HTML page sent as a model and an HTML error page. */
async function fileServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/m/stories260K.gguf') return res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(read(ggufPath));
    if (req.url === '/login.gguf') return res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Sign in</title>');
    if (req.url === '/disguised.gguf') return res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('<!DOCTYPE html>\n<html><body>Not here</body></html>');
    res.writeHead(404, { 'content-type': 'text/html' }).end('<!doctype html><h1>404</h1>');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => (server.closeAllConnections(), server.close(() => ok()))) };
}

describe('loadModel', function () {
  this.timeout(300_000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-load-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('sources (parsed, no GPU)', () => {
    it('GGUF bytes, ArrayBuffer, Blob, Node path and file: URL carry the GGUF tokenizer', async () => {
      const bytes = read(ggufPath);
      for (const src of [bytes, bytes.slice().buffer, new Blob([bytes]), ggufPath, `file://${ggufPath}`]) {
        const m = await resolveModel(src);
        assert.equal(m.parsed.format, 'gguf');
        assert.equal(m.tokenizer?.vocabSize, 512);
      }
      assert.equal((await resolveModel(new File([bytes], 'x.gguf'))).name, 'x.gguf');
    });

    it('llama2.c: the tokenizer option (bytes, path), tokenizer.bin beside the file, the second of two files; none: no tokenizer', async () => {
      assert.equal((await resolveModel(binPath, { tokenizer: tokPath })).tokenizer?.vocabSize, 512);
      assert.equal((await resolveModel(read(binPath), { tokenizer: read(tokPath) })).tokenizer?.vocabSize, 512);
      const pair = [new File([read(tokPath)], 'tok512.bin'), new File([read(binPath)], 'stories260K.bin')];
      const fromPair = await resolveModel(pair);
      assert.equal(fromPair.name, 'stories260K.bin');
      assert.equal(fromPair.tokenizer?.vocabSize, 512);
      const dir = path.join(tmp, 'l2c');
      fs.mkdirSync(dir);
      fs.copyFileSync(binPath, path.join(dir, 'm.bin'));
      assert.equal((await resolveModel(path.join(dir, 'm.bin'))).tokenizer, undefined);
      fs.copyFileSync(tokPath, path.join(dir, 'tokenizer.bin'));
      assert.equal((await resolveModel(path.join(dir, 'm.bin'))).tokenizer?.vocabSize, 512);
    });

    it('an HF folder: a Node folder path, or its files picked together (a FileList), with tokenizer.json', async () => {
      const { bin, tokenizerJson } = hfStories260K();
      const files = hfDirContents(bin, tokenizerJson, 'F32');
      const dir = writeDir(path.join(tmp, 'hf'), files);
      const fromDir = await resolveModel(dir);
      assert.equal(fromDir.parsed.format, 'hf');
      assert.equal(fromDir.tokenizer?.vocabSize, 512);
      const picked = Object.entries(files).map(([n, d]) => Object.assign(new File([d as BlobPart], n), { webkitRelativePath: `my-model/${n}` }));
      const fromFiles = await resolveModel(picked);
      assert.equal(fromFiles.name, 'my-model');
      assert.equal(fromFiles.tokenizer?.vocabSize, 512);
      await assert.rejects(resolveModel(picked.filter((f) => f.name !== 'model.safetensors')), /my-model: no model\.safetensors/);
    });

    it('a URL: the file; an HTTP error, an HTML page (by content type or by its bytes) reported as such', async () => {
      const s = await fileServer();
      try {
        assert.equal((await resolveModel(`${s.url}/m/stories260K.gguf`)).tokenizer?.vocabSize, 512);
        assert.equal((await resolveModel(new URL(`${s.url}/m/stories260K.gguf`))).name, 'stories260K.gguf');
        await assert.rejects(resolveModel(`${s.url}/missing.gguf`), new RegExp(`^Error: HTTP 404 Not Found for ${s.url}/missing\\.gguf \\(no such file\\)$`));
        await assert.rejects(resolveModel(`${s.url}/login.gguf`), /login\.gguf answered an HTML page \(content-type text\/html; charset=utf-8\), not a model file/);
        await assert.rejects(resolveModel(`${s.url}/disguised.gguf`), /^Error: disguised\.gguf: an HTML page, not a model file/);
      } finally {
        await s.close();
      }
    });

    it('a Node path past 2 GiB (a sparse GGUF) opens: the header is read, not the file', async () => {
      const big = path.join(tmp, 'big.gguf');
      const size = writeSparseGguf(big);
      assert.ok(size > 2 ** 31, `${size} bytes`);
      const m = await resolveModel(big);
      assert.equal(m.parsed.format, 'gguf');
      assert.equal(m.parsed.tensors.config.nLayers, 26);
      assert.ok(m.tokenizer, 'the GGUF tokenizer');
      fs.rmSync(big);
    });

    it('names what it cannot read', async () => {
      const pointer = new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:270cba1b\nsize 1185376\n');
      await assert.rejects(resolveModel(pointer, { name: 'm.gguf' }), /^Error: m\.gguf: a Git LFS pointer, not the file itself .*git lfs pull/);
      await assert.rejects(resolveModel(path.join(tmp, 'nope.gguf')), /nope\.gguf: no such file or folder, and not a hub reference/);
      await assert.rejects(resolveModel(42 as never), /loadModel: source must be bytes, a File or Blob, .* got number/);
      await assert.rejects(resolveModel([]), /the list of files is empty/);
    });
  });

  describe('a model alone is enough (Node, stories260K.gguf)', () => {
    let gpu: Gpu;
    let model: Model;
    const small = { steps: 2, batch: 1, seq: 16, q: 2, evalSize: 2, checkpointEvery: 0 };
    const data = { text: 'Lily saw a big red ball. She liked to play with it in the park every day.\n'.repeat(6) };
    before(async () => {
      gpu = await createGpu();
      model = await loadModel(gpu, ggufPath);
    });
    after(() => {
      model?.destroy();
      gpu?.device.destroy();
    });

    it('finetune(model, data, options) and generateText(model, opts) take the model\'s tokenizer', async () => {
      assert.equal(model.tokenizer?.vocabSize, 512);
      const r = await finetune(model, data, small);
      assert.equal(r.status, 'done');
      assert.equal(r.step, 2);
      assert.equal(JSON.parse(r.files['adapter_config.json']).peft_type, 'LORA');
      const g = await generateText(model, { prompt: 'Lily', steps: 12, temperature: 0, lora: r.lora });
      assert.ok(g.text.startsWith('Lily') && g.generatedTokens > 0, g.text);
      const old = await generateText(model, model.tokenizer!, { prompt: 'Lily', steps: 12, temperature: 0, lora: r.lora });
      assert.equal(old.text, g.text, 'the older (model, tokenizer, opts) form gives the same');
      r.lora.destroy();
    });

    it('a step\'s ms is the run\'s wall time per step so far, not the gap between two results of a burst', async () => {
      const ms: number[] = [];
      const r = await finetune(model, data, { ...small, steps: 12 }, { step: (d) => ms.push(d.ms) });
      r.lora.destroy();
      assert.equal(ms.length, 12);
      assert.ok(ms.every((m) => m > 0), ms.join(', '));
      // the last step's is about the run's ms/step (the summary's also holds the wait for the last results)
      const ratio = ms.at(-1)! / r.msPerStep;
      assert.ok(ratio > 0.5 && ratio < 1.5, `last step ${ms.at(-1)} ms, run ${r.msPerStep} ms/step`);
      assert.ok(Math.min(...ms) > 0.05 * r.msPerStep, `no ~0 ms step: ${ms.join(', ')}`);
    });

    const optionError = (fn: () => unknown, option: string, pattern: RegExp) =>
      assert.throws(fn, (e: Error) => {
        assert.ok(e instanceof OptionError, `${e.name}: ${e.message}`);
        assert.equal(e.option, option);
        assert.match(e.message, pattern);
        return true;
      });

    it('options and data are checked as the CLI checks its flags: an OptionError names each', async () => {
      optionError(() => new FineTuner(model, data, { lrr: 1e-3 } as never), 'lrr', /^option lrr is not an option of a run \(did you mean lr\?\)$/);
      optionError(() => new FineTuner(model, data, { lora: {} } as never), 'lora', /not an option .*rank, alpha and targets/);
      optionError(() => new FineTuner(model, data, { lr: '1e-3' } as never), 'lr', /must be a number, got a string/);
      optionError(() => new FineTuner(model, data, { targets: ['q', 'v'] } as never), 'targets', /must be a string such as "q,v", got an array/);
      optionError(() => new FineTuner(model, data, { targets: 'q,x' }), 'targets', /unknown LoRA target "x"/);
      optionError(() => new FineTuner(model, data, 'fast' as never), 'options', /must be an object of options/);
      const secret = 'my private diary text, which no error may echo';
      optionError(() => new FineTuner(model, secret as never), 'data', /must be a task object .*got a string of \d+ characters/);
      assert.throws(() => new FineTuner(model, secret as never), (e: Error) => !e.message.includes('diary'));
      optionError(() => new FineTuner(model, { preset: 'sst2', labels: ' terrible, great' } as never), 'data.labels', /must be an array of strings, e\.g\. \[" terrible", " great"\], got a string/);
      optionError(() => new FineTuner(model, { txt: 'abc' } as never), 'txt', /is not a field of the data .*did you mean text\?/);
      optionError(() => new FineTuner(model, {}), 'data', /has no data/);
      await assert.rejects(finetune(model, secret as never), (e: Error) => e instanceof OptionError && e.option === 'data' && !e.message.includes('diary'));
      const cfg = new FineTuner(model, data, small).trainConfig;
      await assert.rejects(train(model, { seqLen: 16, batchAt: () => { throw new Error('unused'); } } as never, { ...cfg, lora: {} as never }), (e: Error) => e instanceof OptionError && e.option === 'lora.rank');
    });

    it('a Blob is read slice by slice (the header, then each tensor as it is uploaded), never whole', async () => {
      const slices: number[] = [];
      class SpyBlob extends Blob {
        override slice(start?: number, end?: number, type?: string): Blob {
          slices.push((end ?? this.size) - (start ?? 0));
          return super.slice(start, end, type);
        }
        override arrayBuffer(): Promise<ArrayBuffer> {
          throw new Error('the whole file was read');
        }
      }
      const bytes = read(ggufPath);
      const m = await loadModel(gpu, new SpyBlob([bytes as BlobPart]), 'spy.gguf');
      try {
        assert.equal(m.tokenizer?.vocabSize, 512);
        assert.ok(Math.max(...slices) <= 256 << 10, `largest read ${Math.max(...slices)} bytes`);
        assert.ok(slices.length > 10, `${slices.length} reads`);
      } finally {
        m.destroy();
      }
    });

    it('a llama2.c model loaded without a tokenizer asks for one', async () => {
      const bare = await loadModel(gpu, read(binPath), 'stories260K.bin');
      try {
        assert.equal(bare.tokenizer, undefined);
        optionError(() => new FineTuner(bare, data, small), 'tokenizer', /this model has no tokenizer .*loadModel\(gpu, source, \{ tokenizer \}\)/);
        await assert.rejects(generateText(bare, { prompt: 'x' }), /this model has no tokenizer/);
      } finally {
        bare.destroy();
      }
    });
  });
});
