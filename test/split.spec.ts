// Weights beyond the device's buffer limits: on a device whose maxStorageBufferBindingSize is
// capped at 32 KiB, stories260K's embedding (128 KiB, tied LM head) and FFN matrices (44 KiB) are
// split by rows across buffers, transparently to the forward pass: the same logits and the same
// ZO step as unsplit, the split tensors listed in the ledger; a model that cannot fit names the
// tensor, its size and the limit.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { LoraState, type LoraConfig } from '../src/adapter/lora';
import { LmDataset } from '../src/data/lm';
import { readTextDocuments } from '../src/data/readers';
import type { LlamaModelFile } from '../src/formats/config';
import { parseGguf } from '../src/formats/gguf';
import { ggufToModelFile } from '../src/formats/gguf_model';
import { createGpu, type Gpu } from '../src/gpu/device';
import { Kernels } from '../src/gpu/kernels/registry';
import { SplitWeight, CompressedWeight } from '../src/gpu/weight';
import { ForwardPass } from '../src/model/forward';
import { Model } from '../src/model/model';
import { ZoScheduler, type ZoOptions } from '../src/train/scheduler';
import { assetPath, stories260K } from './assets';
import { gpuFixture, randoms } from './gpu';
import { randomQuantGguf } from './quant_fixture';

const CAP = 32 * 1024;

async function logitsOf(model: Model, tokens: number[]): Promise<Float32Array> {
  const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
  const out = await pass.run(tokens, tokens.map((_, i) => i));
  pass.destroy();
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe(`weights split across buffers on a device capped at ${CAP / 1024} KiB per binding`, function () {
  let small: Gpu;
  let smallKs: Kernels;
  let file: LlamaModelFile;
  let whole: Model; // on the fixture's device
  let split: Model; // on the capped one
  const tokens = [1, 403, 407, 261, 378, 430, 289, 506];

  before(async () => {
    small = await createGpu({ backend: 'webgpu', capLimits: { maxStorageBufferBindingSize: CAP } }); // the WGSL path: the CPU backend's buffers reach 2 GiB
    smallKs = await Kernels.load(small);
    file = stories260K().file;
    const { gpu, ks } = await gpuFixture();
    whole = await Model.load(gpu, file, undefined, ks);
    split = await Model.load(small, file, undefined, smallKs);
  });

  after(() => {
    whole?.destroy();
    split?.destroy();
  });

  it('the capped device reports the cap and refuses a larger buffer naming it', () => {
    assert.equal(small.limits.maxStorageBufferBindingSize, CAP);
    assert.throws(() => small.createBuffer('big', CAP + 4, GPUBufferUsage.STORAGE, 'scratch'), /tensor big needs 32772 bytes, more than this adapter's maxStorageBufferBindingSize 32768/);
  });

  it('stories260K (f32): embedding / LM head and FFN matrices split; the same logits; the ledger lists the splits', async () => {
    const W = split.weights;
    assert.ok(W.tokenEmbedding instanceof SplitWeight && W.tokenEmbedding.parts.length === 4, 'embedding: 4 blocks of 128 rows');
    assert.equal(W.classifier, W.tokenEmbedding); // tied: the LM head reads the same blocks
    for (const l of W.layers) for (const m of [l.w1, l.w2, l.w3]) assert.ok(m instanceof SplitWeight && m.parts.length === 2, `${m.label} split in 2`);
    assert.ok(!(W.layers[0].wq instanceof SplitWeight), 'a 16 KiB matrix stays whole');
    const splits = small.ledger.splits().map((s) => `${s.label}:${s.parts}`);
    assert.ok(splits.includes('token_embedding:4') && splits.includes('layers.4.w2:2'), splits.join(', '));
    assert.ok(small.ledger.entries().every((e) => e.bytes <= CAP), 'no buffer beyond the cap');
    const a = await logitsOf(whole, tokens);
    const b = await logitsOf(split, tokens);
    const d = maxAbsDiff(a, b);
    console.log(`      max |logit diff| split vs whole: ${d}`);
    assert.ok(d <= 1e-6, `max |diff| ${d}`);
  });

  it('a block-quantised GGUF (Q6_K: words and f16 scales) splits the same way: the same logits', async () => {
    const { gpu, ks } = await gpuFixture();
    const bytes = randomQuantGguf(() => 'Q6_K', 7, { dim: 256, hidden: 512, layers: 1, vocab: 320 });
    const f = ggufToModelFile(parseGguf(bytes, 'q6k.gguf'), bytes, 'q6k.gguf');
    const wq = await Model.load(gpu, f, f.rawTensors, ks);
    const sq = await Model.load(small, f, f.rawTensors, smallKs);
    const emb = sq.weights.tokenEmbedding;
    assert.ok(emb instanceof SplitWeight && emb.type === 'q6_k' && emb.parts.length > 1, 'Q6_K embedding split');
    assert.ok(sq.weights.layers[0].w2 instanceof SplitWeight, 'Q6_K ffn_down split');
    assert.ok(wq.weights.tokenEmbedding instanceof CompressedWeight);
    const toks = [0, 5, 319, 160, 42, 7];
    const a = await logitsOf(wq, toks);
    const b = await logitsOf(sq, toks);
    wq.destroy();
    sq.destroy();
    const d = maxAbsDiff(a, b);
    assert.ok(d <= 1e-6, `max |diff| ${d}`);
  });

  it('a prge ZO step gives the same slot losses and the same updated B as unsplit', async () => {
    const lcfg: LoraConfig = { rank: 4, alpha: 8, targets: ['q', 'v', 'gate'] };
    const opts: ZoOptions = { mode: 'prge', q: 2, eps: 1e-2, lr: 5e-3, batch: 1, seq: 4, seed: 5 };
    const tok = stories260K().tok;
    const text = fs.readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 4000);
    const data = new LmDataset(readTextDocuments(text, 'tinystories'), tok, opts.seq);
    const host = LoraState.initHost(file.config, lcfg, 3);
    host.layers.forEach((e, l) => {
      for (const t of lcfg.targets) e[t]!.B = randoms(e[t]!.B.length, 50 + l, 0.05);
    });
    const out: { losses: number[]; host: Awaited<ReturnType<LoraState['toHost']>> }[] = [];
    for (const model of [whole, split]) {
      const lora = LoraState.upload(model.gpu, file.config, lcfg, host);
      const sched = new ZoScheduler(model, lora, opts);
      const r = [await sched.step(0, data.batchAt(0, opts.batch, 1)), await sched.step(1, data.batchAt(1, opts.batch, 1))];
      out.push({ losses: r.flatMap((x) => [...x.slotLosses]), host: await lora.toHost() });
      sched.destroy();
      lora.destroy();
    }
    assert.ok(maxAbsDiff(out[0].losses, out[1].losses) <= 1e-6, `slot losses ${out[0].losses} vs ${out[1].losses}`);
    let maxB = 0;
    out[0].host.layers.forEach((e, l) => {
      for (const t of lcfg.targets) maxB = Math.max(maxB, maxAbsDiff(e[t]!.B, out[1].host.layers[l][t]!.B));
    });
    assert.ok(maxB <= 1e-7, `updated B differs by ${maxB}`);
  });

  it('a model whose rows cannot fit names the tensor, its size and the limit', async () => {
    const tiny = await createGpu({ backend: 'webgpu', capLimits: { maxStorageBufferBindingSize: 512 } });
    await assert.rejects(Model.load(tiny, file), /weight token_embedding \[512, 64\] f32: 131072 bytes, and even 4 of its rows \(1024 bytes\) exceed this device's buffer limit of 512 bytes/);
  });
});
