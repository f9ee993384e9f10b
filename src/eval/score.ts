// Batched scoring of candidates (classification label words, multiple-choice continuations):
// many rows per forward pass, the candidates of an item in the same pass where they fit, the LM
// head evaluated only at the positions that predict continuation tokens.
import { LossHead } from './loss_head';
import { packCandidates, type Candidate, type Item } from '../data/tasks';
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

/** A row of a scoring pass: the candidate whose tokens fill it, and the candidates scored on it (packCandidates). */
interface ScoreRow {
  i: number; // item
  fill: Candidate;
  scored: { j: number; c: Candidate }[];
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
  // an item's candidates share rows where they read the same tokens (one row per item for one-token label words)
  const rows: ScoreRow[] = order.flatMap((i) => {
    const cands = items[i].candidates;
    const { fill, rowOf } = packCandidates(cands);
    return fill.map((f, r) => ({ i, fill: cands[f], scored: cands.flatMap((c, j) => (rowOf[j] === r ? [{ j, c }] : [])) }));
  });
  const maxT = rows.reduce((m, r) => Math.max(m, r.fill.tokens.length), -Infinity); // no spread: rows may be many
  if (maxT > model.config.seqLen) throw new Error(`scoring: rows of ${maxT} tokens exceed the model's context of ${model.config.seqLen}`);
  const R = Math.max(1, Math.min(rowsPerPass, rows.length));
  // the LM head runs at the scored positions only: logits for R rows of the most positions a row scores
  const picks = (r: ScoreRow) => r.scored.reduce((n, { c }) => n + c.tokens.length - c.start, 0);
  const perRow = rows.reduce((m, r) => Math.max(m, picks(r)), 1);
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
      const T = Math.min(model.config.seqLen, Math.ceil(chunk.reduce((m, r) => Math.max(m, r.fill.tokens.length), 0) / 8) * 8);
      let sc = passes.get(T);
      if (!sc) passes.set(T, (sc = new Scorer(model, lora, R, T, copies, perRow)));
      const got = await sc.run(chunk);
      const scored = chunk.flatMap((r) => r.scored.map(({ j }) => ({ i: r.i, j })));
      got.forEach((g, a) => scored.forEach(({ i, j }, k) => (scores[a][i][j] = g[k])));
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
    perRow: number, // the most positions a row scores (a position once per candidate it scores)
  ) {
    this.pass = new ForwardPass(model, { B: R * copies, T, nSelect: R * perRow * copies, lora });
    this.head = new LossHead(this.pass, `score[${R * copies}x${T}]`);
  }

  /** Mean log-prob of each scored candidate of the rows (in row order), per copy: [copies][candidates]. */
  async run(rows: ScoreRow[]): Promise<number[][]> {
    const { R, T, copies } = this;
    const tokens = new Int32Array(copies * R * T);
    const sel: number[] = [];
    const labels: number[] = [];
    const owner: number[] = [];
    const per = rows.reduce((n, r) => n + r.scored.length, 0); // candidates scored per copy
    for (let a = 0; a < copies; a++) {
      let k = 0;
      rows.forEach((row, r) => {
        tokens.set(row.fill.tokens, (a * R + r) * T);
        for (const { c } of row.scored) {
          for (let t = c.start; t < c.tokens.length; t++) {
            sel.push((a * R + r) * T + t - 1);
            labels.push(c.tokens[t]);
            owner.push(a * per + k);
          }
          k++;
        }
      });
    }
    this.pass.setInput(tokens, sel);
    this.head.setLabels(labels);
    const losses = await this.head.run();
    const sum = new Float64Array(copies * per);
    const cnt = new Float64Array(copies * per);
    losses.forEach((l, s) => ((sum[owner[s]] += l), cnt[owner[s]]++));
    return Array.from({ length: copies }, (_, a) => Array.from({ length: per }, (_, k) => -sum[a * per + k] / cnt[a * per + k]));
  }

  destroy(): void {
    this.head.destroy();
    this.pass.destroy();
  }
}
