// Sections 4 and 5 of the page: try the model with and without the adapters (the base model and
// every adapter generated together, a column each; classification), download the adapter in the
// PEFT layout and open adapters again (each one opened joins the comparison).
import { streamOf, type AdapterEntry } from '../worker/protocol';
import { h, renderClassify } from './views';
import { fmtRate } from './wording';
import { busy, engine, hooks, log, showError, st, ui } from './page';

// ---- 4 try it ------------------------------------------------------------------------------
/** Where the tokens of each generation stream go. */
export const streams: Record<string, HTMLElement> = {};

/** The title of an adapter's column. */
function adapterTitle(a: AdapterEntry): string {
  if (a.kind === 'trained') return `With the trained adapter (step ${st.run?.step ?? 0})`;
  return `${a.name}: opened adapter (rank ${a.rank}, ${a.targets.join(',')})`;
}

/**
 * A column of Try it: the adapter Predict and Download use (or, with none yet, the empty column)
 * keeps the ids #adapter-title, #out-adapter and #foot-adapter.
 */
function adapterPane(a: AdapterEntry | null): HTMLElement {
  const primary = !a || a.primary;
  const ids = (id: string) => (primary ? { id } : {});
  const title = h('span', { ...ids('adapter-title'), className: 'title', textContent: a ? adapterTitle(a) : 'With the adapter' });
  const head = h('h3', {}, title);
  const tag = h('div', { className: 'tag', textContent: !a ? '' : a.primary ? 'used by Predict and Download' : '' });
  const pane = h('div', { className: 'pane' }, head, tag, h('pre', ids('out-adapter')), h('div', { ...ids('foot-adapter'), className: 'foot' }));
  if (!a) {
    pane.querySelector('.foot')!.textContent = 'no adapter yet: train one, or open one below';
    return pane;
  }
  const stream = streamOf(a.name);
  pane.dataset.stream = stream;
  pane.dataset.adapter = a.name;
  const tick = h('input', { type: 'checkbox', checked: !st.unticked.has(stream) });
  tick.setAttribute('aria-label', `generate with ${a.kind === 'trained' ? 'the trained adapter' : a.name}`);
  tick.onchange = () => (tick.checked ? st.unticked.delete(stream) : st.unticked.add(stream), renderTicks());
  head.prepend(tick);
  if (a.kind === 'opened') {
    const remove = h('button', { type: 'button', className: 'secondary', textContent: 'Remove' });
    remove.setAttribute('aria-label', `remove the adapter ${a.name}`);
    remove.onclick = () => void removeAdapter(a.name);
    head.append(remove);
  }
  return pane;
}

function renderTicks(): void {
  for (const p of ui.tryPanes.querySelectorAll<HTMLElement>('.pane[data-stream]')) p.classList.toggle('off', st.unticked.has(p.dataset.stream!));
}

let shownKey = '';

/** Try it's columns for the adapters the page knows (rebuilt when the list changed); enables its controls. */
export function renderTry(free: boolean): void {
  const key = JSON.stringify(st.adapters);
  if (key !== shownKey) {
    shownKey = key;
    for (const p of [...ui.tryPanes.children]) if (p.querySelector('pre') !== ui.outBase) p.remove();
    for (const k of Object.keys(streams)) delete streams[k];
    ui.tryPanes.append(...(st.adapters.length ? st.adapters.map(adapterPane) : [adapterPane(null)]));
  }
  for (const a of st.adapters) {
    const t = ui.tryPanes.querySelector(`.pane[data-stream="${CSS.escape(streamOf(a.name))}"] .title`);
    if (t) t.textContent = adapterTitle(a);
  }
  for (const b of ui.tryPanes.querySelectorAll('button')) b.disabled = !free;
  ui.tryBase.checked = !st.unticked.has(streamOf(null));
  renderTicks();
}

/** Asks the worker for its adapters (after a run, a restore, New run) and redraws. */
export async function refreshAdapters(): Promise<void> {
  try {
    st.adapters = await engine.call('adapters', {});
  } catch (e) {
    st.adapters = [];
    log(`Could not list the adapters: ${(e as Error).message}`);
  }
  hooks.renderRun();
}

/** Generates with every ticked column in one call: the worker runs them as the rows of one batched pass. */
export async function tryGenerate(): Promise<void> {
  const args = {
    prompt: ui.tryPrompt.value,
    newTokens: Math.max(1, Math.floor(Number(ui.trySteps.value) || 48)),
    temperature: Math.max(0, Number(ui.tryTemp.value) || 0),
    seed: Math.max(0, Math.floor(Number(ui.trySeed.value) || 0)),
    base: !st.unticked.has(streamOf(null)),
    adapters: st.adapters.filter((a) => !st.unticked.has(streamOf(a.name))).map((a) => a.name),
  };
  const panes = [...ui.tryPanes.querySelectorAll<HTMLElement>('.pane[data-stream]')];
  const paneOf = (stream: string) => panes.find((p) => p.dataset.stream === stream);
  for (const k of Object.keys(streams)) delete streams[k];
  for (const p of panes) {
    const out = p.querySelector('pre')!;
    delete out.dataset.done;
    out.textContent = '';
    p.querySelector('.foot')!.textContent = st.unticked.has(p.dataset.stream!) ? 'not ticked: left out of this generation' : '';
  }
  ui.trySummary.textContent = '';
  delete ui.trySummary.dataset.rows;
  const n = (args.base ? 1 : 0) + args.adapters.length;
  if (!n) return showError(new Error('Tick the base model or an adapter to generate with.'));
  for (const stream of [...(args.base ? [streamOf(null)] : []), ...args.adapters.map(streamOf)]) {
    const out = paneOf(stream)!.querySelector('pre')!;
    streams[stream] = out;
    out.textContent = args.prompt;
  }
  const r = await busy(n > 1 ? `Generating ${n} columns in one batched pass` : 'Generating', () => engine.call('generate', args));
  if (!r) return;
  for (const row of r.rows) {
    const p = paneOf(row.stream)!;
    const out = p.querySelector('pre')!;
    out.textContent = row.text;
    p.querySelector('.foot')!.textContent = `${row.generatedTokens} tokens, ${row.tokensPerSecond.toFixed(1)} tokens/s`;
    out.dataset.done = 'true';
  }
  ui.trySummary.dataset.rows = String(r.sequences);
  ui.trySummary.textContent =
    r.sequences > 1
      ? `${r.sequences} columns generated together: one batched pass per token (a row per column), ${fmtRate(r.tokensPerSecond)} tokens/s in all, ${(r.ms / 1000).toFixed(1)} s.`
      : `One column: ${fmtRate(r.tokensPerSecond)} tokens/s, ${(r.ms / 1000).toFixed(1)} s.`;
}

export async function tryClassify(): Promise<void> {
  const text = ui.clsText.value.trim();
  if (!text) return showError(new Error('Type a text to classify.'));
  const adapters = st.adapters.filter((a) => !st.unticked.has(streamOf(a.name))).map((a) => a.name);
  const r = await busy('Classifying', () => engine.call('classify', { text, adapters }));
  if (r) renderClassify(ui.clsResult, r);
}

// ---- 5 keep --------------------------------------------------------------------------------
function saveFile(name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Downloads the adapter as one zip (the PEFT files), named after the run. */
export async function download(): Promise<void> {
  const d = await busy('Preparing the adapter zip', () => engine.call('exportAdapter', {}), 'The adapter could not be prepared for download.');
  if (!d) return;
  saveFile(d.name, d.zip as Uint8Array<ArrayBuffer>, 'application/zip');
  log(`Downloaded ${d.name} (${d.files.join(' + ')}, the Hugging Face PEFT layout): PEFT loads it unzipped, and this app opens the zip as it is.`);
}

/** Opens an adapter: a zip (as Download makes it), or adapter_config.json and adapter_model.safetensors together. */
export async function openAdapter(): Promise<void> {
  const files = [...(ui.adapterFiles.files ?? [])];
  const zip = files.find((f) => /\.zip$/i.test(f.name));
  const cfg = files.find((f) => f.name.endsWith('.json'));
  const st8 = files.find((f) => f.name.endsWith('.safetensors'));
  if (!zip && (!cfg || !st8)) return showError(new Error('Open the adapter zip, or both adapter_config.json and adapter_model.safetensors (select the two files together).'));
  const r = await busy(
    'Opening the adapter',
    async () =>
      zip
        ? engine.call('importAdapter', { zip: new Uint8Array(await zip.arrayBuffer()), file: zip.name, name: ui.adapterName.value })
        : engine.call('importAdapter', { config: await cfg!.text(), safetensors: new Uint8Array(await st8!.arrayBuffer()), file: st8!.name, configFile: cfg!.name, name: ui.adapterName.value }),
    'The adapter could not be opened.',
  );
  if (!r) return;
  const e = r.entry;
  st.adapters = r.adapters;
  st.unticked.delete(streamOf(e.name));
  ui.adapterName.value = '';
  hooks.renderRun();
  log(`${r.replaced ? 'Replaced' : 'Opened'} the adapter "${e.name}": rank ${e.rank}, targets ${e.targets.join(',')}. "Try it" compares it with the others; Predict and Download use it now.`);
}

async function removeAdapter(name: string): Promise<void> {
  const r = await busy(`Removing the adapter ${name}`, () => engine.call('removeAdapter', { name }));
  if (!r) return;
  st.adapters = r;
  st.unticked.delete(streamOf(name));
  hooks.renderRun();
  log(`Removed the adapter "${name}".`);
}
