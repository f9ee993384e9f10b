// The MP-LoRA term fused into the matmul's epilogue (matmul_lora) vs the matmul + mplora pair:
// one prge step on stories260K, both configurations in one process, steps interleaved (so machine
// noise hits both alike), the step ms ratio, and the profiler's per-kernel table of each.
// Run: node bin/with-gpu.js node --import tsx --import ./scripts/register-wgsl.mjs bench/fusion.ts
//        [--q 4] [--batch 4] [--seq 64] [--reps 5] [--targets q,v] [--rank 16] [--top 3]
import { parseArgs } from 'node:util';
import { LoraState } from '../src/adapter/lora';
import { createGpu } from '../src/gpu/device';
import { Profiler, type ProfileResult } from '../src/gpu/profiler';
import { Model } from '../src/model/model';
import { TARGETS, type Target } from '../src/model/targets';
import { ZoScheduler } from '../src/train/scheduler';
import { stories260K } from './assets';
import { syntheticBatch } from './scenarios';
import { median } from './timing';
import { zoStepOps } from './profile_step';

const { values } = parseArgs({
  options: {
    q: { type: 'string', default: '4' }, batch: { type: 'string', default: '4' }, seq: { type: 'string', default: '64' }, reps: { type: 'string', default: '5' },
    targets: { type: 'string', default: 'q,v' }, rank: { type: 'string', default: '16' }, top: { type: 'string', default: '3' },
  },
});
const [q, batch, seq, reps, rank, top] = [values.q, values.batch, values.seq, values.reps, values.rank, values.top].map(Number);
const targets = values.targets!.split(',') as Target[];
for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`--targets: ${t} is not one of ${TARGETS.join(', ')}`);
const { file } = stories260K();
const gpu = await createGpu();
const model = await Model.load(gpu, file);
const batchData = syntheticBatch(batch, seq, model.config.vocabSize, 0);
const configs = { unfused: '0', fused: '1' } as const;
type Config = keyof typeof configs;
const saved = process.env.MOBIZO_FUSE_LORA;
const runs = Object.fromEntries(
  (Object.keys(configs) as Config[]).map((c) => {
    process.env.MOBIZO_FUSE_LORA = configs[c]; // read when the scheduler records its forward pass
    const lora = LoraState.create(gpu, model.config, { rank, alpha: 2 * rank, targets }, 0);
    return [c, { lora, sched: new ZoScheduler(model, lora, { mode: 'prge', q, eps: 1e-2, lr: 1e-3, batch, seq, seed: 0 }) }];
  }),
) as Record<Config, { lora: LoraState; sched: ZoScheduler }>;
if (saved === undefined) delete process.env.MOBIZO_FUSE_LORA;
else process.env.MOBIZO_FUSE_LORA = saved;

console.log(`stories260K prge step, q ${q}, Bsz ${batch}, T ${seq}, rank ${rank} on ${targets.join(',')}; ${reps} timed steps each, interleaved; adapter: ${gpu.adapterInfo}`);
const ms: Record<Config, number[]> = { unfused: [], fused: [] };
const losses: Record<Config, number[]> = { unfused: [], fused: [] };
for (let r = 0; r <= reps; r++) {
  for (const c of Object.keys(configs) as Config[]) {
    const t0 = performance.now();
    const res = await runs[c].sched.step(r, batchData);
    if (r > 0) ms[c].push(performance.now() - t0);
    losses[c].push(res.loss);
  }
}
// the same step sequence from the same adapters: the losses agree (to f32 rounding)
const lossDiff = Math.max(...losses.fused.map((l, i) => Math.abs(l - losses.unfused[i]) / Math.abs(losses.unfused[i])));
const [mu, mf] = [median(ms.unfused), median(ms.fused)];
console.log(`step ms (median): unfused ${mu.toFixed(2)}, fused ${mf.toFixed(2)}; unfused / fused x${(mu / mf).toFixed(3)}; max rel loss difference ${lossDiff.toExponential(2)}`);

const profiles = {} as Record<Config, ProfileResult>;
for (const c of Object.keys(configs) as Config[]) {
  profiles[c] = await new Profiler(gpu).profile(zoStepOps(runs[c].sched), { label: `${c} prge step`, repeats: 3, findings: false });
}
for (const c of Object.keys(configs) as Config[]) {
  const p = profiles[c];
  console.log(`\n${c}: profiled ${(p.totalNs / 1e6).toFixed(2)} ms of dispatches (${p.method}), ${p.dispatches.length} dispatches`);
  console.log('kernel\tdispatches\tms\tshare');
  for (const k of p.kernels.slice(0, top)) console.log(`${k.kernel}\t${k.dispatches}\t${(k.ns / 1e6).toFixed(3)}\t${(100 * k.share).toFixed(1)}%`);
}
console.log(`\nprofiled dispatch time: unfused / fused x${(profiles.unfused.totalNs / profiles.fused.totalNs).toFixed(3)}`);
for (const c of Object.keys(configs) as Config[]) {
  runs[c].sched.destroy();
  runs[c].lora.destroy();
}
model.destroy();
process.exit(0);
