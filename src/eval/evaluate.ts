// Evaluation of the causal-LM loss: mean token cross-entropy over every chunk of a data set,
// base model or base + LoRA (no perturbation), several chunks per forward pass; or many adapters
// on the same chunks in one pass per batch.
import { LossHead, labelledRows } from './loss_head';
import type { LmChunkSet } from '../data/lm';
import type { Model } from '../model/model';
import { ForwardPass } from '../model/forward';
import type { LoraState } from '../adapter/lora';
import type { MultiAdapters } from '../adapter/multi';
import type { LinearAdapters } from '../model/targets';

export interface LmEvalResult {
  loss: number; // mean token cross-entropy (nats)
  tokens: number; // labelled tokens scored
}

export async function evaluateLm(model: Model, lora: LoraState | null, data: LmChunkSet, batch: number): Promise<LmEvalResult> {
  return (await lmLosses(model, lora ?? undefined, 1, data, batch))[0];
}

/**
 * Each adapter of `adapters` on the same chunks: every pass runs `batch` chunks once per adapter
 * (sequence a * batch + j is chunk j under adapter a), so one pass per batch evaluates them all.
 */
export async function evaluateLmEach(model: Model, adapters: MultiAdapters, data: LmChunkSet, batch: number): Promise<LmEvalResult[]> {
  adapters.assignCopies(batch);
  return lmLosses(model, adapters, adapters.count, data, batch);
}

/** The loss of `copies` copies of every batch (copy a: sequences a * batch ..), one result per copy. */
async function lmLosses(model: Model, lora: LinearAdapters | undefined, copies: number, data: LmChunkSet, batch: number): Promise<LmEvalResult[]> {
  const T = data.seqLen;
  const rows = batch * T;
  const pass = new ForwardPass(model, { B: batch * copies, T, nSelect: rows * copies, lora });
  const head = new LossHead(pass, 'eval');
  const sum = new Float64Array(copies);
  let tokens = 0;
  try {
    for (const b of data.sequentialBatches(batch)) {
      const sel = labelledRows(b.labels.subarray(0, rows));
      if (!sel.rows.length) continue;
      const n = sel.rows.length;
      const all = copies === 1 ? sel : { rows: [] as number[], labels: [] as number[] };
      const input = copies === 1 ? b.tokens : new Int32Array(rows * copies);
      for (let a = 0; copies > 1 && a < copies; a++) {
        input.set(b.tokens.subarray(0, rows), a * rows);
        labelledRows(b.labels.subarray(0, rows), a * rows, all.rows, all.labels);
      }
      pass.setInput(input, all.rows);
      head.setLabels(all.labels);
      const losses = await head.run();
      for (let i = 0; i < losses.length; i++) sum[Math.floor(i / n)] += losses[i];
      tokens += n;
    }
  } finally {
    head.destroy();
    pass.destroy();
  }
  if (!tokens) throw new Error('evaluation: the data has no labelled token');
  return Array.from(sum, (s, a) => {
    const loss = s / tokens;
    const who = copies > 1 ? ` of adapter ${a}` : '';
    if (!Number.isFinite(loss)) throw new Error(`evaluation: the loss${who} is ${loss} (a label outside the vocabulary, or the model produced non-finite logits)`);
    return { loss, tokens };
  });
}
