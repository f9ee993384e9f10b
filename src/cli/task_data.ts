// The task options shared by `finetune` and `eval`: which task, which data (a preset or files),
// template and label words, sampling. Files are read here; src/data/task_source.ts prepares them.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Encoding } from '../data/examples';
import { PRESETS } from '../data/presets';
import { DEFAULT_TASK_LOSS, type TaskLoss } from '../data/tasks';
import { HELD_OUT, prepareTask, type DataFile, type HeldOut, type PreparedTask, type TaskKind, type TaskSpec } from '../train/task_source';
import type { TextTokenizer } from '../formats/tokenizer';
import { parseFloatOption, parseIntOption, readUserFile } from './common';

export type { TaskKind };

export interface TaskFlags {
  task?: string;
  preset?: string;
  data?: string;
  evalData?: string;
  template?: string;
  labels?: string;
  trainSize: string;
  evalSize?: string; // default: finetune 500, eval 0 (all)
  heldOut: string;
  evalFraction: string;
  encoding: string;
  assets?: string;
  textColumn?: string;
  labelColumn?: string;
  loss?: string;
}

/** Adds the task options to a command. */
export function taskOptions(cmd: Command): Command {
  return cmd
    .option('--task <t>', 'lm (causal LM on text) | classify (template + label words) | choice (multiple choice)')
    .option('--preset <p>', `a task on the shared data: ${Object.keys(PRESETS).join(', ')}`)
    .option('--data <file>', 'lm: text or JSONL {"text"} / {"prompt","completion"}; classify: TSV/CSV with a header or JSONL {"sentence","label"}; choice: JSONL {"premise","choices","label"}')
    .option('--eval-data <file>', 'held-out data (default: the preset\'s eval set, or a seeded split)')
    .option('--template <s>', 'classify: prompt template with {text}, e.g. "{text} It was"')
    .option('--loss <l>', `classify / choice training loss: label (cross-entropy of the right label word's tokens) | classes (cross-entropy over the candidates, MeZO's train_as_classification; every candidate is a row)`, DEFAULT_TASK_LOSS)
    .option('--labels <words>', 'classify: label words in class order, comma-separated, e.g. " terrible, great"')
    .option('--train-size <n>', 'examples sampled for training by seed (0: all)', '0')
    .option('--eval-size <n>', 'examples (lm: chunks) sampled for evaluation by seed, classes in proportion (0: all; default: finetune 500, eval 0)')
    .option('--eval-fraction <f>', 'share of each class held out as test, and as much as validation (lm: test only), when there is no eval data', '0.1')
    .option('--held-out <s>', `classify / choice: what evaluation scores: ${HELD_OUT.join(' | ')} (validation to choose settings, test to report them)`, 'test')
    .option('--encoding <e>', 'text encoding of data files: utf-8 | latin1', 'utf-8')
    .option('--text-column <name>', 'classify: the text column of a TSV/CSV (default: sentence, text, sms, ...)')
    .option('--label-column <name>', 'classify: the label column of a TSV/CSV (default: label, class, ...)')
    .option('--assets <dir>', 'folder of the shared data sets for --preset (default ../shared/assets or MOBIZO_ASSETS)');
}

export type LoadedTask = PreparedTask;

function assetsDir(f: TaskFlags): string {
  return f.assets ?? process.env.MOBIZO_ASSETS ?? path.resolve('..', 'shared', 'assets');
}

function dataFile(file: string, what: string): DataFile {
  return { name: file, bytes: readUserFile(file, what) };
}

/** The files of a preset, read from the shared assets folder. */
function presetDataFiles(preset: string, dir: string): DataFile[] {
  const p = PRESETS[preset];
  if (!p) throw new Error(`unknown --preset ${preset} (known: ${Object.keys(PRESETS).join(', ')})`);
  const specs = [p.train, ...(p.eval ? [p.eval] : [])];
  return specs.flatMap((s) => (s.kind === 'table' ? [s.file] : s.files.map((x) => x.file))).map((rel) => {
    const full = path.join(dir, rel);
    if (!fs.existsSync(full)) throw new Error(`preset data ${full} not found (set --assets to the shared assets folder)`);
    return dataFile(full, 'preset data');
  });
}

/** The task flags' values that need no file: checked before the model is opened, so they fail fast. */
export function checkTaskFlags(f: TaskFlags): void {
  if (f.encoding !== 'utf-8' && f.encoding !== 'latin1') throw new Error(`--encoding must be utf-8 or latin1, got ${f.encoding}`);
  if (f.task && !['lm', 'classify', 'choice'].includes(f.task)) throw new Error(`--task must be lm, classify or choice, got ${f.task}`);
  if (!HELD_OUT.includes(f.heldOut as HeldOut)) throw new Error(`--held-out must be ${HELD_OUT.join(' or ')}, got ${f.heldOut}`);
}

/**
 * The task of the command line, read from disk and prepared by src/data/task_source.ts (the
 * same code the browser app uses). `purpose` train: training batches plus a held-out evaluation
 * set; eval: everything in --data is evaluated (a preset's own eval set when it has one).
 */
export function loadTask(f: TaskFlags, tok: TextTokenizer, seq: number, seed: number, purpose: 'train' | 'eval' = 'train', log?: (s: string) => void): LoadedTask {
  return prepareTask(taskSpec(f, purpose), tok, seq, seed, { onProgress: log && tokenizingProgress(log) });
}

/** Progress of tokenizing a long text (4 M characters and more: seconds), one line per tenth. */
export function tokenizingProgress(log: (s: string) => void): (source: string, done: number, total: number) => void {
  let shown = -1;
  return (source, done, total) => {
    if (total < 4e6) return;
    const tenth = Math.floor((10 * done) / total);
    if (tenth === shown) return;
    shown = tenth;
    log(`tokenizing ${source}: ${10 * tenth}% (${(done / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} M characters)`);
  };
}

/** The TaskSpec of the command line's task flags, its files read (the run's data and task fingerprints come from it). */
export function taskSpec(f: TaskFlags, purpose: 'train' | 'eval' = 'train'): TaskSpec {
  checkTaskFlags(f);
  const enc = f.encoding as Encoding;
  if (!f.data && !f.preset) throw new Error('--data or --preset is required');
  const spec: TaskSpec = {
    task: f.task as TaskKind | undefined,
    preset: f.preset,
    files: f.preset ? presetDataFiles(f.preset, assetsDir(f)) : [dataFile(f.data!, '--data')],
    evalFile: f.evalData ? dataFile(f.evalData, '--eval-data') : undefined,
    template: f.template,
    labels: f.labels?.split(','),
    textColumn: f.textColumn,
    labelColumn: f.labelColumn,
    loss: f.loss as TaskLoss | undefined,
    encoding: enc,
    trainSize: parseIntOption(f.trainSize, '--train-size', 0),
    evalSize: parseIntOption(f.evalSize ?? (purpose === 'eval' ? '0' : '500'), '--eval-size', 0),
    heldOut: f.heldOut as HeldOut,
    evalFraction: parseFloatOption(f.evalFraction, '--eval-fraction'),
    purpose,
  };
  if (f.preset && f.data) spec.files!.unshift(dataFile(f.data, '--data'));
  return spec;
}
