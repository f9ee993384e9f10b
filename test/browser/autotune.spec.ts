// The browser keeps the autotune table across page loads in IndexedDB, keyed by the adapter: a page
// that tunes a matmul shape stores its winner, and a later page load (a new device) finds it
// without timing the variants again.
import assert from 'node:assert/strict';
import type { Browser } from 'puppeteer-core';
import { launchBrowser, openPage, pageLog, serveTestPage, waitForResult, type ServedPage } from './harness.ts';
import type { AutotuneReport } from './pages/autotune_page.ts';

describe('browser: autotune cache in IndexedDB (headless Chrome)', function () {
  this.timeout(300_000);
  let browser: Browser | undefined;
  let served: ServedPage | undefined;

  before(async function () {
    served = await serveTestPage({ entry: 'test/browser/pages/autotune_page.ts', assets: false });
    browser = await launchBrowser();
  });

  after(async function () {
    await browser?.close();
    await served?.close();
  });

  const load = async (phase: string): Promise<AutotuneReport> => {
    const tp = await openPage(browser!, `${served!.url}?phase=${phase}`);
    try {
      const r = await waitForResult<AutotuneReport>(tp, { timeoutMs: 120_000 });
      assert.equal(r.error, undefined, `page failed: ${r.error}\n${pageLog(tp)}`);
      assert.deepEqual(tp.errors, [], `page errors:\n${tp.errors.join('\n')}`);
      return r;
    } finally {
      await tp.close();
    }
  };

  it('a tuned shape is stored and found by a later page load without retiming', async () => {
    const empty = await load('read'); // a fresh profile: nothing cached
    assert.equal(empty.entry, null, `unexpected cached entry ${JSON.stringify(empty.entry)}`);
    const t = await load('tune');
    assert.ok(t.variants.length >= 2, `one variant only: ${t.variants}`);
    assert.deepEqual(t.launched.sort(), [...t.variants].sort(), 'every applicable variant is timed once');
    assert.ok(t.entry && t.variants.includes(t.entry.kernel));
    assert.deepEqual(t.dbNames, ['mobizo-autotune']);
    const again = await load('tune'); // cached: autotune times nothing
    assert.deepEqual(again.launched, []);
    assert.deepEqual(again.entry, t.entry);
    const r = await load('read');
    assert.deepEqual(r.entry, t.entry);
  });
});
