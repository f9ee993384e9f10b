// The app opens a Hugging Face model in headless Chrome: stories260K exported as an HF folder
// (./hf_fixture.ts, the directories test/hf.spec.ts reads through the CLI) and picked with the
// folder input (webkitdirectory), or as the files of a sharded export selected together. Its greedy
// text (tokenizer from tokenizer.json) must be the .bin's, which is llama2.c's known output; it
// trains, generates base vs adapter side by side, and comes back from IndexedDB after a reload.
// A folder without config.json, or with a shard missing, shows the CLI's one-line message naming
// the folder in the page's error box, and the loaded model stays.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ElementHandle, Page } from 'puppeteer-core';
import { knownOutput } from '../assets.ts';
import { hfDirContents, SHARDS, hfStories260K, writeDir } from '../hf_fixture.ts';
import { appPage, assetsDir, serveApp, type ServedApp } from './harness.ts';

const OPTIONS: Record<string, string> = { steps: '4', batch: '1', seq: '16', q: '2', evalEvery: '2', checkpointEvery: '2', evalSize: '4' };

describe('browser: the app opens a Hugging Face model folder (headless Chrome)', function () {
  this.timeout(600_000);
  let app: ServedApp | undefined;
  let tmp: string; // the HF folders
  const folders = { hf: '', sharded: '', noConfig: '', missingShard: '' };
  let page: Page;
  const { text, setValue, waitIdle, errorShown, answerConfirm } = appPage(() => page);
  let origin: string;
  const pageErrors: string[] = [];
  let binText = '';

  /** Picks files in an input (none: clears it) and waits until the page sees them (for the model inputs: and cleared the other one). */
  async function upload(sel: string, ...files: string[]): Promise<void> {
    await ((await page.$(sel)) as ElementHandle<HTMLInputElement>).uploadFile(...files);
    const other = { '#model-dir': '#model-file', '#model-file': '#model-dir' }[sel];
    await page.waitForFunction(
      (s: string, o: string | undefined, some: boolean) =>
        (document.querySelector(s) as HTMLInputElement).files!.length > 0 === some && (!o || !some || (document.querySelector(o) as HTMLInputElement).files!.length === 0),
      { timeout: 30_000, polling: 50 },
      sel,
      other,
      files.length > 0,
    );
  }

  async function open(): Promise<void> {
    await page.goto(origin + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.ready === 'true', { timeout: 120_000, polling: 100 });
  }

  /** Presses "Load model" (answering "close the run?" when a run is open) and waits until the page is idle again. */
  async function load(): Promise<void> {
    await waitIdle();
    const run = await page.evaluate(() => (window as unknown as { mobizo: { state: { status: string } } }).mobizo.state.status !== 'none');
    await page.click('#load-model');
    if (run) await answerConfirm(true);
    await waitIdle();
  }

  /** Greedy generation in "Try it" (200 positions from BOS, as llama2.c's known output: BOS and 199 new tokens): both panes. */
  async function generate(positions = 200): Promise<{ base: string; adapter: string; footAdapter: string }> {
    await waitIdle(); // e.g. the result's before / after sample after a run
    await setValue('#try-prompt', '');
    await setValue('#try-steps', String(positions - 1));
    await setValue('#try-temp', '0');
    await page.evaluate(() => {
      for (const id of ['out-base', 'out-adapter']) delete document.getElementById(id)!.dataset.done;
    });
    await page.click('#try-generate');
    await page.waitForFunction(() => document.getElementById('out-base')!.dataset.done === 'true' && document.body.dataset.busy === 'false', { polling: 100 });
    const out = (id: string) => page.$eval(id, (e) => e.textContent ?? '');
    return { base: await out('#out-base'), adapter: await out('#out-adapter'), footAdapter: await text('#foot-adapter') };
  }

  before(async function () {
    const { bin, tokenizerJson } = hfStories260K();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-app-hf-'));
    folders.hf = writeDir(path.join(tmp, 'stories260K-hf'), hfDirContents(bin, tokenizerJson, 'F32'));
    const sharded = hfDirContents(bin, tokenizerJson, 'sharded');
    folders.sharded = writeDir(path.join(tmp, 'stories260K-sharded'), sharded);
    const noConfig = hfDirContents(bin, tokenizerJson, 'F32');
    delete noConfig['config.json'];
    folders.noConfig = writeDir(path.join(tmp, 'no-config'), noConfig);
    const oneShard = { ...sharded };
    delete oneShard[SHARDS[1]];
    folders.missingShard = writeDir(path.join(tmp, 'missing-shard'), oneShard);
    // files in a subfolder are not the folder's (only the files directly in it are read)
    writeDir(path.join(folders.missingShard, 'extra'), { [SHARDS[1]]: sharded[SHARDS[1]] });

    app = await serveApp({}, pageErrors);
    ({ page, origin } = app);
    await open();
  });

  after(async function () {
    await app?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the .bin with its tokenizer gives llama2.c\'s greedy text (the reference)', async function () {
    await upload('#model-file', path.join(assetsDir, 'models', 'stories260K.bin'));
    await upload('#tok-file', path.join(assetsDir, 'models', 'tok512.bin'));
    await load();
    assert.equal(await errorShown(), '');
    binText = (await generate()).base;
    assert.equal(binText, knownOutput());
  });

  it('a Hugging Face folder (webkitdirectory) loads with its tokenizer.json and gives the same greedy text', async function () {
    await upload('#tok-file'); // no tokenizer file: it comes from tokenizer.json
    await upload('#model-dir', folders.hf);
    assert.equal(await page.$eval('#model-file', (e) => (e as HTMLInputElement).files!.length), 0, 'picking a folder clears the checkpoint file');
    assert.equal(await page.$eval('#model-dir', (e) => (e as HTMLInputElement).files!.length), 3);
    await load();
    assert.equal(await errorShown(), '');
    const facts = await text('#model-info');
    assert.match(facts, /MODEL\s+stories260K-hf/i, facts);
    assert.match(facts, /LAYERS\s+5/i, facts);
    assert.match(facts, /VOCABULARY\s+512/i, facts);
    assert.match(facts, /GPU MEMORY\s+(1\.0\d MiB|10\d\d KiB)/i, facts);
    assert.equal((await generate()).base, binText);
  });

  it('a folder without config.json, or with a shard missing: the CLI\'s message naming the folder; the model stays', async function () {
    // the first line in plain words; the CLI's message under "Details"
    const detail = () => page.$eval('#error-detail', (e) => e.textContent ?? '');
    await upload('#model-dir', folders.noConfig);
    await load();
    assert.match(await errorShown(), /^the folder no-config: the Hugging Face model folder is incomplete\.\nDetails$/);
    assert.match(await detail(), /^no-config: no config\.json \(a Hugging Face model directory holds config\.json, model\.safetensors \(or model\.safetensors\.index\.json and its shards\) and tokenizer\.json\)/);
    await upload('#model-dir', folders.missingShard);
    await load();
    assert.match(await errorShown(), /^the folder missing-shard: the Hugging Face model folder is incomplete\./);
    assert.match(await detail(), /^missing-shard: 1 of the 2 shards in model\.safetensors\.index\.json is missing: model-00002-of-00002\.safetensors/);
    // weights picked without their config.json, as files
    await upload('#model-file', path.join(folders.noConfig, 'model.safetensors'), path.join(folders.noConfig, 'tokenizer.json'));
    await load();
    assert.match(await errorShown(), /^2 files: the Hugging Face model folder is incomplete\./);
    assert.match(await detail(), /^the selected files: no config\.json \(a Hugging Face model directory holds/);
    assert.match(await text('#model-info'), /MODEL\s+stories260K-hf/i, 'the loaded model is kept');
  });

  it('trains on the folder\'s model, generates base vs adapter side by side, and restores it after a reload', async function () {
    await upload('#model-dir', folders.hf);
    await load();
    assert.equal(await errorShown(), '');
    const stories = fs.readFileSync(path.join(assetsDir, 'data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 4000);
    await setValue('#data-text', stories);
    for (const [k, v] of Object.entries(OPTIONS)) await setValue(`#opt-${k}`, v);
    await page.click('#use-data');
    await page.waitForFunction(() => document.querySelectorAll('#preview .ex').length === 6);
    await page.click('#start');
    await page.waitForFunction(() => {
      const s = (window as unknown as { mobizo: { state: { status: string; step: number; training: boolean } } }).mobizo.state;
      return s.status === 'done' && s.step === 4 && !s.training;
    }, { polling: 100 });
    assert.equal(await errorShown(), '');
    const side = await generate();
    assert.equal(side.base, binText, 'the base model is untouched by training');
    assert.ok(side.adapter.length > 40, side.adapter);
    assert.match(side.footAdapter, /tokens\/s/);

    await open(); // the session (and the folder's files) come back from IndexedDB
    assert.match(await text('#restore-box'), /Restored your last fine-tuning session from this browser: stories260K-hf, finished at step 4/);
    const facts = await text('#model-info');
    assert.match(facts, /saved in this browser/i, facts);
    assert.match(facts, /MODEL\s+stories260K-hf/i, facts);
    const again = await generate();
    assert.equal(again.base, binText);
    assert.equal(again.adapter, side.adapter, 'the restored adapter generates the same text');
  });

  it('the files of a sharded export selected together load as one model with the same greedy text', async function () {
    const names = fs.readdirSync(folders.sharded);
    assert.equal(names.length, 5);
    await upload('#model-file', ...names.map((n) => path.join(folders.sharded, n)));
    assert.equal(await page.$eval('#model-dir', (e) => (e as HTMLInputElement).files!.length), 0, 'picking files clears the folder');
    await load();
    assert.equal(await errorShown(), '');
    assert.match(await text('#model-info'), /MODEL\s+the selected files/i);
    assert.equal((await generate()).base, binText);
    assert.deepEqual(pageErrors, [], 'uncaught page errors');
  });
});
