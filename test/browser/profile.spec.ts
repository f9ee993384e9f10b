// The kernel profiling page (profile.html + bench/profile_page.ts) in headless Chrome: one prge
// step of stories260K profiled with GPU timestamps, one table row per kernel of the step with a
// non-zero time, the three charts, the JSON on window.__profile; a screenshot goes to a temp dir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { FUSE_LORA_DEFAULT } from '../../src/gpu/kernels/matmul_lora.ts';
import type { StepProfileReport } from '../../bench/profile_step.ts';
import { profilePageHtml, serveBench, type ServedBench } from '../../bench/serve_pages.ts';
import { assetsDir, launchBrowser, openPage, pageLog, waitForResult, type TestPage } from './harness.ts';

describe('browser: kernel profile page (headless Chrome)', function () {
  this.timeout(300_000);
  let browser: Browser | undefined;
  let served: ServedBench | undefined;
  let tp: TestPage;
  let report: StepProfileReport & { error?: string };

  before(async function () {
    const model = path.join(assetsDir, 'models', 'stories260K.bin');
    if (!fs.existsSync(model)) throw new Error(`missing test asset ${model} (set MOBIZO_ASSETS to the shared assets folder)`);
    served = await serveBench({ profile: 'bench/profile_page.ts' }, { 'profile.html': profilePageHtml() });
    browser = await launchBrowser();
    tp = await openPage(browser, `${served.url}profile.html?q=2&batch=1&seq=16&rank=8&repeats=1&backend=webgpu`);
    report = await waitForResult(tp, { name: '__profile', timeoutMs: 240_000 });
    assert.equal(report.error, undefined, `page failed: ${report.error}\n${pageLog(tp)}`);
  });

  after(async function () {
    await browser?.close();
    await served?.close();
  });

  it('times every dispatch of the step with GPU timestamps', function () {
    const p = report.profile;
    assert.equal(p.method, 'timestamp', 'SwiftShader in Chrome offers timestamp-query');
    assert.equal(report.step.sequences, 4);
    assert.ok(p.dispatches.length > 50, `${p.dispatches.length} dispatches`);
    for (const d of p.dispatches) assert.ok(d.ns > 0, `${d.label}: ${d.ns} ns`);
  });

  it('renders one table row per kernel of the step, each with a non-zero time', async function () {
    const kernels = [...new Set(report.profile.dispatches.map((d) => d.kernel))].sort();
    // the MP-LoRA term: fused into the target's matmul by default in the browser (no env there)
    const lora = FUSE_LORA_DEFAULT ? 'matmul_lora_vec4' : 'mplora';
    for (const k of ['matmul_vec4', lora, 'attention', 'xent', 'zo_update']) assert.ok(kernels.includes(k), `${k} not in ${kernels}`);
    const rows = await tp.page.$$eval('#kernels tbody tr', (trs) =>
      trs.map((tr) => ({ kernel: tr.getAttribute('data-kernel'), ms: Number(tr.children[3].textContent) })),
    );
    assert.deepEqual(rows.map((r) => r.kernel).sort(), kernels);
    for (const r of rows) assert.ok(r.ms > 0, `${r.kernel}: ${r.ms} ms`);
    assert.equal(await tp.page.$$eval('.charts svg', (s) => s.length), 3, 'time share, GFLOP/s and GB/s charts');
    assert.ok(await tp.page.$eval('#export', (b) => !(b as HTMLButtonElement).hidden), 'JSON export button shown');
    assert.deepEqual(tp.errors, [], `page errors:\n${tp.errors.join('\n')}`);
  });

  it('saves a screenshot', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-profile-'));
    const file = path.join(dir, 'profile.png');
    await tp.page.setViewport({ width: 1280, height: 900 });
    await tp.page.screenshot({ path: file, fullPage: true });
    assert.ok(fs.statSync(file).size > 10_000);
    console.log(`      screenshot: ${file}`);
  });
});
