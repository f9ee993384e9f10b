// The README's browser example, bundled by test/pack.spec.ts with esbuild from the installed tarball,
// run in headless Chromium, and type-checked (skipLibCheck off) against the package's declarations.
import { createGpu, finetune, generateText, loadModel, type FineTuneOutput } from 'mobizo-webgpu';

async function main(): Promise<Record<string, unknown>> {
  const gpu = await createGpu(); // WebGPU on a real GPU, else WebAssembly on the CPU
  const model = await loadModel(gpu, '/models/stories260K.gguf'); // or a File, bytes, hf:owner/repo/file.gguf

  const text = 'Tom had a red kite. Every morning Tom ran up the green hill with his kite. The wind took the kite high into the sky, and Tom laughed.\n'.repeat(4);
  const r: FineTuneOutput = await finetune(model, { text }, { steps: 3, batch: 1, seq: 16, q: 2, evalSize: 2 });
  const { text: story } = await generateText(model, { prompt: 'Tom', steps: 24, temperature: 0, lora: r.lora });
  return {
    backend: gpu.backend,
    status: r.status,
    step: r.step,
    story,
    vocab: model.tokenizer?.vocabSize,
    config: r.files['adapter_config.json'],
    safetensorsBytes: r.files['adapter_model.safetensors'].length,
  };
}

const page = window as unknown as { __result?: unknown };
main().then(
  (r) => (page.__result = r),
  (e: unknown) => (page.__result = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
);
