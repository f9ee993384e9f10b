// One ZO step (prge: one pass of 2q x Bsz sequences, then the losses, the projected gradients and
// the update of every B) profiled dispatch by dispatch. Shared by the profile page (profile.html)
// and `npm run profile -- --node`.
import type { Gpu } from '../src/gpu/device';
import { Profiler, type ProfileResult } from '../src/gpu/profiler';
import type { Op } from '../src/gpu/program';
import type { LlamaConfig, LlamaModelFile } from '../src/formats/config';
import { Model } from '../src/model/model';
import { LoraState } from '../src/adapter/lora';
import type { Target } from '../src/model/targets';
import { ZoScheduler } from '../src/train/scheduler';
import type { PresetName } from './presets';
import { deviceInfo, type DeviceInfo } from './report';
import { syntheticBatch } from './scenarios';

export const PROFILE_SCHEMA = 'mobizo-profile/1';

export interface StepProfileOptions {
  preset: PresetName;
  q: number;
  batch: number;
  seq: number;
  rank: number;
  targets: Target[];
  repeats: number; // profiled replays of the step; each dispatch reports its median
  seed: number;
}

export const PROFILE_DEFAULTS: StepProfileOptions = { preset: 'stories260K', q: 4, batch: 2, seq: 32, rank: 16, targets: ['q', 'v'], repeats: 3, seed: 0 };

export interface StepProfileReport {
  schema: typeof PROFILE_SCHEMA;
  startedAt: string;
  runtime: 'chrome' | 'node';
  adapter: DeviceInfo;
  options: StepProfileOptions;
  model: { config: LlamaConfig; weights: 'checkpoint' | 'random' };
  step: { mode: 'prge'; sequences: number; tokens: number; wallMs: number; loss: number };
  profile: ProfileResult;
}

/** The dispatches and copies of one prge step, in the order step() encodes them. */
export function zoStepOps(s: ZoScheduler): Op[] {
  if (s.passes !== 1) throw new Error(`profile: a ${s.opts.mode} step is ${s.passes} passes; only a prge step is one op list`);
  return [...s.program.ops];
}

/** Loads the model, runs one prge step (warm-up: it sets every input and param), profiles it. */
export async function profileStep(gpu: Gpu, file: LlamaModelFile, weights: 'checkpoint' | 'random', o: StepProfileOptions, runtime: 'chrome' | 'node'): Promise<StepProfileReport> {
  const startedAt = new Date().toISOString();
  const model = await Model.load(gpu, file);
  const lora = LoraState.create(gpu, model.config, { rank: o.rank, alpha: 2 * o.rank, targets: o.targets }, o.seed);
  const sched = new ZoScheduler(model, lora, { mode: 'prge', q: o.q, eps: 1e-2, lr: 1e-3, batch: o.batch, seq: o.seq, seed: o.seed });
  try {
    const batch = syntheticBatch(o.batch, o.seq, model.config.vocabSize, o.seed);
    await sched.step(0, batch); // compiles nothing (kernels are built), but warms every buffer
    const t0 = performance.now();
    const r = await sched.step(1, batch);
    const wallMs = performance.now() - t0;
    const profile = await new Profiler(gpu).profile(zoStepOps(sched), {
      label: `prge step q=${o.q} [${2 * o.q * o.batch} x ${o.seq}]`,
      repeats: o.repeats,
    });
    return {
      schema: PROFILE_SCHEMA,
      startedAt,
      runtime,
      adapter: deviceInfo(gpu),
      options: o,
      model: { config: model.config, weights },
      step: { mode: 'prge', sequences: 2 * o.q * o.batch, tokens: 2 * o.q * o.batch * o.seq, wallMs, loss: r.loss },
      profile,
    };
  } finally {
    sched.destroy();
    lora.destroy();
    model.destroy();
  }
}
