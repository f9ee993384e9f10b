// Browser-safe task loading: the same tasks, readers and splits as `mobizo finetune`'s
// --task/--preset/--data (src/cli/task_data.ts), from text and bytes instead of paths. A preset's
// data files are given by the user (the page cannot read ../shared/assets): they are matched by
// file name (train.tsv, dev.tsv, rt-polarity.neg ...).
import { keeperLogDocuments } from '../data/demo';
import { decodeText, readClassification, readJsonlChoice, readJsonlPromptCompletion, readLines, type ChoiceExample, type ClassExample, type Encoding } from '../data/examples';
import { LmDataset, PAD_TOKEN, type LmChunkSet } from '../data/lm';
import { PRESETS, type DataSpec } from '../data/presets';
import { readTextDocuments } from '../data/readers';
import {
  choiceItems, classifyItems, dedupe, DEFAULT_TASK_LOSS, exampleKey, ItemDataset, sample, stratifiedSample, stratifiedSplit, TASK_LOSSES,
  type ClassifyTask, type Item, type Splits, type TaskLoss,
} from '../data/tasks';
import type { Model } from '../model/model';
import type { TextTokenizer } from '../formats/tokenizer';
import { evaluateLm, evaluateLmEach } from '../eval/evaluate';
import type { LoraState } from '../adapter/lora';
import type { MultiAdapters } from '../adapter/multi';
import { scoreItems, scoreItemsEach } from '../eval/score';
import { taskMetrics, type TaskMetrics } from '../eval/metrics';
import type { EvalResult, TrainData } from './trainer';

export type TaskKind = 'lm' | 'classify' | 'choice';

/** The held-out set evaluation uses: validation for choosing settings, test for reporting them. */
export type HeldOut = 'validation' | 'test';
export const HELD_OUT: readonly HeldOut[] = ['validation', 'test'];

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
  evalFraction?: number; // default 0.1: the share of each class held out as test (and as much as validation)
  heldOut?: HeldOut; // classify / choice: what evaluation scores (default test)
  purpose?: 'train' | 'eval'; // eval: everything in the data is evaluated (a preset: its eval set)
}

/** One row of the data preview: the text pieces of a training row, label tokens marked. */
export interface PreviewRow {
  pieces: { text: string; label: boolean; special?: boolean }[];
  tokens: number; // tokens in the row (padding excluded)
  labelTokens: number;
  /** classify / choice: the right answer's label tokens (the candidates of a packed row share its tokens) */
  answer?: string;
}

export interface PreparedTask {
  kind: TaskKind;
  describe: string;
  train: TrainData;
  trainCount: number; // chunks or examples
  evalCount: number;
  evalIsTrain: boolean; // too little data to hold any out: evaluation uses the training data
  sampled: { n: number; of: number } | null; // evaluation scores a seeded sample of n of the `of` held out
  heldOut: string; // what evaluation scores: test, validation, all (eval of a whole file), the training data
  lossPerExample: boolean;
  /** What evaluate's `loss` is, in words: the loss trained (token loss, class loss, label-token loss). */
  lossName: string;
  classify?: ClassifyTask; // for trying the classifier on a text
  trainItems?: Item[]; // classify / choice: the training examples
  evalItems?: Item[]; // classify / choice: what evaluation scores
  evaluate(model: Model, lora: LoraState | null, rows: number): Promise<EvalResult>;
  /** classify / choice: the evaluation with per-class counts, precision, recall and the confusion matrix. */
  metrics?(model: Model, lora: LoraState | null, rows: number): Promise<TaskMetrics>;
  /** evaluate (and metrics) for each of many adapters, all of them in one pass per batch. */
  evaluateEach(model: Model, adapters: MultiAdapters, rows: number): Promise<EvalResult[]>;
  metricsEach?(model: Model, adapters: MultiAdapters, rows: number): Promise<TaskMetrics[]>;
  preview(tok: TextTokenizer, rows: number, batch: number, seed: number): PreviewRow[];
  /** causal LM: the tokens of held-out chunk i (of those evaluation scores), e.g. for a prompt from held-out text. */
  heldOutTokens?(i: number): Int32Array;
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
export function prepareTask(spec: TaskSpec, tok: TextTokenizer, seq: number, seed: number, opts: { onProgress?(source: string, done: number, total: number): void } = {}): PreparedTask {
  const progress = (source: string) => opts.onProgress && ((done: number, total: number) => opts.onProgress!(source, done, total));
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
  const heldOut = spec.heldOut ?? 'test';
  if (!HELD_OUT.includes(heldOut)) throw new Error(`the held-out set must be one of ${HELD_OUT.join(', ')}, got ${heldOut}`);
  if (!TASK_LOSSES.includes(loss)) throw new Error(`the task loss must be one of ${TASK_LOSSES.join(', ')}, got ${loss}`);

  if (kind === 'lm') {
    const main = spec.demo ? { text: '', source: "the built-in keeper's log" } : mainData(spec, enc);
    if (!main) throw new Error('paste some text or open a text file');
    const docs = spec.demo ? keeperLogDocuments() : lmDocuments(main.text, main.source);
    const all = new LmDataset(docs, tok, seq, { source: main.source, onProgress: progress(main.source) });
    let train: LmChunkSet = all;
    let ev: LmChunkSet = all;
    let evalIsTrain = false;
    if (evalOnly) evalIsTrain = true;
    else if (spec.evalFile) ev = new LmDataset(lmDocuments(fileText(spec.evalFile, enc), spec.evalFile.name), tok, seq, { source: spec.evalFile.name, onProgress: progress(spec.evalFile.name) });
    else if (fraction > 0 && all.chunks >= 2) ({ train, eval: ev } = all.split(fraction, seed));
    else evalIsTrain = true; // one chunk: nothing to hold out
    // evalSize caps the chunks scored per evaluation (a seeded sample of the held-out ones)
    const evalSet = evalSize && ev.chunks > evalSize ? ev.split(evalSize / ev.chunks, seed ^ 0x5eed).eval : ev;
    const sampledText = evalSet.chunks < ev.chunks ? ` sampled of ${ev.chunks}` : '';
    return {
      kind,
      describe: evalOnly
        ? `causal LM on ${main.source}: ${evalSet.chunks}${sampledText} chunks of ${seq} tokens evaluated`
        : `causal LM on ${main.source}: ${train.chunks} chunks of ${seq} tokens for training, ${evalIsTrain ? 'evaluated on the same text (too short to hold any out)' : `${evalSet.chunks}${sampledText} held out`}`,
      train,
      trainCount: train.chunks,
      evalCount: evalSet.chunks,
      evalIsTrain,
      sampled: evalSet.chunks < ev.chunks ? { n: evalSet.chunks, of: ev.chunks } : null,
      heldOut: evalOnly ? 'all' : evalIsTrain ? 'the training data' : 'test',
      lossPerExample: false,
      lossName: 'token loss',
      evaluate: (model, lora, rows) => evaluateLm(model, lora, evalSet, rows),
      evaluateEach: (model, adapters, rows) => evaluateLmEach(model, adapters, evalSet, rows),
      preview: (t, n, batch, sd) => previewRows(t, train, n, batch, sd),
      heldOutTokens: (i) => evalSet.chunk(i % evalSet.chunks).tokens,
    };
  }

  let trainItems: Item[];
  let evalItems: Item[];
  let describe: string;
  let classify: ClassifyTask | undefined;
  let classNames: string[];
  let split: Parted<ClassExample | ChoiceExample>;
  const src = (main: { source: string } | null) => main?.source ?? preset!.name;
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
    // evaluating a preset's own test set needs no training data
    const testOnly = evalOnly && !!given && !main && heldOut === 'test';
    const pool = testOnly ? given : preset ? readSpec(preset.train, files) : main ? readClassification(main.text, main.source, cols) : null;
    if (!pool) throw new Error('paste or open labelled data, or pick a preset');
    const classes = spec.classes ?? preset?.classes ?? classesOf(pool);
    const labelWords = spec.labels ?? preset?.labelWords;
    if (!labelWords) throw new Error(`label words are needed: one per class (${classes.join(', ')})`);
    classify = { template, classes, labelWords };
    classNames = classes;
    split = evalOnly && (main || testOnly) ? everything(pool) : splitLabelled(pool, given, fraction, seed);
    const s = src(main);
    trainItems = classifyItems(tok, sample(split.train as ClassExample[], trainSize, seed), classify, seq, s);
    evalItems = classifyItems(tok, stratifiedSample(heldOutOf(split, heldOut, s) as ClassExample[], evalSize, seed), classify, seq, spec.evalFile?.name ?? `${s} (${heldOut})`);
    describe = `classify: ${classes.map((c, i) => `${c} -> ${JSON.stringify(labelWords[i])}`).join(', ')}; template ${JSON.stringify(template)}`;
  } else {
    const main = mainData(spec, enc);
    if (!main) throw new Error('paste or open JSONL items {"premise","choices","label"}');
    const all = readJsonlChoice(main.text, main.source);
    const given = spec.evalFile ? readJsonlChoice(fileText(spec.evalFile, enc), spec.evalFile.name) : null;
    split = evalOnly ? everything(all) : splitLabelled(all, given, fraction, seed);
    const most = all.reduce((m, x) => Math.max(m, x.choices.length), -Infinity);
    classNames = Array.from({ length: most }, (_, i) => `choice ${i + 1}`);
    trainItems = choiceItems(tok, sample(split.train as ChoiceExample[], trainSize, seed), seq, main.source);
    evalItems = choiceItems(tok, stratifiedSample(heldOutOf(split, heldOut, main.source) as ChoiceExample[], evalSize, seed), seq, spec.evalFile?.name ?? main.source);
    describe = 'choice: each candidate scored by the mean log-prob of its continuation';
  }
  const held = split.all ? 'all' : split.evalIsTrain ? 'the training data' : heldOut;
  const heldCount = split.all || heldOut === 'test' ? split.test.length : split.validation.length;
  const sampled = evalItems.length < heldCount ? { n: evalItems.length, of: heldCount } : null;
  const evalText = `${evalItems.length}${sampled ? ` sampled of ${heldCount}` : ''} ${split.all ? 'examples' : `for evaluation (${held})`}`;
  const dupText = split.duplicates ? `; ${split.duplicates} exact duplicate${split.duplicates === 1 ? '' : 's'} removed` : '';
  let train: ItemDataset | null = null;
  const metrics = async (model: Model, lora: LoraState | null, rows: number) => taskMetrics(evalItems, await scoreItems(model, lora, evalItems, rows), classNames);
  const metricsEach = async (model: Model, adapters: MultiAdapters, rows: number) =>
    (await scoreItemsEach(model, adapters, evalItems, rows)).map((scores) => taskMetrics(evalItems, scores, classNames));
  // the held-out loss is the one trained: over the candidates (--loss classes), else the label tokens'
  const brief = (m: TaskMetrics): EvalResult => ({ loss: loss === 'classes' ? m.classLoss : m.loss, n: m.n, accuracy: m.accuracy, f1: m.f1 });
  return {
    kind,
    describe: evalOnly
      ? `${describe}; ${evalText}${dupText}`
      : `${describe}; ${trainItems.length} training examples, ${split.validation.length} validation, ${evalText}${split.evalIsTrain ? ': too few to hold any out' : ''}${dupText}`,
    get train() {
      return (train ??= new ItemDataset(trainItems, seq, loss)); // throws "no training examples" when there are none
    },
    trainCount: trainItems.length,
    evalCount: evalItems.length,
    evalIsTrain: split.evalIsTrain,
    sampled,
    heldOut: held,
    lossPerExample: true,
    lossName: loss === 'classes' ? 'class loss' : 'label-token loss',
    classify,
    trainItems,
    evalItems,
    evaluate: async (model, lora, rows) => brief(await metrics(model, lora, rows)),
    metrics,
    evaluateEach: async (model, adapters, rows) => (await metricsEach(model, adapters, rows)).map(brief),
    metricsEach,
    preview(t, n, batch, sd) {
      return previewRows(t, this.train, n, batch, sd);
    },
  };
}

/** The parts of labelled data: train, validation, test, and how they came about. */
interface Parted<X> extends Splits<X> {
  duplicates: number; // exact duplicates removed
  evalIsTrain: boolean; // too few examples to hold any out: test is the training data
  all?: boolean; // evaluation of everything in the data (test holds all of it)
}

/** Everything in the data as the set to evaluate (`mobizo eval --data F`), duplicates removed. */
function everything<X extends ClassExample | ChoiceExample>(xs: X[]): Parted<X> {
  const d = dedupe(xs);
  return { train: [], validation: [], test: d.kept, duplicates: d.removed, evalIsTrain: false, all: true };
}

/**
 * Train / validation / test: exact duplicates removed (within, and training examples that repeat
 * a held-out text), split by class with a seeded shuffle. A given eval set is the test set and
 * the validation set comes out of the training data; otherwise both come out of it.
 */
function splitLabelled<X extends ClassExample | ChoiceExample>(pool: X[], given: X[] | null, fraction: number, seed: number): Parted<X> {
  if (given) {
    const test = dedupe(given);
    const rest = dedupe(pool, new Set(test.kept.map(exampleKey)));
    const s = stratifiedSplit(rest.kept, fraction, seed, false);
    return { train: s.train, validation: s.test, test: test.kept, duplicates: test.removed + rest.removed, evalIsTrain: false };
  }
  const d = dedupe(pool);
  const s = stratifiedSplit(d.kept, fraction, seed, true);
  if (!s.test.length) return { train: d.kept, validation: [], test: d.kept, duplicates: d.removed, evalIsTrain: true };
  return { ...s, duplicates: d.removed, evalIsTrain: false };
}

function heldOutOf<X>(s: Parted<X>, heldOut: HeldOut, source: string): X[] {
  if (heldOut === 'test' || s.all) return s.test;
  if (!s.validation.length) throw new Error(`${source}: too few examples for a validation split (use the test split)`);
  return s.validation;
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
    // batch x rowsPerExample rows; a packed row shows the labels of the candidate that fills it (the
    // candidates sharing it are scored at their own positions of the same tokens: TokenBatch.picks)
    for (let r = 0; r < b.tokens.length / T && rows.length < n; r++) {
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
      // the right candidate (j = 0 of each example) of the positions this row's picks score
      const right: number[] = [];
      const pk = b.picks;
      const cands = Math.max(1, data.candidates ?? 1);
      if (pk) for (let k = 0; k < pk.at.length; k++) if (pk.at[k] >= r * T && pk.at[k] < (r + 1) * T && pk.seq[k] % cands === 0) right.push(pk.label[k]);
      const answer = right.length ? utf8.decode(concatBytes(right.map((id, i) => tok.decodeBytes(i ? right[i - 1] : -1, id)))) : undefined;
      rows.push({ pieces, tokens: len, labelTokens, ...(answer !== undefined ? { answer } : {}) });
    }
  }
  return rows;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}
