// ggml block types beyond Q8_0 / Q4_0 (Q4_1, Q5_0, Q5_1, Q2_K .. Q6_K): the float64 dequantisers
// against gguf-py's golden values, the GPU matmul and embedding gather that read the blocks in
// registers against float64, and whole random-weight GGUFs of each type against a float64 forward.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dequantize, QUANT_BLOCKS, type GgmlQuantName } from '../src/formats/ggml_quants';
import { parseGguf } from '../src/formats/gguf';
import { ggufToModelFile } from '../src/formats/gguf_model';
import { gatherWeight } from '../src/gpu/kernels/gather';
import { chooseMatmul, matmul, matmulVariants, matmulWeight } from '../src/gpu/kernels/matmul';
import { CompressedWeight, LAYOUTS, uploadWeight, type WeightLayout } from '../src/gpu/weight';
import { ForwardPass } from '../src/model/forward';
import * as ref from './reference/ops';
import { Model } from '../src/model/model';
import { throwsNaming } from './expect';
import { forBackends, gpuFixture, input, poisoned, randoms, relError, run } from './gpu';
import { parseHfModel } from '../src/formats/hf';
import { stories260K } from './assets';
import { hfConfig, hfTensors, writeSafetensorsAs } from './hf_fixture';
import { randomBlocks, randomQuantGguf, randomWeight, type RandomLayout } from './quant_fixture';
import { referenceForward } from './reference/cpu_model';

const TYPES = Object.keys(QUANT_BLOCKS) as GgmlQuantName[];
const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'quants');

const layoutOf = (t: GgmlQuantName) => t.toLowerCase() as WeightLayout;

describe('ggml block types: float64 dequantisers vs gguf-py (test/fixtures/quants)', () => {
  for (const type of TYPES) {
    it(`${type}: every value of random blocks, rounded to float32, is gguf-py's`, () => {
      const blocks = new Uint8Array(readFileSync(path.join(FIXTURES, `${type}.blocks`)));
      const golden = new Float32Array(new Uint8Array(readFileSync(path.join(FIXTURES, `${type}.f32`))).buffer);
      const got = dequantize(type, blocks, golden.length);
      let bad = -1;
      for (let i = 0; i < golden.length && bad < 0; i++) if (Math.fround(got[i]) !== golden[i]) bad = i;
      assert.equal(bad, -1, `value ${bad}: ${got[bad]} vs gguf-py ${golden[bad]}`);
      assert.ok(golden.some((v) => v < 0) && golden.some((v) => v > 0), 'the fixture spans both signs');
    });
  }

  it('a wrong byte count or a ragged element count is an error naming the type', () => {
    assert.throws(() => dequantize('Q4_K', new Uint8Array(143), 256), /Q4_K: 256 elements need 144 bytes, got 143/);
    assert.throws(() => dequantize('Q5_0', new Uint8Array(22), 31), /Q5_0: element count 31 is not a multiple of 32/);
  });
});

forBackends('ggml block types on the GPU vs float64 (ragged shapes, NaN-poisoned outputs)', (fx) => {
  for (const type of TYPES) {
    const bs = QUANT_BLOCKS[type].elements;
    // M and N not multiples of the 4 x 4 register block nor of the 32 x 32 tile; two blocks per row
    const [M, N, K] = [5, 37, 2 * bs];
    it(`matmul ${type} [${M}x${K}] x [${N}x${K}]^T, plain and accumulating; GPU bytes are the file's`, async () => {
      const { gpu, ks } = await fx();
      const bytes = randomBlocks(type, N * K, 11);
      const deq = dequantize(type, bytes, N * K);
      const w = uploadWeight(gpu, 'w', layoutOf(type), [N, K], bytes);
      assert.ok(w instanceof CompressedWeight);
      const l = LAYOUTS[layoutOf(type)];
      assert.ok(Math.abs(w.bytes - bytes.length) <= 4, `${w.bytes} GPU bytes for ${bytes.length} file bytes`);
      assert.equal(l.bytes, QUANT_BLOCKS[type].bytes);
      const xd = randoms(M * K, 12);
      const y0 = randoms(M * N, 13);
      const want = ref.matmulT(xd, deq, K);
      const x = input(gpu, 'x', [M, K], xd);
      const y = poisoned(gpu, 'y', [M, N]);
      run(gpu, ...matmulWeight(ks, 'test', x, w, y));
      const err = relError(await y.read(), want);
      const acc = input(gpu, 'acc', [M, N], y0);
      run(gpu, ...matmulWeight(ks, 'test', x, w, acc, true));
      const errAcc = relError(await acc.read(), want.map((v, i) => v + y0[i]));
      w.destroy();
      assert.ok(err < 2e-6, `rel error ${err}`);
      assert.ok(errAcc < 2e-6, `accumulate: rel error ${errAcc}`);
    });

    it(`gather ${type}: embedding rows dequantised in registers; an index past the table gives NaN`, async () => {
      const { gpu, ks } = await fx();
      const [rows, width] = [9, K];
      const bytes = randomBlocks(type, rows * width, 21);
      const deq = dequantize(type, bytes, rows * width);
      const w = uploadWeight(gpu, 'table', layoutOf(type), [rows, width], bytes);
      const idx = Uint32Array.from([3, 0, 8, 3, 9, 5]);
      const out = poisoned(gpu, 'out', [idx.length, width]);
      run(gpu, ...gatherWeight(ks, 'test', w, input(gpu, 'idx', [idx.length], idx, 'u32'), out));
      const got = await out.read();
      w.destroy();
      idx.forEach((r, i) => {
        const row = got.subarray(i * width, (i + 1) * width);
        if (r >= rows) assert.ok(row.every(Number.isNaN), `row ${i} (index ${r}) must be NaN`);
        else for (let c = 0; c < width; c++) assert.equal(row[c], Math.fround(deq[r * width + c]), `row ${i} col ${c}`);
      });
    });
  }
});

forBackends('every matmul variant of every block type (per-value, 1-row, 4-row, 8-row) vs float64', (fx) => {
  for (const type of ['F16', 'BF16', 'Q8_0', 'Q4_0', ...TYPES] as RandomLayout[]) {
    const bs = type === 'F16' || type === 'BF16' ? 4 : type === 'Q8_0' || type === 'Q4_0' ? 32 : QUANT_BLOCKS[type].elements;
    // N not a multiple of 4 (nor of a tile), K of 3 blocks (F16 / BF16: 36, no multiple of 32); M = 1 (decode), 5 and 21 (past one 8-row block, ragged)
    const [N, K] = [37, type === 'F16' || type === 'BF16' ? 36 : 3 * bs];
    it(`${type} [M x ${K}] x [${N}x${K}]^T, M = 1, 5, 21: each variant within 2e-6, plain and accumulating; the default per M`, async () => {
      const { gpu, ks } = await fx();
      const { bytes, values } = randomWeight(type, N * K, 31);
      const w = uploadWeight(gpu, 'w', type.toLowerCase() as WeightLayout, [N, K], bytes);
      assert.ok(w instanceof CompressedWeight);
      const variants = matmulVariants(ks, K, w.type);
      const base = `matmul_${w.type}`;
      const ours = [base, `${base}_r1`, `${base}_r8`, ...(w.type.startsWith('q') ? [`${base}_elem`] : [])];
      for (const v of ours) assert.ok(variants.includes(v), `${v} is a variant of ${w.type}`);
      if (!variants.some((v) => v.startsWith('matmul_half'))) {
        const dense = w.type === 'f16' || w.type === 'bf16'; // their 4 x 4 kernel serves every M
        assert.equal(chooseMatmul(ks, 1, N, K, w.type), dense ? base : `${base}_r1`);
        assert.equal(chooseMatmul(ks, 5, N, K, w.type), base);
        assert.equal(chooseMatmul(ks, 21, N, K, w.type), dense ? base : `${base}_r8`);
      }
      for (const M of [1, 5, 21]) {
        const xd = randoms(M * K, 32 + M);
        const y0 = randoms(M * N, 33 + M);
        const want = ref.matmulT(xd, values, K);
        const x = input(gpu, 'x', [M, K], xd);
        for (const name of variants) {
          const y = poisoned(gpu, 'y', [M, N]);
          run(gpu, matmul(ks, 'test', x, w, y, false, name));
          const err = relError(await y.read(), want);
          const acc = input(gpu, 'acc', [M, N], y0);
          run(gpu, matmul(ks, 'test', x, w, acc, true, name));
          const errAcc = relError(await acc.read(), want.map((v, i) => v + y0[i]));
          y.destroy();
          acc.destroy();
          assert.ok(err < 2e-6, `${name} M ${M}: rel error ${err}`);
          assert.ok(errAcc < 2e-6, `${name} M ${M} accumulate: rel error ${errAcc}`);
        }
        x.destroy();
      }
      w.destroy();
    });
  }
});

forBackends('random-weight GGUFs of every block type: GPU logits vs a float64 forward over the dequantised weights', (fx) => {
  const tokens = [1, 17, 42, 5, 88, 63, 2, 30, 71, 9];
  // Q4_K_M as llama.cpp lays it out: Q6_K for the LM head and half of ffn_down / attn_v, Q4_K elsewhere
  const q4km = (name: string): GgmlQuantName => (name === 'output.weight' || /blk\.0\.(ffn_down|attn_v)/.test(name) ? 'Q6_K' : 'Q4_K');
  const cases: [string, (name: string) => GgmlQuantName][] = [...TYPES.map((t): [string, (n: string) => GgmlQuantName] => [t, () => t]), ['Q4_K_M', q4km]];
  for (const [name, type] of cases) {
    it(`${name}: max |logit diff| within 1e-4; every matrix stays compressed on the GPU`, async () => {
      const { gpu, ks } = await fx();
      const bytes = randomQuantGguf(type, 100 + cases.findIndex((c) => c[0] === name));
      const file = ggufToModelFile(parseGguf(bytes, `${name}.gguf`), bytes, `${name}.gguf`);
      const before = gpu.ledger.totalBytes();
      const model = await Model.load(gpu, file, file.rawTensors, ks);
      const onGpu = gpu.ledger.totalBytes() - before;
      const W = model.weights;
      const mats = [W.tokenEmbedding, W.classifier, ...W.layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3])];
      const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
      const got = await pass.run(tokens, tokens.map((_, i) => i));
      pass.destroy();
      model.destroy();
      const want = referenceForward(file, tokens);
      let maxDiff = 0;
      let maxRef = 0;
      want.forEach((row, t) => row.forEach((v, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(got[t * row.length + i] - v));
        maxRef = Math.max(maxRef, Math.abs(v));
      }));
      console.log(`      ${name}: max |diff| ${maxDiff.toExponential(2)} (max |logit| ${maxRef.toFixed(2)}); GPU ${onGpu} B for a ${bytes.length} B file`);
      const kinds = new Set(mats.map((m) => (m instanceof CompressedWeight ? m.type : 'f32')));
      assert.deepEqual([...kinds].sort(), name === 'Q4_K_M' ? ['q4_k', 'q6_k'] : [layoutOf(name as GgmlQuantName)]);
      assert.ok(maxRef > 0.05, `logits of magnitude ${maxRef}: the test would be trivial`);
      assert.ok(maxDiff <= 1e-4, `max |diff| ${maxDiff}`);
      assert.ok(onGpu < bytes.length * 1.1, `GPU holds ${onGpu} bytes for a ${bytes.length}-byte file`);
    });
  }

  it('a GGUF type still unsupported names the tensor and the type', () => {
    const bytes = randomQuantGguf(() => 'Q4_K', 1, { dim: 256, hidden: 256, layers: 1, vocab: 8 });
    const g = parseGguf(bytes, 'iq.gguf');
    const t = g.tensors.find((x) => x.name === 'blk.0.ffn_up.weight')!;
    t.type = 'IQ4_XS'; // same block size (256 values) and a different byte count per block
    throwsNaming(() => ggufToModelFile(g, bytes, 'iq.gguf'), 'iq.gguf', /tensor "blk.0.ffn_up.weight" has type IQ4_XS; only F32, .*Q6_K are supported/);
  });
});

describe('F16 / BF16 Hugging Face folders stay 16-bit on the GPU', function () {
  const bin = stories260K().file;
  const tokens = [1, 403, 407, 261, 378, 430, 289, 506, 30];

  for (const dtype of ['F16', 'BF16'] as const) {
    it(`${dtype}: matrices held as ${dtype.toLowerCase()} (ledger: weights about half of f32); logits equal the f32 upload of the same values`, async () => {
      const { gpu, ks } = await gpuFixture();
      const p = parseHfModel({ config: JSON.stringify(hfConfig(bin)), safetensors: [{ name: 'model.safetensors', bytes: writeSafetensorsAs(hfTensors(bin), dtype) }] }, dtype);
      const measure = async (raw: typeof p.raw) => {
        const before = gpu.ledger.report().current.weights ?? 0;
        const model = await Model.load(gpu, p.file, raw, ks);
        const bytes = (gpu.ledger.report().current.weights ?? 0) - before;
        const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length });
        const logits = await pass.run(tokens, tokens.map((_, i) => i));
        pass.destroy();
        const kinds = new Set([model.weights.tokenEmbedding, ...model.weights.layers.flatMap((l) => [l.wq, l.w2])].map((w) => (w instanceof CompressedWeight ? w.type : 'f32')));
        model.destroy();
        return { bytes, logits, kinds };
      };
      const half = await measure(p.raw);
      const full = await measure(undefined); // the same values uploaded as float32 (what was done before)
      console.log(`      ${dtype}: weights on the GPU ${half.bytes} B (16-bit) vs ${full.bytes} B (f32): ${(full.bytes / half.bytes).toFixed(2)}x`);
      assert.deepEqual([...half.kinds], [dtype.toLowerCase()]);
      assert.ok(half.bytes < 0.56 * full.bytes, `${half.bytes} vs ${full.bytes}`);
      const err = relError(half.logits, full.logits);
      assert.ok(err < 1e-5, `rel error ${err}`);
    });
  }
});

