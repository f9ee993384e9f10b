// Batched scoring of candidates (classification label words, multiple-choice continuations):
// many rows per forward pass, the candidates of an item in the same pass where they fit, the LM
// head evaluated only at the positions that predict continuation tokens.
import { LossHead } from './loss_head';
import type { Candidate, Item } from '../data/tasks';
import type { Model } from '../model/model';
import { ForwardPass } from '../model/forward';
import type { LoraState } from '../adapter/lora';
import type { MultiAdapters } from '../adapter/multi';
import type { LinearAdapters } from '../model/targets';

/**
 * Mean log-prob of each candidate's continuation: [items][candidates]. Items are taken in order of
 * length and packed whole into passes of at most `rowsPerPass` rows; each pass uses the shortest
 * T (a multiple of 8) that holds its rows, so padding costs little.
 */
export async function scoreItems(model: Model, lora: LoraState | null, items: Item[], rowsPerPass: number): Promise<number[][]> {
  return (await scoreCopies(model, lora ?? undefined, 1, items, rowsPerPass))[0];
}

/**
 * scoreItems for each adapter of `adapters`: every pass runs its rows once per adapter (sequence
 * a * R + k is row k under adapter a), so one pass scores them all. [adapters][items][candidates].
 */
export async function scoreItemsEach(model: Model, adapters: MultiAdapters, items: Item[], rowsPerPass: number): Promise<number[][][]> {
  return scoreCopies(model, adapters, adapters.count, items, rowsPerPass, (R) => adapters.assignCopies(R));
}

/** Scores of `copies` copies of every pass's R rows (copy a: sequences a * R ..); `layout(R)` is told R first. */
async function scoreCopies(
  model: Model,
  lora: LinearAdapters | undefined,
  copies: number,
  items: Item[],
  rowsPerPass: number,
  layout?: (R: number) => void,
): Promise<number[][][]> {
  const len = (it: Item) => it.candidates.reduce((m, c) => Math.max(m, c.tokens.length), -Infinity);
  const order = items.map((_, i) => i).sort((a, b) => len(items[a]) - len(items[b]));
  const rows = order.flatMap((i) => items[i].candidates.map((c, j) => ({ i, j, c })));
  const maxT = rows.reduce((m, r) => Math.max(m, r.c.tokens.length), -Infinity); // no spread: rows may be many
  if (maxT > model.config.seqLen) throw new Error(`scoring: rows of ${maxT} tokens exceed the model's context of ${model.config.seqLen}`);
  const R = Math.max(1, Math.min(rowsPerPass, rows.length));
  layout?.(R);
  const scores = Array.from({ length: copies }, () => items.map((it) => new Array<number>(it.candidates.length).fill(NaN)));
  const passes = new Map<number, Scorer>(); // by T
  try {
    let at = 0;
    while (at < rows.length) {
      let end = Math.min(at + R, rows.length);
      if (end < rows.length && rows[end].i === rows[end - 1].i) {
        let cut = end;
        while (cut > at && rows[cut].i === rows[cut - 1].i) cut--;
        if (cut > at) end = cut; // keep an item's candidates together
      }
      const chunk = rows.slice(at, end);
      const T = Math.min(model.config.seqLen, Math.ceil(chunk.reduce((m, r) => Math.max(m, r.c.tokens.length), 0) / 8) * 8);
      let sc = passes.get(T);
      if (!sc) passes.set(T, (sc = new Scorer(model, lora, R, T, copies)));
      const got = await sc.run(chunk.map((r) => r.c));
      got.forEach((g, a) => chunk.forEach((r, k) => (scores[a][r.i][r.j] = g[k])));
      at = end;
    }
  } finally {
    for (const sc of passes.values()) sc.destroy();
  }
  return scores;
}

/** A forward pass of `copies` x R rows of T tokens plus the cross-entropy of the continuation tokens. */
class Scorer {
  private readonly pass: ForwardPass;
  private readonly head: LossHead;

  constructor(
    model: Model,
    lora: LinearAdapters | undefined,
    private readonly R: number,
    private readonly T: number,
    private readonly copies: number,
  ) {
    const n = R * T * copies;
    this.pass = new ForwardPass(model, { B: R * copies, T, nSelect: n, lora });
    this.head = new LossHead(this.pass, `score[${R * copies}x${T}]`);
  }

  /** Mean log-prob of each candidate's continuation, per copy: [copies][candidates]. */
  async run(cands: Candidate[]): Promise<number[][]> {
    const { R, T, copies } = this;
    const tokens = new Int32Array(copies * R * T);
    const sel: number[] = [];
    const labels: number[] = [];
    const owner: number[] = [];
    for (let a = 0; a < copies; a++) {
      cands.forEach((c, k) => {
        tokens.set(c.tokens, (a * R + k) * T);
        for (let t = c.start; t < c.tokens.length; t++) {
          sel.push((a * R + k) * T + t - 1);
          labels.push(c.tokens[t]);
          owner.push(a * cands.length + k);
        }
      });
    }
    this.pass.setInput(tokens, sel);
    this.head.setLabels(labels);
    const losses = await this.head.run();
    const sum = new Float64Array(copies * cands.length);
    const cnt = new Float64Array(copies * cands.length);
    losses.forEach((l, s) => ((sum[owner[s]] += l), cnt[owner[s]]++));
    return Array.from({ length: copies }, (_, a) => cands.map((_, k) => -sum[a * cands.length + k] / cnt[a * cands.length + k]));
  }

  destroy(): void {
    this.head.destroy();
    this.pass.destroy();
  }
}
