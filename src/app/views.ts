// Small DOM helpers and the renderers of the page's read-only parts: model facts, the data
// preview, the memory ledger, classification results, a diverged run's notice.
import type { ClassifyInfo, DataInfo, Divergence, LedgerReport, ModelInfo, SampleInfo } from '../worker/protocol';
import { divergedWords, fmtBytes, fmtCount, type ResultWords } from './wording';

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

export function renderModel(dl: HTMLElement, m: ModelInfo): void {
  const c = m.config;
  const facts: [string, string][] = [
    ['model', m.name],
    ['parameters', fmtCount(m.params)],
    ['file size', m.bundled ? `${fmtBytes(m.fileBytes)}, bundled` : fmtBytes(m.fileBytes)],
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

/** The preview: each row as the model reads it, the tokens that carry loss marked (a task's right answer as such). */
export function renderPreview(box: HTMLElement, d: DataInfo): void {
  const legend =
    d.kind === 'lm'
      ? 'The first training rows, as the model reads them: the text is cut into pieces of a fixed number of tokens (word parts), so a piece may start inside a word (shown "\u2026"); BOS starts a document. Every token after the first is predicted from the ones before it.'
      : 'The first training rows, as the model reads them (template applied). The loss is computed on the marked tokens only: ';
  box.replaceChildren(
    h('div', { className: 'legend' }, legend, ...(d.kind === 'lm' ? [] : [h('mark', { className: 'right', textContent: 'the right label word' }), ', ', h('mark', { textContent: 'another label word' })])),
    ...d.preview.map((r) => {
      const first = r.pieces[0];
      // a piece that starts inside a word: no BOS, no leading space or newline
      const midWord = d.kind === 'lm' && first && !first.special && /^[\p{L}\p{N}]/u.test(first.text);
      const kids: (Node | string)[] = [h('span', { className: 'meta', textContent: `${r.tokens} tokens, ${r.labelTokens} scored${r.answer !== undefined ? ` \u00b7 answer ${JSON.stringify(r.answer)}` : ''}` })];
      if (midWord) kids.push(h('span', { className: 'cut', textContent: '\u2026', title: 'this piece starts inside a word: the text is cut on token boundaries' }));
      for (const p of r.pieces) {
        if (p.special) kids.push(h('span', { className: 'special', textContent: p.text, title: p.text === 'BOS' ? 'beginning of a document' : 'end of a document' }));
        else if (p.label && d.kind !== 'lm') {
          const right = r.answer !== undefined && p.text === r.answer;
          kids.push(h('mark', { className: right ? 'right' : '', textContent: p.text, title: right ? 'the right answer: the loss rewards it' : 'a label word the loss scores' }));
        } else if (p.label) kids.push(h('mark', { textContent: p.text, title: 'the loss is computed on these tokens' }));
        else kids.push(h('span', { className: 'ctx', textContent: p.text }));
      }
      return h('div', { className: `ex ${d.kind}` }, ...kids);
    }),
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

/** The divergence notice beside the run's controls (scrolled into view once): what rose, what was kept, what to do. */
export function renderDiverged(box: HTMLElement, d: Divergence | null, lr: number): void {
  const shown = !box.hidden && box.dataset.step === String(d?.step);
  box.hidden = !d;
  if (!d || shown) return;
  const w = divergedWords(d, lr);
  box.replaceChildren(h('b', { textContent: w.title }), h('span', { className: 'hint', textContent: w.detail }));
  box.dataset.step = String(d.step);
  box.scrollIntoView({ block: 'nearest' });
}

/** The result of a run: the change in words, the advice, and the base model beside the adapter on a held-out prompt. */
export function renderResult(box: HTMLElement, w: ResultWords | null, sample: SampleInfo | null, onMore: ((steps: number) => void) | null): void {
  if (!w) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const kids: (Node | string)[] = [h('h3', { textContent: 'Result' }), h('p', { id: 'result-line', className: 'big', textContent: w.line })];
  if (w.advice) {
    const p = h('p', { id: 'result-advice', textContent: w.advice });
    if (onMore && w.moreSteps) {
      const b = h('button', { type: 'button', className: 'secondary', id: 'result-more', textContent: `Train ${w.moreSteps} more steps` });
      b.onclick = () => onMore(w.moreSteps);
      p.append(' ', b);
    }
    kids.push(p);
  }
  if (sample) {
    const pane = (title: string, id: string, text: string) =>
      h('div', { className: 'pane' }, h('h4', { textContent: title }), h('pre', { id }, h('span', { className: 'prompt', textContent: sample.prompt }), text));
    kids.push(
      h('div', { className: 'side result-side' }, pane('Before: the base model', 'result-base', sample.base), pane('After: with the adapter', 'result-adapter', sample.adapter)),
      h('p', { className: 'small muted', textContent: `Prompt: ${JSON.stringify(sample.prompt)}, ${sample.source}; greedy, the same new tokens for both.` }),
    );
  }
  box.replaceChildren(...kids);
  box.hidden = false;
}
