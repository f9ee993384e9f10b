// `mobizo eval`: a task's metrics on a data set, base model or base + adapter.
//   lm:               {"task", "loss", "tokens", "sampled"}  mean token cross-entropy over every chunk
//   classify, choice: {"task", "n", "accuracy", "f1", "loss", "classLoss", "heldOut", "sampled", "classes", "confusion"}
// "sampled" is null when every chunk / example was scored, else {"n", "of"} (--eval-size); "classes"
// has per class {"name", "count", "predicted", "correct", "precision", "recall", "f1"}, and
// "confusion" is [answer][prediction] counts. --adapter a,b,c evaluates every adapter on the same
// data, --batch rows of each in one pass; --json prints an array of the objects, each with "adapter".
import { MultiAdapters } from '../adapter/multi';
import type { Command } from 'commander';
import { modelOptions, openModel, parseIntOption, runAction } from './common';
import { describeClasses, describeEval, describeMetrics } from './finetune';
import type { EvalResult } from '../train/trainer';
import type { TaskMetrics } from '../eval/metrics';
import { checkTaskFlags, loadTask, taskOptions, type TaskFlags } from './task_data';

interface EvalFlags extends TaskFlags {
  model?: string;
  tokenizer?: string;
  seq: string;
  batch: string;
  seed: string;
  adapter?: string;
  json?: boolean;
}

export function registerEval(program: Command): void {
  modelOptions(taskOptions(program.command('eval')), { adapter: true, many: true })
    .description('evaluate a task (lm loss, or classification / multiple-choice accuracy) on a data set')
    .option('--seq <n>', 'tokens per row (lm: chunk length; tasks: longest prompt + continuation)', '64')
    .option('--batch <n>', 'rows per forward pass (with --adapter a,b,c: rows of each adapter)', '32')
    .option('--seed <n>', 'seed of the split (a preset without an eval set: the same test split as finetune --seed) and of --eval-size sampling', '0')
    .option('--json', 'print the result as JSON')
    .action((f: EvalFlags) =>
      runAction('eval', async () => {
        const seq = parseIntOption(f.seq, '--seq', 2);
        const batch = parseIntOption(f.batch, '--batch', 1);
        const seed = parseIntOption(f.seed, '--seed', 0);
        if (!f.data && !f.preset) throw new Error('--data or --preset is required');
        checkTaskFlags(f);
        const log = (s: string) => process.stderr.write(`${s}\n`);
        const { gpu, model, tokenizer, lora, adapters } = await openModel(f, log, { many: true });
        const task = loadTask(f, tokenizer, seq, seed, 'eval', log);
        log(`data: ${task.describe}`);
        const t0 = performance.now();
        let ms: (TaskMetrics | null)[];
        let rs: EvalResult[];
        if (adapters) {
          const multi = MultiAdapters.create(gpu, model.config, adapters.tensors, batch * adapters.dirs.length);
          const each = task.metricsEach ? await task.metricsEach(model, multi, batch) : null;
          rs = each ?? (await task.evaluateEach(model, multi, batch));
          ms = each ?? rs.map(() => null);
          multi.destroy();
        } else {
          const m = task.metrics ? await task.metrics(model, lora ?? null, batch) : null;
          rs = [m ?? (await task.evaluate(model, lora ?? null, batch))];
          ms = [m];
        }
        const seconds = (performance.now() - t0) / 1000;
        const outs = rs.map((r, i) => {
          const m = ms[i];
          const which = adapters ? { adapter: adapters.dirs[i] } : {};
          return m
            ? { ...which, task: task.kind, n: m.n, accuracy: m.accuracy, f1: m.f1, loss: m.loss, classLoss: m.classLoss, heldOut: task.heldOut, sampled: task.sampled, classes: m.classes, confusion: m.confusion }
            : { ...which, task: task.kind, loss: r.loss, tokens: r.tokens, sampled: task.sampled };
        });
        if (f.json) process.stdout.write(JSON.stringify(adapters ? outs : outs[0]) + '\n');
        else {
          rs.forEach((r, i) => {
            const m = ms[i];
            if (adapters) process.stdout.write(`adapter ${adapters.dirs[i]}:\n`);
            process.stdout.write(`${task.kind}: ${m ? describeMetrics(m) : describeEval(r, task.lossName)}${task.sampled ? ` (a sample of ${task.sampled.n} of ${task.sampled.of})` : ''}\n`);
            if (m) process.stdout.write(describeClasses(m));
          });
        }
        const n = rs.reduce((s, r) => s + (r.n ?? 0), 0);
        log(`${seconds.toFixed(1)} s${n ? `, ${(n / seconds).toFixed(1)} examples/s` : ''}${adapters ? ` (${rs.length} adapters, one pass per batch)` : ''}`);
        gpu.device.destroy();
      }),
    );
}
