// ms per ZO step of mezo / outer / prge at q = 1, 2, 4, 8 on stories260K (Bsz 4, T 64), measured
// side by side (modes interleaved per repetition, so machine noise hits all alike), as ratios.
// Also the ZO overhead: a prge step / inference at the same 2q x Bsz rows with the same loss head
// and the same readback (bench/zo_baseline.ts).
// Run: npm run bench:zo -- [--q 1,2,4,8] [--reps 2] [--batch 4] [--seq 64]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createGpu } from '../src/gpu/device';
import { LmDataset } from '../src/data/lm';
import { Model } from '../src/model/model';
import { ASSETS, stories260K } from './assets';
import { LossForward } from './zo_baseline';
import { LoraState } from '../src/adapter/lora';
import { ZoScheduler, ZO_MODES, type ZoMode } from '../src/train/scheduler';

const { values } = parseArgs({ options: { q: { type: 'string', default: '1,2,4,8' }, reps: { type: 'string', default: '2' }, batch: { type: 'string', default: '4' }, seq: { type: 'string', default: '64' } } });
const qs = values.q!.split(',').map(Number);
const reps = Number(values.reps);
const batch = Number(values.batch);
const seq = Number(values.seq);
const { file, tok } = stories260K();
const gpu = await createGpu();
const model = await Model.load(gpu, file);
const text = fs.readFileSync(path.join(ASSETS, 'data/tinystories/tinystories-head-2MiB.txt'), 'utf8').slice(0, 100_000);
const data = new LmDataset(text.split('<|endoftext|>'), tok, seq);
const lcfg = { rank: 16, alpha: 32, targets: ['q', 'v'] as ('q' | 'v')[] };
console.log(`stories260K, Bsz ${batch}, T ${seq}, rank 16 on q,v, ${reps} timed steps per mode after a warm-up; adapter: ${gpu.adapterInfo}`);
console.log('q\tmezo ms\touter ms\tprge ms\tfwd+loss ms\tmezo/prge\touter/prge\tprge/(fwd+loss)');
const results = [];
for (const q of qs) {
  const scheds = Object.fromEntries(
    ZO_MODES.map((mode) => {
      const lora = LoraState.create(gpu, model.config, lcfg, 0);
      return [mode, new ZoScheduler(model, lora, { mode, q, eps: 1e-2, lr: 1e-3, batch, seq, seed: 0 })];
    }),
  ) as Record<ZoMode, ZoScheduler>;
  const fwd = new LossForward(model, q, batch, seq);
  const ms: Record<string, number> = { mezo: 0, outer: 0, prge: 0, forward: 0 };
  for (let r = 0; r <= reps; r++) {
    for (const mode of ZO_MODES) {
      const t0 = performance.now();
      await scheds[mode].step(r, data.batchAt(r, batch, 0));
      if (r > 0) ms[mode] += (performance.now() - t0) / reps;
    }
    const t0 = performance.now();
    await fwd.run(data.batchAt(r, batch, 0));
    if (r > 0) ms.forward += (performance.now() - t0) / reps;
  }
  for (const s of Object.values(scheds)) (s.destroy(), s.lora.destroy());
  fwd.destroy();
  results.push({ q, ...ms });
  console.log(`${q}\t${ms.mezo.toFixed(0)}\t${ms.outer.toFixed(0)}\t${ms.prge.toFixed(0)}\t${ms.forward.toFixed(0)}\t${(ms.mezo / ms.prge).toFixed(2)}\t${(ms.outer / ms.prge).toFixed(2)}\t${(ms.prge / ms.forward).toFixed(2)}`);
}
fs.mkdirSync(path.join(import.meta.dirname, 'results'), { recursive: true });
const out = path.join(import.meta.dirname, 'results', `zo_modes-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(out, JSON.stringify({ adapter: gpu.adapterInfo, batch, seq, reps, results }, null, 1));
console.log(`wrote ${out}`);
