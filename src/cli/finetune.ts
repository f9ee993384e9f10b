// `mobizo finetune`: MobiZO zeroth-order fine-tuning of LoRA adapters on a text data set.
// With --json, stdout has one JSON object per step and a final summary; otherwise a progress
// bar and a summary go to stderr. With neither --model nor data it is the main job: the bundled
// stories260K learns the built-in text (src/data/demo.ts), with a greedy sample before and after.
// A diverging run is flagged (stderr, and {"diverged"} in the JSON) and stops unless --on-diverge warn;
// a stopped run keeps the last adapter whose held-out loss was within the limit, or the base (exit
// code 2; {"status": "diverged", "kept": {step, loss}, "rolledBack": {from, to}} in the JSON).
// OUT: one writer (a lock), atomic checkpoints (src/cli/checkpoint_dir.ts), resumes checked against
// the model and data they were trained on.
import fs from 'node:fs';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { Model } from '../model/model';
import { LoraState } from '../adapter/lora';
import { parseTargets } from '../adapter/peft';
import { ZoScheduler, ZO_OPTIMIZERS, type LrSchedule, type ZoMode, type ZoOptimizerName } from '../train/scheduler';
import { MAX_ZO_RANK } from '../train/options';
import { train, validateTrainConfig, type EvalResult, type TrainConfig, type TrainData } from '../train/trainer';
import { ON_DIVERGE, type Divergence, type OnDiverge } from '../train/divergence';
import { generateText } from '../model/generate';
import type { TextTokenizer } from '../formats/tokenizer';
import type { TaskMetrics } from '../eval/metrics';
import { DEMO_PROMPT } from '../data/demo';
import { checkpointFolders, directoryStore, faultFromEnv, lastCheckpoint } from './checkpoint_dir';
import { lockOut, prepareOut } from './out_lock';
import { fileSource } from './file_source';
import { fingerprintSource, fingerprintSources, taskFingerprint, type RunFingerprint } from '../train/checkpoint';
import { modelOptions, openModel, parseFloatOption, parseIntOption, runAction } from './common';
import { checkTaskFlags, taskOptions, taskSpec, tokenizingProgress, type TaskFlags, type TaskKind } from './task_data';
import { prepareTask } from '../train/task_source';
import { CLI_DEFAULTS, DEMO_OVERRIDES, TASK_OVERRIDES, defaultOptions } from '../train/defaults';
import { describeEstimate, fitRunOptions, fmtMiB, parseBytes } from '../train/memory_plan';

interface FinetuneFlags extends TaskFlags {
  lr?: string;
  lrSchedule?: string;
  batch?: string;
  seq?: string;
  steps?: string;
  model?: string;
  tokenizer?: string;
  mode: string;
  q?: string;
  eps: string;
  seed: string;
  targets?: string;
  rank: string;
  alpha: string;
  out: string;
  evalEvery: string;
  checkpointEvery: string;
  resume?: boolean;
  overwrite?: boolean;
  json?: boolean;
  compare: boolean;
  onDiverge: string;
  maxMemory?: string;
  optimizer: string;
  beta1: string;
  beta2: string;
  zoRank: string;
  hessianSmooth: string;
}


/** Rows per evaluation pass: as many as a training pass holds. */
function evalRows(cfg: TrainConfig, kind: TaskKind): number {
  return kind === 'lm' ? cfg.batch : 2 * cfg.q * cfg.batch;
}

/** An evaluation in words; `lossName` says which loss e.loss is (PreparedTask.lossName). */
export function describeEval(e: EvalResult, lossName: string): string {
  const acc = e.accuracy !== undefined ? `accuracy ${(100 * e.accuracy).toFixed(1)}%, macro-F1 ${(100 * e.f1!).toFixed(1)}%, ` : '';
  return `${acc}${lossName} ${e.loss.toFixed(4)}${e.tokens ? ` over ${e.tokens} tokens` : e.n ? ` over ${e.n} examples` : ''}`;
}

/** A classify / choice evaluation in words: both losses, named (the class loss is --loss classes' objective). */
export function describeMetrics(m: TaskMetrics): string {
  return `accuracy ${(100 * m.accuracy).toFixed(1)}%, macro-F1 ${(100 * m.f1).toFixed(1)}%, class loss ${m.classLoss.toFixed(4)}, label-token loss ${m.loss.toFixed(4)} over ${m.n} examples`;
}

/** Per class: answers, predictions, precision, recall; then the confusion matrix (rows: answers). */
export function describeClasses(m: TaskMetrics): string {
  const w = Math.max(5, ...m.classes.map((c) => c.name.length));
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(9);
  const rows = m.classes.map((c) => `  ${c.name.padEnd(w)} ${String(c.count).padStart(6)} ${String(c.predicted).padStart(9)} ${pct(c.precision)} ${pct(c.recall)}`);
  const confusion = m.confusion.map((r, i) => `  ${m.classes[i].name.padEnd(w)} ${r.map((v) => String(v).padStart(6)).join(' ')}`);
  return [
    `  ${'class'.padEnd(w)}  count predicted precision    recall`,
    ...rows,
    `  confusion (rows: answer; columns: predicted ${m.classes.map((c) => c.name).join(', ')})`,
    ...confusion,
    '',
  ].join('\n');
}

/** The built-in job's greedy continuation of its prompt, one line. */
async function greedySample(model: Model, tok: TextTokenizer, lora: LoraState | undefined): Promise<string> {
  const r = await generateText(model, tok, { prompt: DEMO_PROMPT, steps: 48, temperature: 0, lora });
  return r.text.replace(/\s+/g, ' ').trim();
}

/** A failed run (a crash, a lost device, a full disk) says where its last checkpoint is and how to go on. */
async function withResumeHint<T>(out: string, stop: () => void, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    stop();
    const last = checkpointFolders(out)[0];
    if (!last || /--resume/.test((e as Error).message)) throw e;
    throw new Error(`${(e as Error).message}; the checkpoint of step ${last.step} is in ${out}: continue with --resume`);
  }
}

/** The fingerprint of the model a run trains: its file, or the files of a Hugging Face folder (openModel's path). */
async function modelFingerprint(file: string): Promise<{ model: string; modelName: string }> {
  if (fs.statSync(file).isDirectory()) {
    const names = fs.readdirSync(file).filter((n) => n === 'config.json' || n.endsWith('.safetensors'));
    return { model: await fingerprintSources(names.map((n) => fileSource(path.join(file, n), n))), modelName: path.basename(file) };
  }
  return { model: await fingerprintSource(fileSource(file)), modelName: path.basename(file) };
}

/** ms per step of `mode` on this batch shape (fresh adapters; the model is unchanged). */
async function timeMode(model: Model, cfg: TrainConfig, mode: ZoMode, data: TrainData, steps = 3): Promise<number> {
  const lora = LoraState.create(model.gpu, model.config, cfg.lora, cfg.seed);
  const sched = new ZoScheduler(model, lora, { ...cfg, mode, lr: 0 });
  try {
    await sched.step(0, data.batchAt(0, cfg.batch, cfg.seed)); // warm-up
    const t0 = performance.now();
    for (let k = 1; k <= steps; k++) await sched.step(k, data.batchAt(k, cfg.batch, cfg.seed));
    return (performance.now() - t0) / steps;
  } finally {
    sched.destroy();
    lora.destroy();
  }
}

/** The options whose default depends on the task (classify / choice) or the built-in demo. */
type TaskDefaulted = 'lr' | 'schedule' | 'batch' | 'seq' | 'steps' | 'q' | 'targets';

export function registerFinetune(program: Command): void {
  const d = CLI_DEFAULTS;
  // "(default 3e-3; classify / choice 1; built-in job 0.1)": where the task or built-in job's defaults differ
  const note = (k: TaskDefaulted) => {
    const t = TASK_OVERRIDES[k];
    const demo = DEMO_OVERRIDES[k];
    return `(default ${d[k]}${t !== undefined ? `; classify / choice ${t}` : ''}${demo !== undefined ? `; built-in job ${demo}` : ''})`;
  };
  modelOptions(taskOptions(program.command('finetune')), { adapter: false })
    .description('ZO fine-tuning of LoRA adapters (MobiZO P-RGE); with no --model and no data: the bundled stories260K learns a built-in text')
    .option('--mode <m>', 'prge (one pass of 2q x batch rows) | outer | mezo (sequential baseline)', d.mode)
    .option('--q <n>', `perturbations (queries) per step ${note('q')}`)
    .option('--eps <x>', 'perturbation size', String(d.eps))
    .option('--lr <x>', `learning rate ${note('lr')}`)
    .option('--lr-schedule <s>', `constant | linear (lr falls to 0 at the last step) ${note('schedule')}`)
    .option('--batch <n>', `examples per step ${note('batch')}`)
    .option('--seq <n>', `tokens per example ${note('seq')}`)
    .option('--steps <n>', `total steps; a resumed run continues up to it ${note('steps')}`)
    .option('--seed <n>', 'seed of adapters, data order and perturbations', String(d.seed))
    .option('--targets <list>', `LoRA targets among q,k,v,o,gate,up,down ${note('targets')}`)
    .option('--rank <n>', 'LoRA rank', String(d.rank))
    .option('--alpha <x>', 'LoRA alpha (scale alpha / rank)', String(d.alpha))
    .option('--out <dir>', 'adapter directory (PEFT layout) for checkpoints and the result', 'mobizo-adapter')
    .option('--eval-every <n>', 'evaluate every n steps (0: before and after only)', String(d.evalEvery))
    .option('--checkpoint-every <n>', 'checkpoint every n steps (0: at the end only)', String(d.checkpointEvery))
    .option('--optimizer <o>', `ZO optimizer: ${ZO_OPTIMIZERS.join(' | ')} (sgd: plain P-RGE; all keep one pass per step)`, d.optimizer)
    .option('--beta1 <x>', 'momentum / adam: first-moment decay in [0, 1)', String(d.beta1))
    .option('--beta2 <x>', 'adam: second-moment decay in [0, 1)', String(d.beta2))
    .option('--zo-rank <n>', `lozo: rank of the perturbation Z = U V^T (1..${MAX_ZO_RANK})`, String(d.zoRank))
    .option('--hessian-smooth <x>', 'hizoo: smoothing of the diagonal Hessian average in (0, 1]', String(d.hessianSmooth))
    .option('--resume', 'continue from the last complete checkpoint in --out (none: start at step 0); the model, data and settings must be the run\'s')
    .option('--overwrite', 'replace the adapter and checkpoints --out holds (without it, or --resume, a non-empty --out is refused)')
    .option('--on-diverge <s>', `a run whose held-out or smoothed training loss rises well above its start (or above a uniform guess): ${ON_DIVERGE.join(' | ')}`, 'stop')
    .option('--json', 'one JSON object per step on stdout, then a summary')
    .option('--no-compare', 'built-in job: skip timing prge against mezo at the end')
    .option('--max-memory <size>', 'GPU memory limit, e.g. 512MiB, 2GiB, 800000 (bytes): if the planned peak of a step (weights + adapters + activations, + an evaluation pass with --eval-every) exceeds it, batch is lowered, then q, then seq (unless --seq is given; never for tasks); nothing fits: an error saying what fits')
    .action((f: FinetuneFlags) =>
      runAction('finetune', async () => {
        const builtIn = !f.model && !f.data && !f.preset; // the main job: bundled model, built-in text
        const isTask = !!f.preset || (f.task !== undefined && f.task !== 'lm');
        const dflt = defaultOptions(builtIn, false, isTask ? 'classify' : 'lm');
        const opt = (k: TaskDefaulted) => (k === 'schedule' ? f.lrSchedule : f[k]) ?? String(dflt[k]);
        const cfg: TrainConfig = {
          mode: f.mode as ZoMode,
          q: parseIntOption(opt('q'), '--q', 1),
          eps: parseFloatOption(f.eps, '--eps'),
          lr: parseFloatOption(opt('lr'), '--lr'),
          schedule: opt('schedule') as LrSchedule,
          batch: parseIntOption(opt('batch'), '--batch', 1),
          seq: parseIntOption(opt('seq'), '--seq', 2),
          seed: parseIntOption(f.seed, '--seed', 0),
          steps: parseIntOption(opt('steps'), '--steps', 0),
          lora: { rank: parseIntOption(f.rank, '--rank', 1), alpha: parseFloatOption(f.alpha, '--alpha'), targets: parseTargets(opt('targets')) },
          evalEvery: parseIntOption(f.evalEvery, '--eval-every', 0),
          checkpointEvery: parseIntOption(f.checkpointEvery, '--checkpoint-every', 0),
          onDiverge: f.onDiverge as OnDiverge,
          optimizer: f.optimizer as ZoOptimizerName,
          beta1: parseFloatOption(f.beta1, '--beta1'),
          beta2: parseFloatOption(f.beta2, '--beta2'),
          zoRank: parseIntOption(f.zoRank, '--zo-rank', 1),
          hessianSmooth: parseFloatOption(f.hessianSmooth, '--hessian-smooth'),
        };
        if (!ON_DIVERGE.includes(cfg.onDiverge!)) throw new Error(`--on-diverge must be ${ON_DIVERGE.join(' or ')}, got ${f.onDiverge}`);
        validateTrainConfig(cfg);
        if (f.model && !f.data && !f.preset) throw new Error('--data or --preset is required with --model');
        checkTaskFlags(f);
        const log = (s: string) => process.stderr.write(`${s}\n`);
        prepareOut(f.out, f, log, { check: true }); // nothing in --out overwritten unless asked (fails fast)
        const maxMemoryMiB = f.maxMemory !== undefined ? parseBytes(f.maxMemory) / 2 ** 20 : 0;
        const { gpu, model, tokenizer, name, path: modelPath } = await openModel(f, log);
        if (cfg.seq > model.config.seqLen) throw new Error(`--seq ${cfg.seq} exceeds the model's context of ${model.config.seqLen}`);
        // --max-memory: the largest shape that fits (src/train/memory_plan.ts fitStep); a task's
        // classification rows are known once it is loaded, so it is fitted again then (seq kept)
        const fitMemory = (data: { candidates?: number; rowsPerExample?: number; labelsPerExample?: number }, seqFixed: boolean) => {
          const r = fitRunOptions(model, { ...cfg, rank: cfg.lora.rank, alpha: cfg.lora.alpha, targets: cfg.lora.targets.join(','), maxMemoryMiB }, { task: isTask, ...data, seqFixed });
          if (!r) return;
          log(`--max-memory ${fmtMiB(maxMemoryMiB * 2 ** 20)}: ${r.note || `q ${cfg.q} batch ${cfg.batch} seq ${cfg.seq} needs ${fmtMiB(r.estimate.total)} (${describeEstimate(r.estimate)}): fits`}`);
          Object.assign(cfg, { q: r.shape.q, batch: r.shape.batch, seq: r.shape.seq });
        };
        fitMemory({}, isTask || f.seq !== undefined);
        const spec = builtIn ? { demo: true, evalFraction: parseFloatOption(f.evalFraction, '--eval-fraction'), evalSize: parseIntOption(f.evalSize ?? '500', '--eval-size', 0) } : taskSpec(f);
        const task = prepareTask(spec, tokenizer, cfg.seq, cfg.seed, { onProgress: tokenizingProgress(log) });
        const fingerprint: RunFingerprint = { ...(await modelFingerprint(modelPath)), ...taskFingerprint(spec) };
        cfg.lossPerExample = task.lossPerExample;
        if (task.kind !== 'lm') fitMemory(task.train, true); // a task's rows and labelled positions
        log(`data: ${task.describe}`);
        const evaluate = task.evalCount ? (lora: LoraState) => task.evaluate(model, lora, evalRows(cfg, task.kind)) : undefined;
        // one writer per --out from here on: the lock, then the --out policy again under it
        const unlock = lockOut(f.out, log);
        try {
          prepareOut(f.out, f, log);
        } catch (e) {
          unlock();
          throw e;
        }
        const resume = f.resume ? (lastCheckpoint(f.out, model, log) ?? undefined) : undefined;
        if (resume) log(`--resume: continuing from ${resume.source} at step ${resume.state.step}`);
        else if (f.resume) log(`--resume: no complete checkpoint in ${f.out}: starting from step 0`);
        // Fault injection for tests of the recovery path: lose the GPU device after this step.
        const loseAt = process.env.MOBIZO_FAULT_LOSE_DEVICE_AT_STEP;
        const sampleBefore = builtIn ? await greedySample(model, tokenizer, undefined) : null;
        if (sampleBefore !== null) log(`greedy sample before: ${sampleBefore}`);
        const bar = !f.json && process.stderr.isTTY ? new SingleBar({ format: 'finetune [{bar}] {value}/{total} steps | loss {loss} | {ms} ms/step', hideCursor: true }) : null;
        bar?.start(cfg.steps, resume?.state.step ?? 0, { loss: '-', ms: '-' });
        const onDiverge = (d: Divergence) => {
          bar?.stop();
          log(`${d.message}; ${cfg.onDiverge === 'stop' ? 'stopping: the adapter kept is the last within the limit, or the base (--on-diverge warn would go on)' : 'going on (--on-diverge warn)'}`);
          if (f.json) process.stdout.write(JSON.stringify({ diverged: d }) + '\n');
        };
        const summary = await withResumeHint(f.out, () => bar?.stop(), () => train(model, task.train, cfg, {
          evaluate,
          resume,
          store: directoryStore(f.out, { fault: faultFromEnv() }),
          baseModelName: name,
          fingerprint,
          events: {
            onStep: (r) => {
              if (loseAt !== undefined && r.step === Number(loseAt)) gpu.device.destroy();
              if (f.json) {
                const line = { step: r.step, loss: r.loss, slotLosses: r.slotLosses, projGrad: r.projGrad, ms: r.ms, ...(r.unperturbedLoss !== undefined ? { unperturbedLoss: r.unperturbedLoss } : {}), ...(r.applied ? {} : { skipped: true }) };
                process.stdout.write(JSON.stringify(line) + '\n');
              } else if (bar) {
                bar.update(r.step + 1, { loss: r.loss.toFixed(4), ms: r.ms.toFixed(0) });
              } else if ((r.step + 1) % Math.max(1, Math.round(cfg.steps / 10)) === 0) {
                log(`step ${r.step + 1}/${cfg.steps} loss ${r.loss.toFixed(4)} (${r.ms.toFixed(0)} ms)`);
              }
              if (!r.applied) log(`step ${r.step}: a slot loss was not finite (${r.slotLosses.join(', ')}); update skipped, adapter unchanged`);
            },
            onEval: (e) => (f.json ? process.stdout.write(JSON.stringify({ eval: true, ...e, evalLoss: e.loss }) + '\n') : log(`eval at step ${e.step}: ${describeEval(e, task.lossName)}`)),
            onDiverge,
          },
        }));
        bar?.stop();
        const rb = summary.rolledBack;
        const kept = summary.diverged?.kept ?? null;
        if (kept) log(`kept the adapter of step ${kept.step}${kept.step === 0 ? ' (the base: no evaluation was within the limit)' : ''}${kept.loss !== null ? `, held-out ${task.lossName} ${kept.loss.toFixed(4)}` : ''}${rb ? ` (steps ${rb.to + 1}-${rb.from} dropped)` : ''}: ${f.out} holds it`);
        const final: Record<string, unknown> = {
          done: true,
          status: kept ? 'diverged' : 'done',
          kept,
          task: task.kind,
          evalLoss: summary.evalAfter?.loss ?? null,
          evalLossBefore: summary.evalBefore?.loss ?? null,
          ...(summary.evalAfter?.accuracy !== undefined ? { accuracy: summary.evalAfter.accuracy, f1: summary.evalAfter.f1, accuracyBefore: summary.evalBefore?.accuracy, f1Before: summary.evalBefore?.f1 } : {}),
          steps: summary.steps,
          msPerStep: summary.msPerStep,
          skipped: summary.skipped,
          diverged: summary.diverged,
          rolledBack: summary.rolledBack,
          out: f.out,
          memory: gpu.ledger.report(),
        };
        if (builtIn) {
          final.sampleBefore = sampleBefore;
          final.sampleAfter = await greedySample(model, tokenizer, summary.lora);
        }
        if (builtIn && f.compare) {
          const prge = await timeMode(model, cfg, 'prge', task.train);
          const mezo = await timeMode(model, cfg, 'mezo', task.train);
          final.stepMs = { prge, mezo, speedup: mezo / prge };
        }
        if (f.json) process.stdout.write(JSON.stringify(final) + '\n');
        else {
          if (summary.evalBefore && summary.evalAfter) log(`held-out before: ${describeEval(summary.evalBefore, task.lossName)}\nheld-out after:  ${describeEval(summary.evalAfter, task.lossName)}`);
          if (builtIn) log(`greedy sample before: ${sampleBefore}\ngreedy sample after:  ${final.sampleAfter}`);
          if (summary.diverged) log(`the run diverged: ${summary.diverged.message}`);
          log(`${summary.steps} steps, ${summary.msPerStep.toFixed(1)} ms/step; adapter saved to ${f.out}`);
          const sm = final.stepMs as { prge: number; mezo: number; speedup: number } | undefined;
          if (sm) log(`step time at q=${cfg.q}: prge ${sm.prge.toFixed(1)} ms, mezo ${sm.mezo.toFixed(1)} ms (speedup mezo/prge ${sm.speedup.toFixed(2)}x)`);
        }
        summary.lora.destroy();
        gpu.device.destroy();
        unlock();
        if (summary.diverged && cfg.onDiverge === 'stop') process.exitCode = 2; // stopped early: not a finished run
      }),
    );
}
