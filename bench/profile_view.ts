// Renders a step profile as HTML: per-kernel charts (time share, GFLOP/s, GB/s), the kernel table
// with each kernel's wgsl_reflect analyzePerformance findings, and every dispatch. Used by the
// profile page (profile.html) and for the HTML file of `npm run profile -- --node`.
import { fmt, hBarChart, PALETTE } from './charts';
import type { StepProfileReport } from './profile_step';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const ms = (ns: number) => (ns / 1e6).toFixed(3);

/** The first sentence of a finding (the full text is in the tooltip and the JSON). */
function firstSentence(m: string): string {
  const i = m.search(/[.;](\s|$)/);
  return i > 0 ? m.slice(0, i + 1) : m;
}

export function renderProfile(r: StepProfileReport): string {
  const p = r.profile;
  const ks = p.kernels;
  const labels = ks.map((k) => k.kernel);
  const o = r.options;
  const c = r.model.config;
  const out: string[] = [];
  out.push(
    `<p class="sub">${esc(r.adapter.info)} &middot; ${r.runtime} &middot; timing: ${p.method === 'timestamp' ? 'GPU timestamps (timestamp-query)' : 'host clock per submit (no timestamp-query)'}, median of ${p.repeats}</p>`,
  );
  out.push(
    `<p>${esc(o.preset)} (${r.model.weights} weights: dim ${c.dim}, ${c.nLayers} layers, vocab ${c.vocabSize}); one <b>prge</b> step, q = ${o.q}: ` +
      `${r.step.sequences} sequences (2q x Bsz ${o.batch}) of T = ${o.seq}, LoRA rank ${o.rank} on ${o.targets.join(', ')}. ` +
      `Step wall time ${r.step.wallMs.toFixed(1)} ms; ${p.dispatches.length} dispatches, sum of kernel times <b>${ms(p.totalNs)} ms</b>; loss ${r.step.loss.toFixed(4)}.</p>`,
  );
  out.push('<div class="charts">');
  out.push(hBarChart({ title: 'time share', labels, values: ks.map((k) => k.share), format: pct, color: PALETTE[0] }));
  out.push(hBarChart({ title: 'GFLOP/s', labels, values: ks.map((k) => k.gflops), color: PALETTE[1] }));
  out.push(hBarChart({ title: 'GB/s', labels, values: ks.map((k) => k.gbps), color: PALETTE[2] }));
  out.push('</div>');
  out.push('<table id="kernels"><thead><tr><th>kernel</th><th>shader</th><th>dispatches</th><th>ms</th><th>share</th><th>GFLOP/s</th><th>GB/s</th><th>GFLOP</th><th>MB</th><th>static cost / inv.</th><th>analyzePerformance findings</th></tr></thead><tbody>');
  for (const k of ks) {
    const notes = k.findings.length
      ? `<ul>${k.findings
          .map((f) => `<li class="sev-${esc(f.severity)}" title="${esc(f.message).replace(/"/g, '&quot;')}"><b>${esc(f.severity)}</b> ${esc(f.rule)} <span class="muted">(${esc(f.function)}:${f.line})</span>: ${esc(firstSentence(f.message))}</li>`)
          .join('')}</ul>`
      : '<span class="muted">none</span>';
    out.push(
      `<tr data-kernel="${esc(k.kernel)}"><td>${esc(k.kernel)}</td><td>${esc(k.file ?? '')}</td><td>${k.dispatches}</td><td>${ms(k.ns)}</td><td>${pct(k.share)}</td>` +
        `<td>${fmt(k.gflops)}</td><td>${fmt(k.gbps)}</td><td>${k.flops === undefined ? 'n/a' : fmt(k.flops / 1e9)}</td><td>${k.bytes === undefined ? 'n/a' : fmt(k.bytes / 1e6)}</td>` +
        `<td>${fmt(k.staticCost)}</td><td class="notes">${notes}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  out.push(`<details><summary>all ${p.dispatches.length} dispatches, in order</summary><table id="dispatches"><thead><tr><th>#</th><th>label</th><th>kernel</th><th>grid</th><th>&micro;s</th><th>GFLOP/s</th><th>GB/s</th></tr></thead><tbody>`);
  p.dispatches.forEach((d, i) => {
    out.push(`<tr><td>${i}</td><td>${esc(d.label)}</td><td>${esc(d.kernel)}</td><td>${d.workgroups.join('x')}</td><td>${(d.ns / 1e3).toFixed(1)}</td><td>${fmt(d.gflops)}</td><td>${fmt(d.gbps)}</td></tr>`);
  });
  out.push('</tbody></table></details>');
  return out.join('\n');
}

/** The page's styles, shared with the standalone HTML file. */
export const PROFILE_CSS = `
  body { font: 14px/1.45 system-ui, sans-serif; max-width: 72rem; margin: 0 auto; padding: 1rem 1rem 3rem; color: #222; background: #fff; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  .sub, .muted { color: #666; }
  .charts { display: flex; flex-wrap: wrap; gap: 16px; margin: .6rem 0; }
  table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; }
  th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; vertical-align: top; }
  th:first-child, td:first-child, td:nth-child(2), td.notes, th:last-child { text-align: left; }
  th { background: #f4f4f4; font-weight: 600; }
  td.notes { max-width: 30rem; font-size: 12px; }
  td.notes ul { margin: 0; padding-left: 1rem; }
  .sev-high b { color: #c0392b; } .sev-medium b { color: #d35400; } .sev-low b, .sev-info b { color: #7f8c8d; }
  button { font: inherit; padding: .3rem .9rem; border-radius: 6px; border: 1px solid #3b6fd8; background: #3b6fd8; color: #fff; cursor: pointer; }
  #status.error { color: #c0392b; white-space: pre-wrap; }
`;
