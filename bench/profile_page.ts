// The script of profile.html: one ZO step profiled in this browser tab, rendered as charts and
// tables, exportable as JSON. Sets window.__profile (the report, or { error }) for headless use.
import { BACKENDS, createGpu, type Backend } from '../src/gpu/device';
import type { LlamaModelFile } from '../src/formats/config';
import { parseLlama2c } from '../src/formats/llama2c';
import type { Target } from '../src/model/targets';
import { isPreset, PRESETS, randomPreset } from './presets';
import { PROFILE_CSS, renderProfile } from './profile_view';
import { PROFILE_DEFAULTS, profileStep, type StepProfileOptions, type StepProfileReport } from './profile_step';

function optionsFromQuery(q: URLSearchParams): StepProfileOptions {
  const o = { ...PROFILE_DEFAULTS };
  const num = (k: 'q' | 'batch' | 'seq' | 'rank' | 'repeats' | 'seed') => {
    const v = q.get(k);
    if (v === null) return;
    const n = Number(v);
    if (!Number.isInteger(n) || n < (k === 'seed' ? 0 : 1)) throw new Error(`?${k}=${v} must be a positive integer`);
    o[k] = n;
  };
  for (const k of ['q', 'batch', 'seq', 'rank', 'repeats', 'seed'] as const) num(k);
  const preset = q.get('preset');
  if (preset !== null) {
    if (!isPreset(preset)) throw new Error(`?preset=${preset}: one of ${Object.keys(PRESETS).join(', ')}`);
    o.preset = preset;
  }
  const targets = q.get('targets');
  if (targets) o.targets = targets.split(',') as Target[];
  return o;
}

async function run(status: HTMLElement): Promise<StepProfileReport> {
  const o = optionsFromQuery(new URLSearchParams(location.search));
  const p = PRESETS[o.preset];
  status.textContent = `loading ${o.preset}…`;
  let file: LlamaModelFile | null = null;
  if (p.checkpoint) {
    const res = await fetch(`/assets/${p.checkpoint}`);
    // `npm start` without --assets serves no checkpoint: time random weights of the same shapes
    if (res.ok) file = parseLlama2c(new Uint8Array(await res.arrayBuffer()), p.checkpoint);
    else if (res.status !== 404) throw new Error(`fetch /assets/${p.checkpoint}: HTTP ${res.status}`);
  }
  const real = file !== null;
  file ??= randomPreset(o.preset, o.seed + 1234);
  // ?backend=webgpu | wasm | auto (default): the WGSL kernels with GPU timestamps, or the CPU twins timed on the host clock
  const backend = (new URLSearchParams(location.search).get('backend') ?? 'auto') as Backend;
  if (!BACKENDS.includes(backend)) throw new Error(`?backend=${backend}: expected ${BACKENDS.join(', ')}`);
  const gpu = await createGpu({ backend });
  status.textContent = `profiling one prge step (q = ${o.q}) on ${gpu.adapterInfo}…`;
  try {
    return await profileStep(gpu, file, real ? 'checkpoint' : 'random', o, 'chrome');
  } finally {
    gpu.device.destroy();
  }
}

function exportJson(report: StepProfileReport): void {
  const blob = new Blob([JSON.stringify(report, null, 1)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `profile-${report.options.preset}-q${report.options.q}-${report.startedAt.replace(/[:.]/g, '-')}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

const style = document.createElement('style');
style.textContent = PROFILE_CSS;
document.head.append(style);
const status = document.getElementById('status')!;
run(status).then(
  (report) => {
    status.textContent = '';
    document.getElementById('app')!.innerHTML = renderProfile(report);
    const button = document.getElementById('export')!;
    button.hidden = false;
    button.addEventListener('click', () => exportJson(report));
    (window as any).__profile = report;
  },
  (e) => {
    const text = e instanceof Error ? e.stack ?? e.message : String(e);
    status.textContent = `profile failed: ${text}`;
    status.className = 'error';
    (window as any).__profile = { error: text };
  },
);
