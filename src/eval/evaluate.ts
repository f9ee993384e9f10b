// Evaluation of the causal-LM loss: mean token cross-entropy over every chunk of a data set,
// base model or base + LoRA (no perturbation), several chunks per forward pass.
import { xent, xentParams } from '../gpu/kernels/xent';
import { tensor } from '../gpu/tensor';
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
  const gpu = model.gpu;
  const labelsT = tensor(gpu, 'eval.labels', [rows], 'activations', { dtype: 'i32' });
  const rowLoss = tensor(gpu, 'eval.row_loss', [rows], 'activations');
  const xd = xent(model.kernels, 'eval.xent', pass.state.logits, labelsT, rowLoss, rows);
  let sum = 0;
  let tokens = 0;
  try {
    for (const b of data.sequentialBatches(batch)) {
      const sel: number[] = [];
      const labels: number[] = [];
      for (let r = 0; r < rows; r++) {
        if (b.labels[r] < 0) continue;
        sel.push(r);
        labels.push(b.labels[r]);
      }
      if (!sel.length) continue;
      pass.setInput(b.tokens, sel);
      labelsT.write(Int32Array.from(labels));
      xd.setParams(xentParams(sel.length, model.config.vocabSize));
      const enc = gpu.device.createCommandEncoder({ label: 'eval' });
      pass.encode(enc);
      const cp = enc.beginComputePass({ label: 'eval.xent' });
      xd.encode(cp);
      cp.end();
      gpu.device.queue.submit([enc.finish()]);
      const losses = new Float32Array(await gpu.readBuffer(rowLoss.buffer, sel.length * 4));
      for (const l of losses) sum += l;
      tokens += sel.length;
    }
  } finally {
    pass.destroy();
    xd.destroy();
    labelsT.destroy();
    rowLoss.destroy();
  }
  if (!tokens) throw new Error('evaluation: the data has no labelled token');
  const loss = sum / tokens;
  if (!Number.isFinite(loss)) throw new Error(`evaluation: the loss is ${loss} (a label outside the vocabulary, or the model produced non-finite logits)`);
  return { loss, tokens };
}
