// The kernel specs of the GPU run (bench/device.sh), bundled into the device pack with mocha
// itself (scripts/device_pack.mjs), so they run with the pack's Node alone: no node_modules, no
// loader hook. Each spec compares kernels with their float64 references on random (ragged) shapes.
//   node specs.mjs OUT.json [--only kernels,attention] [--grep TEXT] [--wasm]
// OUT.json is rewritten after every test (a run cut short by its time limit still reports), with
// the counts and each test's file, title, state, time and error. Exit 0: no failure.
// Marked pending, with the reason: tests that start the `mobizo` CLI (it needs node_modules, which
// the pack does not carry; the kernels under them are covered by the other tests), and the specs'
// WASM-backend halves ("[wasm]": the CPU twins, not what this run is for; --wasm keeps them).
import fs from 'node:fs';
import Mocha from 'mocha';

/** The spec files of the GPU run, by short name. One place: device.sh passes names, never paths. */
export const DEVICE_SPECS: Record<string, () => Promise<unknown>> = {
  kernels: () => import('../test/kernels.spec'),
  matmul_variants: () => import('../test/matmul_variants.spec'),
  attention: () => import('../test/attention.spec'),
  zo_kernels: () => import('../test/zo_kernels.spec'),
  kernel_layer: () => import('../test/kernel_layer.spec'),
  matmul_lora: () => import('../test/matmul_lora.spec'),
  quants: () => import('../test/quants.spec'),
  multi_adapter: () => import('../test/multi_adapter.spec'),
  optimizers: () => import('../test/optimizers.spec'),
  zo_step: () => import('../test/zo_step.spec'),
};

const STARTS_CLI = /spawnSync|\bmobizo\(/;
const WASM = /\[wasm\]/;

interface TestRecord {
  file: string;
  title: string;
  state: 'passed' | 'failed' | 'pending';
  ms?: number;
  error?: string;
  why?: string; // pending: why
}

export interface SpecsReport {
  specs: string[];
  startedAt: string;
  done: boolean; // false while running (or when cut short)
  wallMs: number;
  passes: number;
  failures: number;
  pending: number;
  tests: TestRecord[];
}

async function main(argv: string[]): Promise<number> {
  const out = argv[0];
  const flag = (k: string) => {
    const i = argv.indexOf(`--${k}`);
    return i > 0 ? argv[i + 1] : undefined;
  };
  if (!out || out.startsWith('--')) {
    console.error(`usage: specs.mjs OUT.json [--only ${Object.keys(DEVICE_SPECS).join(',')}] [--grep TEXT]`);
    return 64;
  }
  const names = flag('only')?.split(',').filter(Boolean) ?? Object.keys(DEVICE_SPECS);
  for (const n of names) if (!DEVICE_SPECS[n]) throw new Error(`--only ${n}: no such device spec (one of ${Object.keys(DEVICE_SPECS).join(', ')})`);
  const mocha = new Mocha({ reporter: 'spec', timeout: 300_000, grep: flag('grep') });
  // the BDD globals (describe, it, before ...) before any spec module runs
  mocha.suite.emit('pre-require', globalThis, 'device-pack', mocha);
  const fileOf = new Map<Mocha.Suite, string>();
  for (const n of names) {
    const before = mocha.suite.suites.length;
    await DEVICE_SPECS[n]();
    for (const s of mocha.suite.suites.slice(before)) fileOf.set(s, `test/${n}.spec.ts`);
  }
  const why = new Map<Mocha.Test, string>();
  const mark = (s: Mocha.Suite) => {
    for (const t of s.tests) {
      if (t.fn && STARTS_CLI.test(t.fn.toString())) {
        t.pending = true;
        why.set(t, 'starts the mobizo CLI, which needs node_modules (not in the device pack)');
      } else if (!argv.includes('--wasm') && WASM.test(t.fullTitle())) {
        t.pending = true;
        why.set(t, 'the WASM backend (CPU twins): not what the GPU run measures (--wasm runs it)');
      }
    }
    s.suites.forEach(mark);
  };
  mark(mocha.suite);

  const t0 = performance.now();
  const report: SpecsReport = { specs: names, startedAt: new Date().toISOString(), done: false, wallMs: 0, passes: 0, failures: 0, pending: 0, tests: [] };
  const write = () => {
    report.wallMs = performance.now() - t0;
    fs.writeFileSync(out, JSON.stringify(report, null, 1));
  };
  const top = (s: Mocha.Suite | undefined): Mocha.Suite | undefined => (s?.parent && s.parent !== mocha.suite ? top(s.parent) : s);
  const record = (t: Mocha.Test, state: TestRecord['state'], err?: Error) => {
    const r: TestRecord = { file: fileOf.get(top(t.parent)!) ?? '?', title: t.fullTitle(), state };
    if (state !== 'pending') r.ms = t.duration;
    if (err) r.error = String(err.message ?? err).slice(0, 2000);
    if (state === 'pending') r.why = why.get(t);
    report.tests.push(r);
    report[state === 'passed' ? 'passes' : state === 'failed' ? 'failures' : 'pending']++;
    write();
  };
  process.on('SIGTERM', () => {
    write();
    process.exit(124);
  });
  write();
  return new Promise((resolve) => {
    const runner = mocha.run((failures) => {
      report.done = true;
      write();
      resolve(failures ? 1 : 0);
    });
    runner.on('pass', (t) => record(t, 'passed'));
    runner.on('fail', (t, err) => {
      if (t.type === 'test') record(t as Mocha.Test, 'failed', err);
      else {
        // a failing hook: recorded under the hook's title
        report.tests.push({ file: fileOf.get(top(t.parent)!) ?? '?', title: t.fullTitle(), state: 'failed', error: String(err?.message ?? err).slice(0, 2000) });
        report.failures++;
        write();
      }
    });
    runner.on('pending', (t) => record(t, 'pending'));
  });
}

// run as a program (js/specs.mjs in the pack), not when imported
if (/(specs\.mjs|device_specs\.ts)$/.test(process.argv[1] ?? '')) process.exit(await main(process.argv.slice(2)));
