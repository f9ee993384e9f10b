// How the default lr / eps were picked: a grid of short prge runs of stories260K on text of one
// style (movie-review sentences, rt-polarity.pos). Three disjoint parts: train, validation (the
// loss to choose lr / eps by) and test (the loss to report for the chosen setting only).
// Run: node bin/with-gpu.js node --import tsx --import ./scripts/register-wgsl.mjs bench/tune_lr.ts [steps]
import fs from 'node:fs';
import path from 'node:path';
import { createGpu } from '../src/gpu/device';
import { LmDataset } from '../src/data/lm';
import { Model } from '../src/model/model';
import { evaluateLm } from '../src/eval/evaluate';
import { train } from '../src/train/trainer';
import { ASSETS, stories260K } from './assets';

const steps = Number(process.argv[2] ?? 40);
const { file, tok } = stories260K();
const gpu = await createGpu();
const model = await Model.load(gpu, file);
const lines = fs.readFileSync(path.join(ASSETS, 'data/rt-polarity/rt-polarity.pos'), 'utf8').split('\n').filter((l) => l.trim());
const seq = 32;
const trainSet = new LmDataset(lines.slice(0, 2000), tok, seq);
const validation = new LmDataset(lines.slice(2000, 2200), tok, seq);
const test = new LmDataset(lines.slice(2200, 2400), tok, seq);
console.log(`stories260K on rt-polarity.pos: ${trainSet.chunks} train / ${validation.chunks} validation / ${test.chunks} test chunks of ${seq}; prge q=4 batch 4, ${steps} steps`);
console.log('lr\teps\tvalidation before\tvalidation after\tdelta\tms/step');
let best = { after: Infinity, lr: 0, eps: 0, test: NaN, testBefore: NaN };
for (const eps of [1e-2, 1e-3]) {
  for (const lr of [1e-3, 3e-3, 1e-2, 3e-2]) {
    const s = await train(model, trainSet, {
      mode: 'prge', q: 4, eps, lr, batch: 4, seq, seed: 0, steps, evalEvery: 0, checkpointEvery: 0,
      lora: { rank: 16, alpha: 32, targets: ['q', 'v'] },
    }, { evaluate: (lora) => evaluateLm(model, lora, validation, 4) });
    const b = s.evalBefore!.loss;
    const a = s.evalAfter!.loss;
    console.log(`${lr}\t${eps}\t${b.toFixed(4)}\t${a.toFixed(4)}\t${(a - b).toFixed(4)}\t${s.msPerStep.toFixed(0)}`);
    if (a < best.after) best = { after: a, lr, eps, test: (await evaluateLm(model, s.lora, test, 4)).loss, testBefore: (await evaluateLm(model, null, test, 4)).loss };
    s.lora.destroy();
  }
}
console.log(`chosen on validation: lr ${best.lr}, eps ${best.eps}; its test loss ${best.testBefore.toFixed(4)} -> ${best.test.toFixed(4)}`);
