// The app page (index.html): pick a llama2.c checkpoint and tokenizer, generate text on the
// user's GPU with streaming output. Built to dist/app.js by scripts/build.mjs.
import { createGpu, loadModel, Tokenizer, generateText } from '../index';

type Gpu = Awaited<ReturnType<typeof createGpu>>;
type Model = Awaited<ReturnType<typeof loadModel>>;

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

const ui = {
  form: $<HTMLFormElement>('form'),
  modelFile: $<HTMLInputElement>('model-file'),
  tokFile: $<HTMLInputElement>('tok-file'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  steps: $<HTMLInputElement>('steps'),
  temperature: $<HTMLInputElement>('temperature'),
  seed: $<HTMLInputElement>('seed'),
  generate: $<HTMLButtonElement>('generate'),
  adapter: $<HTMLElement>('adapter'),
  status: $<HTMLElement>('status'),
  output: $<HTMLElement>('output'),
  noWebgpu: $<HTMLElement>('no-webgpu'),
};

function setStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

/** A file's identity, so the same selection is not parsed and uploaded twice. */
const fileKey = (f: File) => `${f.name}:${f.size}:${f.lastModified}`;

let gpu: Gpu | undefined;
let gpuPromise: Promise<Gpu> | undefined; // one device, however many callers ask at once
let loaded: { key: string; model: Model; tok: Tokenizer } | undefined;

function getGpu(): Promise<Gpu> {
  return (gpuPromise ??= createGpu().then(
    (g) => {
      gpu = g;
      ui.adapter.textContent = `Adapter: ${g.adapterInfo}`;
      return g;
    },
    (err) => {
      gpuPromise = undefined; // let the next Generate try again
      ui.adapter.textContent = `No WebGPU adapter: ${err instanceof Error ? err.message : String(err)}`;
      throw err;
    },
  ));
}

async function getModel(modelFile: File, tokFile: File): Promise<{ model: Model; tok: Tokenizer }> {
  const key = `${fileKey(modelFile)}|${fileKey(tokFile)}`;
  if (loaded?.key === key) return loaded;
  loaded = undefined; // drop the old model before loading the next one
  const g = await getGpu();
  setStatus(`Loading ${modelFile.name} (${(modelFile.size / 2 ** 20).toFixed(1)} MiB) ...`);
  const [modelBytes, tokBytes] = await Promise.all([modelFile.arrayBuffer(), tokFile.arrayBuffer()]);
  const model = await loadModel(g, new Uint8Array(modelBytes), modelFile.name);
  const tok = Tokenizer.fromLlama2c(new Uint8Array(tokBytes), model.config.vocabSize, tokFile.name);
  loaded = { key, model, tok };
  return loaded;
}

function readNumber(input: HTMLInputElement, name: string, min: number): number {
  const v = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(v) || v < min) throw new Error(`${name} must be a number >= ${min}`);
  return v;
}

async function onGenerate(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const modelFile = ui.modelFile.files?.[0];
  const tokFile = ui.tokFile.files?.[0];
  if (!modelFile || !tokFile) {
    setStatus('Choose a llama2.c model file and its tokenizer file first.', true);
    return;
  }
  ui.generate.disabled = true;
  try {
    const steps = Math.floor(readNumber(ui.steps, 'Steps', 1));
    const temperature = readNumber(ui.temperature, 'Temperature', 0);
    const seed = Math.floor(readNumber(ui.seed, 'Seed', 0));
    const { model, tok } = await getModel(modelFile, tokFile);
    setStatus('Generating ...');
    ui.output.textContent = '';
    let count = 0;
    const t0 = performance.now();
    const { text, tokensPerSecond } = await generateText(model, tok, {
      prompt: ui.prompt.value,
      steps,
      temperature,
      seed,
      onToken: (piece: string) => {
        ui.output.textContent += piece;
        count++;
        if (count % 8 === 0) setStatus(`Generating ... ${count} tokens, ${((count * 1000) / (performance.now() - t0)).toFixed(1)} tokens/s`);
      },
    });
    ui.output.textContent = text; // the complete text is authoritative
    setStatus(`Done: ${tokensPerSecond.toFixed(1)} tokens/s${gpu ? ` on ${gpu.adapterInfo}` : ''}.`);
  } catch (err) {
    console.error(err);
    setStatus(err instanceof Error ? err.message : String(err), true);
  } finally {
    ui.generate.disabled = false;
  }
}

function main(): void {
  if (!('gpu' in navigator) || !navigator.gpu) {
    ui.noWebgpu.hidden = false;
    ui.noWebgpu.textContent = window.isSecureContext
      ? 'WebGPU is not available in this browser: use Chrome/Edge 113+ (or a browser with WebGPU enabled) on a device with a supported GPU.'
      : 'WebGPU is not available on this page: it needs a secure context. Open it from http://localhost / http://127.0.0.1 or over https.';
    ui.form.querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLTextAreaElement>('input, textarea, button').forEach((el) => {
      el.disabled = true;
    });
    return;
  }
  ui.form.addEventListener('submit', (ev) => void onGenerate(ev));
  // Show the adapter early; a failure is shown there and again when the user clicks Generate.
  getGpu().catch(() => {});
}

main();
