// The README's Node example, run by test/pack.spec.ts with plain `node app.mjs MODEL` in a fresh folder
// where only the packed tarball is installed: no launcher, no environment, no TypeScript loader.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createGpu, finetune, generateText, loadModel } from 'mobizo-webgpu';

const gpu = await createGpu(); // a real GPU through the optional `webgpu` package, else WebAssembly on the CPU
const model = await loadModel(gpu, process.argv[2]); // a GGUF: the model and its tokenizer

// Your text: it is tokenized and trained on here, and never leaves the machine.
const text = 'Tom had a red kite. Every morning Tom ran up the green hill with his kite. The wind took the kite high into the sky, and Tom laughed.\n'.repeat(4);
const { status, step, lora, files } = await finetune(model, { text }, { steps: 3, batch: 1, seq: 16, q: 2, evalSize: 2 });
const { text: story } = await generateText(model, { prompt: 'Tom', steps: 24, temperature: 0, lora });

mkdirSync('adapter', { recursive: true }); // a Hugging Face PEFT adapter
writeFileSync('adapter/adapter_config.json', files['adapter_config.json']);
writeFileSync('adapter/adapter_model.safetensors', files['adapter_model.safetensors']);
console.log(JSON.stringify({ backend: gpu.backend, status, step, story, vocab: model.tokenizer?.vocabSize }));
