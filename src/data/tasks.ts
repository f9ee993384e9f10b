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

/**
 * The rows an item's candidates need. Candidate c is scored at positions start - 1 .. len - 2 (each
 * predicts the next token), which read its tokens but the last; so it can be scored on any row that
 * holds those same tokens at the same positions. Candidates whose continuations are one token each
 * (" yes" / " no" with most vocabularies, " A" .. " D") then share one row: the prompt is run once per
 * item, not once per candidate. Candidates are placed longest first; `rowOf[c]` is the row of c and
 * `fill[r]` the candidate whose tokens fill row r.
 */
export function packCandidates(cands: readonly Candidate[]): { fill: number[]; rowOf: number[] } {
  const fill: number[] = [];
  const rowOf = new Array<number>(cands.length);
  const reads = (c: Candidate, d: Candidate) => {
    if (c.tokens.length - 1 > d.tokens.length) return false;
    for (let t = 0; t < c.tokens.length - 1; t++) if (c.tokens[t] !== d.tokens[t]) return false;
    return true;
  };
  const longest = cands.map((_, i) => i).sort((a, b) => cands[b].tokens.length - cands[a].tokens.length || a - b);
  for (const c of longest) {
    const r = fill.findIndex((f) => reads(cands[c], cands[f]));
    rowOf[c] = r >= 0 ? r : fill.push(c) - 1;
  }
  return { fill, rowOf };
}

/** One scored item: its candidates and the index of the right one. */
export interface Item {
  candidates: Candidate[];
  answer: number;
}

/**
 * The training loss of classify / choice: `label` the cross-entropy of the right label word's
 * tokens (LM-style teacher forcing); `classes` the cross-entropy over the candidates' mean
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

/** `n` examples sampled deterministically by seed (all of them, in their order, when n is 0 or larger). */
export function sample<X>(xs: X[], n: number, seed: number): X[] {
  if (!n || n >= xs.length) return xs;
  const perm = shuffledIndices(xs.length, seed);
  return Array.from(perm.subarray(0, n), (i) => xs[i]);
}

/** All of `xs` in a seeded order (Fisher-Yates, mulberry32). */
export function shuffled<X>(xs: readonly X[], seed: number): X[] {
  return Array.from(shuffledIndices(xs.length, seed), (i) => xs[i]);
}

/** The key two examples are exact duplicates by: the text (classify) or premise + choices (choice). */
export function exampleKey(x: ClassExample | ChoiceExample): string {
  return 'text' in x ? x.text : JSON.stringify([x.premise, ...x.choices]);
}

/** The class an example is stratified by: its label (classify) or the right choice's index (choice). */
export function exampleClass(x: ClassExample | ChoiceExample): string {
  return String(x.label);
}

/**
 * Exact duplicates removed: the first of each key is kept, and every example whose key is in
 * `drop` (the texts of a held-out set) goes. `removed` counts what went.
 */
export function dedupe<X extends ClassExample | ChoiceExample>(xs: readonly X[], drop: ReadonlySet<string> = new Set()): { kept: X[]; removed: number } {
  const seen = new Set<string>(drop);
  const kept = xs.filter((x) => {
    const k = exampleKey(x);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { kept, removed: xs.length - kept.length };
}

/** Examples grouped by class, each group in a seeded order (a different shuffle per class). */
function byClass<X extends ClassExample | ChoiceExample>(xs: readonly X[], seed: number): X[][] {
  const groups = new Map<string, X[]>();
  for (const x of xs) {
    const c = exampleClass(x);
    if (!groups.has(c)) groups.set(c, []);
    groups.get(c)!.push(x);
  }
  return [...groups.keys()].sort().map((c, i) => shuffled(groups.get(c)!, epochSeed(seed, 0x51a7 + i)));
}

export interface Splits<X> {
  train: X[];
  validation: X[]; // for choosing settings (empty when not asked for)
  test: X[]; // for reporting
}

/**
 * A seeded split stratified by class: each class is shuffled by `seed`, round(fraction x its
 * size) of it go to test and, with `validation`, as many to validation (each held-out set gets at
 * least one of every class that has enough examples to leave one for training), the rest to train.
 * Every held-out set thus has the classes in the data's proportions. The held-out sets are in a
 * seeded order, so any prefix mixes the classes.
 */
export function stratifiedSplit<X extends ClassExample | ChoiceExample>(xs: readonly X[], fraction: number, seed: number, validation: boolean): Splits<X> {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`the held-out fraction must be in [0, 1), got ${fraction}`);
  const parts = validation ? 2 : 1;
  const out: Splits<X> = { train: [], validation: [], test: [] };
  if (fraction === 0) return { ...out, train: [...xs] };
  for (const group of byClass(xs, seed)) {
    const spare = group.length - 1; // keep one for training
    const want = Math.max(1, Math.round(group.length * fraction));
    const k = Math.max(0, Math.min(want, Math.floor(spare / parts)));
    const kTest = k || Math.min(1, spare); // a class of 2: one to test, none to validation
    for (const x of group.slice(0, kTest)) out.test.push(x); // no push(...): a class may be large
    if (validation) for (const x of group.slice(kTest, kTest + k)) out.validation.push(x);
    for (const x of group.slice(kTest + (validation ? k : 0))) out.train.push(x);
  }
  return { train: out.train, validation: shuffled(out.validation, seed ^ 0x7a1d), test: shuffled(out.test, seed ^ 0x7e57) };
}

/** `n` examples drawn by seed with the classes in their proportions (all of them when n is 0 or larger). */
export function stratifiedSample<X extends ClassExample | ChoiceExample>(xs: X[], n: number, seed: number): X[] {
  if (!n || n >= xs.length) return xs;
  const groups = byClass(xs, seed ^ 0x5a3e);
  // largest remainder: each class gets floor(n x share), the rest go to the largest fractions
  const exact = groups.map((g) => (n * g.length) / xs.length);
  const take = exact.map(Math.floor);
  const order = exact.map((_, i) => i).sort((a, b) => exact[b] - take[b] - (exact[a] - take[a]) || a - b);
  for (let r = n - take.reduce((a, b) => a + b, 0), j = 0; r > 0; r--, j++) take[order[j % order.length]]++;
  return shuffled(groups.flatMap((g, i) => g.slice(0, take[i])), seed ^ 0x5a3f);
}

/**
 * Training batches of items. Label-token loss (candidates 0): the right candidate's row, labels on
 * its continuation only. Classification loss (candidates = C): every candidate's row, the right
 * one first, labels on each continuation (see ZoOptions.candidates).
 */
export class ItemDataset {
  readonly candidates: number;
  /** Rows per example in a batch: 1 (label loss), or the most rows an example's packed candidates need (classes loss). */
  readonly rowsPerExample: number;
  /** The most positions an example has scored (its label tokens; classes loss: every candidate's): the LM head's rows. */
  readonly labelsPerExample: number;
  private readonly packs: { order: number[]; rowOf: number[]; fill: number[] }[] = []; // classes loss: per item

  constructor(
    readonly items: Item[],
    readonly seqLen: number,
    loss: TaskLoss = 'label',
    opts: { pack?: boolean } = {}, // pack false: a row per candidate (the layout before packing; benchmarks compare)
  ) {
    if (!items.length) throw new Error('no training examples');
    this.candidates = 0;
    this.rowsPerExample = 1;
    const labelTokens = (c: Candidate) => c.tokens.length - c.start;
    this.labelsPerExample = items.reduce((m, it) => Math.max(m, loss === 'classes' ? it.candidates.reduce((n, c) => n + labelTokens(c), 0) : labelTokens(it.candidates[it.answer])), 1);
    if (loss === 'classes') {
      const c = items[0].candidates.length;
      const odd = items.findIndex((it) => it.candidates.length !== c);
      if (odd >= 0) throw new Error(`the classification loss needs the same number of candidates in every example: example 1 has ${c}, example ${odd + 1} has ${items[odd].candidates.length} (use the label loss)`);
      if (c < 2) throw new Error('the classification loss needs at least 2 candidates per example');
      this.candidates = c;
      for (const item of items) {
        const order = [item.answer, ...item.candidates.keys()].filter((k, i) => i === 0 || k !== item.answer); // the right one first
        const { fill, rowOf } = opts.pack === false ? { fill: order.map((_, j) => j), rowOf: order.map((_, j) => j) } : packCandidates(order.map((k) => item.candidates[k]));
        this.packs.push({ order, rowOf, fill });
        this.rowsPerExample = Math.max(this.rowsPerExample, fill.length);
      }
    }
  }

  get chunks(): number {
    return this.items.length;
  }

  /**
   * `batchSize` examples of `rowsPerExample` rows each. Label loss: labels on the right label's
   * tokens. Classes loss: the picks score candidate j of example b as sequence b * candidates + j
   * (the right one first) on its packed row; `labels` marks each row's own candidate (the preview).
   */
  batchAt(step: number, batchSize: number, seed: number): TokenBatch {
    const T = this.seqLen;
    const n = this.items.length;
    const R = this.rowsPerExample;
    const tokens = new Int32Array(batchSize * R * T).fill(PAD_TOKEN);
    const labels = new Int32Array(batchSize * R * T).fill(IGNORE_LABEL);
    const picks = { at: [] as number[], label: [] as number[], seq: [] as number[] };
    let perm: Int32Array | null = null;
    let permEpoch = -1;
    for (let b = 0; b < batchSize; b++) {
      const g = step * batchSize + b;
      const epoch = Math.floor(g / n);
      if (epoch !== permEpoch) (perm = shuffledIndices(n, epochSeed(seed, epoch))), (permEpoch = epoch);
      const i = perm![g % n];
      const item = this.items[i];
      if (!this.candidates) {
        const c = item.candidates[item.answer];
        tokens.set(c.tokens, b * T);
        for (let t = c.start; t < c.tokens.length; t++) labels[b * T + t - 1] = c.tokens[t];
        continue;
      }
      const { order, rowOf, fill } = this.packs[i];
      fill.forEach((j, r) => {
        const c = item.candidates[order[j]];
        const row = (b * R + r) * T;
        tokens.set(c.tokens, row);
        for (let t = c.start; t < c.tokens.length; t++) labels[row + t - 1] = c.tokens[t];
      });
      order.forEach((k, j) => {
        const c = item.candidates[k];
        const row = (b * R + rowOf[j]) * T;
        for (let t = c.start; t < c.tokens.length; t++) {
          picks.at.push(row + t - 1);
          picks.label.push(c.tokens[t]);
          picks.seq.push(b * this.candidates + j);
        }
      });
    }
    if (!this.candidates) return { tokens, labels };
    return { tokens, labels, picks: { at: Int32Array.from(picks.at), label: Int32Array.from(picks.label), seq: Int32Array.from(picks.seq) } };
  }
}
