// Small DOM helpers and the renderers of the page's read-only parts: model facts, the data
// preview, the memory ledger, classification results, a diverged run's notice.
import type { ClassifyInfo, DataInfo, Divergence, LedgerReport, ModelInfo } from '../worker/protocol';

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { className?: string } = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...kids);
  return e;
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) (v /= 1024), u++;
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

export function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(Math.round(n));
}

export function fmtRate(n: number): string {
  return n >= 1000 ? fmtCount(n) : n.toFixed(n >= 100 ? 0 : 1);
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function renderModel(dl: HTMLElement, m: ModelInfo): void {
  const c = m.config;
  const facts: [string, string][] = [
    ['model', m.name],
    ['parameters', fmtCount(m.params)],
    ['file size', m.fileBytes ? fmtBytes(m.fileBytes) : 'built in'],
    ['layers', String(c.nLayers)],
    ['width / FFN', `${c.dim} / ${c.hiddenDim}`],
    ['heads (kv)', `${c.nHeads} (${c.nKvHeads})`],
    ['vocabulary', fmtCount(c.vocabSize)],
    ['context', `${c.seqLen} tokens`],
    ['GPU memory', fmtBytes(m.gpuBytes)],
  ];
  dl.replaceChildren(...facts.map(([k, v]) => h('div', {}, h('dt', { textContent: k }), h('dd', { textContent: v, title: v }))));
  dl.hidden = false;
}

/** The preview: each row as the model reads it, the tokens that carry loss marked. */
export function renderPreview(box: HTMLElement, d: DataInfo): void {
  const legend =
    d.kind === 'lm'
      ? 'The first training rows (chunks of the token stream), as the model reads them; BOS starts a document. Every token after the first is predicted from the ones before it.'
      : 'The first training rows, as the model reads them (template applied). The loss is computed on the marked tokens only: ';
  box.replaceChildren(
    h('div', { className: 'legend' }, legend, ...(d.kind === 'lm' ? [] : [h('mark', { textContent: 'the label word' })])),
    ...d.preview.map((r) =>
      h(
        'div',
        { className: `ex ${d.kind}` },
        h('span', { className: 'meta', textContent: `${r.tokens} tokens, ${r.labelTokens} scored` }),
        ...r.pieces.map((p) =>
          p.special
            ? h('span', { className: 'special', textContent: p.text, title: p.text === 'BOS' ? 'beginning of a document' : 'end of a document' })
            : p.label
              ? h('mark', { textContent: p.text, title: 'the loss is computed on these tokens' })
              : h('span', { className: 'ctx', textContent: p.text }),
        ),
      ),
    ),
  );
}

export function renderMemory(table: HTMLElement, r: LedgerReport): void {
  const cats = [...new Set([...Object.keys(r.current), ...Object.keys(r.peak)])].sort();
  const total = Object.values(r.current).reduce((a, b) => a + b, 0);
  table.replaceChildren(
    h('tr', {}, h('th', { textContent: 'category' }), h('th', { textContent: 'now' }), h('th', { textContent: 'peak' })),
    ...cats.map((c) => h('tr', {}, h('td', { textContent: c }), h('td', { textContent: fmtBytes(r.current[c] ?? 0) }), h('td', { textContent: fmtBytes(r.peak[c] ?? 0) }))),
    h('tr', {}, h('th', { textContent: 'total' }), h('th', { textContent: fmtBytes(total) }), h('th', { textContent: fmtBytes(r.peakTotal) })),
  );
}

function bar(p: number): HTMLSpanElement {
  const b = h('span', { className: 'bar' });
  b.style.width = `${Math.round(p * 80)}px`;
  return b;
}

/** Class probabilities with the base model and each adapter compared (the primary one is "the adapter"). */
export function renderClassify(box: HTMLElement, r: ClassifyInfo): void {
  const argmax = (xs: number[]) => xs.indexOf(xs.reduce((a, b) => Math.max(a, b), -Infinity));
  const cols = [{ label: 'base model', short: 'base', probs: r.base }, ...r.adapters.map((a) => (a.primary ? { label: `with the adapter (${a.name})`, short: 'with the adapter', probs: a.probs } : { label: a.name, short: a.name, probs: a.probs }))];
  const wins = cols.map((c) => argmax(c.probs));
  const cell = (p: number, win: boolean) => h('td', { className: win ? 'win' : '' }, bar(p), `${(100 * p).toFixed(1)}%`);
  box.replaceChildren(
    h('p', { className: 'small muted', textContent: `The model reads: ${JSON.stringify(r.prompt)} and scores each label word.` }),
    h(
      'table',
      {},
      h('tr', {}, h('th', { textContent: 'class' }), h('th', { textContent: 'label word' }), ...cols.map((c) => h('th', { textContent: c.label }))),
      ...r.classes.map((c, i) => h('tr', {}, h('td', { textContent: c }), h('td', { textContent: JSON.stringify(r.labelWords[i]) }), ...cols.map((col, k) => cell(col.probs[i], i === wins[k])))),
    ),
    h('p', {
      className: 'small',
      id: 'cls-verdict',
      textContent: `Predicted: ${cols.map((col, k) => `${r.classes[wins[k]]} (${col.short})`).join(', ')}${r.adapters.length ? '' : ' — no adapter yet'}`,
    }),
  );
}

/** The divergence notice beside the run's controls (scrolled into view once): what rose, and what to change. */
export function renderDiverged(box: HTMLElement, d: Divergence | null, lr: number): void {
  const shown = !box.hidden && box.dataset.step === String(d?.step);
  box.hidden = !d;
  if (!d || shown) return;
  const advice = `The learning rate is too high for this model and data: press "New run" and start again with a lower one${Number.isFinite(lr) && lr > 0 ? ` (try ${Number((lr / 10).toPrecision(2))}, a tenth of ${lr})` : ''}, or a smaller eps.`;
  box.replaceChildren(
    h('b', { textContent: `This run ${d.message}.` }),
    h('span', { className: 'hint', textContent: `Training stopped there (the adapter of its last step and its checkpoint are kept). ${advice}` }),
  );
  box.dataset.step = String(d.step);
  box.scrollIntoView({ block: 'nearest' });
}
