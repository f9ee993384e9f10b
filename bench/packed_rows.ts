// Classification fine-tuning with packed candidate rows, against the layout before them, side by side.
// A candidate is scored at the positions that predict its label tokens, which read its tokens but
// the last: candidates whose labels are one token each (" no" / " yes" with GPT-2's or Llama 3's
// vocabulary) read the same prompt and share one row (src/data/tasks.ts packCandidates), and the LM
// head and the cross-entropy hold the labelled positions only (ZoOptions.labelsPerExample).
// Before: a row per candidate and logits for every position of every row.
// Here: sms-spam through GPT-2's tokenizer (../shared/assets/vocab), random weights of the stories15M
// shape with GPT-2's vocabulary (50257); one prge step per layout in turn (--reps each, after a
// warm-up), the same examples per step; ms per step, the ledger's bytes, and the slot losses of both
// (the same math: equal up to float rounding).
//   node bin/with-gpu.js node --import tsx --import ./scripts/register-wgsl.mjs bench/packed_rows.ts \
//     [--q 2] [--batch 4] [--seq 40] [--reps 3] [--out results/packed_rows.json]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LoraState } from '../src/adapter/lora';
import { loadTask } from '../src/cli/task_data';
import { ItemDataset } from '../src/data/tasks';
import { parseGguf } from '../src/formats/gguf';
import { GgufTokenizer } from '../src/formats/gguf_tokenizer';
import { createGpu } from '../src/gpu/device';
import { Model } from '../src/model/model';
import { toyModel } from '../src/model/toy';
import { ZoScheduler, type ZoOptions } from '../src/train/scheduler';
import { ASSETS } from './assets';
import { PRESETS } from './presets';

const { values } = parseArgs({
  options: {
    q: { type: 'string', default: '2' },
    batch: { type: 'string', default: '4' },
    seq: { type: 'string', default: '40' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
const [q, batch, seq, reps] = [values.q, values.batch, values.seq, values.reps].map(Number);
const vocabFile = path.join(ASSETS, 'vocab', 'ggml-vocab-gpt-2.gguf');
const tok = GgufTokenizer.fromGguf(parseGguf(new Uint8Array(readFileSync(vocabFile)), vocabFile), vocabFile);
const config = { ...PRESETS.stories15M.config, vocabSize: tok.vocabSize };
const task = loadTask({ preset: 'sms-spam', trainSize: '0', evalSize: '0', evalFraction: '0.1', encoding: 'utf-8', assets: ASSETS, loss: 'classes', heldOut: 'test' }, tok, seq, 0);
const items = task.trainItems!;
const layouts = {
  before: new ItemDataset(items, seq, 'classes', { pack: false }),
  packed: new ItemDataset(items, seq, 'classes'),
};
const gpu = await createGpu();
// a random 6-layer model's logits are large (its candidates' scores ~30 nats apart: every class loss 0);
// the final norm scaled by 1/8 brings them to O(1), so the two layouts' losses compare on real values
const file = toyModel(7, config);
file.weights.finalNorm.fill(1 / 8);
const model = await Model.load(gpu, file);
const lcfg = { rank: 16, alpha: 32, targets: ['v', 'o'] as ('v' | 'o')[] };
const lora = LoraState.create(gpu, config, lcfg, 1);
const base: ZoOptions = { mode: 'prge', q, eps: 1e-2, lr: 0, batch, seq, seed: 0, candidates: 2, lossPerExample: true };
const mib = (b: number) => +(b / 2 ** 20).toFixed(2);
const side = Object.entries(layouts).map(([name, data]) => {
  const before = gpu.ledger.totalBytes();
  const opts: ZoOptions = name === 'before' ? { ...base, rowsPerExample: 2 } : { ...base, rowsPerExample: data.rowsPerExample, labelsPerExample: data.labelsPerExample };
  const sched = new ZoScheduler(model, lora, opts);
  return { name, data, sched, stepMiB: mib(gpu.ledger.totalBytes() - before), rows: sched.forward.shape.B, nSelect: sched.forward.shape.nSelect, ms: [] as number[], losses: [] as number[][] };
});
console.log(`sms-spam (GPT-2 tokenizer, vocab ${config.vocabSize}; rows per message: before 2, packed ${layouts.packed.rowsPerExample}; labelled positions per message ${layouts.packed.labelsPerExample}), stories15M shape, prge q ${q} batch ${batch} seq ${seq}, ${gpu.adapterInfo}`);
for (const s of side) await s.sched.step(0, s.data.batchAt(0, batch, 0)); // warm-up: pipelines
for (let k = 1; k <= reps; k++) {
  for (const s of side) {
    const t0 = performance.now();
    const r = await s.sched.step(k, s.data.batchAt(k, batch, 0));
    s.ms.push(performance.now() - t0);
    s.losses.push(r.slotLosses);
  }
}
for (const s of side) console.log(`${s.name} slot losses: ${s.losses.map((l) => l.map((x) => x.toFixed(5)).join(' ')).join(' | ')}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
let maxDiff = 0;
side[0].losses.forEach((ls, k) => ls.forEach((l, g) => (maxDiff = Math.max(maxDiff, Math.abs(l - side[1].losses[k][g]) / Math.abs(l)))));
const rows = side.map((s) => ({ layout: s.name, rows: s.rows, lmHeadRows: s.nSelect, stepMiB: s.stepMiB, msPerStep: +median(s.ms).toFixed(1), ms: s.ms.map((m) => +m.toFixed(1)) }));
console.log('| layout | rows of the pass | LM head rows (logits) | step buffers MiB | ms per step (median) |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.layout} | ${r.rows} | ${r.lmHeadRows} | ${r.stepMiB} | ${r.msPerStep} |`);
const ratio = rows[0].msPerStep / rows[1].msPerStep;
console.log(`packed: ${ratio.toFixed(2)}x faster a step, ${(rows[0].stepMiB / rows[1].stepMiB).toFixed(1)}x less step memory; slot losses agree to ${maxDiff.toExponential(1)} (relative)`);
if (values.out) writeFileSync(path.resolve(import.meta.dirname, values.out), JSON.stringify({ date: new Date().toISOString(), adapter: gpu.adapterInfo, q, batch, seq, reps, rows, speedup: ratio, maxRelLossDiff: maxDiff }, null, 1));
for (const s of side) s.sched.destroy();
lora.destroy();
model.destroy();
