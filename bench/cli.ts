// The bench driver (run through bench/run.mjs: `npm run bench`, `npm run profile`).
//
//   npm run bench -- [--node] [--quick] [--preset stories260K,stories15M,...] [--scenario matmul,forward,zo]
//                    [--q 1,2,4,8,16] [--batch N] [--seq T] [--reps N] [--min-ms MS] [--rank R]
//                    [--max-weight-mib N] [--out DIR]
//     headless Chrome (WebGPU, SwiftShader without a GPU) by default, Node + Dawn with --node;
//     prints tables, writes <out>/<timestamp>-<adapter>.json and .html (out: bench/results).
//   npm run profile -- [--json] [--node] [--serve] [--out FILE] [--screenshot FILE]
//                      [--preset P] [--q 4] [--batch 2] [--seq 32] [--rank 16] [--repeats 3]
//     one prge step with a GPU timestamp around every dispatch (profile.html); --json prints the
//     report as JSON (`npm run -s` keeps npm's banner off stdout), --serve keeps the page served
//     for a browser of your own.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser } from 'puppeteer-core';
import { repoRoot } from '../scripts/build.mjs';
import { parseLlama2c } from '../src/formats/llama2c';
import { parseTargets } from '../src/adapter/peft';
import { assetsDir, launchBrowser, openPage, pageLog, waitForResult, type TestPage } from '../test/browser/harness.ts';
import { dawnGpu } from '../src/gpu/device';
import { nodeBenchEnv, nodeGpu } from './node_env';
import { isPreset, PRESET_NAMES, PRESETS, randomPreset, type PresetName } from './presets';
import { PROFILE_CSS, renderProfile } from './profile_view';
import { PROFILE_DEFAULTS, profileStep, type StepProfileOptions, type StepProfileReport } from './profile_step';
import { adapterSlug, deviceInfo, htmlReport, SCHEMA, textReport, type BenchReport, type DeviceInfo } from './report';
import { benchDefaults, runBench, SCENARIOS, type BenchOptions, type PresetResult, type ScenarioName } from './scenarios';
import { benchPageHtml, profilePageHtml, serveBench } from './serve_pages';

const HOUR = 3_600_000;

function ints(flag: string, s: string): number[] {
  const v = s.split(',').map(Number);
  if (!v.length || v.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--${flag} ${s}: positive integers, comma-separated`);
  return v;
}

function int(flag: string, s: string | undefined, min = 1): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} ${s}: an integer >= ${min}`);
  return n;
}

function presetList(s: string): PresetName[] {
  const names = s.split(',');
  for (const n of names) if (!isPreset(n)) throw new Error(`--preset ${n}: one of ${PRESET_NAMES.join(', ')}`);
  return names as PresetName[];
}

/** Prints the page's "[bench]" console lines as they come; the returned function stops (and flushes). */
function followConsole(tp: TestPage, prefix: string): () => void {
  let seen = 0;
  const flush = () => {
    for (; seen < tp.console.length; seen++) {
      const m = /^\[log\] \[bench\] (.*)$/s.exec(tp.console[seen]);
      if (m) process.stderr.write(`${prefix}${m[1]}\n`);
    }
  };
  const timer = setInterval(flush, 250);
  return () => {
    clearInterval(timer);
    flush();
  };
}

async function benchInChrome(o: BenchOptions): Promise<{ userAgent: string; adapter: DeviceInfo; presets: PresetResult[] }> {
  const served = await serveBench({ bench_page: 'bench/pages/bench_page.ts' }, { 'index.html': benchPageHtml() });
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    const tp = await openPage(browser, `${served.url}?opts=${encodeURIComponent(JSON.stringify(o))}`);
    const stop = followConsole(tp, '  ');
    try {
      const r = await waitForResult<{ error?: string; userAgent: string; adapter: DeviceInfo; presets: PresetResult[] }>(tp, { name: '__bench', timeoutMs: 4 * HOUR });
      if (r.error) throw new Error(`bench page failed: ${r.error}\n${pageLog(tp)}`);
      return r;
    } finally {
      stop();
    }
  } finally {
    await browser?.close();
    await served.close();
  }
}

async function benchInNode(o: BenchOptions): Promise<{ adapter: DeviceInfo; presets: PresetResult[] }> {
  const env = await nodeBenchEnv((line) => process.stderr.write(`  ${line}\n`));
  const probe = await nodeGpu();
  const adapter = deviceInfo(probe);
  probe.device.destroy();
  env.log(`adapter: ${adapter.info}`);
  return { adapter, presets: await runBench(env, o) };
}

async function bench(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      node: { type: 'boolean' },
      quick: { type: 'boolean' },
      preset: { type: 'string' },
      scenario: { type: 'string' },
      q: { type: 'string' },
      batch: { type: 'string' },
      seq: { type: 'string' },
      reps: { type: 'string' },
      'min-ms': { type: 'string' },
      rank: { type: 'string' },
      targets: { type: 'string' },
      'max-weight-mib': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    const lines = fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n');
    console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n'));
    return;
  }
  const o = benchDefaults(!!v.quick);
  if (v.preset) o.presets = presetList(v.preset);
  if (v.scenario) {
    const s = v.scenario.split(',');
    for (const x of s) if (!(SCENARIOS as string[]).includes(x)) throw new Error(`--scenario ${x}: one of ${SCENARIOS.join(', ')}`);
    o.scenarios = s as ScenarioName[];
  }
  if (v.q) o.qs = ints('q', v.q);
  o.batch = int('batch', v.batch) ?? o.batch;
  o.seq = int('seq', v.seq, 2) ?? o.seq;
  o.reps = int('reps', v.reps) ?? o.reps;
  o.minMs = int('min-ms', v['min-ms'], 0) ?? o.minMs;
  o.rank = int('rank', v.rank) ?? o.rank;
  if (v.targets) o.targets = parseTargets(v.targets);
  o.maxWeightMiB = int('max-weight-mib', v['max-weight-mib']) ?? o.maxWeightMiB;
  const outDir = path.resolve(v.out ?? path.join(repoRoot, 'bench', 'results'));

  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const runtime = v.node ? 'node' : 'chrome';
  process.stderr.write(`mobizo bench: ${runtime}${o.quick ? ' --quick' : ''}; presets ${o.presets.join(', ')}; scenarios ${o.scenarios.join(', ')}\n`);
  const r = v.node ? await benchInNode(o) : await benchInChrome(o);
  const report: BenchReport = {
    schema: SCHEMA,
    startedAt,
    wallMs: performance.now() - t0,
    runtime,
    userAgent: 'userAgent' in r ? (r.userAgent as string) : undefined,
    adapter: r.adapter,
    options: o,
    presets: r.presets,
  };
  console.log(textReport(report));
  fs.mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, `${startedAt.replace(/[:.]/g, '-')}-${runtime}-${adapterSlug(report.adapter.info)}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(report, null, 1));
  fs.writeFileSync(`${base}.html`, htmlReport(report));
  console.log(`\nwrote ${path.relative(process.cwd(), base)}.json and .html`);
  if (report.presets.some((p) => Object.keys(p.errors).length)) process.exitCode = 1;
}

async function profile(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean' },
      node: { type: 'boolean' },
      serve: { type: 'boolean' },
      out: { type: 'string' },
      screenshot: { type: 'string' },
      preset: { type: 'string' },
      q: { type: 'string' },
      batch: { type: 'string' },
      seq: { type: 'string' },
      rank: { type: 'string' },
      targets: { type: 'string' },
      repeats: { type: 'string' },
      port: { type: 'string' },
    },
  });
  const o: StepProfileOptions = { ...PROFILE_DEFAULTS };
  if (v.preset) o.preset = presetList(v.preset)[0];
  o.q = int('q', v.q) ?? o.q;
  o.batch = int('batch', v.batch) ?? o.batch;
  o.seq = int('seq', v.seq, 2) ?? o.seq;
  o.rank = int('rank', v.rank) ?? o.rank;
  o.repeats = int('repeats', v.repeats) ?? o.repeats;
  if (v.targets) o.targets = parseTargets(v.targets);
  const query = new URLSearchParams({ preset: o.preset, q: String(o.q), batch: String(o.batch), seq: String(o.seq), rank: String(o.rank), targets: o.targets.join(','), repeats: String(o.repeats) });

  let report: StepProfileReport;
  if (v.node) {
    const p = PRESETS[o.preset];
    const file = p.checkpoint ? parseLlama2c(new Uint8Array(fs.readFileSync(path.join(assetsDir, p.checkpoint))), p.checkpoint) : randomPreset(o.preset, o.seed + 1234);
    await dawnGpu();
    const gpu = await nodeGpu();
    try {
      report = await profileStep(gpu, file, p.checkpoint ? 'checkpoint' : 'random', o, 'node');
    } finally {
      gpu.device.destroy();
    }
  } else {
    const served = await serveBench({ profile: 'bench/profile_page.ts' }, { 'profile.html': profilePageHtml() });
    const url = `${served.url}profile.html?${query}`;
    if (v.serve) {
      console.log(`profile page: ${url}  (Ctrl-C to stop)`);
      await new Promise(() => {});
    }
    let browser: Browser | undefined;
    try {
      browser = await launchBrowser();
      const tp = await openPage(browser, url);
      const r = await waitForResult<StepProfileReport & { error?: string }>(tp, { name: '__profile', timeoutMs: HOUR });
      if (r.error) throw new Error(`profile page failed: ${r.error}\n${pageLog(tp)}`);
      if (v.screenshot) {
        await tp.page.setViewport({ width: 1280, height: 900 });
        await tp.page.screenshot({ path: path.resolve(v.screenshot), fullPage: true });
      }
      report = r;
    } finally {
      await browser?.close();
      await served.close();
    }
  }
  const json = JSON.stringify(report, null, 1);
  if (v.out) {
    fs.writeFileSync(path.resolve(v.out), v.out.endsWith('.html') ? profileHtml(report) : json);
    process.stderr.write(`wrote ${v.out}\n`);
  }
  if (v.json) console.log(json);
  else if (!v.out) console.log(profileText(report));
}

/** The profile as a standalone HTML file (same view as the page). */
function profileHtml(r: StepProfileReport): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mobizo kernel profile</title><style>${PROFILE_CSS}</style></head><body><h1>Kernel profile: one MobiZO (prge) step</h1>${renderProfile(r)}</body></html>\n`;
}

function profileText(r: StepProfileReport): string {
  const p = r.profile;
  const lines = [
    `prge step q=${r.options.q}, ${r.step.sequences} x ${r.options.seq} tokens, ${r.options.preset} on ${r.adapter.info} (${p.method}, median of ${p.repeats}): ` +
      `${(p.totalNs / 1e6).toFixed(2)} ms in ${p.dispatches.length} dispatches; step wall ${r.step.wallMs.toFixed(1)} ms`,
    `  ${'kernel'.padEnd(14)} ${'n'.padStart(4)} ${'ms'.padStart(9)} ${'share'.padStart(7)} ${'GFLOP/s'.padStart(9)} ${'GB/s'.padStart(8)}  findings`,
  ];
  for (const k of p.kernels) {
    lines.push(
      `  ${k.kernel.padEnd(14)} ${String(k.dispatches).padStart(4)} ${(k.ns / 1e6).toFixed(3).padStart(9)} ${(100 * k.share).toFixed(1).padStart(6)}% ` +
        `${(k.gflops?.toFixed(3) ?? 'n/a').padStart(9)} ${(k.gbps?.toFixed(3) ?? 'n/a').padStart(8)}  ${k.findings.map((f) => `${f.severity}:${f.rule}`).join(', ')}`,
    );
  }
  return lines.join('\n');
}

const [cmd, ...rest] = process.argv.slice(2);
try {
  if (cmd === 'profile') await profile(rest);
  else await bench(cmd === 'bench' ? rest : process.argv.slice(2));
} catch (e) {
  console.error(`mobizo ${cmd === 'profile' ? 'profile' : 'bench'}: ${process.env.MOBIZO_DEBUG ? (e as Error).stack : (e as Error).message}`);
  process.exitCode = 1;
}
// Dawn keeps the event loop alive; leave once the work is done.
process.exit(process.exitCode ?? 0);
