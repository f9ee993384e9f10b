// The task options shared by `finetune` and `eval`: which task, which data (a preset or files),
// template and label words, sampling; turns them into training batches and an evaluator.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { decodeText, readClassification, readJsonlChoice, readJsonlPromptCompletion, readLines, type ClassExample, type Encoding } from '../data/examples';
import { LmDataset, type LmChunkSet } from '../data/lm';
import { PRESETS, type DataSpec } from '../data/presets';
import { readTextDocuments } from '../data/readers';
import { choiceItems, classifyItems, ItemDataset, sample, type Item } from '../data/tasks';
import type { Model } from '../model/model';
import type { TextTokenizer } from '../model/tokenizer';
import { evaluateLm } from '../zo/evaluate';
import type { LoraState } from '../zo/lora';
import { scoreItems, taskMetrics } from '../zo/score';
import type { EvalResult, TrainData } from '../zo/trainer';
import { parseFloatOption, parseIntOption, readUserFile } from './common';

export type TaskKind = 'lm' | 'classify' | 'choice';

export interface TaskFlags {
  task?: string;
  preset?: string;
  data?: string;
  evalData?: string;
  template?: string;
  labels?: string;
  trainSize: string;
  evalSize: string;
  evalFraction: string;
  encoding: string;
  assets?: string;
  textColumn?: string;
  labelColumn?: string;
}

/** Adds the task options to a command. */
export function taskOptions(cmd: Command): Command {
  return cmd
    .option('--task <t>', 'lm (causal LM on text) | classify (template + label words) | choice (multiple choice)')
    .option('--preset <p>', `a task on the shared data: ${Object.keys(PRESETS).join(', ')}`)
    .option('--data <file>', 'lm: text or JSONL {"text"} / {"prompt","completion"}; classify: TSV/CSV with a header or JSONL {"sentence","label"}; choice: JSONL {"premise","choices","label"}')
    .option('--eval-data <file>', 'held-out data (default: the preset\'s eval set, or a seeded split)')
    .option('--template <s>', 'classify: prompt template with {text}, e.g. "{text} It was"')
    .option('--labels <words>', 'classify: label words in class order, comma-separated, e.g. " terrible, great"')
    .option('--train-size <n>', 'examples sampled for training by seed (0: all)', '0')
    .option('--eval-size <n>', 'examples sampled for evaluation by seed (0: all)', '500')
    .option('--eval-fraction <f>', 'share held out when there is no eval data', '0.1')
    .option('--encoding <e>', 'text encoding of data files: utf-8 | latin1', 'utf-8')
    .option('--text-column <name>', 'classify: the text column of a TSV/CSV (default: sentence, text, sms, ...)')
    .option('--label-column <name>', 'classify: the label column of a TSV/CSV (default: label, class, ...)')
    .option('--assets <dir>', 'folder of the shared data sets for --preset (default ../shared/assets or MOBIZO_ASSETS)');
}

export interface LoadedTask {
  kind: TaskKind;
  describe: string;
  train: TrainData;
  lossPerExample: boolean;
  evaluate: (model: Model, lora: LoraState | null, batch: number) => Promise<EvalResult>;
  evalCount: number;
}

function assetsDir(f: TaskFlags): string {
  return f.assets ?? process.env.MOBIZO_ASSETS ?? path.resolve('..', 'shared', 'assets');
}

function readSpec(spec: DataSpec, dir: string): ClassExample[] {
  const file = (p: string) => {
    const full = path.join(dir, p);
    if (!fs.existsSync(full)) throw new Error(`preset data ${full} not found (set --assets to the shared assets folder)`);
    return full;
  };
  if (spec.kind === 'table') {
    const f = file(spec.file);
    return readClassification(decodeText(readUserFile(f, 'data'), f), f, { text: spec.text, label: spec.label });
  }
  return spec.files.flatMap((x) => {
    const f = file(x.file);
    return readLines(decodeText(readUserFile(f, 'data'), f, spec.encoding), f, x.label);
  });
}

function readText(file: string, what: string, enc: Encoding): string {
  return decodeText(readUserFile(file, what), file, enc);
}

/** Distinct labels in class order: numerically when all are numbers, else sorted. */
function classesOf(xs: ClassExample[]): string[] {
  const set = [...new Set(xs.map((x) => x.label))];
  return set.every((s) => s !== '' && !Number.isNaN(Number(s))) ? set.sort((a, b) => Number(a) - Number(b)) : set.sort();
}

/**
 * `purpose` train: training data plus a held-out evaluation set. eval: everything in --data is
 * evaluated (a preset's own eval set when it has one).
 */
export function loadTask(f: TaskFlags, tok: TextTokenizer, seq: number, seed: number, purpose: 'train' | 'eval' = 'train'): LoadedTask {
  const enc = f.encoding as Encoding;
  if (enc !== 'utf-8' && enc !== 'latin1') throw new Error(`--encoding must be utf-8 or latin1, got ${f.encoding}`);
  const preset = f.preset ? PRESETS[f.preset] : undefined;
  if (f.preset && !preset) throw new Error(`unknown --preset ${f.preset} (known: ${Object.keys(PRESETS).join(', ')})`);
  const kind = (f.task ?? (preset ? 'classify' : 'lm')) as TaskKind;
  if (!['lm', 'classify', 'choice'].includes(kind)) throw new Error(`--task must be lm, classify or choice, got ${f.task}`);
  if (preset && kind !== 'classify') throw new Error(`--preset ${f.preset} is a classify task`);
  const trainSize = parseIntOption(f.trainSize, '--train-size', 0);
  const evalSize = parseIntOption(f.evalSize, '--eval-size', 0);
  const fraction = parseFloatOption(f.evalFraction, '--eval-fraction');

  if (kind === 'lm') {
    if (!f.data) throw new Error('--data is required for --task lm');
    const docs = (file: string, what: string) => {
      const text = readText(file, what, enc);
      try {
        return readTextDocuments(text, file);
      } catch (e) {
        // {"prompt","completion"} JSONL is read as prompt + completion documents
        if (/"text"/.test((e as Error).message) && /"prompt"/.test(text)) return readJsonlPromptCompletion(text, file);
        throw e;
      }
    };
    const all = new LmDataset(docs(f.data, '--data'), tok, seq, { source: f.data });
    const split: { train: LmChunkSet; eval: LmChunkSet | null } = purpose === 'eval'
      ? { train: all, eval: all }
      : f.evalData
      ? { train: all, eval: new LmDataset(docs(f.evalData, '--eval-data'), tok, seq, { source: f.evalData }) }
      : fraction > 0 ? all.split(fraction, seed) : { train: all, eval: null };
    const evalSet = split.eval && split.eval.chunks ? split.eval : null;
    return {
      kind,
      describe: `lm: ${split.train.chunks} chunks of ${seq} tokens for training, ${evalSet?.chunks ?? 0} held out`,
      train: split.train,
      lossPerExample: false,
      evalCount: evalSet?.chunks ?? 0,
      evaluate: async (model, lora, batch) => {
        if (!evalSet) throw new Error('no evaluation data');
        return evaluateLm(model, lora, evalSet, batch);
      },
    };
  }

  let trainItems: Item[];
  let evalItems: Item[];
  let describe: string;
  if (kind === 'classify') {
    const template = f.template ?? preset?.template;
    if (!template) throw new Error('--template is required for --task classify without --preset');
    const cols = { text: f.textColumn, label: f.labelColumn };
    const given = f.evalData ? readClassification(readText(f.evalData, '--eval-data', enc), f.evalData, cols) : preset?.eval ? readSpec(preset.eval, assetsDir(f)) : null;
    // evaluating a preset with its own eval set needs no training data
    const skipTrain = purpose === 'eval' && given && !f.data;
    const train = skipTrain ? given : preset ? readSpec(preset.train, assetsDir(f)) : f.data ? readClassification(readText(f.data, '--data', enc), f.data, cols) : null;
    if (!train) throw new Error('--data or --preset is required');
    const classes = preset?.classes ?? classesOf(train);
    const labelWords = f.labels ? f.labels.split(',') : preset?.labelWords;
    if (!labelWords) throw new Error(`--labels is required: one label word per class (${classes.join(', ')})`);
    const task = { template, classes, labelWords };
    let [tr, ev] = [train, given ?? []];
    if (purpose === 'eval') ev = given && !f.data ? given : train;
    else if (!given) {
      const nEval = Math.max(1, Math.round(train.length * fraction));
      const shuffled = sample(train, train.length, seed ^ 0x5eed);
      [ev, tr] = [shuffled.slice(0, nEval), shuffled.slice(nEval)];
    }
    const src = f.data ?? preset!.name;
    trainItems = purpose === 'eval' ? [] : classifyItems(tok, sample(tr, trainSize, seed), task, seq, src);
    evalItems = classifyItems(tok, sample(ev, evalSize, seed), task, seq, f.evalData ?? `${src} (eval)`);
    describe = `classify: ${classes.map((c, i) => `${c} -> ${JSON.stringify(labelWords[i])}`).join(', ')}; template ${JSON.stringify(template)}`;
  } else {
    if (!f.data) throw new Error('--data is required for --task choice');
    const all = readJsonlChoice(readText(f.data, '--data', enc), f.data);
    const given = f.evalData ? readJsonlChoice(readText(f.evalData, '--eval-data', enc), f.evalData) : null;
    let [tr, ev] = [all, given ?? all];
    if (purpose === 'eval') ev = all;
    else if (!given && fraction > 0 && all.length > 1) {
      const nEval = Math.max(1, Math.round(all.length * fraction));
      const shuffled = sample(all, all.length, seed ^ 0x5eed);
      [ev, tr] = [shuffled.slice(0, nEval), shuffled.slice(nEval)];
    }
    trainItems = purpose === 'eval' ? [] : choiceItems(tok, sample(tr, trainSize, seed), seq, f.data);
    evalItems = choiceItems(tok, sample(ev, evalSize, seed), seq, f.evalData ?? f.data);
    describe = 'choice: each candidate scored by the mean log-prob of its continuation';
  }
  return {
    kind,
    describe: purpose === 'eval' ? `${describe}; ${evalItems.length} examples` : `${describe}; ${trainItems.length} training examples, ${evalItems.length} for evaluation`,
    get train() {
      return new ItemDataset(trainItems, seq);
    },
    lossPerExample: true,
    evalCount: evalItems.length,
    evaluate: async (model, lora, batch) => {
      const m = taskMetrics(evalItems, await scoreItems(model, lora, evalItems, batch));
      return { loss: m.loss, n: m.n, accuracy: m.accuracy, f1: m.f1 };
    },
  };
}
