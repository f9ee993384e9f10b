// The WASM backend in headless Chrome, from the bundled library: threads through Web Workers and
// SharedArrayBuffer in a cross-origin-isolated page (the main thread spins instead of blocking),
// llama2.c's known greedy text on every core and on one thread, the same prge slot losses bit for bit.
import assert from 'node:assert/strict';
import type { Browser } from 'puppeteer-core';
import { knownOutput } from '../assets.ts';
import { launchBrowser, openPage, pageLog, serveTestPage, waitForResult, type ServedPage } from './harness.ts';
import type { WasmPageResult } from './pages/wasm_page.ts';

describe('browser: the WASM backend (headless Chrome)', function () {
  this.timeout(360_000);
  let browser: Browser | undefined;
  let served: ServedPage | undefined;

  after(async function () {
    await browser?.close();
    await served?.close();
  });

  it('threads in a cross-origin-isolated page; known greedy text and the same step on n threads and on one', async function () {
    served = await serveTestPage({ entry: 'test/browser/pages/wasm_page.ts' });
    browser = await launchBrowser();
    const tp = await openPage(browser, served.url);
    const r = await waitForResult<WasmPageResult>(tp, { timeoutMs: 300_000 });
    assert.equal(r.error, undefined, `page failed: ${r.error}\n${pageLog(tp)}`);
    console.log(`      ${r.describe!.join(' | ')}; ${r.tokensPerSecond!.map((t) => t.toFixed(0)).join(' / ')} tokens/s`);
    assert.equal(r.isolated, true, 'the test server sends COOP / COEP');
    assert.ok(r.threads![0] >= 2, `threads ${r.threads}`);
    assert.equal(r.threads![1], 1);
    const expected = knownOutput();
    assert.equal(r.texts![0], expected);
    assert.equal(r.texts![1], expected);
    assert.deepEqual(r.losses![0], r.losses![1], 'the slot losses differ between thread counts');
    assert.ok(r.losses![0].every(Number.isFinite));
  });
});
