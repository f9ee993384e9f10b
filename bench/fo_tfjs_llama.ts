// The first-order baseline's model: the same Llama + LoRA as the engine (src/model/forward.ts),
// written with TensorFlow.js ops so that its autodiff gives the backprop gradient of LoRA's A and B.
// RMSNorm, RoPE (llama2.c's adjacent pairs, or HF's half split, from the engine's own cos/sin
// table), causal grouped-query attention (query head h reads kv head h / (nHeads / nKvHeads)),
// SwiGLU; y += (alpha / r) (x A^T) B^T on each target. Frozen weights are plain tensors, A and B
// are tf.Variables. The backend is the caller's (webgpu or cpu); this file only builds the graph.
import * as tf from '@tensorflow/tfjs';
import type { LlamaModelFile } from '../src/formats/config';
import type { AdapterTensors } from '../src/adapter/peft';
import { ropeTable } from '../src/gpu/kernels/rope';
import { targetShape, type Target } from '../src/model/targets';

interface TfLayer {
  attnNorm: tf.Tensor1D;
  ffnNorm: tf.Tensor1D;
  w: Record<Target, tf.Tensor2D>; // [out, in] like the file
}

export interface TfLlama {
  file: LlamaModelFile;
  embed: tf.Tensor2D; // [vocab, dim]
  classifier: tf.Tensor2D; // the embedding itself when shared
  finalNorm: tf.Tensor1D;
  layers: TfLayer[];
  rope: tf.Tensor2D; // [seqLen, headDim] cos, sin interleaved per pair: the engine's table
}

/** One target's trainable adapter: A [r, in], B [out, r]. */
export interface TfAdapter {
  A: tf.Variable;
  B: tf.Variable;
}

export interface TfLora {
  scale: number; // alpha / r
  targets: Target[];
  layers: Partial<Record<Target, TfAdapter>>[];
}

/** Uploads a parsed checkpoint to the current tf backend (llama2.c-family layers only). */
export function tfLlama(file: LlamaModelFile): TfLlama {
  const c = file.config;
  const w = file.weights;
  if (c.ropeScaling) throw new Error('fo_tfjs_llama: rescaled RoPE is not modelled here');
  const m2 = (a: Float32Array, rows: number, cols: number) => tf.tensor2d(a, [rows, cols]);
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const layers = w.layers.map((L, l) => {
    if (L.bq || L.bk || L.bv || L.qNorm || L.kNorm) throw new Error(`fo_tfjs_llama: layer ${l} has q/k/v biases or q/k norms (Qwen); only Llama layers are modelled`);
    return {
      attnNorm: tf.tensor1d(L.attnNorm),
      ffnNorm: tf.tensor1d(L.ffnNorm),
      w: {
        q: m2(L.wq, q, c.dim),
        k: m2(L.wk, kv, c.dim),
        v: m2(L.wv, kv, c.dim),
        o: m2(L.wo, c.dim, q),
        gate: m2(L.w1, c.hiddenDim, c.dim),
        up: m2(L.w3, c.hiddenDim, c.dim),
        down: m2(L.w2, c.dim, c.hiddenDim),
      },
    };
  });
  const embed = m2(w.tokenEmbedding, c.vocabSize, c.dim);
  const classifier = w.classifier === w.tokenEmbedding ? embed : m2(w.classifier, c.vocabSize, c.dim);
  const rope = tf.tensor2d(ropeTable(c.seqLen, c.headDim, c.ropeTheta), [c.seqLen, c.headDim]);
  return { file, embed, classifier, finalNorm: tf.tensor1d(w.finalNorm), layers, rope };
}

export function disposeTfLlama(m: TfLlama): void {
  tf.dispose([m.embed, m.classifier, m.finalNorm, m.rope, ...m.layers.flatMap((L) => [L.attnNorm, L.ffnNorm, ...Object.values(L.w)])]);
}

/** Adapters as tf.Variables from host tensors (e.g. LoraState.initHost: A seeded, B = 0). */
export function tfLora(m: TfLlama, host: AdapterTensors): TfLora {
  const c = m.file.config;
  const layers = host.layers.map((entry, l) => {
    const out: Partial<Record<Target, TfAdapter>> = {};
    for (const t of host.targets) {
      const h = entry[t];
      if (!h) throw new Error(`tfLora: the adapter has no ${t} tensors for layer ${l}`);
      const s = targetShape(c, t);
      out[t] = {
        A: tf.variable(tf.tensor2d(h.A, [host.rank, s.in]), true, `lora.${l}.${t}.A`),
        B: tf.variable(tf.tensor2d(h.B, [s.out, host.rank]), true, `lora.${l}.${t}.B`),
      };
    }
    return out;
  });
  return { scale: host.alpha / host.rank, targets: [...host.targets], layers };
}

export function loraVariables(lora: TfLora, which: 'AB' | 'B'): tf.Variable[] {
  return lora.layers.flatMap((e) => lora.targets.flatMap((t) => (which === 'AB' ? [e[t]!.A, e[t]!.B] : [e[t]!.B])));
}

/** The adapters read back as host tensors (for the engine's evaluator). */
export async function loraToHost(lora: TfLora, template: AdapterTensors): Promise<AdapterTensors> {
  const layers: AdapterTensors['layers'] = [];
  for (const e of lora.layers) {
    const h: AdapterTensors['layers'][number] = {};
    for (const t of lora.targets) h[t] = { A: (await e[t]!.A.data()) as Float32Array, B: (await e[t]!.B.data()) as Float32Array };
    layers.push(h);
  }
  return { ...template, layers };
}

function rmsnorm(x: tf.Tensor2D, w: tf.Tensor1D, eps: number): tf.Tensor2D {
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w) as tf.Tensor2D;
}

/** RoPE of [B*T, nHeads*headDim] rows at positions 0..T-1; table rows [seqLen, headDim] (cos, sin per pair). */
function rope(x: tf.Tensor2D, m: TfLlama, Bsz: number, T: number, nHeads: number): tf.Tensor2D {
  const c = m.file.config;
  const half = c.headDim / 2;
  const table = tf.reshape(tf.slice(m.rope, [0, 0], [T, c.headDim]), [1, T, 1, half, 2]);
  const [cos, sin] = tf.split(table, 2, -1);
  let x0: tf.Tensor;
  let x1: tf.Tensor;
  if (c.ropeStyle === 'adjacent') {
    [x0, x1] = tf.split(tf.reshape(x, [Bsz, T, nHeads, half, 2]), 2, -1); // pairs (2p, 2p + 1)
  } else {
    [x0, x1] = tf.split(tf.reshape(x, [Bsz, T, nHeads, 2, half]), 2, 3); // pairs (p, p + half)
    x0 = tf.reshape(x0, [Bsz, T, nHeads, half, 1]);
    x1 = tf.reshape(x1, [Bsz, T, nHeads, half, 1]);
  }
  const y0 = tf.sub(tf.mul(x0, cos), tf.mul(x1, sin));
  const y1 = tf.add(tf.mul(x0, sin), tf.mul(x1, cos));
  const y = c.ropeStyle === 'adjacent' ? tf.concat([y0, y1], -1) : tf.concat([tf.reshape(y0, [Bsz, T, nHeads, 1, half]), tf.reshape(y1, [Bsz, T, nHeads, 1, half])], 3);
  return tf.reshape(y, [Bsz * T, nHeads * c.headDim]);
}

const masks = new Map<number, tf.Tensor2D>();
/** [T, T]: 0 where key s <= query t, -1e9 after it (kept per T; never disposed by tidy). */
function causalMask(T: number): tf.Tensor2D {
  let m = masks.get(T);
  if (!m) {
    const a = new Float32Array(T * T);
    for (let t = 0; t < T; t++) for (let s = t + 1; s < T; s++) a[t * T + s] = -1e9;
    m = tf.keep(tf.tensor2d(a, [T, T]));
    masks.set(T, m);
  }
  return m;
}

/**
 * The final-norm rows of the selected positions, [select.length, dim], for tokens [Bsz * T]
 * (row b * T + t, right-padded like the engine's batches). Call inside tf.tidy / a gradient.
 */
export function hidden(m: TfLlama, lora: TfLora | null, tokens: Int32Array, Bsz: number, T: number, select: Int32Array): tf.Tensor2D {
  const c = m.file.config;
  const qDim = c.nHeads * c.headDim;
  const group = c.nHeads / c.nKvHeads;
  const kvIndex = tf.tensor1d(Int32Array.from({ length: c.nHeads }, (_, h) => Math.floor(h / group)), 'int32');
  const linear = (l: number, t: Target, x: tf.Tensor2D): tf.Tensor2D => {
    const y = tf.matMul(x, m.layers[l].w[t], false, true) as tf.Tensor2D;
    const ad = lora?.layers[l][t];
    if (!ad) return y;
    const ax = tf.matMul(x, ad.A, false, true);
    return tf.add(y, tf.mul(tf.matMul(ax, ad.B, false, true), lora!.scale)) as tf.Tensor2D;
  };
  const heads = (x: tf.Tensor2D, n: number) => tf.transpose(tf.reshape(x, [Bsz, T, n, c.headDim]), [0, 2, 1, 3]); // [B, n, T, hd]
  let x = tf.gather(m.embed, tf.tensor1d(tokens, 'int32')) as tf.Tensor2D;
  const mask = causalMask(T);
  const invSqrt = 1 / Math.sqrt(c.headDim);
  m.layers.forEach((L, l) => {
    const xb = rmsnorm(x, L.attnNorm, c.normEps);
    const q = heads(rope(linear(l, 'q', xb), m, Bsz, T, c.nHeads), c.nHeads);
    const k = tf.gather(heads(rope(linear(l, 'k', xb), m, Bsz, T, c.nKvHeads), c.nKvHeads), kvIndex, 1);
    const v = tf.gather(heads(linear(l, 'v', xb), c.nKvHeads), kvIndex, 1);
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), invSqrt), mask);
    const att = tf.matMul(tf.softmax(scores, -1), v); // [B, H, T, hd]
    const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [Bsz * T, qDim]) as tf.Tensor2D;
    x = tf.add(x, linear(l, 'o', merged)) as tf.Tensor2D;
    const xf = rmsnorm(x, L.ffnNorm, c.normEps);
    const gate = linear(l, 'gate', xf);
    const act = tf.mul(tf.sigmoid(gate), gate); // silu
    x = tf.add(x, linear(l, 'down', tf.mul(act, linear(l, 'up', xf)) as tf.Tensor2D)) as tf.Tensor2D;
  });
  const xs = tf.gather(x, tf.tensor1d(select, 'int32')) as tf.Tensor2D;
  return rmsnorm(xs, m.finalNorm, c.normEps);
}

/** Logits [select.length, vocab] of the selected rows. */
export function logits(m: TfLlama, lora: TfLora | null, tokens: Int32Array, Bsz: number, T: number, select: Int32Array): tf.Tensor2D {
  return tf.matMul(hidden(m, lora, tokens, Bsz, T, select), m.classifier, false, true);
}

/** Rows carrying a label (label >= 0) and their labels. */
export function labelled(labels: Int32Array): { rows: Int32Array; labels: Int32Array } {
  const rows: number[] = [];
  const out: number[] = [];
  labels.forEach((y, i) => {
    if (y >= 0) (rows.push(i), out.push(y));
  });
  return { rows: Int32Array.from(rows), labels: Int32Array.from(out) };
}

/** Mean next-token cross-entropy over the labelled rows of a batch (the engine's LM loss). */
export function lmLoss(m: TfLlama, lora: TfLora | null, tokens: Int32Array, labels: Int32Array, Bsz: number, T: number): tf.Scalar {
  const sel = labelled(labels);
  if (!sel.rows.length) throw new Error('lmLoss: the batch has no labelled token');
  const z = logits(m, lora, tokens, Bsz, T, sel.rows);
  const target = tf.oneHot(tf.tensor1d(sel.labels, 'int32'), m.file.config.vocabSize);
  const picked = tf.sum(tf.mul(z, target), -1);
  return tf.mean(tf.sub(tf.logSumExp(z, -1), picked));
}
