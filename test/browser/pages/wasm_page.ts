// The WASM backend in a browser page (cross-origin isolated: SharedArrayBuffer, Web Workers):
// greedy generation of stories260K on every core and on one thread, and a prge step's slot losses
// on both. Puts WasmPageResult (or { error }) on window.__result.
import { LoraState } from '../../../src/adapter/lora';
import { createGpu, generateText, loadModel, Tokenizer } from '../../../src/index';
import { ZoScheduler } from '../../../src/train/scheduler';

export interface WasmPageResult {
  isolated?: boolean;
  describe?: string[]; // each device's gpu.describe()
  threads?: number[];
  texts?: string[];
  tokensPerSecond?: number[];
  losses?: number[][];
  error?: string;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function run(): Promise<WasmPageResult> {
  const [modelBytes, tokBytes] = await Promise.all([fetchBytes('/assets/models/stories260K.bin'), fetchBytes('/assets/models/tok512.bin')]);
  const out: WasmPageResult = { isolated: globalThis.crossOriginIsolated, describe: [], threads: [], texts: [], tokensPerSecond: [], losses: [] };
  for (const threads of [undefined, 1]) {
    const gpu = await createGpu({ backend: 'wasm', threads });
    const model = await loadModel(gpu, modelBytes, 'stories260K.bin');
    const tok = Tokenizer.fromLlama2c(tokBytes, model.config.vocabSize, 'tok512.bin');
    const { text, tokensPerSecond } = await generateText(model, tok, { prompt: '', steps: 200, temperature: 0, seed: 0 });
    const lcfg = { rank: 4, alpha: 8, targets: ['q', 'v'] as ('q' | 'v')[] };
    const host = LoraState.initHost(model.config, lcfg, 3);
    host.layers.forEach((e) => {
      for (const t of lcfg.targets) e[t]!.B = e[t]!.B.map((_, i) => Math.sin(i) * 0.05);
    });
    const lora = LoraState.upload(gpu, model.config, lcfg, host);
    const sched = new ZoScheduler(model, lora, { mode: 'prge', q: 2, eps: 1e-2, lr: 1e-3, batch: 2, seq: 16, seed: 5 });
    const n = 32;
    const r = await sched.step(0, { tokens: Int32Array.from({ length: n }, (_, i) => (i * 37 + 1) % 512), labels: Int32Array.from({ length: n }, (_, i) => ((i + 1) * 37 + 1) % 512) });
    gpu.throwIfFailed('wasm page');
    out.describe!.push(gpu.describe());
    out.threads!.push(gpu.threads);
    out.texts!.push(text);
    out.tokensPerSecond!.push(tokensPerSecond);
    out.losses!.push(r.slotLosses);
    sched.destroy();
    lora.destroy();
    model.destroy();
    gpu.device.destroy();
  }
  return out;
}

run().then(
  (r) => ((window as any).__result = r),
  (e) => ((window as any).__result = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
);
