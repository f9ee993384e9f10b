// Float64 CPU reference of the Llama forward pass (llama2.c `forward`), built from ./ops.
// The oracle for the GPU transformer: logits per position, and greedy generation.

import type { LlamaModelFile } from '../../src/formats/config';
import type { Target } from '../../src/model/targets';
import { argmax, attention, geglu, logSumExp, matmulT, rmsnorm, rope, swiglu, type Vec } from './ops';

/** LoRA on target linears: y = x W^T + scale * (x A^T) B^T, with B as given (perturbed or not). */
export interface ReferenceLora {
  scale: number;
  rank: number;
  layers: Partial<Record<Target, { A: Vec; B: Vec }>>[];
}

function add(x: Float64Array, y: Vec): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}

function embed(model: LlamaModelFile, tokens: number[]): Float64Array {
  const { dim, vocabSize } = model.config;
  const x = new Float64Array(tokens.length * dim);
  tokens.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new Error(`token ${t} at ${i} is out of range [0, ${vocabSize})`);
    x.set(model.weights.tokenEmbedding.subarray(t * dim, (t + 1) * dim), i * dim);
  });
  return x;
}

/** Runs tokens at positions `start ..` through every layer, reading and extending the K/V cache.
 * Returns the logits [T, vocab]. `cache.k[l]`, `cache.v[l]`: [positions so far, nKv * headDim]. */
interface KvCache {
  k: number[][]; // [layers][positions * nKv * headDim], after RoPE
  v: number[][]; // [layers][positions * nKv * headDim]
}

function forwardRows(model: LlamaModelFile, tokens: number[], cache: KvCache, lora?: ReferenceLora): Float64Array {
  const c = model.config;
  const w = model.weights;
  const linear = (l: number, t: Target, x: Float64Array, W: Vec, k: number, bias?: Vec) => {
    const y = matmulT(x, W, k);
    if (bias) for (let i = 0; i < y.length; i++) y[i] += bias[i % bias.length];
    const ad = lora?.layers[l][t];
    if (!ad) return y;
    const d = matmulT(matmulT(x, ad.A, k), ad.B, lora!.rank);
    for (let i = 0; i < y.length; i++) y[i] += lora!.scale * d[i];
    return y;
  };
  const start = cache.k[0].length / (c.nKvHeads * c.headDim);
  if (start + tokens.length > c.seqLen) throw new Error(`sequence of ${start + tokens.length} positions exceeds seqLen ${c.seqLen}`);
  const positions = tokens.map((_, i) => start + i);

  let x = embed(model, tokens); // [T, dim]
  if (c.embedScale !== undefined) for (let i = 0; i < x.length; i++) x[i] *= c.embedScale; // Gemma
  for (let l = 0; l < c.nLayers; l++) {
    const lw = w.layers[l];
    const sliding = c.slidingLayers?.[l] === true; // Gemma: a window and the local RoPE
    const theta = sliding ? c.localRope!.theta : c.ropeTheta;
    const scaling = sliding ? c.localRope!.scaling : c.ropeScaling;
    // attention block
    const xb = rmsnorm(x, lw.attnNorm, c.normEps); // [T, dim]
    let q = linear(l, 'q', xb, lw.wq, c.dim, lw.bq); // [T, nH * hd] (+ Qwen2's bias)
    let k = linear(l, 'k', xb, lw.wk, c.dim, lw.bk); // [T, nKv * hd]
    const v = linear(l, 'v', xb, lw.wv, c.dim, lw.bv); // [T, nKv * hd]
    if (lw.qNorm) q = rmsnorm(q, lw.qNorm, c.normEps); // Qwen3: each head (a row of hd) normalised
    if (lw.kNorm) k = rmsnorm(k, lw.kNorm, c.normEps);
    q = rope(q, positions, c.headDim, theta, c.ropeStyle, scaling);
    k = rope(k, positions, c.headDim, theta, c.ropeStyle, scaling);
    for (const e of k) cache.k[l].push(e);
    for (const e of v) cache.v[l].push(e);
    const att = attention(q, cache.k[l], cache.v[l], c.nHeads, c.nKvHeads, c.headDim, { scale: c.attnScale, window: sliding ? c.slidingWindow : 0 }); // [T, nH * hd]
    const o = linear(l, 'o', att, lw.wo, c.nHeads * c.headDim, lw.bo); // (+ Llama's o bias)
    add(x, lw.postAttnNorm ? rmsnorm(o, lw.postAttnNorm, c.normEps) : o); // residual (Gemma: of the normalised output)
    // feed-forward block
    const xb2 = rmsnorm(x, lw.ffnNorm, c.normEps);
    const gate = linear(l, 'gate', xb2, lw.w1, c.dim);
    const up = linear(l, 'up', xb2, lw.w3, c.dim);
    const h = c.ffnActivation === 'gelu_tanh' ? geglu(gate, up) : swiglu(gate, up); // [T, hidden]
    const down = linear(l, 'down', h, lw.w2, c.hiddenDim);
    add(x, lw.postFfnNorm ? rmsnorm(down, lw.postFfnNorm, c.normEps) : down); // residual
  }
  x = rmsnorm(x, w.finalNorm, c.normEps);
  const logits = matmulT(x, w.classifier, c.dim); // [T, vocab]
  const cap = c.finalSoftcap;
  if (cap !== undefined) for (let i = 0; i < logits.length; i++) logits[i] = cap * Math.tanh(logits[i] / cap);
  return logits;
}

function emptyCache(model: LlamaModelFile): KvCache {
  return { k: model.weights.layers.map(() => []), v: model.weights.layers.map(() => []) };
}

function splitRows(logits: Float64Array, n: number): Float64Array[] {
  return Array.from({ length: logits.length / n }, (_, i) => logits.slice(i * n, (i + 1) * n));
}

/** Logits [vocab] at every position of one sequence, in float64. */
export function referenceForward(model: LlamaModelFile, tokens: number[], lora?: ReferenceLora): Float64Array[] {
  if (tokens.length === 0) return [];
  return splitRows(forwardRows(model, tokens, emptyCache(model), lora), model.config.vocabSize);
}

/** Mean token cross-entropy over the labelled positions (label >= 0) of right-padded rows of T. */
export function referenceLoss(model: LlamaModelFile, tokens: ArrayLike<number>, labels: ArrayLike<number>, T: number, lora?: ReferenceLora): { loss: number; tokens: number } {
  let sum = 0;
  let count = 0;
  for (let r = 0; r < tokens.length / T; r++) {
    const row = Array.from(tokens).slice(r * T, (r + 1) * T);
    const logits = referenceForward(model, row, lora);
    for (let t = 0; t < T; t++) {
      const label = labels[r * T + t];
      if (label < 0) continue;
      sum += logSumExp(logits[t]) - logits[t][label];
      count++;
    }
  }
  return { loss: sum / count, tokens: count };
}

/** One token at a time with a float64 KV cache: `step(token)` gives the logits at the next position. */
export class ReferenceDecoder {
  private readonly cache: KvCache;
  position = 0;

  constructor(private readonly model: LlamaModelFile) {
    this.cache = emptyCache(model);
  }

  step(token: number): Float64Array {
    const logits = forwardRows(this.model, [token], this.cache);
    this.position++;
    return logits;
  }
}

/** Greedy generation as llama2.c `generate` with temperature 0: `steps` forward passes (positions
 * 0 .. steps-1; 0 or more than seqLen means seqLen, as run.c), each giving one next token; prompt
 * tokens are forced, then each next token is the argmax; stops before a BOS. Returns the whole
 * sequence: the prompt, then the generated tokens (so up to steps + 1 tokens: the last one printed
 * by run.c is never fed back). */
export function referenceGreedy(model: LlamaModelFile, promptTokens: number[], steps: number): number[] {
  if (promptTokens.length === 0) throw new Error('referenceGreedy needs at least one prompt token (e.g. BOS)');
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`steps ${steps} is not a non-negative integer`);
  const limit = steps === 0 || steps > model.config.seqLen ? model.config.seqLen : steps;
  const decoder = new ReferenceDecoder(model);
  const out = [promptTokens[0]];
  let token = promptTokens[0];
  for (let pos = 0; pos < limit; pos++) {
    const logits = decoder.step(token);
    const next = pos < promptTokens.length - 1 ? promptTokens[pos + 1] : argmax(logits);
    if (next === 1) break; // llama2.c: BOS ends the sequence
    out.push(next);
    token = next;
  }
  return out;
}
