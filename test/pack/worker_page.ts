// The worker engine from the installed package: dist/worker.js (mobizo-webgpu/worker) served as a file,
// driven by createWorkerEngine in a page bundled by esbuild: load a GGUF, fine-tune 3 steps, generate
// with the adapter, export the PEFT zip; the page's own thread only posts messages.
import { createWorkerEngine } from 'mobizo-webgpu';

async function main(): Promise<Record<string, unknown>> {
  const engine = createWorkerEngine(new Worker('/mobizo-webgpu/dist/worker.js', { type: 'module' }));
  try {
    const gpu = await engine.init();
    const model = await engine.load({ kind: 'url', url: '/models/stories260K.gguf' });
    const text = 'Tom had a red kite. Every morning Tom ran up the green hill with his kite. The wind took the kite high into the sky, and Tom laughed.\n'.repeat(4);
    const steps: number[] = [];
    const run = await engine.finetune({ text }, { steps: 3, batch: 1, seq: 16, q: 2, evalSize: 2, checkpointEvery: 0 }, { step: (s) => steps.push(s.step) });
    const gen = await engine.generate('Tom', { newTokens: 16, adapter: true });
    const zip = await engine.exportAdapter();
    return { backend: gpu.backend, model: model.name, status: run.status, step: run.step, steps, story: gen.rows[0]?.text, zipBytes: zip.zip.length, files: zip.files };
  } finally {
    engine.dispose();
  }
}

const page = window as unknown as { __result?: unknown };
main().then(
  (r) => (page.__result = r),
  (e: unknown) => (page.__result = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
);
