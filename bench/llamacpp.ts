// Prefill speed side by side: llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU binary) and this
// engine on the same GGUF file, T prompt tokens through the model, tokens/s (median of --reps runs,
// after one untimed warm-up each). Ours runs on whatever WebGPU adapter bin/with-gpu.js gives
// (SwiftShader on a CPU-only machine), llama.cpp on --threads CPU threads.
//   node bin/with-gpu.js node --import tsx --import ./scripts/register-wgsl.mjs bench/llamacpp.ts \
//     [--model file.gguf] [--tokens 128] [--reps 3] [--threads 2]
// With no --model: stories260K as Q8_0, written by our quantiser to a temporary file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { parseGguf } from '../src/formats/gguf';
import { ggufToModelFile } from '../src/formats/gguf_model';
import { llama2cTokenizerMetadata, quantizeModelGguf } from '../src/formats/gguf_writer';
import { createGpu } from '../src/gpu/device';
import { ForwardPass } from '../src/model/forward';
import { Model } from '../src/model/model';
import { mulberry32 } from '../src/util/random';
import { stories260K } from './assets';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const T = Number(arg('tokens', '128'));
const reps = Number(arg('reps', '3'));
const threads = Number(arg('threads', '2'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mobizo-bench-llamacpp-'));
let file = arg('model', '');
if (!file) {
  const { file: bin, tok } = stories260K();
  file = path.join(tmp, 'stories260K-q8_0.gguf');
  writeFileSync(file, quantizeModelGguf({ model: bin, metadata: llama2cTokenizerMetadata(tok) }, 'Q8_0'));
}
const bytes = new Uint8Array(readFileSync(file));
const mf = ggufToModelFile(parseGguf(bytes, file), bytes, file);
const V = mf.config.vocabSize;
const r = mulberry32(1);
const tokens = [1, ...Array.from({ length: T - 1 }, () => 3 + Math.floor(r() * (V - 3)))];

// llama.cpp
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
const lm = await llama.loadModel({ modelPath: file });
const ctx = await lm.createContext({ contextSize: Math.max(T, 64), batchSize: T, threads });
const seq = ctx.getSequence();
const lcMs: number[] = [];
for (let k = 0; k <= reps; k++) {
  await seq.clearHistory();
  const t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(tokens as Token[]);
  if (k > 0) lcMs.push(performance.now() - t0);
}
await ctx.dispose();
await lm.dispose();
await llama.dispose();

// ours: one pass of T tokens, the last row's logits read back (as a prefill)
const gpu = await createGpu();
const model = await Model.load(gpu, mf, mf.rawTensors);
const pass = new ForwardPass(model, { B: 1, T, nSelect: 1 });
const ourMs: number[] = [];
for (let k = 0; k <= reps; k++) {
  const t0 = performance.now();
  await pass.run(tokens, [T - 1]);
  if (k > 0) ourMs.push(performance.now() - t0);
}
pass.destroy();
model.destroy();
rmSync(tmp, { recursive: true, force: true });

const row = (who: string, ms: number[]) => `| ${who} | ${median(ms).toFixed(1)} | ${((T / median(ms)) * 1000).toFixed(0)} |`;
console.log(`prefill of ${T} tokens, ${path.basename(file)} (${(bytes.length / 2 ** 20).toFixed(2)} MiB), median of ${reps}`);
console.log('| engine | ms | tokens/s |\n|---|---|---|');
console.log(row(`llama.cpp CPU, ${threads} threads`, lcMs));
console.log(row(`mobizo (${gpu.adapterInfo})`, ourMs));
gpu.device.destroy();
