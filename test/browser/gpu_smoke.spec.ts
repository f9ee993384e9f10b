// The browser path works: headless Chrome has navigator.gpu, an adapter (SwiftShader on a machine
// without a GPU) with its info and limits, and a compute shader built by our esbuild config
// (.wgsl text loader) writes the right numbers.
import assert from 'node:assert/strict';
import type { Browser } from 'puppeteer-core';
import { launchBrowser, openPage, pageLog, serveTestPage, waitForResult, type ServedPage, type TestPage } from './harness.ts';
import type { SmokeReport } from './pages/gpu_smoke_page.ts';

describe('browser: WebGPU smoke (headless Chrome)', function () {
  this.timeout(300_000);
  let browser: Browser | undefined;
  let served: ServedPage | undefined;
  let tp: TestPage;
  let report: SmokeReport;

  before(async function () {
    served = await serveTestPage({ entry: 'test/browser/pages/gpu_smoke_page.ts', assets: false });
    browser = await launchBrowser();
    tp = await openPage(browser, served.url);
    report = await waitForResult<SmokeReport>(tp, { timeoutMs: 120_000 });
    if (process.env.MOBIZO_DEBUG) console.log(JSON.stringify({ ...report, values: undefined }, null, 2));
  });

  after(async function () {
    await browser?.close();
    await served?.close();
  });

  it('runs in a secure context with navigator.gpu', function () {
    assert.equal(report.error, undefined, `page failed: ${report.error}\n${pageLog(tp)}`);
    assert.equal(report.secureContext, true, 'the page must be served from http://127.0.0.1');
    assert.equal(report.hasGpu, true, `navigator.gpu is missing (${report.userAgent})`);
  });

  it('gets an adapter with info and its storage-buffer limit', function () {
    const a = report.adapter;
    assert.ok(a, 'no adapter info');
    assert.ok(a.vendor || a.architecture || a.description, `empty adapter info: ${JSON.stringify(a)}`);
    const limit = report.limits!.maxStorageBufferBindingSize;
    assert.ok(limit >= 128 * 1024 * 1024, `maxStorageBufferBindingSize ${limit} < 128 MiB`);
    console.log(
      `      adapter: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')}; ` +
        `maxStorageBufferBindingSize ${(limit / 2 ** 20).toFixed(0)} MiB; features: ${report.features!.join(', ')}`,
    );
  });

  it('runs a compute shader and reads back out[i] = 2 i', function () {
    const { values, n, poison } = report;
    assert.ok(values && n !== undefined, `no values read back\n${pageLog(tp)}`);
    const expected = Array.from({ length: n }, (_, i) => 2 * i);
    assert.deepEqual(values.slice(0, n), expected);
    assert.ok(values.slice(n).every((v) => v === poison), 'the shader wrote past n');
    assert.deepEqual(tp.errors, [], `page errors:\n${tp.errors.join('\n')}`);
  });
});
