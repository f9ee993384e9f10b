// Many adapters in one pass (src/adapter/multi.ts, shaders/multi_lora.wgsl): every sequence of a
// batch with its own adapter (mixed ranks, alphas and targets; some sequences on the base model)
// gives each adapter's solo logits, against the float64 reference and the one-adapter path.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LlamaConfig, LlamaModelFile } from '../src/formats/config';
import { Model } from '../src/model/model';
import { ForwardPass } from '../src/model/forward';
import { generateBatch, generateText } from '../src/model/generate';
import type { Tokenizer } from '../src/formats/tokenizer';
import { MultiAdapters } from '../src/adapter/multi';
import { LoraState } from '../src/adapter/lora';
import { writeAdapter, type AdapterTensors } from '../src/adapter/peft';
import { evaluateLm, evaluateLmEach } from '../src/eval/evaluate';
import { scoreItems, scoreItemsEach } from '../src/eval/score';
import { LmDataset } from '../src/data/lm';
import type { Item } from '../src/data/tasks';
import { multiLora, multiLoraTable } from '../src/gpu/kernels/multi_lora';
import { TARGETS, type Target } from '../src/model/targets';
import { mulberry32 } from '../src/util/random';
import { randomAdapter as randomAdapterOf } from './adapters';
import { assetPath, stories260K } from './assets';
import { gpuFixture, input, randoms, relError, run, TEST_BACKENDS } from './gpu';
import { referenceForward, type ReferenceLora } from './reference/cpu_model';

/** A random adapter: rank, alpha and a non-empty target set drawn from `seed`, A and B random (B not 0). */
function randomAdapter(config: LlamaConfig, seed: number, rank: number): AdapterTensors {
  const rand = mulberry32(seed);
  let targets = TARGETS.filter(() => rand() < 0.5);
  if (!targets.length) targets = [TARGETS[seed % TARGETS.length]];
  return randomAdapterOf(config, seed, rank, 1 + Math.floor(rand() * 32), targets, 0.5);
}

function referenceLora(a: AdapterTensors): ReferenceLora {
  return { scale: a.alpha / a.rank, rank: a.rank, layers: a.layers };
}

function flat(rows: Float64Array[]): Float64Array {
  const out = new Float64Array(rows.length * (rows[0]?.length ?? 0));
  rows.forEach((r, i) => out.set(r, i * r.length));
  return out;
}

describe('multi-adapter: many PEFT adapters in one pass', function () {
  let file: LlamaModelFile;
  let model: Model;
  let tok: Tokenizer;

  before(async () => {
    // model-level maths (batched equals solo) run on the CPU backend; the multi_lora kernel itself on both
    const { gpu } = await gpuFixture('wasm');
    ({ file, tok } = stories260K());
    model = await Model.load(gpu, file);
  });

  for (const backend of TEST_BACKENDS) {
  it(`multi_lora kernel [${backend}]: each row adds only its adapter's B (ragged shapes, NaN in the columns it must not read)`, async () => {
    const { gpu, ks } = await gpuFixture(backend);
    const ranks = [3, 0, 16, 1, 5]; // adapter 1 does not adapt this target
    const scales = [0.5, 2, 1.25, 3, 0.75];
    const outDim = 75; // not a multiple of the 64 outputs of a workgroup
    const T = 7;
    const seqs = 6; // 42 rows: not a multiple of the 8 rows of a workgroup
    const assignment = [2, 0xffffffff, 0, 4, 1, 3];
    const rows = seqs * T;
    const width = ranks.reduce((s, r) => s + r, 0) + 2; // two spare columns
    const bPacked = randoms((width - 2) * outDim, 11);
    const axHost = randoms(rows * width, 12);
    const yHost = randoms(rows * outDim, 13);
    const table = multiLoraTable(ranks, scales, outDim);
    // poison every ax column outside the row's own adapter: reading one gives NaN
    for (let r = 0; r < rows; r++) {
      const i = assignment[Math.floor(r / T)];
      for (let j = 0; j < width; j++) {
        const own = i < ranks.length && j >= table[4 * i] && j < table[4 * i] + ranks[i];
        if (!own) axHost[r * width + j] = NaN;
      }
    }
    const ax = input(gpu, 'ax', [rows, width], axHost);
    const y = input(gpu, 'y', [rows, outDim], yHost);
    const pack = { b: input(gpu, 'b', [bPacked.length], bPacked), table: input(gpu, 'table', [table.length], table, 'u32'), adapters: ranks.length, ranks };
    const seqAdapter = input(gpu, 'seq', [8], Uint32Array.from([...assignment, 0, 0]), 'u32');
    run(gpu, multiLora(ks, 'test', ax, pack, seqAdapter, y, T));
    const got = await y.read();
    const want = new Float64Array(rows * outDim);
    for (let r = 0; r < rows; r++) {
      const i = assignment[Math.floor(r / T)];
      for (let o = 0; o < outDim; o++) {
        let v = yHost[r * outDim + o];
        if (i < ranks.length && ranks[i]) {
          let acc = 0;
          for (let j = 0; j < ranks[i]; j++) acc += bPacked[table[4 * i + 2] + o * ranks[i] + j] * axHost[r * width + table[4 * i] + j];
          v += scales[i] * acc;
        }
        want[r * outDim + o] = v;
      }
    }
    const err = relError(got, want);
    assert.ok(err < 1e-6, `rel error ${err}`);
    // base-only rows and the rows of the adapter without this target are left exactly as they were
    for (const s of [1, 4]) for (let k = s * T * outDim; k < (s + 1) * T * outDim; k++) assert.equal(got[k], yHost[k], `row ${Math.floor(k / outDim)} changed`);
    for (const t of [ax, y, pack.b, pack.table, seqAdapter]) t.destroy();
  });
  }

  for (const N of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`${N} adapter${N > 1 ? 's' : ''} (mixed ranks and targets) in one pass: each sequence gets its adapter's solo logits`, async () => {
      const rand = mulberry32(1000 + N);
      const adapters = Array.from({ length: N }, (_, i) => randomAdapter(file.config, 31 * N + i, 1 + Math.floor(rand() * 16)));
      // N adapted sequences plus two on the base model, interleaved, of ragged lengths
      const assignment = [...adapters.map((_, i) => i), -1, -1].sort(() => rand() - 0.5);
      const words = 'Once upon a time there was a little dog named Max who loved to run in the park'.split(' ');
      const seqs = assignment.map((_, b) => tok.encode(words.slice(b % 5, (b % 5) + 2 + ((b * 3) % 11)).join(' '), { bos: true, eos: false }));
      const T = Math.max(...seqs.map((s) => s.length));
      const tokens: number[] = [];
      const select: number[] = [];
      seqs.forEach((s, b) => {
        tokens.push(...s, ...new Array(T - s.length).fill(0));
        for (let t = 0; t < s.length; t++) select.push(b * T + t);
      });
      const multi = MultiAdapters.create(model.gpu, file.config, adapters, assignment.length);
      multi.assign(assignment);
      const pass = new ForwardPass(model, { B: seqs.length, T, nSelect: select.length, lora: multi });
      pass.state.logits.write(new Float32Array(pass.state.logits.numel).fill(NaN)); // poisoned
      const got = await pass.run(tokens, select);
      pass.destroy();
      const V = file.config.vocabSize;
      let at = 0;
      let worstRef = 0;
      let worstSolo = 0;
      for (const [b, s] of seqs.entries()) {
        const i = assignment[b];
        const mine = got.subarray(at * V, (at + s.length) * V);
        at += s.length;
        const ref = flat(referenceForward(file, s, i >= 0 ? referenceLora(adapters[i]) : undefined));
        const eRef = relError(mine, ref);
        worstRef = Math.max(worstRef, eRef);
        assert.ok(eRef < 1e-4, `sequence ${b} (adapter ${i}): rel error ${eRef} vs the float64 reference`);
        // the existing one-adapter path (MP-LoRA epilogue, eps 0), alone
        const lora = i >= 0 ? LoraState.fromAdapter(model.gpu, file.config, adapters[i]) : undefined;
        const alone = new ForwardPass(model, { B: 1, T: s.length, nSelect: s.length, lora });
        const solo = await alone.run(s, s.map((_, t) => t));
        alone.destroy();
        lora?.destroy();
        const eSolo = relError(mine, solo);
        worstSolo = Math.max(worstSolo, eSolo);
        assert.ok(eSolo < 1e-5, `sequence ${b} (adapter ${i}): rel error ${eSolo} vs its solo run`);
        if (i >= 0) {
          // the adapter must matter, or the test could not fail
          const base = flat(referenceForward(file, s));
          assert.ok(relError(base, ref) > 1e-2, `adapter ${i} hardly changes the logits (${relError(base, ref)})`);
        }
      }
      multi.destroy();
      const ranks = adapters.map((a) => `${a.rank}:${a.targets.join('+')}`).join(' ');
      console.log(`      N=${N} [${ranks}], T=${T}: max rel error ${worstRef.toExponential(2)} vs float64, ${worstSolo.toExponential(2)} vs solo`);
    });
  }

  it('batched generation over adapters (KV cache) equals each adapter\'s solo generateText', async () => {
    const adapters = [randomAdapter(file.config, 7, 4), randomAdapter(file.config, 8, 13), randomAdapter(file.config, 9, 1)];
    const multi = MultiAdapters.create(model.gpu, file.config, adapters, 4);
    multi.assign([0, -1, 1, 2]);
    for (const [temperature, seed] of [[0, 0], [0.9, 5]] as const) {
      const got = await generateBatch(model, tok, { prompt: 'The cat', steps: 24, temperature, seed, lora: multi }, 4);
      const texts = new Set<string>();
      for (const [b, i] of [0, -1, 1, 2].entries()) {
        const lora = i >= 0 ? LoraState.fromAdapter(model.gpu, file.config, adapters[i]) : undefined;
        const solo = await generateText(model, tok, { prompt: 'The cat', steps: 24, temperature, seed, lora });
        lora?.destroy();
        assert.equal(got[b].text, solo.text, `sequence ${b} (adapter ${i}), temperature ${temperature}`);
        assert.deepEqual(got[b].tokens, solo.tokens);
        texts.add(solo.text);
      }
      assert.ok(texts.size > 1, 'every adapter generated the same text');
    }
    multi.destroy();
  });

  it('rejects bad assignments and adapters that do not fit the model', () => {
    const a = randomAdapter(file.config, 3, 2);
    const multi = MultiAdapters.create(model.gpu, file.config, [a], 2);
    assert.throws(() => multi.assign([0, 1]), /sequence 1 is assigned adapter 1, expected -1 \(base\) or 0\.\.0/);
    assert.throws(() => multi.assign([0, -1, 0]), /3 sequences assigned, at most 2/);
    multi.destroy();
    assert.throws(() => MultiAdapters.create(model.gpu, file.config, [], 1), /no adapters/);
    const t = a.targets[0] as Target;
    const bad = { ...a, layers: a.layers.map((e, l) => (l === 2 ? { ...e, [t]: { A: e[t]!.A.subarray(1), B: e[t]!.B } } : e)) };
    assert.throws(() => MultiAdapters.create(model.gpu, file.config, [a, bad], 1), new RegExp(`adapter 1 layer 2 ${t}: A has`));
  });

  it('evaluation of many adapters in one pass per batch equals each one alone (lm loss, candidate scores)', async () => {
    const adapters = [randomAdapter(file.config, 21, 2), randomAdapter(file.config, 22, 16), randomAdapter(file.config, 23, 5)];
    const text = fs.readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 1500);
    const data = new LmDataset([text], tok, 29); // ragged: 29 tokens a chunk, the last batch part-filled
    const batch = 3;
    const multi = MultiAdapters.create(model.gpu, file.config, adapters, batch * adapters.length);
    const each = await evaluateLmEach(model, multi, data, batch);
    const rand = mulberry32(77);
    const items: Item[] = Array.from({ length: 7 }, (_, i) => ({
      answer: i % 3,
      candidates: Array.from({ length: 2 + (i % 2) }, () => {
        const n = 4 + Math.floor(rand() * 14);
        return { tokens: [1, ...Array.from({ length: n - 1 }, () => 2 + Math.floor(rand() * 500))], start: n - 1 - Math.floor(rand() * 3) };
      }),
    }));
    const multiScore = MultiAdapters.create(model.gpu, file.config, adapters, 5 * adapters.length);
    const scores = await scoreItemsEach(model, multiScore, items, 5); // several passes, ragged T
    for (const [i, a] of adapters.entries()) {
      const lora = LoraState.fromAdapter(model.gpu, file.config, a);
      const solo = await evaluateLm(model, lora, data, batch);
      assert.equal(each[i].tokens, solo.tokens);
      assert.ok(Math.abs(each[i].loss - solo.loss) <= 1e-6 * solo.loss, `adapter ${i}: loss ${each[i].loss} vs ${solo.loss} alone`);
      const soloScores = await scoreItems(model, lora, items, 5);
      lora.destroy();
      const err = relError(scores[i].flat(), soloScores.flat());
      assert.ok(err < 1e-6, `adapter ${i}: scores rel error ${err}`);
    }
    assert.ok(new Set(each.map((r) => r.loss)).size === adapters.length, 'adapters gave equal losses');
    multi.destroy();
    multiScore.destroy();
  });

  describe('CLI: --adapter a,b', function () {
    let tmp: string;
    const root = path.resolve(import.meta.dirname, '..');
    const mobizo = (...args: string[]) => {
      const r = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), ...args], { encoding: 'utf8', timeout: 300_000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    const dirs: string[] = [];
    before(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-multi-'));
      for (const [i, a] of [randomAdapter(file.config, 41, 3), randomAdapter(file.config, 42, 9)].entries()) {
        const d = path.join(tmp, `ad${i}`);
        fs.mkdirSync(d);
        for (const [name, data] of Object.entries(writeAdapter(a))) fs.writeFileSync(path.join(d, name), data);
        dirs.push(d);
      }
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('generate --adapter a,b prints each adapter\'s text, equal to two solo runs', () => {
      const common = ['generate', '--prompt', 'Lily went', '--steps', '32', '--temperature', '0'];
      const both = mobizo(...common, '--adapter', dirs.join(','));
      const solo = dirs.map((d) => mobizo(...common, '--adapter', d));
      assert.equal(both, dirs.map((d, i) => `=== adapter ${d} ===\n${solo[i]}`).join(''));
      assert.notEqual(solo[0], solo[1]);
    });

    it('eval --adapter a,b --json prints an array: each adapter\'s result as its solo eval', () => {
      const f = path.join(tmp, 'text.txt');
      fs.writeFileSync(f, fs.readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 2000));
      const common = ['eval', '--data', f, '--seq', '32', '--batch', '4', '--json'];
      const both = JSON.parse(mobizo(...common, '--adapter', dirs.join(',')));
      assert.ok(Array.isArray(both) && both.length === 2);
      dirs.forEach((d, i) => {
        const solo = JSON.parse(mobizo(...common, '--adapter', d));
        assert.equal(both[i].adapter, d);
        assert.equal(both[i].tokens, solo.tokens);
        assert.ok(Math.abs(both[i].loss - solo.loss) <= 1e-6 * solo.loss, `adapter ${i}: ${both[i].loss} vs ${solo.loss}`);
      });
      assert.notEqual(both[0].loss, both[1].loss);
    });
  });
});
