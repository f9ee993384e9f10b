// Hugging Face checkpoints: model directories built here from stories260K.bin the way
// transformers' convert_llama_weights_to_hf.py builds them (q/k rows permuted from Meta's
// interleaved order to HF's half-split order), in F32, F16, BF16 and as two shards with an index,
// with a Llama-2-style tokenizer.json made from tok512.bin the way transformers' LlamaConverter
// makes one. The loaded model must give the .bin's logits on the GPU, its greedy text, and every
// malformed directory a one-line error that names the problem. The tokenizer.json reader is also
// checked against llama.cpp's tokenizer tests (a real Llama 2 and the GPT-2 vocabulary).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readHfDir } from '../src/cli/hf_dir';
import type { LlamaModelFile } from '../src/formats/config';
import { generateText } from '../src/model/generate';
import { parseGguf } from '../src/formats/gguf';
import { GgufTokenizer, TokenType } from '../src/formats/gguf_tokenizer';
import { floatToF16Bits } from '../src/formats/gguf_writer';
import { parseHfModel, type HfModelFiles } from '../src/formats/hf';
import { hfDirFiles, planHfDir } from '../src/formats/hf_dir';
import { hfTokenizer, hfTokenizerMetadata } from '../src/formats/hf_tokenizer';
import { Model } from '../src/model/model';
import { f16BitsToFloat, type Float32TensorIn } from '../src/formats/safetensors';
import type { Tokenizer, TextTokenizer } from '../src/formats/tokenizer';
import { ForwardPass } from '../src/model/forward';
import { readHfFolder } from '../src/model/hf_folder';
import { memoryTensors, presentTensors } from '../src/formats/model_tensors';
import { permuteQkRows } from '../src/adapter/peft';
import { assetPath, knownOutput, stories260K } from './assets';
import { gpuFixture, relError } from './gpu';
import { throwsNaming } from './expect';
import {
  bf16Bits, bf16ToFloat, hfConfig, hfDirContents, hfTensors, llamaTokenizerJson, permuteForHf, SHARDS, hfStories260K, tok512Pieces, writeDir, writeSafetensorsAs, type Dtype,
} from './hf_fixture';

// ---- building HF files (the rest is in ./hf_fixture.ts) -------------------------------------------

/** A model whose weights are those of `m` rounded through a 16-bit format (what a F16/BF16 file holds). */
function rounded(m: LlamaModelFile, dtype: 'F16' | 'BF16'): LlamaModelFile {
  const r = (a: Float32Array) => a.map((x) => (dtype === 'F16' ? f16BitsToFloat(floatToF16Bits(x)) : bf16ToFloat(bf16Bits(x))));
  const w = m.weights;
  const tokenEmbedding = r(w.tokenEmbedding);
  return {
    config: { ...m.config },
    weights: {
      tokenEmbedding,
      layers: w.layers.map((l) => ({
        attnNorm: r(l.attnNorm), wq: r(l.wq), wk: r(l.wk), wv: r(l.wv), wo: r(l.wo), ffnNorm: r(l.ffnNorm), w1: r(l.w1), w2: r(l.w2), w3: r(l.w3),
      })),
      finalNorm: r(w.finalNorm),
      classifier: m.config.sharedClassifier ? tokenEmbedding : r(w.classifier),
    },
  };
}

/** GPT-2's tokenizer.json (byte-level BPE) from llama.cpp's GPT-2 vocabulary. */
function gpt2TokenizerJson(pre?: unknown, extraModel: Record<string, unknown> = {}, normalizer: unknown = null): string {
  const g = parseGguf(new Uint8Array(readFileSync(assetPath('vocab', 'ggml-vocab-gpt-2.gguf'))), 'gpt-2');
  const tokens = g.metadata.get('tokenizer.ggml.tokens')!.value as string[];
  const merges = g.metadata.get('tokenizer.ggml.merges')!.value as string[];
  return JSON.stringify({
    version: '1.0',
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer,
    pre_tokenizer: pre ?? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab: Object.fromEntries(tokens.map((t, i) => [t, i])), merges, ...extraModel },
  });
}

/** llama.cpp test-tokenizer-0 cases (ids without BOS). */
function vocabCases(name: string): { text: string; ids: number[] }[] {
  const texts = readFileSync(assetPath('vocab', `${name}.inp`), 'utf8').split('\n__ggml_vocab_test__\n');
  texts.pop();
  const lines = readFileSync(assetPath('vocab', `${name}.out`), 'utf8').split('\n');
  return texts.map((text, i) => ({ text, ids: lines[i].trim() === '' ? [] : lines[i].trim().split(/\s+/).map(Number) }));
}

async function logitsOf(model: Model, tokens: number[]): Promise<Float32Array> {
  const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
  try {
    return await pass.run(tokens, tokens.map((_, i) => i));
  } finally {
    pass.destroy();
  }
}

// ---- the specs ------------------------------------------------------------------------------------

describe('HF checkpoints: stories260K converted to a Hugging Face directory', function () {
  let bin: LlamaModelFile;
  let tok512: Tokenizer;
  let tokenizerJson: string;
  let tmp: string;
  const dirs: Record<'f32' | 'f16' | 'bf16' | 'sharded', string> = { f32: '', f16: '', bf16: '', sharded: '' };
  let binModel: Model;
  let binLogits: Float32Array;
  let tokens: number[];
  const loaded: Model[] = [];

  before(async () => {
    ({ bin, tok512, tokenizerJson } = hfStories260K());
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mobizo-hf-'));
    for (const layout of ['F32', 'F16', 'BF16', 'sharded'] as const) {
      const name = layout.toLowerCase() as keyof typeof dirs;
      dirs[name] = writeDir(path.join(tmp, name), hfDirContents(bin, tokenizerJson, layout));
    }

    const { gpu } = await gpuFixture();
    binModel = await Model.load(gpu, bin);
    tokens = tok512.encode('Once upon a time, a cat sat on the mat. It was happy.', { bos: true, eos: false });
    binLogits = await logitsOf(binModel, tokens);
  });

  after(() => {
    binModel?.destroy();
    for (const m of loaded) m.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const load = async (file: LlamaModelFile) => {
    const m = await Model.load((await gpuFixture()).gpu, file);
    loaded.push(m);
    return m;
  };

  it("the test's permutation is HF's convert script's, the inverse of permuteQkRows(.., false)", () => {
    const w = bin.weights.layers[1].wk;
    const { nKvHeads, headDim, dim } = bin.config;
    assert.deepEqual(permuteForHf(w, nKvHeads, nKvHeads * headDim, dim), permuteQkRows(w, nKvHeads, headDim, dim, true));
    assert.deepEqual(permuteQkRows(permuteForHf(w, nKvHeads, nKvHeads * headDim, dim), nKvHeads, headDim, dim, false), w);
  });

  it('reads the F32 directory: the config, halfsplit RoPE, q/k rows as stored, every other weight exactly', () => {
    const p = parseHfModel(readHfDir(dirs.f32), dirs.f32);
    assert.equal(p.format, 'hf');
    assert.deepEqual(p.file.config, { ...bin.config, ropeStyle: 'halfsplit' });
    const { nHeads, nKvHeads, headDim, dim } = bin.config;
    p.file.weights.layers.forEach((l, i) => {
      const b = bin.weights.layers[i];
      assert.deepEqual(l.wq, permuteForHf(b.wq, nHeads, nHeads * headDim, dim));
      assert.deepEqual(l.wk, permuteForHf(b.wk, nKvHeads, nKvHeads * headDim, dim));
      for (const k of ['attnNorm', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'] as const) assert.deepEqual(l[k], b[k], `layer ${i} ${k}`);
    });
    assert.deepEqual(p.file.weights.tokenEmbedding, bin.weights.tokenEmbedding);
    assert.deepEqual(p.file.weights.finalNorm, bin.weights.finalNorm);
    assert.equal(p.file.weights.classifier, p.file.weights.tokenEmbedding); // tied
    assert.ok(p.tokenizer);
    assert.deepEqual([p.tokenizer.vocabSize, p.tokenizer.bosId, p.tokenizer.eosId], [512, 1, 2]);
  });

  it('logits on the GPU equal the .bin model’s within 1e-5', async () => {
    const p = parseHfModel(readHfDir(dirs.f32), dirs.f32);
    const got = await logitsOf(await load(p.file), tokens);
    const err = relError(got, binLogits);
    console.log(`      ${tokens.length} positions, rel error ${err.toExponential(2)}`);
    assert.ok(err < 1e-5, `rel error ${err}`);
  });

  it('greedy generation (200 steps, the tokenizer from tokenizer.json) reproduces the known output', async () => {
    const p = parseHfModel(readHfDir(dirs.f32), dirs.f32);
    const r = await generateText(await load(p.file), p.tokenizer!, { prompt: '', steps: 200, temperature: 0 });
    assert.equal(r.text, knownOutput());
  });

  it('two shards with an index (untied config, lm_head a copy of the embedding): the same weights and logits', async () => {
    const files = readHfDir(dirs.sharded);
    assert.deepEqual(files.safetensors.map((f) => f.name), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const p = parseHfModel(files, dirs.sharded);
    const single = parseHfModel(readHfDir(dirs.f32), dirs.f32);
    assert.deepEqual(p.file, single.file);
    assert.ok(p.file.config.sharedClassifier);
    const err = relError(await logitsOf(await load(p.file), tokens), binLogits);
    assert.ok(err < 1e-5, `rel error ${err}`);
  });

  for (const [dtype, tol] of [['F16', 2e-3], ['BF16', 2e-2]] as const) {
    it(`${dtype}: weights decode exactly to the rounded values; logits within ${dtype}'s precision`, async () => {
      const dir = dtype === 'F16' ? dirs.f16 : dirs.bf16;
      const p = parseHfModel(readHfDir(dir), dir);
      const want = rounded(bin, dtype);
      const { nHeads, headDim, dim } = bin.config;
      assert.deepEqual(p.file.weights.tokenEmbedding, want.weights.tokenEmbedding);
      assert.deepEqual(p.file.weights.layers[2].wq, permuteForHf(want.weights.layers[2].wq, nHeads, nHeads * headDim, dim));
      assert.deepEqual(p.file.weights.layers[4].w2, want.weights.layers[4].w2);
      const got = await logitsOf(await load(p.file), tokens);
      // the same 16-bit weights in the llama2.c layout: equal up to float32 rounding
      const same = relError(got, await logitsOf(await load(want), tokens));
      // against the float32 original: the precision of the format
      const vsF32 = relError(got, binLogits);
      console.log(`      vs the rounded .bin ${same.toExponential(2)}, vs the F32 .bin ${vsF32.toExponential(2)}`);
      assert.ok(same < 1e-5, `vs rounded: ${same}`);
      assert.ok(vsF32 < tol && vsF32 > 0, `vs F32: ${vsF32}`);
    });
  }

  describe('errors name the problem in one line', () => {
    let base: Float32TensorIn[];
    let config: Record<string, unknown>;
    const S = 'hf-model';
    before(() => {
      base = hfTensors(bin);
      config = hfConfig(bin);
    });
    const files = (opts: { config?: Record<string, unknown>; tensors?: Float32TensorIn[]; dtype?: Dtype } = {}): HfModelFiles => ({
      config: JSON.stringify(opts.config ?? config),
      safetensors: [{ name: 'model.safetensors', bytes: writeSafetensorsAs(opts.tensors ?? base, opts.dtype ?? 'F32') }],
    });

    it('a missing tensor', () => {
      const tensors = base.filter((t) => t.name !== 'model.layers.3.mlp.up_proj.weight');
      throwsNaming(() => parseHfModel(files({ tensors }), S), S, /tensor "model\.layers\.3\.mlp\.up_proj\.weight" is missing/, { inside: true });
    });

    it('a tensor whose shape disagrees with the config (actual vs expected)', () => {
      const tensors = base.map((t) => (t.name === 'model.layers.1.self_attn.k_proj.weight' ? { ...t, shape: [64, 32] } : t));
      throwsNaming(() => parseHfModel(files({ tensors }), S), S, /tensor "model\.layers\.1\.self_attn\.k_proj\.weight" has shape \[64, 32\], expected \[32, 64\]/, { inside: true });
      const wide = { ...config, intermediate_size: 200 };
      throwsNaming(() => parseHfModel(files({ config: wide }), S), S, /tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[172, 64\], expected \[200, 64\]/, { inside: true });
    });

    it('a missing config field, rope_scaling, an unknown architecture, other unsupported settings', () => {
      const without = { ...config };
      delete without.hidden_size;
      throwsNaming(() => parseHfModel(files({ config: without }), S), S, /config\.json: field "hidden_size" is missing/, { inside: true });
      throwsNaming(() => parseHfModel(files({ config: { ...config, num_hidden_layers: '5' } }), S), S, /field "num_hidden_layers" = "5" is not an integer/, { inside: true });
      throwsNaming(
        () => parseHfModel(files({ config: { ...config, rope_scaling: { type: 'yarn', factor: 2 } } }), S),
        S,
        /rope_scaling rope_type "yarn" is not supported \(supported: default, linear, llama3\): \{"type":"yarn","factor":2\}/,
        { inside: true },
      );
      throwsNaming(() => parseHfModel(files({ config: { ...config, architectures: ['GPT2LMHeadModel'] } }), S), S, /architecture "GPT2LMHeadModel" is not supported \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM\)/, { inside: true });
      throwsNaming(() => parseHfModel(files({ config: { ...config, hidden_act: 'gelu' } }), S), S, /hidden_act "gelu" is not supported/, { inside: true });
      // an explicit head_dim (Qwen3-style) is read: the tensors then must have its shapes
      throwsNaming(() => parseHfModel(files({ config: { ...config, head_dim: 16 } }), S), S, /tensor "model\.layers\.0\.self_attn\.q_proj\.weight" has shape \[64, 64\], expected \[128, 64\]/, { inside: true });
      throwsNaming(() => parseHfModel(files({ config: { ...config, mlp_bias: true } }), S), S, /mlp_bias true is not supported/, { inside: true });
      throwsNaming(() => parseHfModel({ ...files(), config: '{"hidden_size": 64,' }, S), S, /config\.json is not JSON/, { inside: true });
      // plain RoPE spelled out is fine
      assert.equal(parseHfModel(files({ config: { ...config, rope_scaling: { rope_type: 'default' } } }), S).format, 'hf');
    });

    it('Mistral and Qwen2 configs load; Qwen2 q/k/v biases are read, and named when missing', () => {
      const mistral = parseHfModel(files({ config: { ...config, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 256 } }), S);
      assert.equal(mistral.file.config.seqLen, 256); // full attention is the sliding window's within it
      const qwen = { ...config, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', use_sliding_window: false, sliding_window: 256 };
      const biases = [...base];
      for (let l = 0; l < bin.config.nLayers; l++) {
        for (const [p, n] of [['q', 64], ['k', 32], ['v', 32]] as const) biases.push({ name: `model.layers.${l}.self_attn.${p}_proj.bias`, shape: [n], data: new Float32Array(n).fill(l + 0.5) });
      }
      const q2 = parseHfModel(files({ config: qwen, tensors: biases }), S).file;
      assert.equal(q2.config.seqLen, 512);
      assert.deepEqual(q2.weights.layers[2].bk, new Float32Array(32).fill(2.5));
      throwsNaming(() => parseHfModel(files({ config: qwen }), S), S, /tensor "model\.layers\.0\.self_attn\.q_proj\.bias" is missing/, { inside: true });
      const extra = [...base, { name: 'model.layers.0.mlp.experts.weight', shape: [2], data: new Float32Array(2) }];
      throwsNaming(() => parseHfModel(files({ tensors: extra }), S), S, /tensors not in the LlamaForCausalLM layout of 5 layers: model\.layers\.0\.mlp\.experts\.weight/, { inside: true });
      // rotary_emb.inv_freq buffers of old checkpoints are ignored
      const inv = [...base, { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', shape: [4], data: new Float32Array(4) }];
      assert.equal(parseHfModel(files({ tensors: inv }), S).format, 'hf');
    });

    it('an unsupported dtype', () => {
      throwsNaming(() => parseHfModel(files({ dtype: 'I8' }), S), S, /tensor "model\.embed_tokens\.weight" has dtype I8, not supported \(only F32, F16 and BF16\)/, { inside: true });
    });

    it('an untied lm_head of the wrong shape; a separate lm_head is kept separate', () => {
      const head = (rows: number) => [...base, { name: 'lm_head.weight', shape: [rows, 64], data: new Float32Array(rows * 64).fill(0.5) }];
      const untied = { ...config, tie_word_embeddings: false };
      throwsNaming(() => parseHfModel(files({ config: untied, tensors: head(500) }), S), S, /tensor "lm_head\.weight" has shape \[500, 64\], expected \[512, 64\]/);
      const p = parseHfModel(files({ config: untied, tensors: head(512) }), S);
      assert.equal(p.file.config.sharedClassifier, false);
      assert.equal(p.file.weights.classifier[0], 0.5);
    });

    it('a shard referenced by the index but absent (in memory and on disk)', () => {
      const f = readHfDir(dirs.sharded);
      const one = { ...f, safetensors: f.safetensors.slice(0, 1) };
      throwsNaming(() => parseHfModel(one, S), S, /model\.safetensors\.index\.json references shard that is absent: model-00002-of-00002\.safetensors/, { inside: true });
      const dir = path.join(tmp, 'missing-shard');
      mkdirSync(dir);
      for (const n of ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors']) writeFileSync(path.join(dir, n), readFileSync(path.join(dirs.sharded, n)));
      throwsNaming(() => readHfDir(dir), dir, /1 of the 2 shards in model\.safetensors\.index\.json is missing: model-00002-of-00002\.safetensors/, { inside: true });
      // a tensor the index puts in a shard that lacks it
      const index = JSON.parse(f.index!);
      index.weight_map['model.layers.9.mlp.up_proj.weight'] = 'model-00002-of-00002.safetensors';
      throwsNaming(() => parseHfModel({ ...f, index: JSON.stringify(index) }, S), S, /tensor "model\.layers\.9\.mlp\.up_proj\.weight" is not in model-00002-of-00002\.safetensors/, { inside: true });
    });

    it('readHfDir: a missing directory, config.json or weights', () => {
      const nowhere = path.join(tmp, 'nowhere');
      throwsNaming(() => readHfDir(nowhere), nowhere, /no such directory/, { inside: true });
      const dir = path.join(tmp, 'empty');
      mkdirSync(dir);
      throwsNaming(() => readHfDir(dir), dir, /no config\.json/, { inside: true });
      writeFileSync(path.join(dir, 'config.json'), '{}');
      throwsNaming(() => readHfDir(dir), dir, /no model\.safetensors or model\.safetensors\.index\.json/, { inside: true });
      writeFileSync(path.join(dir, 'pytorch_model.bin'), '');
      throwsNaming(() => readHfDir(dir), dir, /has pytorch_model\.bin but no model\.safetensors/, { inside: true });
      unlinkSync(path.join(dir, 'pytorch_model.bin'));
    });
  });
});

describe('HF directory layout: planHfDir (shared by the CLI and the app) and the app\'s readHfFolder', () => {
  const W = 'my-models/llama';
  const shard = (i: number, n: number) => `model-0000${i}-of-0000${n}.safetensors`;
  const indexOf = (shards: string[]) => JSON.stringify({ weight_map: Object.fromEntries(shards.map((s, i) => [`t${i}`, s])) });
  /** planHfDir over a listing, the JSON files' texts from `texts` ('{}' by default), recording what it read. */
  const plan = (names: string[], texts: Record<string, string> = {}) => {
    const read: string[] = [];
    const p = planHfDir(W, names, (n) => (read.push(n), texts[n] ?? '{}'));
    return { ...p, read };
  };

  it('plans model.safetensors, or the index\'s shards (sorted, once each); tokenizer.json when present; reads only those JSON files', () => {
    assert.deepEqual(plan(['config.json', 'model.safetensors', 'tokenizer.json', 'README.md', 'pytorch_model.bin']), {
      config: '{}', tokenizerJson: '{}', safetensors: ['model.safetensors'], read: ['config.json', 'tokenizer.json'],
    });
    const index = indexOf([shard(2, 2), shard(1, 2), shard(2, 2)]);
    const p = plan(['model.safetensors.index.json', shard(1, 2), 'config.json', shard(2, 2), 'model.safetensors'], { 'model.safetensors.index.json': index });
    assert.deepEqual(p, { config: '{}', index, safetensors: [shard(1, 2), shard(2, 2)], read: ['config.json', 'model.safetensors.index.json'] });
    const files = hfDirFiles(p, [new Uint8Array([1]), new Uint8Array([2])]);
    assert.deepEqual(files, { config: '{}', index, safetensors: [{ name: shard(1, 2), bytes: new Uint8Array([1]) }, { name: shard(2, 2), bytes: new Uint8Array([2]) }] });
  });

  it('every error is one line naming the directory and what is expected', () => {
    throwsNaming(() => plan(['model.safetensors', 'tokenizer.json']), W, /^my-models\/llama: no config\.json \(a Hugging Face model directory holds config\.json, model\.safetensors \(or model\.safetensors\.index\.json and its shards\) and tokenizer\.json\)$/);
    throwsNaming(() => plan(['config.json', 'tokenizer.json']), W, /: no model\.safetensors or model\.safetensors\.index\.json \(a Hugging Face model directory holds/);
    throwsNaming(() => plan(['config.json', 'pytorch_model.bin.index.json']), W, /: has pytorch_model\.bin\.index\.json but no model\.safetensors: only safetensors weights are read/);
    throwsNaming(() => plan(['config.json', 'consolidated.00.pth']), W, /: has consolidated\.00\.pth but no model\.safetensors/);
    const idx = (text: string) => () => plan(['config.json', 'model.safetensors.index.json', 'model.safetensors'], { 'model.safetensors.index.json': text });
    throwsNaming(idx('{"weight_map": '), W, /: model\.safetensors\.index\.json is not JSON \(/);
    throwsNaming(idx('{"metadata": {}}'), W, /: model\.safetensors\.index\.json has no "weight_map" object of file names/);
    throwsNaming(idx('{"weight_map": {"a": 3}}'), W, /has no "weight_map" object of file names/);
    throwsNaming(idx(indexOf(['../model.safetensors'])), W, /: model\.safetensors\.index\.json names a shard outside the directory: "\.\.\/model\.safetensors"/);
    throwsNaming(idx(indexOf(['sub\\x.safetensors'])), W, /names a shard outside the directory/);
    const three = indexOf([shard(1, 3), shard(2, 3), shard(3, 3)]);
    throwsNaming(() => plan(['config.json', 'model.safetensors.index.json', shard(2, 3)], { 'model.safetensors.index.json': three }), W, /: 2 of the 3 shards in model\.safetensors\.index\.json are missing: model-00001-of-00003\.safetensors, model-00003-of-00003\.safetensors$/);
    // one missing: "is"
    throwsNaming(() => plan(['config.json', 'model.safetensors.index.json', shard(1, 3), shard(2, 3)], { 'model.safetensors.index.json': three }), W, /: 1 of the 3 shards .* is missing: model-00003-of-00003\.safetensors$/);
  });

  describe('readHfFolder (the app\'s worker): Blobs by name', () => {
    let bin: LlamaModelFile;
    let sharded: Record<string, string | Uint8Array>;
    let tmp: string;
    before(() => {
      let tokenizerJson: string;
      ({ bin, tokenizerJson } = hfStories260K());
      sharded = hfDirContents(bin, tokenizerJson, 'sharded');
      tmp = mkdtempSync(path.join(os.tmpdir(), 'mobizo-hf-folder-'));
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));
    const blobs = (files: Record<string, string | Uint8Array>) => Object.entries(files).map(([name, data]) => ({ name, blob: new Blob([data as BlobPart]) }));

    it('gives the model the CLI reads from the same directory, keeping only the files that make it', async () => {
      const extra = { ...sharded, 'pytorch_model.bin': 'not read', 'README.md': '# a model' };
      const f = await readHfFolder('sharded', blobs(extra));
      const dir = writeDir(path.join(tmp, 'sharded'), extra);
      const cli = parseHfModel(readHfDir(dir), dir);
      assert.deepEqual(f.parsed.tensors.config, cli.file.config);
      assert.deepEqual(f.parsed.tensors.config, { ...bin.config, ropeStyle: 'halfsplit' });
      const names = presentTensors(cli.file);
      assert.ok(names.length > 10, `${names.length} tensors`);
      const mem = memoryTensors(cli.file);
      for (const n of names) assert.deepEqual(await f.parsed.tensors.f32(n), await mem.f32(n), `tensor ${n} read from the Blobs`);
      assert.equal(f.parsed.tokenizer?.vocabSize, 512);
      assert.deepEqual(f.used.map((u) => u.name), ['config.json', 'model.safetensors.index.json', 'tokenizer.json', ...SHARDS]);
      assert.equal(f.bytes, Object.entries(sharded).reduce((s, [, d]) => s + (typeof d === 'string' ? new TextEncoder().encode(d).length : d.length), 0));
      const noTok = { ...sharded };
      delete noTok['tokenizer.json'];
      assert.equal((await readHfFolder('x', blobs(noTok))).parsed.tokenizer, undefined);
    });

    it('fails with the CLI\'s messages (a missing config.json, a missing shard)', async () => {
      const rejects = async (files: Record<string, string | Uint8Array>, where: string, problem: RegExp) => {
        const dir = writeDir(path.join(tmp, where), files);
        const cli = (() => {
          try {
            readHfDir(dir);
          } catch (e) {
            return (e as Error).message;
          }
          return 'no error';
        })();
        await assert.rejects(readHfFolder(where, blobs(files)), (e: Error) => {
          assert.match(e.message, problem);
          assert.equal(e.message, cli.replace(dir, where), 'the CLI\'s message, naming the folder');
          return true;
        });
      };
      const noConfig = { ...sharded };
      delete noConfig['config.json'];
      await rejects(noConfig, 'no-config', /^no-config: no config\.json \(a Hugging Face model directory holds/);
      const oneShard = { ...sharded };
      delete oneShard[SHARDS[1]];
      await rejects(oneShard, 'one-shard', /^one-shard: 1 of the 2 shards in model\.safetensors\.index\.json is missing: model-00002-of-00002\.safetensors$/);
    });
  });
});

describe('HF tokenizer.json: Llama-2-style SentencePiece BPE made from tok512.bin', () => {
  const tok512 = stories260K().tok;
  const pieces = tok512Pieces(tok512);
  const stories = readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 20000).split('<|endoftext|>');
  const samples = [
    '', ' ', 'Once upon a time', 'Once upon a time, there was a little girl named Lily.', '  two  spaces\n\nand\ttabs ',
    'Ünïcödé: café, naïve, 中文, 😀🦙 and the byte fallback', 'Lily\'s mom said, "Let\'s go!"', '\n', 'a\u200ab', 'non\u00a0breaking', ...stories,
  ];

  for (const pairs of [false, true]) {
    it(`encodes and decodes every sample as tok512 (merges as ${pairs ? '[a, b] pairs' : '"a b" strings'})`, () => {
      const tok = hfTokenizer(llamaTokenizerJson(pieces, tok512.scores, pairs), 'tokenizer.json');
      assert.deepEqual([tok.vocabSize, tok.bosId, tok.eosId], [512, 1, 2]);
      for (const s of samples) {
        for (const [bos, eos] of [[true, false], [false, false], [true, true]]) {
          assert.deepEqual(tok.encode(s, { bos, eos }), tok512.encode(s, { bos, eos }), JSON.stringify(s.slice(0, 60)));
        }
        const ids = tok512.encode(s, { bos: true, eos: true });
        assert.equal(tok.decode(ids), s);
      }
      for (const prev of [-1, 1, 300]) {
        for (let t = 3; t < 512; t++) assert.deepEqual(tok.decodeBytes(prev, t), tok512.decodeBytes(prev, t), `decodeBytes(${prev}, ${t})`);
      }
    });
  }

  it('the metadata: scores are -(rank of the first merge making the piece), token types, BOS added by the template', () => {
    const json = llamaTokenizerJson(pieces, tok512.scores);
    const merges = JSON.parse(json).model.merges as string[];
    const m = hfTokenizerMetadata(json, 'tokenizer.json').metadata;
    const scores = m.get('tokenizer.ggml.scores')!.value as Float32Array;
    const types = m.get('tokenizer.ggml.token_type')!.value as Int32Array;
    assert.equal(scores[pieces.indexOf('▁the')], -merges.findIndex((x) => x.replace(' ', '') === '▁the'));
    assert.equal(scores[pieces.indexOf('e')], 0);
    assert.deepEqual([types[0], types[1], types[2], types[3], types[258], types[259]], [TokenType.unknown, TokenType.control, TokenType.control, TokenType.byte, TokenType.byte, TokenType.normal]);
    assert.deepEqual([m.get('tokenizer.ggml.add_bos_token')!.value, m.get('tokenizer.ggml.add_eos_token')!.value, m.get('tokenizer.ggml.add_space_prefix')!.value], [true, false, true]);
  });

  it('a Metaspace pre-tokenizer (transformers legacy: false) tokenizes the same; padding to the model vocabulary', () => {
    const j = JSON.parse(llamaTokenizerJson(pieces, tok512.scores));
    j.normalizer = null;
    j.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false };
    const tok = hfTokenizer(JSON.stringify(j), 'tokenizer.json', { vocabSize: 520, eosTokenId: [2, 7] });
    assert.deepEqual([tok.vocabSize, tok.eosId], [520, 2]);
    for (const s of samples.slice(0, 12)) assert.deepEqual(tok.encode(s, { bos: true, eos: false }), tok512.encode(s, { bos: true, eos: false }));
    throwsNaming(() => hfTokenizer(JSON.stringify(j), 'tokenizer.json', { vocabSize: 500 }), 'tokenizer.json', /token ids up to 511, past the model's vocab_size 500/, { inside: true });
  });
});

describe('HF tokenizer.json against llama.cpp test-tokenizer-0', () => {
  it('Llama 2 (32000 pieces, merges as transformers extracts them): every case', () => {
    const g = GgufTokenizer.fromGguf(parseGguf(new Uint8Array(readFileSync(assetPath('vocab', 'ggml-vocab-llama-spm.gguf'))), 'spm'), 'spm');
    const tok = hfTokenizer(llamaTokenizerJson(g.pieces, g.scores), 'llama-2/tokenizer.json');
    assert.equal(tok.vocabSize, 32000);
    for (const { text, ids } of vocabCases('ggml-vocab-llama-spm.gguf')) {
      assert.deepEqual(tok.encode(text, { bos: false, eos: false }), ids, JSON.stringify(text));
      assert.equal(tok.decode(tok.encode(text, { bos: true, eos: false })), text);
    }
  });

  it('GPT-2 (byte-level BPE, ByteLevel pre-tokenizer or Split + ByteLevel): every case', () => {
    const split = {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+" }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
    for (const pre of [undefined, split]) {
      const tok: TextTokenizer = hfTokenizer(gpt2TokenizerJson(pre), 'gpt-2/tokenizer.json');
      assert.deepEqual([tok.vocabSize, tok.bosId, tok.eosId], [50257, 50256, 50256]);
      for (const { text, ids } of vocabCases('ggml-vocab-gpt-2.gguf')) {
        assert.deepEqual(tok.encode(text, { bos: false, eos: false }), ids, JSON.stringify(text));
        assert.equal(tok.decode(ids), text);
      }
    }
  });

  it('Llama 3 and Qwen2 regexes map to their pre-tokenizers; NFC is applied; the rest is a named error', () => {
    const splitBy = (regex: string) => ({
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    });
    const llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const qwen2 = llama3.replace('\\p{N}{1,3}', '\\p{N}');
    const pre = (json: string) => hfTokenizerMetadata(json, 't').metadata.get('tokenizer.ggml.pre')!.value;
    assert.equal(pre(gpt2TokenizerJson(splitBy(llama3), { ignore_merges: true })), 'llama3');
    assert.equal(pre(gpt2TokenizerJson(splitBy(qwen2))), 'qwen2');
    const nfc = hfTokenizer(gpt2TokenizerJson(splitBy(qwen2), {}, { type: 'NFC' }), 't');
    assert.deepEqual(nfc.encode('cafe\u0301', { bos: false, eos: false }), nfc.encode('café', { bos: false, eos: false }));

    const S = 'tokenizer.json';
    throwsNaming(() => hfTokenizer(gpt2TokenizerJson(splitBy('\\w+')), S), S, /pre_tokenizer Split by \{"Regex":"\\\\w\+"\} is not supported/);
    throwsNaming(() => hfTokenizer(gpt2TokenizerJson(splitBy(llama3)), S), S, /ignore_merges false with the llama3 pre-tokenizer is not supported/);
    throwsNaming(() => hfTokenizer(gpt2TokenizerJson({ type: 'ByteLevel', add_prefix_space: true }), S), S, /ByteLevel with add_prefix_space is not supported/, { inside: true });
    throwsNaming(() => hfTokenizer(gpt2TokenizerJson(undefined, {}, { type: 'NFKC' }), S), S, /normalizer \{"type":"NFKC"\} is not supported/, { inside: true });
    const j = JSON.parse(gpt2TokenizerJson());
    throwsNaming(() => hfTokenizer(JSON.stringify({ ...j, model: { type: 'Unigram', vocab: [] } }), S), S, /model type "Unigram" is not supported/, { inside: true });
    throwsNaming(() => hfTokenizer(JSON.stringify({ ...j, model: { type: 'WordPiece', vocab: {} } }), S), S, /model type "WordPiece" is not supported/, { inside: true });
    throwsNaming(() => hfTokenizer(JSON.stringify({ ...j, pre_tokenizer: { type: 'Whitespace' } }), S), S, /neither byte-level .* nor SentencePiece-style .*pre-tokenizer: Whitespace/, { inside: true });
    throwsNaming(() => hfTokenizer('{"model": ', S), S, /tokenizer\.json is not JSON/, { inside: true });
  });
});
