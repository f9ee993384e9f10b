// Models by Hugging Face reference in headless Chrome against the mock hub (test/mock_hub.ts, on
// another port: CORS as the hub sends it): a GGUF file and a sharded HF model repository are
// downloaded into IndexedDB with progress, checked against the hub's hashes; after the hub is
// stopped, a reload loads both from IndexedDB and generates the same text.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Browser } from 'puppeteer-core';
import { assetPath } from '../assets.ts';
import { hfDirContents, hfStories260K } from '../hf_fixture.ts';
import { MockHub } from '../mock_hub.ts';
import { launchBrowser, openPage, pageLog, serveTestPage, waitForResult, type ServedPage } from './harness.ts';
import type { HubPageResult } from './pages/hub_page.ts';

describe('browser: models by hub reference, cached in IndexedDB (headless Chrome)', function () {
  this.timeout(360_000);
  let browser: Browser | undefined;
  let served: ServedPage | undefined;
  let hub: MockHub;

  before(async function () {
    const { bin, tokenizerJson } = hfStories260K();
    hub = await new MockHub({
      'test/stories-GGUF': { files: { 'stories260K.gguf': new Uint8Array(fs.readFileSync(assetPath('models', 'stories260K.gguf'))) } },
      'test/stories-hf': { files: hfDirContents(bin, tokenizerJson, 'sharded') },
    }).start();
  });

  after(async function () {
    await browser?.close();
    await served?.close();
    await hub.stop().catch(() => {});
  });

  it('downloads with progress into IndexedDB; with the hub stopped, a reload loads from the cache', async function () {
    served = await serveTestPage({ entry: 'test/browser/pages/hub_page.ts', assets: false });
    browser = await launchBrowser();
    const refs = 'hf:test/stories-GGUF/stories260K.gguf,test/stories-hf';
    const url = `${served.url}?hub=${encodeURIComponent(hub.url)}&refs=${encodeURIComponent(refs)}`;
    const tp = await openPage(browser, url);
    const first = await waitForResult<HubPageResult>(tp);
    assert.equal(first.error, undefined, `${first.error}\n${pageLog(tp)}`);
    const [gguf, hf] = first.models!;
    assert.equal(gguf.vocab, 512);
    assert.equal(hf.vocab, 512);
    assert.ok(gguf.text.startsWith('Once upon a time') && gguf.text.length > 20, gguf.text);
    assert.deepEqual(gguf.progress.map((p) => [p.file, p.cached ?? false]), [['stories260K.gguf', false]]);
    assert.deepEqual(hf.progress.filter((p) => p.file.endsWith('.safetensors')).map((p) => p.cached ?? false), [false, false]);
    assert.ok(hub.seen.some((s) => s.path.startsWith('/cdn/') && s.status === 200), 'the LFS files came from the address the hub redirects to');

    await hub.stop();
    await tp.page.reload();
    const again = await waitForResult<HubPageResult>(tp);
    assert.equal(again.error, undefined, `${again.error}\n${pageLog(tp)}`);
    assert.deepEqual(again.models!.map((m) => m.text), first.models!.map((m) => m.text));
    assert.ok(again.models!.every((m) => m.progress.length > 0 && m.progress.every((p) => p.cached)), JSON.stringify(again.models!.map((m) => m.progress)));
  });
});

describe('browser: an interrupted hub download resumes from IndexedDB (headless Chrome)', function () {
  this.timeout(360_000);
  let browser: Browser | undefined;
  let served: ServedPage | undefined;
  let hub: MockHub;

  after(async function () {
    await browser?.close();
    await served?.close();
    await hub?.stop().catch(() => {});
  });

  it('an interrupted download keeps the bytes that arrived; the next load asks for the rest with a Range request', async function () {
    const gguf = new Uint8Array(fs.readFileSync(assetPath('models', 'stories260K.gguf')));
    hub = await new MockHub({ 'test/cut-GGUF': { files: { 'stories260K.gguf': gguf } } }).start();
    hub.stallAfter = { file: /stories260K\.gguf/, bytes: 600_000 }; // 600 kB, then silence: the page aborts
    served = await serveTestPage({ entry: 'test/browser/pages/hub_page.ts', assets: false });
    browser = await launchBrowser();
    const url = `${served.url}?hub=${encodeURIComponent(hub.url)}&refs=${encodeURIComponent('hf:test/cut-GGUF/stories260K.gguf')}`;
    const tp = await openPage(browser, `${url}&abortAt=600000`);
    const first = await waitForResult<HubPageResult>(tp);
    assert.match(first.error ?? '', /interrupted at byte 600000: .*try again to resume/);
    await tp.page.goto(url);
    const again = await waitForResult<HubPageResult>(tp);
    assert.equal(again.error, undefined, `${again.error}\n${pageLog(tp)}`);
    assert.equal(again.models![0].vocab, 512);
    const resumed = hub.seen.filter((s) => s.path.startsWith('/cdn/') && /^bytes=600000-/.test(s.range ?? ''));
    assert.equal(resumed.length, 1, JSON.stringify(hub.seen));
    assert.equal(resumed[0].status, 206);
  });
});

describe('browser: a page that is not a secure context (headless Chrome)', function () {
  this.timeout(360_000);
  let browser: Browser | undefined;
  let served: ServedPage | undefined;

  after(async function () {
    await browser?.close();
    await served?.close();
  });

  it('createGpu names the reason: WebGPU needs a secure context; auto runs WebAssembly and says why', async function () {
    served = await serveTestPage({ entry: 'test/browser/pages/hub_context_page.ts', assets: false });
    // a host name other than localhost is not a potentially trustworthy origin over http
    browser = await launchBrowser(['--host-resolver-rules=MAP insecure.test 127.0.0.1']);
    const tp = await openPage(browser, served.url.replace('127.0.0.1', 'insecure.test'));
    const r = await waitForResult<{ error?: string; secure: boolean; hasGpu: boolean; webgpuError: string; backend: string; describe: string }>(tp);
    assert.equal(r.error, undefined, `${r.error}\n${pageLog(tp)}`);
    assert.equal(r.secure, false);
    assert.match(r.webgpuError, /^WebGPU needs a secure context \(https or localhost\): http:\/\/insecure\.test:\d+ is neither/);
    assert.equal(r.backend, 'wasm');
    assert.match(r.describe, /not a secure context/);
  });
});

