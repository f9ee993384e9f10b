// Browser generation page: fetches stories260K + its tokenizer from /assets/ and runs the public
// API greedily (200 steps from BOS, empty prompt). Puts { text, tokensPerSecond, adapter } (or
// { error }) on window.__result.
import { createGpu, loadModel, Tokenizer, generateText } from '../../../src/index';

export interface GenerateResult {
  text?: string;
  tokensPerSecond?: number;
  adapter?: string;
  error?: string;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function run(): Promise<GenerateResult> {
  const [modelBytes, tokBytes] = await Promise.all([
    fetchBytes('/assets/models/stories260K.bin'),
    fetchBytes('/assets/models/tok512.bin'),
  ]);
  const gpu = await createGpu();
  console.log(`adapter: ${gpu.adapterInfo}`);
  const model = await loadModel(gpu, modelBytes, 'stories260K.bin');
  const tok = Tokenizer.fromLlama2c(tokBytes, model.config.vocabSize, 'tok512.bin');
  const { text, tokensPerSecond } = await generateText(model, tok, { prompt: '', steps: 200, temperature: 0, seed: 0 });
  console.log(`${tokensPerSecond.toFixed(1)} tokens/s`);
  return { text, tokensPerSecond, adapter: gpu.adapterInfo };
}

run().then(
  (r) => ((window as any).__result = r),
  (e) => ((window as any).__result = { error: e instanceof Error ? e.stack ?? e.message : String(e) }),
);
