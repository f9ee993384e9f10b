// End to end in headless Chrome: the public API (createGpu, loadModel, Tokenizer, generateText)
// bundled for the browser generates llama2.c's known greedy text from stories260K.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { knownOutput } from '../assets.ts';
import { assetsDir, launchBrowser, openPage, pageLog, serveTestPage, waitForResult, type ServedPage, type TestPage } from './harness.ts';
import type { GenerateResult } from './pages/generate_page.ts';

describe('browser: generate stories260K (headless Chrome)', function () {
  this.timeout(360_000);
  let browser: Browser | undefined;
  let served: ServedPage | undefined;

  before(function () {
    const model = path.join(assetsDir, 'models', 'stories260K.bin');
    if (!fs.existsSync(model)) throw new Error(`missing test asset ${model} (set MOBIZO_ASSETS to the shared assets folder)`);
  });

  after(async function () {
    await browser?.close();
    await served?.close();
  });

  it('generates llama2.c\'s greedy 200-token output', async function () {
    const expected = knownOutput();
    served = await serveTestPage({ entry: 'test/browser/pages/generate_page.ts' });
    browser = await launchBrowser();
    const tp: TestPage = await openPage(browser, served.url);
    const r = await waitForResult<GenerateResult>(tp, { timeoutMs: 240_000 });
    assert.equal(r.error, undefined, `page failed: ${r.error}\n${pageLog(tp)}`);
    console.log(`      ${r.adapter}: ${r.tokensPerSecond?.toFixed(1)} tokens/s`);
    assert.equal(r.text, expected);
    assert.ok(Number.isFinite(r.tokensPerSecond) && r.tokensPerSecond! > 0, `tokensPerSecond ${r.tokensPerSecond}`);
  });
});
