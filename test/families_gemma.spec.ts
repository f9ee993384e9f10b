// Gemma 3 beyond what test/families.spec.ts checks for every family: the fields llama.cpp's gemma3
// reads from no GGUF key, against transformers' logits of the same weights with another
// query_pre_attn_scalar and with final_logit_softcapping set (scripts/fixtures/families.py); the
// soft-capped logits through the loss head; older config.json files (sliding_window_pattern,
// rope_local_base_freq, top-level rope_theta: Gemma 3 1B as published); fields and GGUF keys
// refused by name.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readHfDir } from '../src/cli/hf_dir';
import { LossHead } from '../src/eval/loss_head';
import type { LlamaModelFile } from '../src/formats/config';
import { parseGguf } from '../src/formats/gguf';
import { ggufToModelFile } from '../src/formats/gguf_model';
import { parseHfConfig, parseHfModel } from '../src/formats/hf';
import { parseSafetensors, tensorToFloat32 } from '../src/formats/safetensors';
import { ForwardPass } from '../src/model/forward';
import { Model } from '../src/model/model';
import { throwsNaming } from './expect';
import { gpuFixture, relError } from './gpu';
import { referenceForward } from './reference/cpu_model';
import { logSumExp } from './reference/ops';

const DIR = path.join(import.meta.dirname, 'fixtures', 'families', 'gemma3');
const SOFTCAP = 2; // scripts/fixtures/families.py GEMMA_SOFTCAP
const QPAS = 16; // GEMMA_QPAS

const flat = (rows: Float64Array[]) => {
  const out = new Float64Array(rows.length * rows[0].length);
  rows.forEach((r, i) => out.set(r, i * r.length));
  return out;
};

describe('Gemma 3: query_pre_attn_scalar and final_logit_softcapping (transformers’ logits of the same weights)', () => {
  const tokens: number[] = JSON.parse(readFileSync(path.join(DIR, 'prompt.json'), 'utf8')).tokens;
  const st = parseSafetensors(new Uint8Array(readFileSync(path.join(DIR, 'expected.safetensors'))), 'expected.safetensors');
  const get = (n: string) => tensorToFloat32(st.tensors.get(n)!, n, DIR);
  const baseConfig = JSON.parse(readFileSync(path.join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  const withConfig = (edit: Record<string, unknown>): LlamaModelFile => {
    const files = readHfDir(DIR);
    return parseHfModel({ ...files, config: JSON.stringify({ ...baseConfig, ...edit }) }, DIR).file;
  };
  const models: Model[] = [];
  after(() => {
    for (const m of models) m.destroy();
  });
  const gpuLogits = async (file: LlamaModelFile) => {
    const model = await Model.load((await gpuFixture()).gpu, file);
    models.push(model);
    const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
    try {
      return { model, logits: await pass.run(tokens, tokens.map((_, i) => i)) };
    } finally {
      pass.destroy();
    }
  };

  for (const [what, edit, want] of [
    ['query_pre_attn_scalar 16', { query_pre_attn_scalar: QPAS }, 'qpas_logits'],
    ['final_logit_softcapping 2', { final_logit_softcapping: SOFTCAP }, 'softcap_logits'],
  ] as const) {
    it(`${what}: the float64 reference and the GPU give transformers’ logits`, async () => {
      const file = withConfig(edit);
      const expected = get(want);
      assert.ok(relError(get('logits'), expected) > 0.1, 'the field changes the logits');
      const eRef = relError(flat(referenceForward(file, tokens)), expected);
      assert.ok(eRef < 1e-5, `reference error ${eRef}`);
      const e = relError((await gpuLogits(file)).logits, expected);
      assert.ok(e < 1e-4, `GPU error ${e}`);
    });
  }

  it('the loss head scores the soft-capped logits', async () => {
    const file = withConfig({ final_logit_softcapping: SOFTCAP });
    const model = await Model.load((await gpuFixture()).gpu, file);
    models.push(model);
    const T = tokens.length;
    const pass = new ForwardPass(model, { B: 1, T, nSelect: T - 1 });
    const head = new LossHead(pass, 'gemma_loss');
    try {
      pass.setInput(tokens, Array.from({ length: T - 1 }, (_, i) => i));
      head.setLabels(tokens.slice(1));
      const got = await head.run();
      const capped = get('softcap_logits');
      const V = file.config.vocabSize;
      const want = Array.from({ length: T - 1 }, (_, t) => logSumExp(capped.subarray(t * V, (t + 1) * V)) - capped[t * V + tokens[t + 1]]);
      assert.ok(relError(got, want) < 1e-4, `row losses ${relError(got, want)} from the capped logits`);
    } finally {
      head.destroy();
      pass.destroy();
    }
  });
});

describe('Gemma 3 config.json: read, irrelevant or refused by name', () => {
  const S = 'gemma';
  const cfg = () => JSON.parse(readFileSync(path.join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  const parse = (c: Record<string, unknown>) => parseHfConfig(JSON.stringify(c), S);

  it('the older layout (sliding_window_pattern, rope_local_base_freq, top-level rope_theta / rope_scaling) reads the same', () => {
    const v5 = cfg();
    const old: Record<string, unknown> = { ...v5, rope_theta: 1e6, rope_scaling: { rope_type: 'linear', factor: 2 }, rope_local_base_freq: 1e4 };
    for (const k of ['rope_parameters', 'layer_types', '_sliding_window_pattern']) delete old[k];
    assert.deepEqual(parse(old).config, parse(v5).config);
    // transformers: layer_types wins over the pattern
    assert.deepEqual(parse({ ...v5, sliding_window_pattern: 2 }).config.slidingLayers, [true, true, false, true]);
  });

  it('Gemma 3 1B’s published config.json parses (26 layers, every 6th global, window 512)', () => {
    const g = parse({
      architectures: ['Gemma3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, attn_logit_softcapping: null, bos_token_id: 2,
      cache_implementation: 'hybrid', eos_token_id: [1, 106], final_logit_softcapping: null, head_dim: 256, hidden_activation: 'gelu_pytorch_tanh',
      hidden_size: 1152, initializer_range: 0.02, intermediate_size: 6912, max_position_embeddings: 32768, model_type: 'gemma3_text',
      num_attention_heads: 4, num_hidden_layers: 26, num_key_value_heads: 1, pad_token_id: 0, query_pre_attn_scalar: 256, rms_norm_eps: 1e-6,
      rope_local_base_freq: 10000, rope_scaling: null, rope_theta: 1000000, sliding_window: 512, sliding_window_pattern: 6, torch_dtype: 'bfloat16',
      transformers_version: '4.50.0.dev0', use_cache: true, vocab_size: 262144,
    }).config;
    assert.deepEqual([g.headDim, g.seqLen, g.slidingWindow, g.ropeTheta, g.localRope?.theta, g.attnScale], [256, 32768, 512, 1e6, 1e4, 1 / 16]);
    assert.deepEqual(g.slidingLayers?.map((s, i) => (s ? '' : i)).filter((x) => x !== ''), [5, 11, 17, 23]);
    assert.equal(g.finalSoftcap, undefined);
  });

  it('fields with values not implemented, and unknown fields, are refused naming the field', () => {
    const c = cfg();
    throwsNaming(() => parse({ ...c, attn_logit_softcapping: 50 }), S, /attn_logit_softcapping 50 is not supported \(only null \(attention logit soft-capping is not implemented/, { inside: true });
    throwsNaming(() => parse({ ...c, use_bidirectional_attention: true }), S, /use_bidirectional_attention true is not supported \(only false\)/, { inside: true });
    throwsNaming(() => parse({ ...c, hidden_activation: 'gelu' }), S, /hidden_activation "gelu" is not supported \(only "gelu_pytorch_tanh"\)/, { inside: true });
    throwsNaming(() => parse({ ...c, hidden_act: 'silu' }), S, /hidden_act "silu" is not supported \(only absent \(Gemma 3 reads hidden_activation\)\)/, { inside: true });
    throwsNaming(() => parse({ ...c, altup_num_inputs: 4 }), S, /field "altup_num_inputs" \(= 4\) is not known to this engine for Gemma3ForCausalLM/, { inside: true });
    throwsNaming(() => parse({ ...c, rope_parameters: { ...(c.rope_parameters as object), chunked_attention: {} } }), S, /rope_parameters\.chunked_attention is not a layer type/, { inside: true });
    throwsNaming(
      () => parse({ ...c, rope_parameters: { full_attention: { rope_type: 'yarn', rope_theta: 1e6, factor: 4 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } } }),
      S, /full_attention layers: rope_parameters rope_type "yarn" is not supported/, { inside: true },
    );
    throwsNaming(() => parse({ ...c, layer_types: ['sliding_attention'] }), S, /layer_types has 1 entries for 4 layers/, { inside: true });
    throwsNaming(() => parse({ ...c, sliding_window: null }), S, /sliding layers need an integer "sliding_window"/, { inside: true });
  });
});

describe('Gemma 3 GGUF metadata', () => {
  const bytes = new Uint8Array(readFileSync(path.join(DIR, 'model.gguf')));
  const load = (edit: (g: ReturnType<typeof parseGguf>) => void) => {
    const g = parseGguf(bytes, 'g.gguf');
    edit(g);
    return ggufToModelFile(g, bytes, 'g.gguf');
  };
  it('llama.cpp’s defaults: pattern 6, local base 1e4; rope.freq_base_swa is read; soft-capping keys are refused', () => {
    const noPattern = load((g) => g.metadata.delete('gemma3.attention.sliding_window_pattern')).config;
    assert.deepEqual(noPattern.slidingLayers, [true, true, true, true]); // il % 6 < 5
    assert.deepEqual(load((g) => g.metadata.set('gemma3.rope.freq_base_swa', { type: 'FLOAT32', value: 5e4 })).config.localRope, { theta: 5e4 });
    const noWindow = load((g) => g.metadata.set('gemma3.attention.sliding_window', { type: 'UINT32', value: 0 })).config;
    assert.equal(noWindow.slidingLayers, undefined);
    for (const key of ['gemma3.final_logit_softcapping', 'gemma3.attn_logit_softcapping']) {
      throwsNaming(() => load((g) => g.metadata.set(key, { type: 'FLOAT32', value: 30 })), 'g.gguf', new RegExp(`GGUF metadata "${key.replace('.', '\\.')}" is not known to this engine for architecture "gemma3"`));
    }
  });
  it('a missing post-norm tensor is named', () => {
    const g = parseGguf(bytes, 'g.gguf');
    g.tensors = g.tensors.filter((t) => t.name !== 'blk.2.post_ffw_norm.weight');
    throwsNaming(() => ggufToModelFile(g, bytes, 'g.gguf'), 'g.gguf', /GGUF has no tensor "blk\.2\.post_ffw_norm\.weight"/);
  });
});
