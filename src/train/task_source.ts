// Browser-safe task loading: the same tasks, readers and splits as `mobizo finetune`'s
// --task/--preset/--data (src/cli/task_data.ts), from text and bytes instead of paths. A preset's
// data files are given by the user (the page cannot read ../shared/assets): they are matched by
// file name (train.tsv, dev.tsv, rt-polarity.neg ...).
import { demoDocuments } from '../data/demo';
import { decodeText, readClassification, readJsonlChoice, readJsonlPromptCompletion, readLines, type ClassExample, type Encoding } from '../data/examples';
import { LmDataset, PAD_TOKEN, type LmChunkSet } from '../data/lm';
import { PRESETS, type DataSpec } from '../data/presets';
import { readTextDocuments } from '../data/readers';
import { choiceItems, classifyItems, DEFAULT_TASK_LOSS, ItemDataset, sample, TASK_LOSSES, type ClassifyTask, type Item, type TaskLoss } from '../data/tasks';
import type { Model } from '../model/model';
import type { TextTokenizer } from '../formats/tokenizer';
import { evaluateLm } from '../eval/evaluate';
import type { LoraState } from '../adapter/lora';
import { scoreItems, taskMetrics } from '../eval/score';
import type { EvalResult, TrainData } from './trainer';

export type TaskKind = 'lm' | 'classify' | 'choice';

/** A data file as the user opened it (bytes) or typed it (text). */
export interface DataFile {
  name: string;
  bytes?: Uint8Array;
  text?: string;
}

/** What to train on. Everything in it is plain data (it is stored with a session and posted to workers). */
export interface TaskSpec {
  task?: TaskKind; // default: classify with a preset, else lm
  preset?: string; // a key of PRESETS; its files come in `files`, matched by name
  demo?: boolean; // the built-in demo text (lm)
  files?: DataFile[]; // the data (first file) or the preset's files
  text?: string; // pasted data (instead of files)
  evalFile?: DataFile; // held-out data (default: the preset's eval set, or a seeded split)
  template?: string; // classify: "{text} It was"
  labels?: string[]; // classify: label words in class order
  classes?: string[]; // classify: the label values in class order (default: sorted, numeric when numbers)
  loss?: TaskLoss; // classify / choice training loss (default DEFAULT_TASK_LOSS)
  textColumn?: string;
  labelColumn?: string;
  encoding?: Encoding; // of the user's files (presets know theirs)
  trainSize?: number; // 0: all
  evalSize?: number; // 0: all (default 500)
  evalFraction?: number; // default 0.1
  purpose?: 'train' | 'eval'; // eval: everything in the data is evaluated (a preset: its eval set)
}

/** One row of the data preview: the text pieces of a training row, label tokens marked. */
export interface PreviewRow {
  pieces: { text: string; label: boolean; special?: boolean }[];
  tokens: number; // tokens in the row (padding excluded)
  labelTokens: number;
}

export interface PreparedTask {
  kind: TaskKind;
  describe: string;
  train: TrainData;
  trainCount: number; // chunks or examples
  evalCount: number;
  evalIsTrain: boolean; // too little data to hold any out: evaluation uses the training data
  lossPerExample: boolean;
  classify?: ClassifyTask; // for trying the classifier on a text
  evaluate(model: Model, lora: LoraState | null, rows: number): Promise<EvalResult>;
  preview(tok: TextTokenizer, rows: number, batch: number, seed: number): PreviewRow[];
}

/** The file names a preset needs, in the order the page asks for them. */
export function presetFiles(name: string): string[] {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset ${name} (known: ${Object.keys(PRESETS).join(', ')})`);
  const names = (s: DataSpec) => (s.kind === 'table' ? [s.file] : s.files.map((f) => f.file));
  return [...names(p.train), ...(p.eval ? names(p.eval) : [])].map(baseName);
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function fileText(f: DataFile, enc: Encoding): string {
  if (f.text !== undefined) return f.text;
  if (!f.bytes) throw new Error(`${f.name}: no content`);
  return decodeText(f.bytes, f.name, enc);
}

function readSpec(spec: DataSpec, files: DataFile[]): ClassExample[] {
  const find = (p: string) => {
    const want = baseName(p);
    const f = files.find((x) => baseName(x.name) === want);
    if (!f) throw new Error(`open the preset's file ${want} (have: ${files.map((x) => x.name).join(', ') || 'none'})`);
    return f;
  };
  if (spec.kind === 'table') {
    const f = find(spec.file);
    return readClassification(fileText(f, 'utf-8'), f.name, { text: spec.text, label: spec.label });
  }
  return spec.files.flatMap((x) => {
    const f = find(x.file);
    return readLines(fileText(f, spec.encoding), f.name, x.label);
  });
}

/** Distinct labels in class order: numerically when all are numbers, else sorted (as the CLI). */
export function classesOf(xs: ClassExample[]): string[] {
  const set = [...new Set(xs.map((x) => x.label))];
  return set.every((s) => s !== '' && !Number.isNaN(Number(s))) ? set.sort((a, b) => Number(a) - Number(b)) : set.sort();
}

function lmDocuments(text: string, source: string): string[] {
  try {
    return readTextDocuments(text, source);
  } catch (e) {
    // {"prompt","completion"} JSONL is read as prompt + completion documents
    if (/"text"/.test((e as Error).message) && /"prompt"/.test(text)) return readJsonlPromptCompletion(text, source);
    throw e;
  }
}

/** The main data of a spec: its text and a name for messages. */
function mainData(spec: TaskSpec, enc: Encoding): { text: string; source: string } | null {
  if (spec.text !== undefined) return { text: spec.text, source: 'pasted text' };
  const f = spec.files?.[0];
  return f ? { text: fileText(f, enc), source: f.name } : null;
}

/**
 * Reads a task: training batches at `seq` tokens, a held-out evaluator and a preview. `seed`
 * drives the split, the sampling and (through the trainer) the order, as in the CLI.
 */
export function prepareTask(spec: TaskSpec, tok: TextTokenizer, seq: number, seed: number): PreparedTask {
  const enc = spec.encoding ?? 'utf-8';
  const preset = spec.preset ? PRESETS[spec.preset] : undefined;
  if (spec.preset && !preset) throw new Error(`unknown preset ${spec.preset} (known: ${Object.keys(PRESETS).join(', ')})`);
  const kind: TaskKind = spec.task ?? (preset ? 'classify' : 'lm');
  if (preset && kind !== 'classify') throw new Error(`preset ${spec.preset} is a classify task`);
  const trainSize = spec.trainSize ?? 0;
  const evalSize = spec.evalSize ?? 500;
  const fraction = spec.evalFraction ?? 0.1;
  const evalOnly = spec.purpose === 'eval';
  const loss = spec.loss ?? DEFAULT_TASK_LOSS;
  if (!TASK_LOSSES.includes(loss)) throw new Error(`the task loss must be one of ${TASK_LOSSES.join(', ')}, got ${loss}`);

  if (kind === 'lm') {
    const main = spec.demo ? { text: '', source: 'built-in demo text' } : mainData(spec, enc);
    if (!main) throw new Error('paste some text or open a text file');
    const docs = spec.demo ? demoDocuments() : lmDocuments(main.text, main.source);
    const all = new LmDataset(docs, tok, seq, { source: main.source });
    let train: LmChunkSet = all;
    let ev: LmChunkSet = all;
    let evalIsTrain = false;
    if (evalOnly) evalIsTrain = true;
    else if (spec.evalFile) ev = new LmDataset(lmDocuments(fileText(spec.evalFile, enc), spec.evalFile.name), tok, seq, { source: spec.evalFile.name });
    else if (fraction > 0 && all.chunks >= 2) ({ train, eval: ev } = all.split(fraction, seed));
    else evalIsTrain = true; // one chunk: nothing to hold out
    // evalSize caps the chunks scored per evaluation (a seeded sample of the held-out ones)
    const evalSet = evalSize && ev.chunks > evalSize ? ev.split(evalSize / ev.chunks, seed ^ 0x5eed).eval : ev;
    return {
      kind,
      describe: `causal LM on ${main.source}: ${train.chunks} chunks of ${seq} tokens for training, ${evalIsTrain ? 'evaluated on the same text (too short to hold any out)' : `${evalSet.chunks} held out`}`,
      train,
      trainCount: train.chunks,
      evalCount: evalSet.chunks,
      evalIsTrain,
      lossPerExample: false,
      evaluate: (model, lora, rows) => evaluateLm(model, lora, evalSet, rows),
      preview: (t, n, batch, sd) => previewRows(t, train, n, batch, sd),
    };
  }

  let trainItems: Item[];
  let evalItems: Item[];
  let describe: string;
  let classify: ClassifyTask | undefined;
  let evalIsTrain = false;
  if (kind === 'classify') {
    const template = spec.template ?? preset?.template;
    if (!template) throw new Error('a template with {text} is needed for classification, e.g. "{text} It was"');
    const cols = { text: spec.textColumn, label: spec.labelColumn };
    const files = spec.files ?? [];
    const given = spec.evalFile
      ? readClassification(fileText(spec.evalFile, enc), spec.evalFile.name, cols)
      : preset?.eval
        ? readSpec(preset.eval, files)
        : null;
    const main = preset ? null : mainData(spec, enc);
    // evaluating a preset with an eval set of its own needs no training data
    const train = evalOnly && given && !main ? given : preset ? readSpec(preset.train, files) : main ? readClassification(main.text, main.source, cols) : null;
    if (!train) throw new Error('paste or open labelled data, or pick a preset');
    const classes = spec.classes ?? preset?.classes ?? classesOf(train);
    const labelWords = spec.labels ?? preset?.labelWords;
    if (!labelWords) throw new Error(`label words are needed: one per class (${classes.join(', ')})`);
    classify = { template, classes, labelWords };
    let [tr, ev] = [train, given ?? []];
    if (evalOnly) [tr, ev] = [[], given && !main ? given : train];
    else if (!given) {
      if (train.length >= 2) {
        const nEval = Math.max(1, Math.round(train.length * fraction));
        const shuffled = sample(train, train.length, seed ^ 0x5eed);
        [ev, tr] = [shuffled.slice(0, nEval), shuffled.slice(nEval)];
      } else [ev, evalIsTrain] = [train, true];
    }
    const src = main?.source ?? preset!.name;
    trainItems = classifyItems(tok, sample(tr, trainSize, seed), classify, seq, src);
    evalItems = classifyItems(tok, sample(ev, evalSize, seed), classify, seq, spec.evalFile?.name ?? `${src} (eval)`);
    describe = `classify: ${classes.map((c, i) => `${c} -> ${JSON.stringify(labelWords[i])}`).join(', ')}; template ${JSON.stringify(template)}`;
  } else {
    const main = mainData(spec, enc);
    if (!main) throw new Error('paste or open JSONL items {"premise","choices","label"}');
    const all = readJsonlChoice(main.text, main.source);
    const given = spec.evalFile ? readJsonlChoice(fileText(spec.evalFile, enc), spec.evalFile.name) : null;
    let [tr, ev] = [all, given ?? all];
    if (evalOnly) [tr, ev] = [[], all];
    else if (!given && fraction > 0 && all.length > 1) {
      const nEval = Math.max(1, Math.round(all.length * fraction));
      const shuffled = sample(all, all.length, seed ^ 0x5eed);
      [ev, tr] = [shuffled.slice(0, nEval), shuffled.slice(nEval)];
    } else if (!given) evalIsTrain = true;
    trainItems = choiceItems(tok, sample(tr, trainSize, seed), seq, main.source);
    evalItems = choiceItems(tok, sample(ev, evalSize, seed), seq, spec.evalFile?.name ?? main.source);
    describe = 'choice: each candidate scored by the mean log-prob of its continuation';
  }
  let train: ItemDataset | null = null;
  return {
    kind,
    describe: evalOnly
      ? `${describe}; ${evalItems.length} examples`
      : `${describe}; ${trainItems.length} training examples, ${evalItems.length} for evaluation${evalIsTrain ? ' (the training data: too few to hold any out)' : ''}`,
    get train() {
      return (train ??= new ItemDataset(trainItems, seq, loss)); // throws "no training examples" when there are none
    },
    trainCount: trainItems.length,
    evalCount: evalItems.length,
    evalIsTrain,
    lossPerExample: true,
    classify,
    evaluate: async (model, lora, rows) => {
      const m = taskMetrics(evalItems, await scoreItems(model, lora, evalItems, rows));
      return { loss: m.loss, n: m.n, accuracy: m.accuracy, f1: m.f1 };
    },
    preview(t, n, batch, sd) {
      return previewRows(t, this.train, n, batch, sd);
    },
  };
}

/**
 * The first `n` training rows exactly as the trainer builds them (batch 0, 1, ... of this seed):
 * the text of each token, control tokens (BOS, EOS) as `special` pieces, and the tokens that carry
 * loss (label words for tasks, every next token for causal LM) marked `label`.
 */
export function previewRows(tok: TextTokenizer, data: TrainData, n: number, batch: number, seed: number): PreviewRow[] {
  const T = data.seqLen;
  const rows: PreviewRow[] = [];
  const utf8 = new TextDecoder();
  for (let step = 0; rows.length < n && step <= n; step++) {
    const b = data.batchAt(step, batch, seed);
    for (let r = 0; r < b.tokens.length / T && rows.length < n; r++) { // batch x candidates rows (classes loss)
      const toks = b.tokens.subarray(r * T, (r + 1) * T);
      const labels = b.labels.subarray(r * T, (r + 1) * T);
      // Right padding: PAD inputs that predict nothing and that no position predicts (a row's
      // last real token either predicts the next one (LM) or is a predicted label (tasks)).
      let len = T;
      while (len > 1 && toks[len - 1] === PAD_TOKEN && labels[len - 1] < 0 && labels[len - 2] !== PAD_TOKEN) len--;
      const pieces: PreviewRow['pieces'] = [];
      let prev = -1;
      for (let t = 0; t < len; t++) {
        const id = toks[t];
        const label = t > 0 && labels[t - 1] >= 0;
        const special = id === tok.bosId || id === tok.eosId;
        const text = id === tok.bosId ? 'BOS' : id === tok.eosId ? 'EOS' : utf8.decode(tok.decodeBytes(prev, id));
        prev = id;
        const last = pieces[pieces.length - 1];
        if (last && !special && !last.special && last.label === label) last.text += text;
        else pieces.push({ text, label, ...(special ? { special } : {}) });
      }
      let labelTokens = 0;
      for (let t = 0; t < len; t++) if (labels[t] >= 0) labelTokens++;
      rows.push({ pieces, tokens: len, labelTokens });
    }
  }
  return rows;
}
