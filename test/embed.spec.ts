// The embedding API: the library bundle (what `import ... from 'mobizo-webgpu'` resolves to) runs
// the README example in headless Chrome; in Node, a FineTuner paused at a checkpoint and run again
// (or resumed by a new FineTuner from the saved checkpoint, as after a reload) reproduces the
// uninterrupted run's losses; the app's defaults are the CLI's.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { buildBrowser, buildLibrary, repoRoot } from '../scripts/build.mjs';
import { startServer } from '../scripts/serve.mjs';
import { FineTuner, finetune, type StepDetail } from '../src/train/finetuner';
import { createGpu, type Gpu } from '../src/gpu/device';
import { Model } from '../src/model/model';
import { Tokenizer } from '../src/formats/tokenizer';
import { toyModel, toyTokenizerBytes } from '../src/model/toy';
import { readAdapter } from '../src/adapter/peft';
import type { CheckpointFiles } from '../src/train/trainer';
import { explainError } from '../src/worker/errors';
import { OptionError } from '../src/train/options';
import { assetsDir, launchBrowser, openPage, pageLog, waitForResult } from './browser/harness.ts';

describe('embedding API', function () {
  this.timeout(300_000);

  describe('library bundle in headless Chrome', function () {
    let browser: Browser | undefined;
    let server: Awaited<ReturnType<typeof startServer>> | undefined;
    let dir: string;

    before(function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-embed-'));
    });

    after(async function () {
      await browser?.close();
      await server?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('package.json points `mobizo-webgpu` at the ES module bundle and its types', function () {
      const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
      assert.equal(pkg.type, 'module');
      assert.equal(pkg.exports['.'].import, './dist/index.js');
      assert.equal(pkg.exports['.'].types, './dist/types/index.d.ts');
      assert.equal(pkg.module, './dist/index.js');
    });

    it('builds dist/index.js as one ES module without Node built-ins', async function () {
      const { outputs } = await buildLibrary({ outdir: path.join(dir, 'lib') });
      const js = fs.readFileSync(outputs.find((f) => f.endsWith('index.js'))!, 'utf8');
      assert.match(js, /export \{[^}]*\bFineTuner\b/);
      assert.doesNotMatch(js, /from ["']node:|require\(["']node:/, 'the bundle imports no node: module');
    });

    it('runs the README example (fine-tune, events, generate with the adapter, PEFT files)', async function () {
      await buildBrowser({
        entryPoints: { embed_page: 'test/browser/pages/embed_page.js' },
        outdir: path.join(dir, 'page'),
        alias: { 'mobizo-webgpu': path.join(dir, 'lib', 'index.js') },
      });
      fs.writeFileSync(path.join(dir, 'page', 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="./embed_page.js"></script>\n');
      server = await startServer({ root: path.join(dir, 'page'), routes: { '/assets/': assetsDir } });
      browser = await launchBrowser();
      const tp = await openPage(browser, server.url);
      const r = await waitForResult<{ error?: string; result: { status: string; step: number }; story: string; logs: string[]; history: unknown[]; config: string; safetensorsBytes: number }>(tp);
      assert.equal(r.error, undefined, `${r.error}\n${pageLog(tp)}`);
      assert.deepEqual([r.result.status, r.result.step], ['done', 10]);
      assert.equal(r.history.length, 10);
      assert.ok(r.logs.some((l) => /^step 10\/10: loss \d/.test(l)), r.logs.join('\n'));
      assert.ok(r.logs.some((l) => /^held-out loss at step 10: \d/.test(l)), r.logs.join('\n'));
      assert.ok(r.story.startsWith('Tom') && r.story.length > 10, r.story);
      assert.equal(JSON.parse(r.config).peft_type, 'LORA');
      assert.ok(r.safetensorsBytes > 1000);
    });
  });

  describe('FineTuner (Node, toy model)', function () {
    let gpu: Gpu;
    let model: Model;
    let tok: Tokenizer;
    const options = { steps: 6, batch: 1, seq: 16, q: 2, lr: 0.1, checkpointEvery: 3, evalEvery: 0, evalSize: 4 };
    const data = { demo: true };
    let straight: { step: number; loss: number }[];

    before(async function () {
      gpu = await createGpu();
      const file = toyModel();
      model = await Model.load(gpu, file);
      tok = Tokenizer.fromLlama2c(toyTokenizerBytes(), file.config.vocabSize, 'toy tokenizer');
    });

    after(function () {
      model?.destroy();
      gpu?.device.destroy();
    });

    it('finetune() trains and returns the adapter and its PEFT files', async function () {
      const steps: StepDetail[] = [];
      const r = await finetune(model, tok, data, options, { step: (d) => steps.push(d) });
      straight = r.history;
      assert.equal(r.status, 'done');
      assert.equal(r.step, 6);
      assert.deepEqual(steps.map((s) => s.step), [0, 1, 2, 3, 4, 5]);
      assert.ok(steps.every((s) => s.rowsPerSecond > 0 && s.tokensPerSecond === s.rowsPerSecond * 16));
      assert.ok(r.evalBefore && r.evalAfter && Number.isFinite(r.evalAfter.loss));
      const back = readAdapter({ config: r.files['adapter_config.json'], safetensors: r.files['adapter_model.safetensors'] }, model.config, 'finetune()');
      assert.deepEqual(back.targets, ['q', 'v']);
      r.lora.destroy();
    });

    it('pause at a checkpoint, run() again, and a new FineTuner from the checkpoint give the same losses', async function () {
      const saved: CheckpointFiles[] = [];
      const store = { save: async (f: CheckpointFiles) => void saved.push(f) };
      const ft = new FineTuner(model, tok, data, options, { store });
      const statuses: string[] = [];
      ft.addEventListener('status', (e) => statuses.push(e.detail.status));
      ft.addEventListener('step', (e) => {
        if (e.detail.step === 0) ft.pause();
      });
      const first = await ft.run();
      assert.deepEqual([first.status, first.step], ['paused', 3]);
      assert.deepEqual(ft.history, straight.slice(0, 3));
      assert.ok(ft.lora, 'the adapter of the checkpoint is kept');
      const second = await ft.run();
      assert.deepEqual([second.status, second.step], ['done', 6]);
      assert.deepEqual(ft.history, straight);
      assert.deepEqual(statuses, ['running', 'pausing', 'paused', 'running', 'done']);
      assert.deepEqual(saved.map((f) => JSON.parse(f['trainer_state.json']).step), [3, 6]);
      ft.destroy();

      // as after a reload: a fresh FineTuner continues from the step-3 checkpoint
      const again = new FineTuner(model, tok, data, options, { resumeFrom: saved[0] });
      assert.equal(again.step, 3);
      await again.run();
      assert.deepEqual(again.history, straight);
      again.destroy();
    });

    it('stop() ends the run at the next checkpoint and evaluates there', async function () {
      const ft = new FineTuner(model, tok, data, options);
      ft.addEventListener('step', (e) => {
        if (e.detail.step === 1) ft.stop();
      });
      const r = await ft.run();
      assert.deepEqual([r.status, r.step, ft.status], ['stopped', 3, 'done']);
      assert.ok(r.evalAfter && ft.evals.some((e) => e.step === 3));
      assert.deepEqual(ft.history, straight.slice(0, 3));
      ft.destroy();
    });

    it('a model beyond the adapter\'s limits gets a plain explanation (the app\'s error hints)', function () {
      const huge = gpu.limits.maxStorageBufferBindingSize + 4;
      let message = '';
      try {
        gpu.createBuffer('token_embedding', huge, GPUBufferUsage.STORAGE, 'weights');
      } catch (e) {
        message = (e as Error).message;
      }
      const x = explainError(new Error(message));
      assert.match(x.message, /token_embedding/);
      assert.match(x.hint ?? '', /does not fit this GPU adapter's limits.*smaller model/);
      assert.match(explainError(new Error('WebGPU is not available in this browser')).hint ?? '', /Chrome or Edge/);
      assert.match(explainError(new Error('training: GPU device lost (unknown): x')).hint ?? '', /makes a new device.*last checkpoint and Resume continues it/);
      assert.equal(explainError(new Error('something else')).hint, undefined);
    });

    it('a refused option keeps its name across the worker boundary (the app shows it beside the field)', function () {
      const x = explainError(new OptionError('lr', 'must be in [0, 1], got 1000000000'));
      assert.deepEqual(x, { message: 'option lr must be in [0, 1], got 1000000000', option: 'lr' });
      assert.equal(explainError(new Error('option lr must be in [0, 1]')).option, undefined, 'only an OptionError names a field');
    });

  });
});
