// The checks of what an embedding app hands the API, as the CLI checks its flags: an options object
// with only known options of the right types, and a task that is an object of known fields (a
// string where label words are meant, a plain string as the data, an unknown field each get an
// OptionError that names them). The values' ranges are validateRunOptions' (options.ts).
import { TASK_LOSSES } from '../data/tasks';
import type { TextTokenizer } from '../formats/tokenizer';
import { isTokenizer, NO_TOKENIZER } from '../model/tokenizer_arg';
import { OptionError, validateRunOptions, type RunOptions } from './options';
import { HELD_OUT, type TaskSpec } from './task_source';

/** Every option of a run (RunOptions), with the type each takes. */
const RUN_OPTIONS: Readonly<Record<keyof RunOptions, 'number' | 'string'>> = {
  mode: 'string',
  q: 'number',
  eps: 'number',
  lr: 'number',
  schedule: 'string',
  batch: 'number',
  seq: 'number',
  steps: 'number',
  seed: 'number',
  targets: 'string',
  rank: 'number',
  alpha: 'number',
  evalEvery: 'number',
  checkpointEvery: 'number',
  trainSize: 'number',
  evalSize: 'number',
  onDiverge: 'string',
  optimizer: 'string',
  beta1: 'number',
  beta2: 'number',
  zoRank: 'number',
  hessianSmooth: 'number',
  maxMemoryMiB: 'number',
};

/** Where a name that is not an option probably came from. */
const HINTS: Readonly<Record<string, string>> = {
  lora: 'the adapter is set by rank, alpha and targets',
  targetModules: 'use targets, e.g. "q,v"',
  learningRate: 'use lr',
  batchSize: 'use batch',
  seqLen: 'use seq',
  tokenizer: 'the tokenizer is the model\'s (loadModel) or FineTuner\'s second argument',
};

const TASK_FIELDS: Readonly<Record<keyof TaskSpec, string>> = {
  task: 'string',
  preset: 'string',
  demo: 'boolean',
  files: 'files',
  text: 'string',
  evalFile: 'file',
  template: 'string',
  labels: 'strings',
  classes: 'strings',
  loss: 'string',
  textColumn: 'string',
  labelColumn: 'string',
  encoding: 'string',
  trainSize: 'number',
  evalSize: 'number',
  evalFraction: 'number',
  heldOut: 'string',
  purpose: 'string',
};

/** Edit distance of two short names (for "did you mean"). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = d[j];
      d[j] = next;
    }
  }
  return d[b.length];
}

function unknownName(key: string, known: readonly string[], what: string): OptionError {
  const near = known.filter((k) => distance(key, k) <= Math.max(1, Math.floor(k.length / 3))).sort((x, y) => distance(key, x) - distance(key, y));
  const hint = HINTS[key] ?? (near.length ? `did you mean ${near[0]}?` : `known: ${known.join(', ')}`);
  return new OptionError(key, `is not ${what} (${hint})`);
}

/** A value's kind in words, never its text (data can be long or private). */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string of ${v.length} characters`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Checks a run's options object: known names, the right types, the ranges of validateRunOptions. */
export function validateOptions(options: unknown): asserts options is Partial<RunOptions> {
  if (options === undefined) return;
  if (!isPlainObject(options)) throw new OptionError('options', `must be an object of options such as { steps: 50, lr: 1e-3 }, got ${kindOf(options)}`);
  const known = Object.keys(RUN_OPTIONS);
  for (const [key, v] of Object.entries(options)) {
    const type = RUN_OPTIONS[key as keyof RunOptions];
    if (!type) throw unknownName(key, known, 'an option of a run');
    if (v === undefined) continue;
    if (typeof v !== type) throw new OptionError(key, `must be a ${type}${key === 'targets' ? ' such as "q,v"' : ''}, got ${kindOf(v)}`);
    if (type === 'number' && !Number.isFinite(v)) throw new OptionError(key, `must be a finite number, got ${v}`);
  }
  validateRunOptions(options as Partial<RunOptions>);
}

/** Checks the data argument: a prepared task, or a TaskSpec of known fields with the right types. */
export function validateTaskSpec(data: unknown): void {
  if (!isPlainObject(data)) throw new OptionError('data', `must be a task object such as { text } (text to learn), { files } or { preset }, got ${kindOf(data)}`);
  if ('train' in data && 'evaluate' in data) return; // a PreparedTask
  const known = Object.keys(TASK_FIELDS);
  for (const [key, v] of Object.entries(data)) {
    const type = TASK_FIELDS[key as keyof TaskSpec];
    if (!type) throw unknownName(key, known, 'a field of the data (a TaskSpec)');
    if (v === undefined) continue;
    const field = `data.${key}`;
    const file = (f: unknown) => isPlainObject(f) && typeof f.name === 'string' && (f.bytes instanceof Uint8Array || typeof f.text === 'string');
    if (type === 'strings') {
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new OptionError(field, `must be an array of strings${key === 'labels' ? ', e.g. [" terrible", " great"]' : ''}, got ${kindOf(v)}`);
      if (v.length === 0) throw new OptionError(field, 'must not be empty');
    } else if (type === 'files') {
      if (!Array.isArray(v) || !v.every(file)) throw new OptionError(field, `must be an array of { name, bytes } or { name, text } files, got ${kindOf(v)}`);
    } else if (type === 'file') {
      if (!file(v)) throw new OptionError(field, `must be a { name, bytes } or { name, text } file, got ${kindOf(v)}`);
    } else if (typeof v !== type) {
      throw new OptionError(field, `must be a ${type}, got ${kindOf(v)}`);
    }
  }
  const spec = data as TaskSpec;
  if (spec.task !== undefined && !['lm', 'classify', 'choice'].includes(spec.task)) throw new OptionError('data.task', `must be one of lm, classify, choice, got ${spec.task}`);
  if (spec.loss !== undefined && !TASK_LOSSES.includes(spec.loss)) throw new OptionError('data.loss', `must be one of ${TASK_LOSSES.join(', ')}, got ${spec.loss}`);
  if (spec.heldOut !== undefined && !HELD_OUT.includes(spec.heldOut)) throw new OptionError('data.heldOut', `must be one of ${HELD_OUT.join(', ')}, got ${spec.heldOut}`);
  if (spec.encoding !== undefined && !['utf-8', 'latin1'].includes(spec.encoding)) throw new OptionError('data.encoding', `must be utf-8 or latin1, got ${spec.encoding}`);
  if (spec.evalFraction !== undefined && !(spec.evalFraction >= 0 && spec.evalFraction < 1)) throw new OptionError('data.evalFraction', `must be in [0, 1), got ${spec.evalFraction}`);
  for (const k of ['trainSize', 'evalSize'] as const) {
    const n = spec[k];
    if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new OptionError(`data.${k}`, `must be an integer >= 0, got ${n}`);
  }
  if (!spec.demo && !spec.preset && spec.text === undefined && !spec.files?.length) throw new OptionError('data', 'has no data: give text, files, a preset, or demo: true');
}

/**
 * The tokenizer of a call that takes `(model, [tokenizer,] ...rest)`: the one passed (the old
 * form), else the model's own (loadModel sets it). Returns it and the arguments after it.
 */
export function tokenizerArg(model: { tokenizer?: TextTokenizer }, args: readonly unknown[]): { tokenizer: TextTokenizer; rest: unknown[] } {
  if (isTokenizer(args[0])) return { tokenizer: args[0], rest: args.slice(1) };
  if (!model.tokenizer) throw new OptionError('tokenizer', `is missing: ${NO_TOKENIZER}`);
  return { tokenizer: model.tokenizer, rest: [...args] };
}
