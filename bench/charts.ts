// Small self-contained SVG bar charts for the bench report and the profile page: no chart
// library, so a report file opens anywhere (no network, no script) and reads the same in a
// screenshot. Values that are missing (null / NaN) leave a gap labelled "n/a".

export const PALETTE = ['#3b6fd8', '#e0803a', '#4aa564', '#b8505a', '#8a6bc8', '#6b8a9a'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A compact number: 3 significant digits, k / M suffixes above 10^4. */
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(digits)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(digits)}k`;
  if (a === 0) return '0';
  if (a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(digits)).toString();
}

/** A round axis top >= v and its number of tick intervals (steps of 1, 2 or 5 x 10^k). */
function niceAxis(v: number): { top: number; ticks: number } {
  if (!(v > 0)) return { top: 1, ticks: 4 };
  const p = 10 ** Math.floor(Math.log10(v));
  for (const [m, ticks] of [[1, 5], [2, 4], [2.5, 5], [5, 5], [10, 5]]) if (m * p >= v) return { top: m * p, ticks };
  return { top: 10 * p, ticks: 5 };
}

export interface GroupedBars {
  title: string;
  unit: string; // axis label, e.g. 'GFLOP/s'
  groups: string[]; // x-axis categories
  series: { name: string; values: (number | null | undefined)[] }[];
  width?: number;
  height?: number;
}

/** Vertical grouped bars: one group per category, one bar per series, value printed on top. */
export function groupedBarChart(c: GroupedBars): string {
  const W = c.width ?? 720;
  const H = c.height ?? 300;
  const m = { l: 56, r: 12, t: 34, b: 58 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const vals = c.series.flatMap((s) => s.values).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const { top, ticks } = niceAxis(Math.max(0, ...vals));
  const gw = pw / Math.max(1, c.groups.length);
  const bw = Math.max(2, Math.min(36, (gw * 0.8) / Math.max(1, c.series.length)));
  const y = (v: number) => m.t + ph - (v / top) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="11">`);
  out.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">${esc(c.title)}</text>`);
  for (let i = 0; i <= ticks; i++) {
    const v = (top * i) / ticks;
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#8884" />`);
    out.push(`<text x="${m.l - 4}" y="${y(v) + 4}" text-anchor="end" fill="#666">${fmt(v)}</text>`);
  }
  out.push(`<text transform="translate(12 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#666">${esc(c.unit)}</text>`);
  c.groups.forEach((g, gi) => {
    const x0 = m.l + gi * gw + (gw - bw * c.series.length) / 2;
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      const x = x0 + si * bw;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        out.push(`<text x="${x + bw / 2}" y="${m.t + ph - 3}" text-anchor="middle" font-size="8" fill="#999">n/a</text>`);
        return;
      }
      out.push(`<rect x="${x}" y="${y(v)}" width="${bw - 2}" height="${Math.max(0.5, m.t + ph - y(v))}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(`${s.name} ${g}: ${fmt(v)} ${c.unit}`)}</title></rect>`);
      if (c.series.length * c.groups.length <= 24) out.push(`<text x="${x + bw / 2 - 1}" y="${y(v) - 3}" text-anchor="middle" font-size="9">${fmt(v)}</text>`);
    });
    out.push(`<text x="${m.l + gi * gw + gw / 2}" y="${m.t + ph + 14}" text-anchor="middle">${esc(g)}</text>`);
  });
  let lx = m.l;
  c.series.forEach((s, si) => {
    out.push(`<rect x="${lx}" y="${H - 18}" width="10" height="10" fill="${PALETTE[si % PALETTE.length]}" />`);
    out.push(`<text x="${lx + 14}" y="${H - 9}">${esc(s.name)}</text>`);
    lx += 22 + s.name.length * 6.5;
  });
  out.push('</svg>');
  return out.join('\n');
}

export interface HBars {
  title: string;
  labels: string[];
  values: (number | null | undefined)[];
  format?: (v: number) => string;
  color?: string;
  width?: number;
}

/** Horizontal bars, one per label (e.g. kernels), value printed at the end of each bar. */
export function hBarChart(c: HBars): string {
  const W = c.width ?? 360;
  const row = 18;
  const labelW = Math.min(150, 12 + 6.6 * Math.max(4, ...c.labels.map((l) => l.length)));
  const H = 28 + row * c.labels.length + 6;
  const valW = 58;
  const pw = W - labelW - valW - 8;
  const vals = c.values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const top = Math.max(...vals, 0) || 1;
  const f = c.format ?? ((v: number) => fmt(v));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="11">`);
  out.push(`<text x="4" y="16" font-size="13" font-weight="600">${esc(c.title)}</text>`);
  c.labels.forEach((l, i) => {
    const yy = 28 + i * row;
    const v = c.values[i];
    out.push(`<text x="${labelW - 6}" y="${yy + 12}" text-anchor="end">${esc(l)}</text>`);
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      out.push(`<text x="${labelW + 2}" y="${yy + 12}" fill="#999">n/a</text>`);
      return;
    }
    const w = Math.max(1, (v / top) * pw);
    out.push(`<rect x="${labelW}" y="${yy + 2}" width="${w}" height="${row - 5}" fill="${c.color ?? PALETTE[0]}"><title>${esc(`${l}: ${f(v)}`)}</title></rect>`);
    out.push(`<text x="${labelW + w + 4}" y="${yy + 12}">${esc(f(v))}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
