// The README's embedding example, run as is by test/embed.spec.ts in headless Chrome against the
// library bundle (dist/index.js, what `import ... from 'mobizo-webgpu'` resolves to).
import { createGpu, loadModel, Tokenizer, FineTuner, generateText } from 'mobizo-webgpu';

const fetchBytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
const gpu = await createGpu();
const model = await loadModel(gpu, await fetchBytes('/assets/models/stories260K.bin'), 'stories260K.bin');
const tok = Tokenizer.fromLlama2c(await fetchBytes('/assets/models/tok512.bin'), model.config.vocabSize, 'tok512.bin');

// Your private text: it is tokenised and trained on here, and never leaves the device.
const text = 'Tom had a red kite. Every morning Tom ran up the green hill with his kite. ' +
  'The wind took the kite high into the sky, and Tom laughed. One day the string broke. ' +
  'Tom was sad, but his sister Mia found the kite in a tall tree. Together they climbed up and got it back.';
const tuner = new FineTuner(model, tok, { task: 'lm', text }, { steps: 10, batch: 1, seq: 16, q: 2, checkpointEvery: 5 });
tuner.addEventListener('step', (e) => console.log(`step ${e.detail.step + 1}/${e.detail.steps}: loss ${e.detail.loss.toFixed(3)}`));
tuner.addEventListener('eval', (e) => console.log(`held-out loss at step ${e.detail.step}: ${e.detail.loss.toFixed(3)}`));
const result = await tuner.run(); // pause() / stop() take effect at the next checkpoint; run() again continues

const { text: story } = await generateText(model, tok, { prompt: 'Tom', steps: 40, temperature: 0, lora: tuner.lora });
const files = await tuner.adapterFiles(); // adapter_config.json + adapter_model.safetensors (Hugging Face PEFT)

export { result, story, files, tuner };
