// The app compares several adapters side by side (headless Chrome): stories260K opened through the
// file inputs, two PEFT adapters (random A and B, different ranks, alphas and targets, written with
// the repo's own PEFT writer) opened from files, one under the generic adapter_model.safetensors
// name ("adapter 1") and one under its own file name. "Try it" generates the base model and both
// adapters greedily as the rows of one batched pass (the worker reports 3 rows): each column is
// what that adapter generates alone (generateText with the same files, in Node), the base column
// the base model's. A single ticked column takes the single-adapter path with the same text;
// opening a name again replaces that adapter, and Remove takes one out of the comparison. Predict
// scores the base model and each ticked adapter (the one Predict uses always) the same way.
// $MOBIZO_SCREENSHOTS: where the Try it section's screenshot goes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ElementHandle, Page } from 'puppeteer-core';
import { LoraState } from '../../src/adapter/lora';
import { readAdapter, writeAdapter, type AdapterTensors } from '../../src/adapter/peft';
import type { LlamaConfig } from '../../src/formats/config';
import { generateText } from '../../src/model/generate';
import { Model } from '../../src/model/model';
import type { Target } from '../../src/model/targets';
import { randomAdapter as randomAdapterOf } from '../adapters.ts';
import { stories260K } from '../assets.ts';
import { gpuFixture, } from '../gpu.ts';
import { appPage, assetsDir, serveApp, type ServedApp } from './harness.ts';

const PROMPT = 'Once upon a time';
const STEPS = 60;

/** An adapter with random A and B (B not 0, so it changes the text). */
const randomAdapter = (config: LlamaConfig, seed: number, rank: number, alpha: number, targets: Target[]): AdapterTensors => randomAdapterOf(config, seed, rank, alpha, targets, 0.4);

describe('browser: the app compares several adapters in one batched pass (headless Chrome)', function () {
  this.timeout(600_000);
  let app: ServedApp | undefined;
  let page: Page;
  const { text, setValue, waitIdle, errorShown } = appPage(() => page);
  const pageErrors: string[] = [];
  let tmp: string;
  // the adapters' files on disk, and what each generates alone in Node (the reference)
  const adapters: Record<'a' | 'b' | 'c', { tensors: AdapterTensors; config: string; safetensors: string; solo: string }> = {} as never;
  let baseSolo = '';
  let batched: Record<string, string> = {};

  const upload = async (sel: string, ...files: string[]) => ((await page.$(sel)) as ElementHandle<HTMLInputElement>).uploadFile(...files);

  /** The adapters' columns as the page shows them: name -> title. */
  const columns = () => page.$$eval('#try-panes .pane[data-adapter]', (ps) => ps.map((p) => [(p as HTMLElement).dataset.adapter!, p.querySelector('.title')!.textContent ?? '']));

  async function openAdapter(files: { config: string; safetensors: string }): Promise<void> {
    await upload('#adapter-files', files.config, files.safetensors);
    await page.click('#load-adapter');
    await waitIdle();
    assert.equal(await errorShown(), '');
  }

  /** Ticks exactly these columns (streams: 'base', 'adapter:NAME'). */
  async function tick(streams: string[]): Promise<void> {
    await page.$$eval(
      '#try-panes .pane[data-stream]',
      (ps, want) => {
        for (const p of ps) {
          const box = p.querySelector('input[type=checkbox]') as HTMLInputElement;
          if (box.checked !== (want as string[]).includes((p as HTMLElement).dataset.stream!)) box.click();
        }
      },
      streams,
    );
  }

  /** Presses Generate (greedy) and returns every ticked column's text by stream, and the rows of the pass. */
  async function generate(): Promise<{ texts: Record<string, string>; rows: number; summary: string; feet: string[] }> {
    await setValue('#try-prompt', PROMPT);
    await setValue('#try-steps', String(STEPS));
    await setValue('#try-temp', '0');
    await page.click('#try-generate');
    await page.waitForFunction(() => document.getElementById('try-summary')!.dataset.rows !== undefined && document.body.dataset.busy === 'false', { polling: 100 });
    assert.equal(await errorShown(), '');
    const done = await page.$$eval('#try-panes .pane[data-stream]', (ps) =>
      ps.filter((p) => p.querySelector('pre')!.dataset.done === 'true').map((p) => [(p as HTMLElement).dataset.stream!, p.querySelector('pre')!.textContent ?? '', p.querySelector('.foot')!.textContent ?? '']),
    );
    return {
      texts: Object.fromEntries(done.map(([s, t]) => [s, t])),
      rows: Number(await page.$eval('#try-summary', (e) => (e as HTMLElement).dataset.rows)),
      summary: await text('#try-summary'),
      feet: done.map(([, , f]) => f),
    };
  }

  before(async function () {
    const { file, tok } = stories260K();
    const c = file.config;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-app-multi-'));
    const specs = {
      a: { tensors: randomAdapter(c, 1, 4, 8, ['q', 'v']), dir: 'a', names: ['adapter_config.json', 'adapter_model.safetensors'] },
      b: { tensors: randomAdapter(c, 2, 8, 4, ['k', 'o', 'gate', 'down']), dir: 'b', names: ['storyteller.json', 'storyteller.safetensors'] },
      c: { tensors: randomAdapter(c, 3, 2, 4, ['up']), dir: 'c', names: ['storyteller.json', 'storyteller.safetensors'] },
    };
    // what each generates alone, in Node: generateText with the adapter read back from its files
    const { gpu } = await gpuFixture();
    const model = await Model.load(gpu, file);
    // the page's "New tokens" count after the prompt: the same positions in all
    const greedy = { prompt: PROMPT, steps: tok.encode(PROMPT, { bos: true, eos: false }).length + STEPS, temperature: 0, seed: 0 };
    baseSolo = (await generateText(model, tok, greedy)).text;
    for (const [k, s] of Object.entries(specs) as [keyof typeof specs, (typeof specs)['a']][]) {
      const files = writeAdapter(s.tensors, { baseModelName: 'stories260K.bin' });
      const dir = path.join(tmp, s.dir);
      fs.mkdirSync(dir);
      const [cfgPath, stPath] = s.names.map((n) => path.join(dir, n));
      fs.writeFileSync(cfgPath, files['adapter_config.json']);
      fs.writeFileSync(stPath, files['adapter_model.safetensors']);
      const lora = LoraState.fromAdapter(gpu, c, readAdapter({ config: files['adapter_config.json'], safetensors: files['adapter_model.safetensors'] }, c, stPath));
      const solo = (await generateText(model, tok, { ...greedy, lora })).text;
      lora.destroy();
      adapters[k] = { tensors: s.tensors, config: cfgPath, safetensors: stPath, solo };
    }
    model.destroy();
    for (const k of ['a', 'b', 'c'] as const) assert.notEqual(adapters[k].solo, baseSolo, `adapter ${k} changes the text`);
    assert.notEqual(adapters.a.solo, adapters.b.solo);

    app = await serveApp({}, pageErrors);
    page = app.page;
    await page.goto(app.origin + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.ready === 'true', { timeout: 120_000, polling: 100 });
  });

  after(async function () {
    await app?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('opens stories260K and two adapters: a column each, named by the file (or "adapter 1")', async function () {
    await upload('#model-file', path.join(assetsDir, 'models', 'stories260K.bin'));
    await upload('#tok-file', path.join(assetsDir, 'models', 'tok512.bin'));
    await page.click('#load-model');
    await page.waitForSelector('#model-info:not([hidden])');
    await waitIdle();
    assert.equal(await errorShown(), '');
    assert.deepEqual(await columns(), [], 'no adapter yet');
    assert.match(await text('#foot-adapter'), /no adapter yet/);
    await openAdapter(adapters.a);
    await openAdapter(adapters.b);
    assert.deepEqual(await columns(), [
      ['adapter 1', 'adapter 1: opened adapter (rank 4, q,v)'],
      ['storyteller', 'storyteller: opened adapter (rank 8, k,o,gate,down)'],
    ]);
    // the last opened is the one Predict and Download use: its column has the ids the page always had
    assert.equal(await page.$eval('#adapter-title', (e) => e.closest<HTMLElement>('.pane')!.dataset.adapter), 'storyteller');
  });

  it('generates the base model and both adapters in one batched pass; each column is that adapter alone', async function () {
    const r = await generate();
    batched = r.texts;
    assert.equal(r.rows, 3, 'one pass of 3 rows (base, adapter 1, storyteller)');
    assert.match(r.summary, /^3 columns generated together: one batched pass per token/);
    assert.deepEqual(Object.keys(r.texts), ['base', 'adapter:adapter 1', 'adapter:storyteller']);
    assert.equal(r.texts.base, baseSolo, 'the base column is the base model alone');
    assert.equal(r.texts['adapter:adapter 1'], adapters.a.solo, 'adapter 1 (rank 4, q,v) alone');
    assert.equal(r.texts['adapter:storyteller'], adapters.b.solo, 'storyteller (rank 8, k,o,gate,down) alone');
    for (const f of r.feet) assert.match(f, /^\d+ tokens, [\d.]+ tokens\/s$/);
    const shots = process.env.MOBIZO_SCREENSHOTS;
    if (shots) await (await page.$('#sec-try'))!.screenshot({ path: path.join(shots, 'multi-try.png') });
  });

  it('one ticked column takes the single-adapter path, with the same text', async function () {
    await tick(['adapter:storyteller']);
    const one = await generate();
    assert.equal(one.rows, 1);
    assert.deepEqual(one.texts, { 'adapter:storyteller': batched['adapter:storyteller'] });
    assert.match(await page.$eval('#foot-base', (e) => e.textContent ?? ''), /not ticked/);
    await tick(['base']);
    const base = await generate();
    assert.equal(base.rows, 1);
    assert.deepEqual(base.texts, { base: baseSolo });
    await tick(['base', 'adapter:adapter 1', 'adapter:storyteller']);
  });

  it('opening a name again replaces that adapter; Remove takes one out', async function () {
    await openAdapter(adapters.c); // storyteller.safetensors again, other tensors
    assert.deepEqual(await columns(), [
      ['adapter 1', 'adapter 1: opened adapter (rank 4, q,v)'],
      ['storyteller', 'storyteller: opened adapter (rank 2, up)'],
    ]);
    const r = await generate();
    assert.equal(r.rows, 3);
    assert.equal(r.texts['adapter:storyteller'], adapters.c.solo, 'the replacing adapter alone');
    assert.equal(r.texts['adapter:adapter 1'], adapters.a.solo);
    assert.equal(r.texts.base, baseSolo);

    await page.click('#try-panes .pane[data-adapter="adapter 1"] button');
    await waitIdle();
    assert.deepEqual((await columns()).map(([n]) => n), ['storyteller']);
    const two = await generate();
    assert.equal(two.rows, 2);
    assert.deepEqual(two.texts, { base: baseSolo, 'adapter:storyteller': adapters.c.solo });
  });

  it('classifies with the base model and each ticked adapter; the one Predict uses is always in', async function () {
    await openAdapter(adapters.a); // "adapter 1" again, now the one Predict and Download use
    const rows = ['sentence\tlabel'];
    const good = ['a great film', 'I loved it', 'what a fun day', 'so happy and kind', 'a nice warm story', 'the best toy ever'];
    const bad = ['a sad mess', 'I hated it', 'what a bad day', 'so angry and mean', 'a dull cold story', 'the worst toy ever'];
    for (let i = 0; i < good.length; i++) rows.push(`${good[i]}\t1`, `${bad[i]}\t0`);
    await page.select('#task', 'classify');
    await setValue('#data-text', rows.join('\n'));
    await setValue('#template', '{text} It was');
    await setValue('#labels', ' bad, good');
    await setValue('#opt-seq', '16');
    await page.click('#use-data');
    await page.waitForFunction(() => !document.getElementById('cls-box')!.hidden);
    await waitIdle();
    await setValue('#cls-text', 'a happy and fun story');
    const predict = async () => {
      await page.$eval('#cls-result', (e) => e.replaceChildren());
      await page.click('#cls-run');
      await page.waitForSelector('#cls-verdict');
      await waitIdle();
      assert.equal(await errorShown(), '');
      return {
        table: await page.$$eval('#cls-result tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? ''))),
        verdict: await text('#cls-verdict'),
      };
    };
    const all = await predict();
    assert.deepEqual(all.table[0], ['class', 'label word', 'base model', 'with the adapter (adapter 1)', 'storyteller']);
    assert.equal(all.table.length, 3);
    assert.match(all.verdict, /^Predicted: [01] \(base\), [01] \(with the adapter\), [01] \(storyteller\)$/);
    await tick(['base', 'adapter:adapter 1']);
    const one = await predict();
    assert.deepEqual(one.table, all.table.map((r) => r.slice(0, 4)), 'the adapter alone scores as in the pass with the others');
    await tick([]); // unticked, the one Predict uses is still compared
    assert.deepEqual((await predict()).table, one.table);
    assert.deepEqual(pageErrors, [], 'uncaught page errors');
  });
});
