// Evaluation of the causal-LM loss: mean token cross-entropy over every chunk of a data set,
// base model or base + LoRA (no perturbation), several chunks per forward pass.
import { LossHead, labelledRows } from './loss_head';
import type { LmChunkSet } from '../data/lm';
import type { Model } from '../model/model';
import { ForwardPass } from '../model/forward';
import type { LoraState } from '../adapter/lora';

export interface LmEvalResult {
  loss: number; // mean token cross-entropy (nats)
  tokens: number; // labelled tokens scored
}

export async function evaluateLm(model: Model, lora: LoraState | null, data: LmChunkSet, batch: number): Promise<LmEvalResult> {
  const T = data.seqLen;
  const rows = batch * T;
  const pass = new ForwardPass(model, { B: batch, T, nSelect: rows, lora: lora ?? undefined });
  const head = new LossHead(pass, 'eval');
  let sum = 0;
  let tokens = 0;
  try {
    for (const b of data.sequentialBatches(batch)) {
      const sel = labelledRows(b.labels.subarray(0, rows));
      if (!sel.rows.length) continue;
      pass.setInput(b.tokens, sel.rows);
      head.setLabels(sel.labels);
      for (const l of await head.run()) sum += l;
      tokens += sel.rows.length;
    }
  } finally {
    head.destroy();
    pass.destroy();
  }
  if (!tokens) throw new Error('evaluation: the data has no labelled token');
  const loss = sum / tokens;
  if (!Number.isFinite(loss)) throw new Error(`evaluation: the loss is ${loss} (a label outside the vocabulary, or the model produced non-finite logits)`);
  return { loss, tokens };
}
