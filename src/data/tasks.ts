// Tasks the way MobiZO and MeZO measure them. Every example becomes one or more candidate rows
// `BOS + prompt + continuation`; the model scores a candidate by the mean log-prob of its
// continuation tokens.
//   classify  prompt = template with {text}; one continuation per class (its label word)
//   choice    prompt = premise; the continuations are the choices (COPA style)
//   lm        plain causal-LM chunks (src/data/lm.ts)
// Training uses the right candidate's row, with labels on its continuation tokens only.
import type { TokenBatch } from './batch';
import { epochSeed, IGNORE_LABEL, PAD_TOKEN, shuffledIndices } from './lm';
import type { ChoiceExample, ClassExample } from './examples';

export interface EncodingTokenizer {
  encode(text: string, opts: { bos: boolean; eos: boolean }): number[];
}

export interface Candidate {
  tokens: number[]; // BOS, prompt, continuation
  start: number; // index of the first continuation token
}

/** One scored item: its candidates and the index of the right one. */
export interface Item {
  candidates: Candidate[];
  answer: number;
}

/**
 * The training loss of classify / choice: `label` the cross-entropy of the right label word's
 * tokens (LM-style teacher forcing); `classes` the cross-entropy over the candidates' summed
 * label-word log-likelihoods (MeZO's train_as_classification).
 */
export type TaskLoss = 'label' | 'classes';
export const TASK_LOSSES: readonly TaskLoss[] = ['label', 'classes'];
export const DEFAULT_TASK_LOSS: TaskLoss = 'classes';

export interface ClassifyTask {
  template: string; // contains {text}
  classes: string[]; // the label values of the data, in class order
  labelWords: string[]; // the continuation of each class, e.g. " terrible", " great"
}

/**
 * Tokenises prompt + continuation. The continuation's tokens are those after the longest common
 * prefix of encode(prompt) and encode(prompt + continuation) (a merge across the boundary moves
 * the boundary left). Too long: the prompt loses tokens from the left after BOS, so the template's
 * tail and the continuation survive.
 */
export function candidate(tok: EncodingTokenizer, prompt: string, continuation: string, T: number, where: string): Candidate {
  const full = tok.encode(prompt + continuation, { bos: true, eos: false });
  const pre = tok.encode(prompt, { bos: true, eos: false });
  let start = 0;
  while (start < pre.length && start < full.length && pre[start] === full[start]) start++;
  start = Math.max(start, 1);
  if (start >= full.length) throw new Error(`${where}: the continuation ${JSON.stringify(continuation)} adds no token`);
  if (full.length > T) {
    const drop = full.length - T;
    if (start - drop < 2) throw new Error(`${where}: the continuation ${JSON.stringify(continuation)} and the prompt's tail do not fit --seq ${T}`);
    return { tokens: [full[0], ...full.slice(1 + drop)], start: start - drop };
  }
  return { tokens: full, start };
}

export function classifyItems(tok: EncodingTokenizer, examples: ClassExample[], task: ClassifyTask, T: number, source: string): Item[] {
  if (!task.template.includes('{text}')) throw new Error(`template ${JSON.stringify(task.template)} has no {text}`);
  if (task.labelWords.length !== task.classes.length) {
    throw new Error(`${task.labelWords.length} label words for ${task.classes.length} classes (${task.classes.join(', ')})`);
  }
  return examples.map((ex, i) => {
    const answer = task.classes.indexOf(ex.label);
    if (answer < 0) throw new Error(`${source}: example ${i + 1} has label ${JSON.stringify(ex.label)}, not one of ${task.classes.map((c) => JSON.stringify(c)).join(', ')}`);
    const prompt = task.template.replace('{text}', ex.text);
    return { answer, candidates: task.labelWords.map((w) => candidate(tok, prompt, w, T, `${source}: example ${i + 1}`)) };
  });
}

export function choiceItems(tok: EncodingTokenizer, examples: ChoiceExample[], T: number, source: string): Item[] {
  return examples.map((ex, i) => ({
    answer: ex.label,
    candidates: ex.choices.map((c) => candidate(tok, ex.premise, c.startsWith(' ') ? c : ` ${c}`, T, `${source}: item ${i + 1}`)),
  }));
}

/** `n` examples sampled deterministically by seed (all of them when n is 0 or larger). */
export function sample<X>(xs: X[], n: number, seed: number): X[] {
  if (!n || n >= xs.length) return xs;
  const perm = shuffledIndices(xs.length, seed);
  return Array.from(perm.subarray(0, n), (i) => xs[i]);
}

/**
 * Training batches of items. Label-token loss (candidates 0): the right candidate's row, labels on
 * its continuation only. Classification loss (candidates = C): every candidate's row, the right
 * one first, labels on each continuation (see ZoOptions.candidates).
 */
export class ItemDataset {
  readonly candidates: number;

  constructor(
    readonly items: Item[],
    readonly seqLen: number,
    loss: TaskLoss = 'label',
  ) {
    if (!items.length) throw new Error('no training examples');
    this.candidates = 0;
    if (loss === 'classes') {
      const c = items[0].candidates.length;
      const odd = items.findIndex((it) => it.candidates.length !== c);
      if (odd >= 0) throw new Error(`the classification loss needs the same number of candidates in every example: example 1 has ${c}, example ${odd + 1} has ${items[odd].candidates.length} (use the label loss)`);
      if (c < 2) throw new Error('the classification loss needs at least 2 candidates per example');
      this.candidates = c;
    }
  }

  get chunks(): number {
    return this.items.length;
  }

  batchAt(step: number, batchSize: number, seed: number): TokenBatch {
    const T = this.seqLen;
    const n = this.items.length;
    const C = Math.max(1, this.candidates);
    const tokens = new Int32Array(batchSize * C * T).fill(PAD_TOKEN);
    const labels = new Int32Array(batchSize * C * T).fill(IGNORE_LABEL);
    let perm: Int32Array | null = null;
    let permEpoch = -1;
    for (let b = 0; b < batchSize; b++) {
      const g = step * batchSize + b;
      const epoch = Math.floor(g / n);
      if (epoch !== permEpoch) (perm = shuffledIndices(n, epochSeed(seed, epoch))), (permEpoch = epoch);
      const item = this.items[perm![g % n]];
      const order = this.candidates ? [item.answer, ...item.candidates.keys()].filter((k, i) => i === 0 || k !== item.answer) : [item.answer];
      order.forEach((k, j) => {
        const c = item.candidates[k];
        const row = (b * C + j) * T;
        tokens.set(c.tokens, row);
        for (let t = c.start; t < c.tokens.length; t++) labels[row + t - 1] = c.tokens[t];
      });
    }
    return { tokens, labels };
  }
}
