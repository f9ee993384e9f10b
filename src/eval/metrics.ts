// The metrics of a classify / choice evaluation, from the candidates' scores (src/eval/score.ts):
// accuracy, macro-F1, the two losses (label-token and over the candidates), and per class its counts, precision, recall and F1, and the
// confusion matrix. A class is a classify task's label (in class order) or a choice item's right
// answer index. Plain arithmetic, no GPU.
import type { Item } from '../data/tasks';

export interface ClassMetrics {
  name: string;
  count: number; // items whose answer is this class
  predicted: number; // items predicted as this class
  correct: number; // both
  precision: number; // correct / predicted (0 when never predicted)
  recall: number; // correct / count (0 when the class has no item)
  f1: number; // 2 correct / (count + predicted) (0 when both are 0)
}

export interface TaskMetrics {
  n: number; // items
  accuracy: number;
  f1: number; // macro-F1: the mean of the classes' F1
  loss: number; // mean over items of the right continuation's mean token cross-entropy (--loss label's scale)
  classLoss: number; // mean over items of -log softmax(scores)[answer]: --loss classes' objective (uniform guess: ln C)
  classes: ClassMetrics[];
  confusion: number[][]; // [answer][prediction] counts
}

/** Metrics from candidate scores: the prediction is the highest score (the first of ties). */
export function taskMetrics(items: Item[], scores: number[][], names?: readonly string[]): TaskMetrics {
  if (scores.length !== items.length) throw new Error(`scoring: ${scores.length} scores for ${items.length} items`);
  if (!items.length) throw new Error('scoring: no items to evaluate');
  const C = items.reduce((m, it) => Math.max(m, it.candidates.length), -Infinity); // names: of classes 0..C-1
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  let correct = 0;
  let loss = 0;
  let classLoss = 0;
  items.forEach((it, i) => {
    const s = scores[i];
    if (s.length !== it.candidates.length) throw new Error(`scoring: item ${i + 1} has ${it.candidates.length} candidates, got ${s.length} scores`);
    if (s.some((v) => !Number.isFinite(v))) throw new Error(`scoring: item ${i + 1} got a non-finite score`);
    let pred = 0;
    for (let j = 1; j < s.length; j++) if (s[j] > s[pred]) pred = j;
    confusion[it.answer][pred]++;
    if (pred === it.answer) correct++;
    loss += -s[it.answer];
    const top = s[pred];
    classLoss += top + Math.log(s.reduce((a, v) => a + Math.exp(v - top), 0)) - s[it.answer];
  });
  const classes = confusion.map((row, c): ClassMetrics => {
    const count = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, r) => a + r[c], 0);
    const tp = row[c];
    return {
      name: names?.[c] ?? String(c),
      count,
      predicted,
      correct: tp,
      precision: predicted ? tp / predicted : 0,
      recall: count ? tp / count : 0,
      f1: count + predicted ? (2 * tp) / (count + predicted) : 0,
    };
  });
  const n = items.length;
  return { n, accuracy: correct / n, f1: classes.reduce((a, k) => a + k.f1, 0) / C, loss: loss / n, classLoss: classLoss / n, classes, confusion };
}
