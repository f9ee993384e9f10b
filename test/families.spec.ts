// The model families, exact: tiny random checkpoints of Llama 3.x (llama3 RoPE scaling, tied),
// Llama with linear RoPE scaling, SmolLM2 (Llama layout, tied), Qwen2 / Qwen2.5 (q/k/v biases)
// Qwen3 (explicit head_dim, per-head q/k RMSNorm), Gemma 3 (embedding scale, (1 + w) norms, GeGLU,
// post-norms, q/k norms, sliding layers with their own RoPE; more in families_gemma.spec.ts) and Llama
// with attention_bias (q/k/v/o biases), each saved by transformers 5 itself and
// written as a GGUF under llama.cpp's names (scripts/fixtures/families.py, committed under
// test/fixtures/families/). From the HF folder and from the GGUF, the GPU logits must be
// transformers' within 1e-4 (max |diff| / max |ref|); so must the float64 reference's; a PEFT
// adapter made by PEFT must load here and give PEFT's logits. Config fields and GGUF keys this
// engine does not implement are errors naming them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readAdapter, writeAdapter } from '../src/adapter/peft';
import { LoraState } from '../src/adapter/lora';
import { readHfDir } from '../src/cli/hf_dir';
import { ropeFrequencies, type LlamaModelFile } from '../src/formats/config';
import { parseGguf } from '../src/formats/gguf';
import { ggufToModelFile } from '../src/formats/gguf_model';
import { parseHfConfig, parseHfModel } from '../src/formats/hf';
import { HF_CONFIG_FIELDS } from '../src/formats/hf_config';
import { parseSafetensors, tensorToFloat32 } from '../src/formats/safetensors';
import { quantizeModelGguf } from '../src/formats/gguf_writer';
import { ForwardPass, KvCache } from '../src/model/forward';
import { Model, type RawTensors } from '../src/model/model';
import { TARGETS, type LinearAdapters } from '../src/model/targets';
import { stepSeed, ZoScheduler } from '../src/train/scheduler';
import { perturbedLayers } from './adapters';
import { throwsNaming } from './expect';
import { gpuFixture, randoms, relError } from './gpu';
import { referenceForward, referenceLoss, type ReferenceLora } from './reference/cpu_model';
import { ropeFrequency } from './reference/ops';

const ROOT = path.join(import.meta.dirname, 'fixtures', 'families');
const FAMILIES = ['llama3', 'llama_linear', 'smollm2', 'qwen2', 'qwen3', 'gemma3', 'llama_bias'] as const;
type Family = (typeof FAMILIES)[number];

interface Fixture {
  dir: string;
  tokens: number[];
  ggufArch: string;
  logits: Float32Array; // [T, vocab] transformers
  peftLogits: Float32Array; // [T, vocab] transformers + PEFT's adapter in peft/
  mobizoPeftLogits: Float32Array; // [T, vocab] transformers + PEFT loading the adapter mobizo trained, in mobizo/
}

function fixture(family: Family): Fixture {
  const dir = path.join(ROOT, family);
  const prompt = JSON.parse(readFileSync(path.join(dir, 'prompt.json'), 'utf8'));
  const st = parseSafetensors(new Uint8Array(readFileSync(path.join(dir, 'expected.safetensors'))), 'expected.safetensors');
  const get = (n: string) => tensorToFloat32(st.tensors.get(n)!, n, dir);
  return { dir, tokens: prompt.tokens, ggufArch: prompt.gguf_arch, logits: get('logits'), peftLogits: get('peft_logits'), mobizoPeftLogits: get('mobizo_peft_logits') };
}

async function gpuLogits(model: Model, tokens: number[], lora?: LinearAdapters): Promise<Float32Array> {
  const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length, ...(lora ? { lora } : {}) });
  try {
    return await pass.run(tokens, tokens.map((_, i) => i));
  } finally {
    pass.destroy();
  }
}

const flat = (rows: Float64Array[]) => {
  const out = new Float64Array(rows.length * rows[0].length);
  rows.forEach((r, i) => out.set(r, i * r.length));
  return out;
};

/** Measured errors, printed once at the end (the numbers the README quotes). */
const measured: string[] = [];

describe('model families: transformers checkpoints from HF folders and GGUF, exact', function () {
  after(() => {
    if (measured.length) console.log(`\n    max |diff| / max |ref| vs transformers:\n      ${measured.join('\n      ')}`);
  });

  for (const family of FAMILIES) {
    describe(family, () => {
      let fx: Fixture;
      let hf: LlamaModelFile;
      let gguf: ReturnType<typeof ggufToModelFile>;
      const models: Model[] = [];
      before(() => {
        fx = fixture(family);
        hf = parseHfModel(readHfDir(fx.dir), fx.dir).file;
        const bytes = new Uint8Array(readFileSync(path.join(fx.dir, 'model.gguf')));
        gguf = ggufToModelFile(parseGguf(bytes, 'model.gguf'), bytes, 'model.gguf');
      });
      after(() => {
        for (const m of models) m.destroy();
      });
      const load = async (file: LlamaModelFile, raw?: RawTensors) => {
        const m = await Model.load((await gpuFixture()).gpu, file, raw);
        models.push(m);
        return m;
      };

      it('reads the family from config.json and from the GGUF', () => {
        const c = hf.config;
        const g = gguf.config;
        assert.equal(gguf.architecture, fx.ggufArch);
        assert.equal(c.ropeStyle, 'halfsplit');
        assert.equal(g.ropeStyle, fx.ggufArch === 'llama' ? 'adjacent' : 'halfsplit');
        for (const k of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize', 'seqLen', 'normEps', 'ropeTheta', 'sharedClassifier'] as const) {
          assert.equal(g[k], c[k], k);
        }
        const L = hf.weights.layers[0];
        const G = gguf.weights.layers[0];
        if (family === 'llama3') {
          assert.deepEqual(c.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPos: 32 });
          assert.equal(g.ropeScaling?.type, 'factors'); // llama.cpp's rope_freqs.weight
          assert.ok(fx.tokens.length > 32, 'the prompt runs past the original context');
        } else if (family === 'llama_linear' || family === 'gemma3') {
          assert.deepEqual(c.ropeScaling, { type: 'linear', factor: 2 }); // Gemma: the global layers'
          assert.deepEqual(g.ropeScaling, { type: 'linear', factor: 2 });
        } else {
          assert.equal(c.ropeScaling, undefined);
          assert.equal(g.ropeScaling, undefined);
        }
        assert.equal(!!L.bq && !!L.bk && !!L.bv, family === 'qwen2' || family === 'llama_bias');
        assert.equal(!!L.bo, family === 'llama_bias'); // Llama attention_bias: o_proj has one too
        assert.deepEqual(G.bv, L.bv); // (the llama GGUF's q/k biases are permuted with their rows)
        assert.deepEqual(G.bo, L.bo);
        assert.equal(!!L.qNorm && !!L.kNorm, family === 'qwen3' || family === 'gemma3');
        assert.deepEqual(G.kNorm, L.kNorm);
        if (family === 'qwen3' || family === 'gemma3') assert.notEqual(c.nHeads * c.headDim, c.dim);
        assert.equal(!!L.postAttnNorm && !!L.postFfnNorm, family === 'gemma3');
        // Gemma: config.json's norm w is read as 1 + w, the GGUF's (llama.cpp adds the 1) as it is
        assert.deepEqual(G.postFfnNorm, L.postFfnNorm);
        assert.deepEqual(gguf.weights.finalNorm, hf.weights.finalNorm);
        for (const k of ['embedScale', 'attnScale', 'ffnActivation', 'slidingWindow', 'slidingLayers', 'localRope', 'finalSoftcap'] as const) assert.deepEqual(g[k], c[k], k);
        if (family === 'gemma3') {
          assert.deepEqual([c.embedScale, c.attnScale, c.ffnActivation, c.slidingWindow], [Math.fround(Math.sqrt(32)), 24 ** -0.5, 'gelu_tanh', 6]);
          assert.deepEqual(c.slidingLayers, [true, true, false, true]);
          assert.deepEqual(c.localRope, { theta: 10000 });
          assert.equal(c.ropeTheta, 1e6);
          assert.ok(fx.tokens.length > 3 * c.slidingWindow!, 'the prompt runs well past the window');
        }
        assert.equal(c.sharedClassifier, family !== 'llama_linear');
      });

      it('what makes the family matters: without it the reference is far from transformers (so the tests bite)', () => {
        const L = hf.weights.layers;
        if (family === 'gemma3') {
          // each Gemma feature alone: undone, the logits move
          const c = hf.config;
          const plain = (f: Float32Array) => f.map((v) => v - 1); // a norm read without Gemma's 1 + w
          const variants: [string, LlamaModelFile][] = [
            ['embedding scale', { ...hf, config: { ...c, embedScale: undefined } }],
            ['query_pre_attn_scalar', { ...hf, config: { ...c, attnScale: 1 / 4 } }],
            ['GELU', { ...hf, config: { ...c, ffnActivation: 'silu' } }],
            ['sliding window', { ...hf, config: { ...c, slidingWindow: 64 } }],
            ['local RoPE', { ...hf, config: { ...c, localRope: { theta: c.ropeTheta, scaling: c.ropeScaling } } }],
            ['global RoPE scaling', { ...hf, config: { ...c, ropeScaling: undefined } }],
            ['post-norms', { ...hf, weights: { ...hf.weights, layers: L.map((l) => ({ ...l, postAttnNorm: undefined, postFfnNorm: undefined })) } }],
            ['1 + w', { ...hf, weights: { ...hf.weights, layers: L.map((l) => ({ ...l, attnNorm: plain(l.attnNorm), ffnNorm: plain(l.ffnNorm) })) } }],
          ];
          for (const [what, m] of variants) {
            const e = relError(flat(referenceForward(m, fx.tokens)), fx.logits);
            assert.ok(e > 1e-3, `without Gemma's ${what} the error is only ${e}`);
          }
          return;
        }
        const off: LlamaModelFile = {
          config: { ...hf.config, ropeScaling: undefined, ropeTheta: family === 'smollm2' ? 10000 : hf.config.ropeTheta },
          weights: { ...hf.weights, layers: L.map((l) => ({ ...l, bq: undefined, bk: undefined, bv: undefined, bo: undefined, qNorm: undefined, kNorm: undefined })) },
        };
        const e = relError(flat(referenceForward(off, fx.tokens)), fx.logits);
        assert.ok(e > 1e-2, `without the family's RoPE / biases / q-k norms the error is only ${e}`);
        if (family === 'llama_bias') {
          const noO = { ...hf, weights: { ...hf.weights, layers: L.map((l) => ({ ...l, bo: undefined })) } };
          const eO = relError(flat(referenceForward(noO, fx.tokens)), fx.logits);
          assert.ok(eO > 1e-2, `without the o bias alone the error is only ${eO}`);
        }
      });

      it('the float64 reference gives transformers’ logits (HF folder and GGUF)', function () {
        const eH = relError(flat(referenceForward(hf, fx.tokens)), fx.logits);
        const eG = relError(flat(referenceForward(gguf, fx.tokens)), fx.logits);
        assert.ok(eH < 1e-5 && eG < 1e-5, `reference error ${eH} (HF), ${eG} (GGUF)`);
      });

      it('GPU logits from the HF folder within 1e-4 of transformers’', async () => {
        const e = relError(await gpuLogits(await load(hf), fx.tokens), fx.logits);
        measured.push(`${family.padEnd(12)} HF folder ${e.toExponential(2)}`);
        assert.ok(e < 1e-4, `error ${e}`);
      });

      it('GPU logits from the GGUF within 1e-4 of transformers’', async () => {
        const e = relError(await gpuLogits(await load(gguf, gguf.rawTensors), fx.tokens), fx.logits);
        measured.push(`${family.padEnd(12)} GGUF      ${e.toExponential(2)}`);
        assert.ok(e < 1e-4, `error ${e}`);
      });

      it('the KV-cache path (prefill, then one token a pass) gives transformers’ logits', async () => {
        const model = await load(hf);
        const T = fx.tokens.length;
        const P = T - 4;
        const cache = new KvCache(model, 1, T);
        const prefill = new ForwardPass(model, { B: 1, T: P, nSelect: P, cache });
        const step = new ForwardPass(model, { B: 1, T: 1, nSelect: 1, cache });
        const got = new Float32Array(fx.logits.length);
        try {
          got.set(await prefill.run(fx.tokens.slice(0, P), Array.from({ length: P }, (_, i) => i), 0));
          for (let pos = P; pos < T; pos++) got.set(await step.run([fx.tokens[pos]], [0], pos), pos * hf.config.vocabSize);
        } finally {
          prefill.destroy();
          step.destroy();
          cache.destroy();
        }
        const e = relError(got, fx.logits);
        assert.ok(e < 1e-4, `error ${e}`);
      });

      it('quantizeModelGguf writes the family (biases, q/k norms, RoPE scaling) so that it reads back the same', () => {
        const write = () => quantizeModelGguf({ model: hf, metadata: new Map() }, 'F32');
        if (family === 'gemma3') {
          assert.throws(write, /quantizeModelGguf: a Gemma 3 model is not written from its weights/);
          return;
        }
        if (family === 'llama_bias') {
          assert.throws(write, /quantizeModelGguf: an o_proj bias \(Llama attention_bias\) is not written from the weights/);
          return;
        }
        if (family === 'llama3') {
          // halfsplit rows go out as a NEOX architecture, which has no rope_freqs in llama.cpp
          assert.throws(write, /llama3 RoPE scaling is written as llama\.cpp's rope_freqs, which only the llama architecture reads/);
          return;
        }
        const bytes = write();
        const back = ggufToModelFile(parseGguf(bytes, 'w.gguf'), bytes, 'w.gguf');
        assert.deepEqual(back.config, hf.config);
        assert.deepEqual(back.weights.layers[1], hf.weights.layers[1]);
      });

      it('a PEFT-made adapter on every linear loads and gives PEFT’s logits (GPU and float64 reference)', async () => {
        const peftDir = path.join(fx.dir, 'peft');
        const files = { config: readFileSync(path.join(peftDir, 'adapter_config.json'), 'utf8'), safetensors: new Uint8Array(readFileSync(path.join(peftDir, 'adapter_model.safetensors'))) };
        const a = readAdapter(files, hf.config, peftDir);
        assert.deepEqual(a.targets, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']);
        const ref: ReferenceLora = { scale: a.alpha / a.rank, rank: a.rank, layers: a.layers };
        const eRef = relError(flat(referenceForward(hf, fx.tokens, ref)), fx.peftLogits);
        assert.ok(eRef < 1e-5, `reference error ${eRef}`);
        const model = await load(hf);
        const lora = LoraState.fromAdapter(model.gpu, hf.config, a);
        try {
          const e = relError(await gpuLogits(model, fx.tokens, lora), fx.peftLogits);
          measured.push(`${family.padEnd(12)} + PEFT adapter ${e.toExponential(2)}`);
          assert.ok(e < 1e-4, `error ${e}`);
          assert.ok(relError(fx.logits, fx.peftLogits) > 0.1, 'the adapter changes the logits');
        } finally {
          lora.destroy();
        }
      });

      it('MP-LoRA on every linear: a P-RGE step’s slot losses are the float64 reference’s with B ± eps Z', async () => {
        const model = await load(hf);
        const lcfg = { rank: 4, alpha: 8, targets: [...TARGETS] };
        const host = LoraState.initHost(hf.config, lcfg, 3);
        host.layers.forEach((e, l) => TARGETS.forEach((t) => (e[t]!.B = randoms(e[t]!.B.length, 50 + l, 0.1))));
        const lora = LoraState.upload(model.gpu, hf.config, lcfg, host);
        const seq = Math.min(12, Math.floor(fx.tokens.length / 2)); // Gemma's prompt is 20 long
        const opts = { mode: 'prge' as const, q: 2, eps: 1e-2, lr: 0, batch: 2, seq, seed: 8 };
        const tokens = Int32Array.from(fx.tokens.slice(0, 2 * seq));
        const labels = Int32Array.from(tokens, (_, j) => ((j + 1) % opts.seq === 0 ? -100 : tokens[j + 1]));
        const sched = new ZoScheduler(model, lora, opts);
        const r = await sched.step(0, { tokens, labels });
        sched.destroy();
        lora.destroy();
        const seed = stepSeed(opts.seed, 0);
        for (let g = 0; g < 2 * opts.q; g++) {
          const layers = perturbedLayers(host, TARGETS, seed, g, opts.q, opts.eps);
          const want = referenceLoss(hf, tokens, labels, opts.seq, { scale: 2, rank: 4, layers }).loss;
          assert.ok(Math.abs(r.slotLosses[g] - want) < 1e-4 * want, `slot ${g}: ${r.slotLosses[g]} vs ${want}`);
        }
        assert.notEqual(r.slotLosses[0], r.slotLosses[opts.q], 'the perturbations change the loss');
      });

      it('the adapter mobizo trained and wrote (mobizo/) gives, loaded in PEFT, the logits mobizo gives', async () => {
        const dir = path.join(fx.dir, 'mobizo');
        const config = readFileSync(path.join(dir, 'adapter_config.json'), 'utf8');
        const files = { config, safetensors: new Uint8Array(readFileSync(path.join(dir, 'adapter_model.safetensors'))) };
        const a = readAdapter(files, hf.config, dir);
        // the family's own module names, as writeAdapter writes them today
        assert.deepEqual(JSON.parse(config).target_modules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
        const again = writeAdapter(a, { baseModelName: `test/fixtures/families/${family}` });
        assert.equal(again['adapter_config.json'], config);
        assert.deepEqual(again['adapter_model.safetensors'], files.safetensors);
        const model = await load(hf);
        const lora = LoraState.fromAdapter(model.gpu, hf.config, a);
        try {
          const e = relError(await gpuLogits(model, fx.tokens, lora), fx.mobizoPeftLogits);
          measured.push(`${family.padEnd(12)} mobizo adapter in PEFT ${e.toExponential(2)}`);
          assert.ok(e < 1e-4, `error ${e}`);
          assert.ok(relError(fx.logits, fx.mobizoPeftLogits) > 0.05, 'the adapter changes the logits');
        } finally {
          lora.destroy();
        }
      });
    });
  }
});

describe('RoPE frequencies: src (formats/config.ts) and the float64 reference agree, band by band', () => {
  it('llama3: high frequencies kept, low ones divided by factor, the middle smoothed; linear; factors', () => {
    const llama3 = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPos: 32 };
    const plain = ropeFrequencies(16, 1e4);
    const f = ropeFrequencies(16, 1e4, llama3);
    assert.equal(f[0], plain[0]); // wavelength 6.3 < 32 / 4
    assert.ok(f[1] < plain[1] && f[1] > plain[1] / 8); // 19.9: between
    for (let p = 2; p < 8; p++) assert.equal(f[p], plain[p] / 8); // > 32 / 1
    const factors = Array.from(plain, (x, p) => x / f[p]);
    for (const s of [llama3, { type: 'linear' as const, factor: 2 }, { type: 'factors' as const, factors }]) {
      const g = ropeFrequencies(16, 1e4, s);
      for (let p = 0; p < 8; p++) assert.ok(Math.abs(g[p] - ropeFrequency(p, 16, 1e4, s)) <= 1e-15 * g[p], `${s.type} ${p}`);
    }
  });
});

describe('config.json: every field read, irrelevant or refused by name', () => {
  const S = 'hf-model';
  const cfg = (family: Family) => JSON.parse(readFileSync(path.join(ROOT, family, 'config.json'), 'utf8')) as Record<string, unknown>;
  const parse = (c: Record<string, unknown>) => parseHfConfig(JSON.stringify(c), S);

  it('every field transformers 5 writes for each family is in the table', () => {
    for (const f of FAMILIES) {
      const c = cfg(f);
      const table = HF_CONFIG_FIELDS[(c.architectures as string[])[0]];
      for (const k of Object.keys(c)) assert.ok(k in table, `${f}: ${k}`);
    }
  });

  it('configs with the fields of the published ones (SmolLM2-135M, Llama-3.2-1B, Qwen2.5-0.5B, Qwen3-0.6B) parse', () => {
    const smol = parse({
      architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 576,
      initializer_range: 0.041666666666666664, intermediate_size: 1536, is_llama_config: true, max_position_embeddings: 8192, mlp_bias: false, model_type: 'llama',
      num_attention_heads: 9, num_hidden_layers: 30, num_key_value_heads: 3, pad_token_id: 2, pretraining_tp: 1, rms_norm_eps: 1e-5, rope_interleaved: false,
      rope_scaling: null, rope_theta: 100000, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.42.3',
      'transformers.js_config': { kv_cache_dtype: { q4f16: 'float16', fp16: 'float16' } }, use_cache: true, vocab_size: 49152,
    }); // SmolLM2-135M-Instruct
    assert.deepEqual([smol.config.headDim, smol.config.ropeTheta, smol.tieWordEmbeddings], [64, 100000, true]);
    const llama32 = parse({
      architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009], head_dim: 64,
      hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 8192, max_position_embeddings: 131072, mlp_bias: false, model_type: 'llama',
      num_attention_heads: 32, num_hidden_layers: 16, num_key_value_heads: 8, pretraining_tp: 1, rms_norm_eps: 1e-5,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0.dev0', use_cache: true, vocab_size: 128256,
    }); // Llama-3.2-1B
    assert.deepEqual(llama32.config.ropeScaling, { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPos: 8192 });
    const qwen25 = parse({
      architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151643, hidden_act: 'silu', hidden_size: 896,
      initializer_range: 0.02, intermediate_size: 4864, max_position_embeddings: 32768, max_window_layers: 24, model_type: 'qwen2', num_attention_heads: 14,
      num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true,
      torch_dtype: 'bfloat16', transformers_version: '4.40.1', use_cache: true, use_sliding_window: false, vocab_size: 151936,
    }); // Qwen2.5-0.5B
    assert.deepEqual([qwen25.config.headDim, qwen25.config.seqLen], [64, 32768]);
    const qwen3 = parse({
      architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645, head_dim: 128,
      hidden_act: 'silu', hidden_size: 1024, initializer_range: 0.02, intermediate_size: 3072, max_position_embeddings: 40960, max_window_layers: 28,
      model_type: 'qwen3', num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 8, rms_norm_eps: 1e-6, rope_scaling: null,
      rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.51.0', use_cache: true,
      use_sliding_window: false, vocab_size: 151936,
    }); // Qwen3-0.6B: q is 16 x 128 = 2048 wide, the model 1024
    assert.deepEqual([qwen3.config.headDim, qwen3.config.nHeads * qwen3.config.headDim, qwen3.config.dim], [128, 2048, 1024]);
  });

  it('an unknown field is refused naming it (it may change the math), not ignored', () => {
    for (const [k, v] of [['attn_logit_softcapping', 50], ['num_experts', 8], ['final_logit_softcapping', 30], ['query_pre_attn_scalar', 256]] as const) {
      throwsNaming(() => parse({ ...cfg('smollm2'), [k]: v }), S, new RegExp(`field "${k}" \\(= ${v}\\) is not known to this engine for LlamaForCausalLM`), { inside: true });
    }
    throwsNaming(() => parse({ ...cfg('qwen2'), attention_bias: false }), S, /field "attention_bias" .* is not known to this engine for Qwen2ForCausalLM/, { inside: true });
  });

  it('fields with values this engine does not implement are refused naming the field', () => {
    throwsNaming(() => parse({ ...cfg('qwen3'), attention_bias: true }), S, /attention_bias true is not supported \(only false\)/, { inside: true });
    throwsNaming(() => parse({ ...cfg('smollm2'), mlp_bias: true }), S, /mlp_bias true is not supported/, { inside: true });
    throwsNaming(() => parse({ ...cfg('smollm2'), hidden_act: 'gelu_pytorch_tanh' }), S, /hidden_act "gelu_pytorch_tanh" is not supported \(only "silu"\)/, { inside: true });
    throwsNaming(() => parse({ ...cfg('smollm2'), quantization_config: { quant_method: 'bitsandbytes' } }), S, /quantization_config .* is not supported/, { inside: true });
    throwsNaming(() => parse({ ...cfg('smollm2'), partial_rotary_factor: 0.5 }), S, /partial_rotary_factor 0\.5 is not supported/, { inside: true });
  });

  it('RoPE from rope_parameters (transformers 5) and from top-level rope_theta / rope_scaling (older files) alike', () => {
    const v5 = cfg('llama3');
    const rp = v5.rope_parameters as Record<string, unknown>;
    const legacy: Record<string, unknown> = { ...v5, rope_theta: rp.rope_theta, rope_scaling: { ...rp, rope_theta: undefined } };
    delete legacy.rope_parameters;
    const a = parse(v5).config;
    assert.deepEqual(parse(legacy).config, a);
    assert.equal(a.ropeTheta, 10000);
    // the silent error: SmolLM's rope_theta 1e5 inside rope_parameters
    assert.equal(parse(cfg('smollm2')).config.ropeTheta, 100000);
    const oldLinear = { ...cfg('llama_linear'), rope_parameters: undefined, rope_theta: 10000, rope_scaling: { type: 'linear', factor: 2 } };
    assert.deepEqual(parse(oldLinear).config.ropeScaling, { type: 'linear', factor: 2 });
    // both given and disagreeing; an unknown rope_type; an unknown key of the RoPE object; a missing one
    throwsNaming(() => parse({ ...v5, rope_theta: 500000 }), S, /rope_theta is given as 10000 and 500000/, { inside: true });
    throwsNaming(() => parse({ ...v5, rope_parameters: { rope_type: 'yarn', rope_theta: 1e4, factor: 4 } }), S, /rope_parameters rope_type "yarn" is not supported \(supported: default, linear, llama3\)/, { inside: true });
    throwsNaming(() => parse({ ...v5, rope_parameters: { ...rp, attention_factor: 2 } }), S, /rope_parameters\.attention_factor is not supported with rope_type "llama3"/, { inside: true });
    throwsNaming(() => parse({ ...v5, rope_parameters: { ...rp, low_freq_factor: undefined } }), S, /rope_parameters\.low_freq_factor is missing \(rope_type "llama3"\)/, { inside: true });
  });

  it('Qwen3 head_dim other than hidden / heads is read; a sliding layer caps the context at the window', () => {
    const q3 = parse(cfg('qwen3')).config;
    assert.equal(q3.headDim, 16);
    assert.equal(q3.dim, 32);
    const windowed = { ...cfg('qwen2'), sliding_window: 16, layer_types: ['full_attention', 'sliding_attention'] };
    assert.equal(parse(windowed).config.seqLen, 16);
    assert.equal(parse({ ...windowed, layer_types: ['full_attention', 'full_attention'] }).config.seqLen, 64);
    throwsNaming(() => parse({ ...windowed, layer_types: ['local'] }), S, /layer_types \["local"\] is not a list/, { inside: true });
  });
});

describe('GGUF metadata: every key read, irrelevant or refused by name', () => {
  const bytes = new Uint8Array(readFileSync(path.join(ROOT, 'qwen2', 'model.gguf')));
  const load = (edit: (g: ReturnType<typeof parseGguf>) => void) => {
    const g = parseGguf(bytes, 'q.gguf');
    edit(g);
    return ggufToModelFile(g, bytes, 'q.gguf');
  };
  it('an unknown key of the architecture, or of no known namespace, is refused naming it', () => {
    throwsNaming(() => load((g) => g.metadata.set('qwen2.attention.logit_softcapping', { type: 'FLOAT32', value: 30 })), 'q.gguf', /GGUF metadata "qwen2\.attention\.logit_softcapping" is not known to this engine for architecture "qwen2"/);
    throwsNaming(() => load((g) => g.metadata.set('llama.rope.freq_base', { type: 'FLOAT32', value: 1e4 })), 'q.gguf', /GGUF metadata "llama\.rope\.freq_base" is not known/);
    throwsNaming(() => load((g) => g.metadata.set('qwen2.rope.scaling.type', { type: 'STRING', value: 'yarn' })), 'q.gguf', /"qwen2\.rope\.scaling\.type" = "yarn" is not supported \(only "none" or "linear"\)/);
    throwsNaming(() => load((g) => g.metadata.set('qwen2.expert_count', { type: 'UINT32', value: 8 })), 'q.gguf', /"qwen2\.expert_count" = 8 is not supported/);
    // general.* and tokenizer.* never change the math
    assert.equal(load((g) => g.metadata.set('general.license', { type: 'STRING', value: 'mit' })).architecture, 'qwen2');
  });
  it('a missing bias or q/k norm tensor is named', () => {
    const g = parseGguf(bytes, 'q.gguf');
    g.tensors = g.tensors.filter((t) => t.name !== 'blk.1.attn_k.bias');
    throwsNaming(() => ggufToModelFile(g, bytes, 'q.gguf'), 'q.gguf', /GGUF has no tensor "blk\.1\.attn_k\.bias"/);
  });
});
