// Classification fine-tuning vs zero-shot, over 3 seeds: the table of the tasks issue.
// Run: npm run bench:tasks -- [--preset sms-spam] [--seeds 0,1,2] [--eval-every 200] and any of --steps --lr
// --schedule --q --batch --seq --targets --rank --eps --loss --eval-size (defaults: `mobizo finetune`'s
// for a classification task, seq 40, eval-size 200). The eval sample is the same for every seed.
import path from 'node:path';
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import { createGpu } from '../src/gpu/device';
import { loadTask } from '../src/cli/task_data';
import { parseLlama2c } from '../src/formats/llama2c';
import { Model } from '../src/model/model';
import { Tokenizer } from '../src/formats/tokenizer';
import { LoraState } from '../src/adapter/lora';
import { parseTargets } from '../src/adapter/peft';
import type { LrSchedule } from '../src/train/scheduler';
import { train } from '../src/train/trainer';
import { defaultOptions } from '../src/train/defaults';
import { DEFAULT_TASK_LOSS } from '../src/data/tasks';

const d = defaultOptions(false, false, 'classify'); // the CLI's defaults for a classification task
const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'sms-spam' },
    steps: { type: 'string', default: String(d.steps) },
    lr: { type: 'string', default: String(d.lr) },
    seq: { type: 'string', default: '40' },
    q: { type: 'string', default: String(d.q) },
    batch: { type: 'string', default: String(d.batch) },
    'eval-size': { type: 'string', default: '200' },
    seeds: { type: 'string', default: '0,1,2' },
    targets: { type: 'string', default: d.targets },
    loss: { type: 'string', default: DEFAULT_TASK_LOSS },
    schedule: { type: 'string', default: d.schedule },
    'eval-every': { type: 'string', default: '0' },
    rank: { type: 'string', default: String(d.rank) },
    eps: { type: 'string', default: String(d.eps) },
  },
});
const assets = path.resolve(import.meta.dirname, '..', '..', 'shared', 'assets');
const gpu = await createGpu();
const model = await Model.load(gpu, parseLlama2c(new Uint8Array(fs.readFileSync(path.join(assets, 'models/stories260K.bin'))), 'stories260K.bin'));
const tok = Tokenizer.fromLlama2c(new Uint8Array(fs.readFileSync(path.join(assets, 'models/tok512.bin'))), 512, 'tok512.bin');
const seq = Number(values.seq);
const steps = Number(values.steps);
const flags = { preset: values.preset, trainSize: '0', evalSize: values['eval-size']!, evalFraction: '0.1', encoding: 'utf-8', assets, loss: values.loss };
const lcfg = { rank: Number(values.rank), alpha: 2 * Number(values.rank), targets: parseTargets(values.targets!) };
const accs: number[] = [];
let zeroShot = NaN;
let wall = 0;
for (const seed of values.seeds!.split(',').map(Number)) {
  // the eval sample is fixed (seed 0) so seeds differ only in training
  const evalTask = loadTask({ ...flags }, tok, seq, 0);
  const task = loadTask({ ...flags }, tok, seq, seed);
  if (Number.isNaN(zeroShot)) {
    const base = LoraState.create(gpu, model.config, lcfg, 0);
    zeroShot = (await evalTask.evaluate(model, base, 64)).accuracy!;
    base.destroy();
    console.log(`${values.preset}: zero-shot accuracy ${(100 * zeroShot).toFixed(1)}% on ${evalTask.evalCount} examples`);
  }
  const t0 = performance.now();
  const evalEvery = Number(values['eval-every']);
  const s = await train(model, task.train, { mode: 'prge', q: Number(values.q), eps: Number(values.eps), lr: Number(values.lr), schedule: values.schedule as LrSchedule, batch: Number(values.batch), seq, seed, steps, evalEvery, checkpointEvery: 0, lora: lcfg, lossPerExample: true }, {
    // intermediate evaluations (--eval-every) print the curve; the table uses the final one
    ...(evalEvery ? { evaluate: (lora: LoraState) => evalTask.evaluate(model, lora, 64), events: { onEval: (e: { step: number; accuracy?: number; f1?: number; loss: number }) => console.log(`  seed ${seed} step ${e.step}: accuracy ${(100 * e.accuracy!).toFixed(1)}%, F1 ${e.f1!.toFixed(3)}, eval loss ${e.loss.toFixed(3)}`) } } : {}),
  });
  wall += (performance.now() - t0) / 1000;
  const acc = (await evalTask.evaluate(model, s.lora, 64)).accuracy!;
  accs.push(acc);
  console.log(`seed ${seed}: fine-tuned accuracy ${(100 * acc).toFixed(1)}%, last losses ${s.state.history.slice(-3).map((h) => h.loss.toFixed(3)).join(' ')}`);
  s.lora.destroy();
}
const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
const std = Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, accs.length - 1));
console.log('task\tzero-shot\tfine-tuned mean +/- std\tsteps\twall s/run');
console.log(`${values.preset}\t${(100 * zeroShot).toFixed(1)}%\t${(100 * mean).toFixed(1)}% +/- ${(100 * std).toFixed(1)}\t${steps}\t${(wall / accs.length).toFixed(0)}`);
