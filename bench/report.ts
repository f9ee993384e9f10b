// The bench's outputs: the JSON document (schema in bench/README.md), the text tables printed at
// the end of a run, and a self-contained HTML report with SVG charts.
import type { Gpu } from '../src/gpu/device';
import { fmt, groupedBarChart, hBarChart } from './charts';
import { MATMUL_IMPLS, type BenchOptions, type PresetResult, type ZoRow } from './scenarios';
import { ZO_MODES } from '../src/train/scheduler';

export const SCHEMA = 'mobizo-bench/1';

export interface DeviceInfo {
  info: string; // vendor / architecture / device / description
  features: string[]; // optional features the engine requested and got
  limits: Record<string, number>;
}

export interface BenchReport {
  schema: typeof SCHEMA;
  startedAt: string; // ISO time
  wallMs: number; // the whole run, browser start and builds included
  runtime: 'chrome' | 'node';
  userAgent?: string;
  adapter: DeviceInfo;
  options: BenchOptions;
  presets: PresetResult[];
}

export function deviceInfo(gpu: Gpu): DeviceInfo {
  const l = gpu.limits;
  return {
    info: gpu.adapterInfo,
    features: [...gpu.features].sort(),
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  };
}

/** A file-name-safe short name of the adapter: `google-swiftshader`. */
export function adapterSlug(info: string): string {
  const s = info
    .split(' / ')
    .slice(0, 2)
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return s.slice(0, 40) || 'adapter';
}

const MiB = (b: number | undefined) => (b === undefined ? 'n/a' : (b / 2 ** 20).toFixed(2));
const x = (r: number | undefined) => (r === undefined || !Number.isFinite(r) ? 'n/a' : `x${r.toFixed(2)}`);

/** The timing cells of a ZO row, shared by the text and the HTML tables. */
function zoTimingCells(row: ZoRow): string[] {
  const m = row.modes!;
  return [String(row.q), fmt(m.mezo.ms), fmt(m.outer.ms), fmt(m.prge.ms), fmt(row.forward!.ms), x(row.speedup!.outer), x(row.speedup!.prge), fmt(row.overhead)];
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

/** The plain-text summary printed at the end of a run. */
export function textReport(r: BenchReport): string {
  const out: string[] = [];
  out.push(`mobizo bench (${r.runtime}${r.options.quick ? ', --quick' : ''}) on ${r.adapter.info}; ${(r.wallMs / 1000).toFixed(1)} s`);
  for (const p of r.presets) {
    out.push('');
    if (p.skipped) {
      out.push(`${p.preset}: skipped: ${p.skipped}`);
      continue;
    }
    out.push(`${p.preset} (${p.weights} weights, ${(p.params / 1e6).toFixed(2)}M parameters)`);
    for (const [s, e] of Object.entries(p.errors)) out.push(`  ${s}: FAILED: ${e}`);
    if (p.matmul) {
      const m = p.matmul;
      out.push(`matmul y = x W^T, M = ${m.rows[0]?.M} rows: GFLOP/s per call (readback included); ours' kernel alone in brackets; max |diff| vs JS`);
      out.push(
        table(
          ['linears', 'N x K', ...MATMUL_IMPLS, 'ours kernel', 'max|diff| ours', 'max|diff| gpu.js'],
          m.rows.map((row) => [
            row.names.join('/'),
            `${row.N}x${row.K}`,
            ...MATMUL_IMPLS.map((k) => (row.impls[k].skipped ? 'skip' : fmt(row.impls[k].gflops))),
            `(${fmt(row.impls.ours.kernelGflops)})`,
            fmt(row.impls.ours.maxAbsDiff),
            fmt(row.impls['gpujs-webgpu'].maxAbsDiff),
          ]),
        ),
      );
      out.push(`  ours vs: ${Object.entries(m.ratios).map(([k, v]) => `${k} ${x(v)}`).join(', ')} (geometric mean over shapes)`);
      for (const k of ['gpujs-webgpu', 'gpujs-webgl2'] as const) {
        const sk = m.rows[0]?.impls[k].skipped;
        if (sk) out.push(`  ${k} skipped: ${sk}`);
      }
    }
    if (p.decode) {
      const d = p.decode;
      out.push(`decode (batch 1, KV cache, greedy): ${fmt(d.tokensPerSec)} tok/s over ${d.tokens} tokens after a ${d.prompt}-token prefill${d.agrees ? '' : ' — DISAGREES with the uncached pass'}`);
    }
    if (p.forward) {
      const f = p.forward;
      const g = f.gpujs;
      out.push(`forward [${f.B} x ${f.T}] = ${f.tokens} tokens: ours ${fmt(f.ours.tokensPerSec)} tok/s (${fmt(f.ours.ms)} ms; kernels ${fmt(f.ours.kernelMs)} ms)`);
      if (g.skipped) out.push(`  gpu.js skipped: ${g.skipped}`);
      else
        out.push(
          `  gpu.js webgpu ${fmt(g.tokensPerSec)} tok/s (${fmt(g.ms)} ms; build ${fmt(g.buildMs)} ms); ours ${x(f.ratio)}; ` +
            `logits max |diff| ${fmt(g.maxAbsDiff)} (max |logit| ${fmt(g.maxAbsLogit)}) ${g.ok ? 'OK (<= 1e-3)' : 'MISMATCH (> 1e-3)'}`,
        );
    }
    if (p.zo) {
      const z = p.zo;
      out.push(`ZO step (Bsz ${z.batch}, T ${z.seq}, rank ${z.rank} on ${z.targets.join(',')}; median of ${z.reps}): ms per step`);
      out.push(
        table(
          ['q', 'mezo', 'outer', 'prge', 'fwd+loss 2q*Bsz', 'outer speedup', 'prge speedup', 'ZO overhead', 'prge MiB', 'mezo MiB'],
          z.rows.map((row) =>
            row.skipped ? [String(row.q), `skipped: ${row.skipped}`] : [...zoTimingCells(row), MiB(row.modes!.prge.heldBytes), MiB(row.modes!.mezo.heldBytes)],
          ),
        ),
      );
    }
    const mem = Object.entries(p.memory);
    if (mem.length) out.push(`memory (ledger peak, MiB): ${mem.map(([s, m]) => `${s} ${MiB(m!.peakTotal)}`).join(', ')}`);
  }
  return out.join('\n');
}

const escHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function htmlTable(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${escHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** A self-contained HTML page: the tables of textReport plus charts. */
export function htmlReport(r: BenchReport): string {
  const parts: string[] = [];
  for (const p of r.presets) {
    parts.push(`<h2>${escHtml(p.preset)}</h2>`);
    if (p.skipped) {
      parts.push(`<p class="skip">skipped: ${escHtml(p.skipped)}</p>`);
      continue;
    }
    parts.push(`<p class="sub">${p.weights} weights, ${(p.params / 1e6).toFixed(2)}M parameters; dim ${p.config.dim}, ${p.config.nLayers} layers, vocab ${p.config.vocabSize}</p>`);
    for (const [s, e] of Object.entries(p.errors)) parts.push(`<p class="skip">${s} failed: ${escHtml(e!)}</p>`);
    if (p.matmul) {
      const m = p.matmul;
      const groups = m.rows.map((row) => row.names.join('/'));
      parts.push('<h3>matmul</h3><div class="charts">');
      parts.push(
        groupedBarChart({
          title: `matmul y = x W^T at the model's shapes (M = ${m.rows[0]?.M}), readback included`,
          unit: 'GFLOP/s',
          groups,
          series: [
            ...MATMUL_IMPLS.map((k) => ({ name: k, values: m.rows.map((row) => row.impls[k].gflops) })),
            { name: 'ours kernel only', values: m.rows.map((row) => row.impls.ours.kernelGflops) },
          ],
        }),
      );
      parts.push('</div>');
      parts.push(
        htmlTable(
          ['linears', 'M x N x K', ...MATMUL_IMPLS.map((k) => `${k} GFLOP/s`), 'ours kernel GFLOP/s', 'max|diff| ours', 'max|diff| gpu.js webgpu', 'max|diff| gpu.js webgl2'],
          m.rows.map((row) => [
            row.names.join('/'),
            `${row.M}x${row.N}x${row.K}`,
            ...MATMUL_IMPLS.map((k) => (row.impls[k].skipped ? 'skipped' : fmt(row.impls[k].gflops))),
            fmt(row.impls.ours.kernelGflops),
            fmt(row.impls.ours.maxAbsDiff),
            fmt(row.impls['gpujs-webgpu'].maxAbsDiff),
            fmt(row.impls['gpujs-webgl2'].maxAbsDiff),
          ]),
        ),
      );
      for (const k of MATMUL_IMPLS) {
        const sk = m.rows[0]?.impls[k].skipped;
        if (sk) parts.push(`<p class="skip">${k} skipped: ${escHtml(sk)}</p>`);
      }
      parts.push(`<p>ours vs ${Object.entries(m.ratios).map(([k, v]) => `${k}: <b>${x(v)}</b>`).join(', ')} (geometric mean of GFLOP/s ratios)</p>`);
    }
    if (p.forward) {
      const f = p.forward;
      const g = f.gpujs;
      parts.push('<h3>forward pass</h3><div class="charts">');
      parts.push(
        groupedBarChart({
          title: `forward [${f.B} x ${f.T}], logits of every token read back`,
          unit: 'tokens/s',
          groups: ['forward'],
          series: [
            { name: 'ours', values: [f.ours.tokensPerSec] },
            { name: 'gpu.js webgpu', values: [g.tokensPerSec] },
          ],
          width: 360,
        }),
      );
      parts.push('</div>');
      parts.push(
        `<p>ours ${fmt(f.ours.tokensPerSec)} tokens/s (${fmt(f.ours.ms)} ms per pass, kernels ${fmt(f.ours.kernelMs)} ms); ` +
          (g.skipped
            ? `gpu.js skipped: ${escHtml(g.skipped)}`
            : `gpu.js ${fmt(g.tokensPerSec)} tokens/s (${fmt(g.ms)} ms); ours <b>${x(f.ratio)}</b>; logits max |diff| ${fmt(g.maxAbsDiff)} ${g.ok ? '(OK, &le; 1e-3)' : '<b>(MISMATCH)</b>'}`) +
          '</p>',
      );
    }
    if (p.zo) {
      const z = p.zo;
      const ok = z.rows.filter((row) => !row.skipped);
      parts.push(`<h3>ZO step</h3><p class="sub">Bsz ${z.batch}, T ${z.seq}, LoRA rank ${z.rank} on ${z.targets.join(', ')}; median of ${z.reps} steps after a warm-up</p><div class="charts">`);
      parts.push(
        groupedBarChart({
          title: 'ms per ZO step (and inference + the same loss head and readback at 2q x Bsz rows)',
          unit: 'ms',
          groups: ok.map((row) => `q=${row.q}`),
          series: [...ZO_MODES.map((m) => ({ name: m, values: ok.map((row) => row.modes![m].ms) })), { name: 'forward+loss 2q*Bsz', values: ok.map((row) => row.forward!.ms) }],
        }),
      );
      parts.push(
        groupedBarChart({
          title: 'speedup vs mezo, and ZO overhead (prge / (forward + loss head))',
          unit: 'ratio',
          groups: ok.map((row) => `q=${row.q}`),
          series: [
            { name: 'outer speedup', values: ok.map((row) => row.speedup!.outer) },
            { name: 'prge speedup', values: ok.map((row) => row.speedup!.prge) },
            { name: 'ZO overhead', values: ok.map((row) => row.overhead) },
          ],
        }),
      );
      parts.push('</div>');
      parts.push(
        htmlTable(
          ['q', 'mezo ms', 'outer ms', 'prge ms', 'forward+loss ms', 'outer speedup', 'prge speedup', 'ZO overhead', 'submits mezo/outer/prge', 'held MiB mezo/outer/prge'],
          z.rows.map((row) =>
            row.skipped
              ? [String(row.q), `skipped: ${row.skipped}`, '', '', '', '', '', '', '', '']
              : [...zoTimingCells(row), ZO_MODES.map((m) => row.modes![m].submits).join('/'), ZO_MODES.map((m) => MiB(row.modes![m].heldBytes)).join('/')],
          ),
        ),
      );
    }
    const mem = Object.entries(p.memory);
    if (mem.length) {
      const cats = [...new Set(mem.flatMap(([, m]) => Object.keys(m!.peak)))].sort();
      parts.push('<h3>memory (ledger)</h3><div class="charts">');
      parts.push(
        hBarChart({
          title: 'peak GPU memory per scenario (MiB, ledger)',
          labels: mem.map(([s]) => s),
          values: mem.map(([, m]) => m!.peakTotal / 2 ** 20),
          format: (v) => `${fmt(v)} MiB`,
          width: 520,
        }),
      );
      parts.push('</div>');
      parts.push(htmlTable(['scenario', 'peak total MiB', ...cats.map((c) => `${c} MiB`)], mem.map(([s, m]) => [s, MiB(m!.peakTotal), ...cats.map((c) => MiB(m!.peak[c]))])));
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mobizo bench ${escHtml(r.startedAt)}</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; max-width: 64rem; margin: 0 auto; padding: 1rem 1rem 3rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; } h2 { margin: 1.6rem 0 .2rem; } h3 { margin: 1.2rem 0 .4rem; font-size: 1.05rem; }
  .sub { color: #666; margin: 0 0 .6rem; } .skip { color: #b35c00; }
  table { border-collapse: collapse; margin: .4rem 0; font-variant-numeric: tabular-nums; }
  th, td { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: right; } th:first-child, td:first-child { text-align: left; }
  th { font-weight: 600; background: #f4f4f4; }
  .charts { display: flex; flex-wrap: wrap; gap: 12px; }
</style></head><body>
<h1>mobizo bench</h1>
<p class="sub">${escHtml(r.startedAt)} &middot; ${r.runtime}${r.options.quick ? ' --quick' : ''} &middot; ${escHtml(r.adapter.info)} &middot; features ${escHtml(r.adapter.features.join(', ') || 'none')} &middot; ${(r.wallMs / 1000).toFixed(1)} s</p>
${parts.join('\n')}
<h2>raw</h2><details><summary>JSON</summary><pre>${escHtml(JSON.stringify(r, null, 1))}</pre></details>
</body></html>
`;
}
