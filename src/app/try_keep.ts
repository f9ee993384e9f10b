// Sections 4 and 5 of the page: try the model with and without the adapter (generation side by
// side, classification), download the adapter in the PEFT layout and open one again.
import { $, h, renderClassify } from './views';
import { busy, engine, hooks, log, showError, st, ui } from './page';

// ---- 4 try it ------------------------------------------------------------------------------
/** Where the tokens of each generation stream go. */
export const streams: Record<string, HTMLElement> = {};

export async function tryGenerate(): Promise<void> {
  const args = {
    prompt: ui.tryPrompt.value,
    steps: Math.max(1, Math.floor(Number(ui.trySteps.value) || 64)),
    temperature: Math.max(0, Number(ui.tryTemp.value) || 0),
    seed: Math.max(0, Math.floor(Number(ui.trySeed.value) || 0)),
  };
  ui.outBase.textContent = '';
  ui.outAdapter.textContent = '';
  $('foot-base').textContent = '';
  $('foot-adapter').textContent = '';
  await busy('Generating', async () => {
    for (const [stream, out] of [
      ['base', ui.outBase],
      ['adapter', ui.outAdapter],
    ] as const) {
      const foot = $(`foot-${stream}`);
      if (stream === 'adapter' && !st.run?.hasAdapter && !st.imported) {
        foot.textContent = 'no adapter yet: train one, or open one below';
        continue;
      }
      streams[stream] = out;
      out.textContent = args.prompt;
      const r = await engine.call('generate', { ...args, adapter: stream === 'adapter', stream });
      out.textContent = r.text;
      foot.textContent = `${r.generatedTokens} tokens, ${r.tokensPerSecond.toFixed(1)} tokens/s`;
      out.dataset.done = 'true';
    }
  });
}

export async function tryClassify(): Promise<void> {
  const text = ui.clsText.value.trim();
  if (!text) return showError(new Error('Type a text to classify.'));
  const r = await busy('Classifying', () => engine.call('classify', { text }));
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

export async function download(): Promise<void> {
  const files = await busy('Preparing the adapter files', () => engine.call('exportAdapter', {}));
  if (!files) return;
  saveFile('adapter_config.json', files['adapter_config.json'], 'application/json');
  saveFile('adapter_model.safetensors', files['adapter_model.safetensors'] as Uint8Array<ArrayBuffer>, 'application/octet-stream');
  log('Downloaded adapter_config.json and adapter_model.safetensors (load them with PEFT, or open them here again).');
}

export async function openAdapter(): Promise<void> {
  const files = [...(ui.adapterFiles.files ?? [])];
  const cfg = files.find((f) => f.name.endsWith('.json'));
  const st8 = files.find((f) => f.name.endsWith('.safetensors'));
  if (!cfg || !st8) return showError(new Error('Open both adapter_config.json and adapter_model.safetensors (select the two files together).'));
  const r = await busy('Opening the adapter', async () =>
    engine.call('importAdapter', { config: await cfg.text(), safetensors: new Uint8Array(await st8.arrayBuffer()), name: st8.name }),
  );
  if (!r) return;
  st.imported = `the opened adapter (rank ${r.rank}, ${r.targets.join(',')})`;
  hooks.renderRun();
  log(`Opened an adapter: rank ${r.rank}, targets ${r.targets.join(',')}. "Try it" and "Download" use it now.`);
}

