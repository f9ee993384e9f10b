// The whole model on the GPU against the float64 CPU reference, on the real stories260K
// checkpoint: logits, right-padded batches, the KV-cache path and greedy generation.
import assert from 'node:assert/strict';
import type { LlamaModelFile } from '../src/formats/config';
import { generateText } from '../src/model/generate';
import { Model } from '../src/model/model';
import type { Tokenizer } from '../src/formats/tokenizer';
import { toyModel } from '../src/model/toy';
import { ForwardPass, KvCache } from '../src/model/forward';
import { stories260K, knownOutput } from './assets';
import { gpuFixture, relError } from './gpu';
import { referenceForward } from './reference/cpu_model';

function rowsOf(logits: Float32Array, vocab: number, from: number, count: number): Float32Array {
  return logits.subarray(from * vocab, (from + count) * vocab);
}

describe('model: stories260K on the GPU vs the float64 reference', function () {
  let file: LlamaModelFile;
  let model: Model;
  let tok: Tokenizer;

  before(async () => {
    const { gpu } = await gpuFixture();
    ({ file, tok } = stories260K());
    model = await Model.load(gpu, file);
  });

  it('logits of every position match within 1e-4 (max |diff| / max |ref|)', async () => {
    const tokens = tok.encode('Once upon a time, a cat sat on the mat. It was happy.', { bos: true, eos: false });
    const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
    const got = await pass.run(tokens, tokens.map((_, i) => i));
    pass.destroy();
    const want = referenceForward(file, tokens);
    const flat = new Float64Array(want.length * 512);
    want.forEach((r, i) => flat.set(r, i * 512));
    const err = relError(got, flat);
    console.log(`      ${tokens.length} positions, rel error ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `rel error ${err}`);
  });

  it('a right-padded batch gives every row the logits it gets alone', async () => {
    const texts = ['The dog ran to the park and played all day.', 'Hi', 'Lily had a red ball.'];
    const seqs = texts.map((t) => tok.encode(t, { bos: true, eos: false }));
    const T = Math.max(...seqs.map((s) => s.length));
    const batch: number[] = [];
    const select: number[] = [];
    seqs.forEach((s, b) => {
      batch.push(...s, ...new Array(T - s.length).fill(0)); // pad with token 0
      for (let t = 0; t < s.length; t++) select.push(b * T + t);
    });
    const pass = new ForwardPass(model, { B: seqs.length, T, nSelect: select.length });
    const got = await pass.run(batch, select);
    pass.destroy();
    let at = 0;
    for (const s of seqs) {
      const alone = new ForwardPass(model, { B: 1, T: s.length, nSelect: s.length });
      const want = await alone.run(s, s.map((_, i) => i));
      alone.destroy();
      const err = relError(rowsOf(got, 512, at, s.length), want);
      assert.ok(err < 1e-5, `row of ${s.length} tokens: rel error ${err}`);
      at += s.length;
    }
  });

  it('the KV-cache path (prefill, then one token a pass) gives the full-pass logits', async () => {
    const tokens = tok.encode('One day, a little bird flew', { bos: true, eos: false });
    const full = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
    const want = await full.run(tokens, tokens.map((_, i) => i));
    full.destroy();
    const cache = new KvCache(model, 1, tokens.length);
    const P = 3;
    const prefill = new ForwardPass(model, { B: 1, T: P, nSelect: P, cache });
    const got = [await prefill.run(tokens.slice(0, P), [0, 1, 2], 0)];
    const step = new ForwardPass(model, { B: 1, T: 1, nSelect: 1, cache });
    for (let pos = P; pos < tokens.length; pos++) got.push(await step.run([tokens[pos]], [0], pos));
    prefill.destroy();
    step.destroy();
    cache.destroy();
    const flat = new Float32Array(want.length);
    let o = 0;
    for (const g of got) (flat.set(g, o), (o += g.length));
    const err = relError(flat, want);
    assert.ok(err < 1e-5, `rel error ${err}`);
  });

  it('greedy generation from BOS reproduces llama2.c run.c (200 steps)', async () => {
    const r = await generateText(model, tok, { prompt: '', steps: 200, temperature: 0 });
    assert.equal(r.text, knownOutput());
    console.log(`      ${r.generatedTokens} tokens, ${r.tokensPerSecond.toFixed(1)} tok/s (Node, ${model.gpu.adapterInfo})`);
  });

  it('sampling is reproducible by seed and stays in the vocabulary', async () => {
    const a = await generateText(model, tok, { prompt: 'The cat', steps: 40, temperature: 0.9, topP: 0.9, seed: 7 });
    const b = await generateText(model, tok, { prompt: 'The cat', steps: 40, temperature: 0.9, topP: 0.9, seed: 7 });
    const c = await generateText(model, tok, { prompt: 'The cat', steps: 40, temperature: 0.9, topP: 0.9, seed: 8 });
    assert.equal(a.text, b.text);
    assert.notEqual(a.text, c.text);
    assert.ok(a.text.startsWith('The cat'));
    assert.ok(a.tokens.every((t) => t >= 0 && t < 512));
  });

  it('rejects tokens outside the vocabulary and prompts longer than the context', async () => {
    const pass = new ForwardPass(model, { B: 1, T: 2, nSelect: 1 });
    await assert.rejects(pass.run([1, 512], [1]), /token 512 at 1 is outside the vocabulary \[0, 512\)/);
    pass.destroy();
    await assert.rejects(generateText(model, tok, { prompt: 'hello world '.repeat(300), temperature: 0 }), /prompt is \d+ tokens, longer than the model's context of 512/);
  });
});

describe('model: the built-in toy model (unshared classifier) vs the reference', () => {
  it('logits match within 1e-4', async () => {
    const { gpu } = await gpuFixture();
    const file = toyModel();
    const model = await Model.load(gpu, file);
    const tokens = [1, 72, 101, 108, 108, 111, 3, 258, 40];
    const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
    const got = await pass.run(tokens, tokens.map((_, i) => i));
    const want = referenceForward(file, tokens);
    const flat = new Float64Array(want.length * file.config.vocabSize);
    want.forEach((r, i) => flat.set(r, i * file.config.vocabSize));
    assert.ok(relError(got, flat) < 1e-4);
    pass.destroy();
    model.destroy();
  });
});
