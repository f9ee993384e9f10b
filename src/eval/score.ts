// Batched scoring of candidates (classification label words, multiple-choice continuations):
// many rows per forward pass, the candidates of an item in the same pass where they fit, the LM
// head evaluated only at the positions that predict continuation tokens.
import { xent, xentParams } from '../gpu/kernels/xent';
import type { Dispatch } from '../gpu/kernel';
import { tensor, type Tensor } from '../gpu/tensor';
import type { Candidate, Item } from '../data/tasks';
import type { Model } from '../model/model';
import { ForwardPass } from '../model/forward';
import type { LoraState } from '../adapter/lora';

export interface TaskMetrics {
  n: number; // items
  accuracy: number;
  f1: number; // macro-F1 over the answer classes
  loss: number; // mean over items of the right continuation's mean token cross-entropy
}

/**
 * Mean log-prob of each candidate's continuation: [items][candidates]. Items are taken in order of
 * length and packed whole into passes of at most `rowsPerPass` rows; each pass uses the shortest
 * T (a multiple of 8) that holds its rows, so padding costs little.
 */
export async function scoreItems(model: Model, lora: LoraState | null, items: Item[], rowsPerPass: number): Promise<number[][]> {
  const len = (it: Item) => Math.max(...it.candidates.map((c) => c.tokens.length));
  const order = items.map((_, i) => i).sort((a, b) => len(items[a]) - len(items[b]));
  const rows = order.flatMap((i) => items[i].candidates.map((c, j) => ({ i, j, c })));
  const maxT = Math.max(...rows.map((r) => r.c.tokens.length));
  if (maxT > model.config.seqLen) throw new Error(`scoring: rows of ${maxT} tokens exceed the model's context of ${model.config.seqLen}`);
  const R = Math.max(1, Math.min(rowsPerPass, rows.length));
  const scores = items.map((it) => new Array<number>(it.candidates.length).fill(NaN));
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
      const T = Math.min(model.config.seqLen, Math.ceil(Math.max(...chunk.map((r) => r.c.tokens.length)) / 8) * 8);
      let sc = passes.get(T);
      if (!sc) passes.set(T, (sc = new Scorer(model, lora, R, T)));
      const got = await sc.run(chunk.map((r) => r.c));
      chunk.forEach((r, k) => (scores[r.i][r.j] = got[k]));
      at = end;
    }
  } finally {
    for (const sc of passes.values()) sc.destroy();
  }
  return scores;
}

/** A forward pass of R rows of T tokens plus the cross-entropy of the continuation tokens. */
class Scorer {
  private readonly pass: ForwardPass;
  private readonly labels: Tensor;
  private readonly rowLoss: Tensor;
  private readonly xd: Dispatch;

  constructor(
    private readonly model: Model,
    lora: LoraState | null,
    private readonly R: number,
    private readonly T: number,
  ) {
    const n = R * T;
    this.pass = new ForwardPass(model, { B: R, T, nSelect: n, lora: lora ?? undefined });
    this.labels = tensor(model.gpu, `score.labels[${R}x${T}]`, [n], 'activations', { dtype: 'i32' });
    this.rowLoss = tensor(model.gpu, `score.row_loss[${R}x${T}]`, [n], 'activations');
    this.xd = xent(model.kernels, 'score.xent', this.pass.state.logits, this.labels, this.rowLoss, n);
  }

  /** Mean log-prob of each candidate's continuation. */
  async run(cands: Candidate[]): Promise<number[]> {
    const { R, T, model } = this;
    const tokens = new Int32Array(R * T);
    const sel: number[] = [];
    const labels: number[] = [];
    const owner: number[] = [];
    cands.forEach((c, k) => {
      tokens.set(c.tokens, k * T);
      for (let t = c.start; t < c.tokens.length; t++) {
        sel.push(k * T + t - 1);
        labels.push(c.tokens[t]);
        owner.push(k);
      }
    });
    this.pass.setInput(tokens, sel);
    this.labels.write(Int32Array.from(labels));
    this.xd.setParams(xentParams(sel.length, model.config.vocabSize));
    const gpu = model.gpu;
    const enc = gpu.device.createCommandEncoder({ label: 'score' });
    this.pass.encode(enc);
    const cp = enc.beginComputePass({ label: 'score.xent' });
    this.xd.encode(cp);
    cp.end();
    gpu.device.queue.submit([enc.finish()]);
    const losses = new Float32Array(await gpu.readBuffer(this.rowLoss.buffer, sel.length * 4));
    const sum = new Float64Array(cands.length);
    const cnt = new Float64Array(cands.length);
    losses.forEach((l, s) => ((sum[owner[s]] += l), cnt[owner[s]]++));
    return cands.map((_, k) => -sum[k] / cnt[k]);
  }

  destroy(): void {
    this.pass.destroy();
    this.xd.destroy();
    this.labels.destroy();
    this.rowLoss.destroy();
  }
}

/** Accuracy, macro-F1 and loss from candidate scores (prediction: the highest mean log-prob). */
export function taskMetrics(items: Item[], scores: number[][]): TaskMetrics {
  const classes = Math.max(...items.map((it) => it.candidates.length));
  const tp = new Array(classes).fill(0);
  const fp = new Array(classes).fill(0);
  const fn = new Array(classes).fill(0);
  let correct = 0;
  let loss = 0;
  items.forEach((it, i) => {
    const s = scores[i];
    if (s.some((v) => !Number.isFinite(v))) throw new Error(`scoring: item ${i + 1} got a non-finite score`);
    let pred = 0;
    for (let j = 1; j < s.length; j++) if (s[j] > s[pred]) pred = j;
    if (pred === it.answer) (correct++, tp[pred]++);
    else (fp[pred]++, fn[it.answer]++);
    loss += -s[it.answer];
  });
  const f1s: number[] = [];
  for (let c = 0; c < classes; c++) {
    const denom = 2 * tp[c] + fp[c] + fn[c];
    f1s.push(denom ? (2 * tp[c]) / denom : 0);
  }
  return { n: items.length, accuracy: correct / items.length, f1: f1s.reduce((a, b) => a + b, 0) / classes, loss: loss / items.length };
}
