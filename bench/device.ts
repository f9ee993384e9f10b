// Helpers of bench/device.sh (the GPU-machine run), under bin/with-gpu.js + tsx:
//   probe OUT.json    does Dawn see a GPU (not a CPU driver)? else, does headless Chrome?
//                     exit 0: Dawn has a GPU; 3: only Chrome has one; 2: no GPU at all
//   summary FILE...   the numbers of the issue from bench JSON files (prge / mezo per q, ZO
//                     overhead, matmul GFLOP/s per variant, tokens/s)
import fs from 'node:fs';
import http from 'node:http';
import { createGpu, dawnGpu } from '../src/gpu/device';
import { isCpuAdapter } from '../src/gpu/autotune';
import { launchBrowser, openPage, waitForResult } from '../test/browser/harness.ts';
import { deviceInfo } from './report';
import type { BenchReport } from './report';

interface Probe {
  route: 'node' | 'chrome' | null;
  dawn: { adapter?: ReturnType<typeof deviceInfo>; cpu?: boolean; error?: string };
  chrome?: { adapter?: string; features?: string[]; flags?: string; error?: string };
}

/** The adapter headless Chrome reports on a localhost page (a secure context), or why none. */
async function chromeAdapter(): Promise<NonNullable<Probe['chrome']>> {
  const page = `<!doctype html><script>
    (async () => {
      try {
        const a = navigator.gpu && (await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }));
        window.__result = a ? { adapter: [a.info.vendor, a.info.architecture, a.info.device, a.info.description].filter(Boolean).join(' / '), features: [...a.features] }
                            : { error: navigator.gpu ? 'requestAdapter() gave null' : 'no navigator.gpu' };
      } catch (e) { window.__result = { error: String(e) }; }
    })();</script>`;
  const server = http.createServer((_, res) => res.end(page));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  // findBrowser (test/browser/harness.ts) adds MOBIZO_CHROME_ARGS to its WebGPU flags. Chrome's
  // Vulkan flags crash it where no Vulkan driver exists: then once more with the plain flags.
  const base = process.env.MOBIZO_CHROME_ARGS ?? '';
  const tries = process.env.DEVICE_CHROME_FLAGS !== undefined ? [process.env.DEVICE_CHROME_FLAGS] : ['--ignore-gpu-blocklist --enable-features=Vulkan --use-angle=vulkan', '--ignore-gpu-blocklist'];
  const errors: string[] = [];
  try {
    for (const flags of tries) {
      process.env.MOBIZO_CHROME_ARGS = `${base} ${flags}`.trim();
      try {
        const browser = await launchBrowser();
        try {
          const tp = await openPage(browser, `http://127.0.0.1:${port}/`);
          return { ...(await waitForResult<NonNullable<Probe['chrome']>>(tp, { timeoutMs: 60_000 })), flags };
        } finally {
          await browser.close();
        }
      } catch (e) {
        errors.push(`with ${flags}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    return { error: errors.join('; ') };
  } finally {
    server.close();
  }
}

async function probe(out: string): Promise<number> {
  const r: Probe = { route: null, dawn: {} };
  try {
    const gpu = await createGpu({ gpu: await dawnGpu() });
    r.dawn = { adapter: deviceInfo(gpu), cpu: isCpuAdapter(gpu) };
    console.log(`Dawn (Node): ${gpu.adapterInfo}; features ${[...gpu.features].join(', ') || 'none'}${r.dawn.cpu ? '  <- a CPU driver, not a GPU' : ''}`);
    if (!r.dawn.cpu || process.env.DEVICE_ALLOW_CPU === '1') r.route = 'node'; // DEVICE_ALLOW_CPU: rehearse on a CPU machine
    gpu.device.destroy();
  } catch (e) {
    r.dawn = { error: (e as Error).message };
    console.log(`Dawn (Node): no adapter: ${r.dawn.error}`);
  }
  if (!r.route && process.env.DEVICE_NO_CHROME === '1') {
    r.chrome = { error: 'not tried (DEVICE_NO_CHROME=1)' };
    console.log('headless Chrome: not tried (DEVICE_NO_CHROME=1)');
  } else if (!r.route) {
    r.chrome = await chromeAdapter();
    const cpu = !r.chrome.adapter || /swiftshader|llvmpipe|lavapipe/i.test(r.chrome.adapter);
    console.log(`headless Chrome (--enable-unsafe-webgpu ${r.chrome.flags ?? ''}): ${r.chrome.adapter ?? `no adapter: ${r.chrome.error}`}${r.chrome.adapter && cpu ? '  <- a CPU driver, not a GPU' : ''}`);
    if (!cpu) r.route = 'chrome';
  }
  fs.writeFileSync(out, JSON.stringify(r, null, 1));
  return r.route === 'node' ? 0 : r.route === 'chrome' ? 3 : 2;
}

function summary(files: string[]): void {
  for (const f of files) {
    const r = JSON.parse(fs.readFileSync(f, 'utf8')) as BenchReport;
    console.log(`${f}: ${r.runtime}, ${r.adapter.info}`);
    for (const p of r.presets) {
      if (p.skipped) {
        console.log(`  ${p.preset}: skipped: ${p.skipped}`);
        continue;
      }
      for (const [s, e] of Object.entries(p.errors ?? {})) console.log(`  ${p.preset} ${s}: FAILED: ${e}`);
      for (const row of p.matmul?.rows ?? []) {
        const vs = Object.entries(row.variants ?? {}).map(([k, v]) => `${k} ${v.kernelGflops?.toPrecision(3) ?? '-'}${v.maxAbsDiff > 1e-2 ? ' (WRONG)' : ''}`);
        console.log(`  ${p.preset} matmul ${row.names.join('/')} [${row.M}x${row.K}]x[${row.N}x${row.K}]^T GFLOP/s (kernel alone): ${vs.join(', ')}; chosen ${row.chosen}`);
      }
      if (p.forward) console.log(`  ${p.preset} forward B ${p.forward.B} T ${p.forward.T}: ${p.forward.ours.tokensPerSec?.toFixed(0)} tokens/s`);
      if (p.decode) console.log(`  ${p.preset} decode (batch 1, KV cache): ${p.decode.tokensPerSec.toFixed(1)} tokens/s${p.decode.agrees ? '' : ' (DISAGREES with the uncached pass)'}`);
      for (const z of p.zo?.rows ?? []) {
        if (z.skipped) console.log(`  ${p.preset} zo q=${z.q}: skipped: ${z.skipped}`);
        else console.log(`  ${p.preset} zo q=${z.q}: prge x${z.speedup?.prge?.toFixed(2)} mezo, outer x${z.speedup?.outer?.toFixed(2)} mezo, overhead ${z.overhead?.toFixed(2)} (prge ${z.modes?.prge?.ms?.toFixed(1)} ms)`);
      }
    }
  }
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'probe' && args[0]) process.exit(await probe(args[0]));
else if (cmd === 'summary' && args.length) summary(args);
else {
  console.error('usage: device.ts probe OUT.json | summary BENCH.json...');
  process.exit(64);
}
