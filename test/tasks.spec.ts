// Tasks: readers, candidate rows, batched scoring vs the float64 reference, and eval's accuracy
// against the same computed by hand from `mobizo logits`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeText, readClassification, readJsonlChoice, readLines, readTable, type ClassExample } from '../src/data/examples';
import { candidate, choiceItems, classifyItems, dedupe, ItemDataset, packCandidates, stratifiedSample, type Candidate, type Item } from '../src/data/tasks';
import type { LlamaModelFile } from '../src/formats/config';
import { Model } from '../src/model/model';
import type { Tokenizer } from '../src/formats/tokenizer';
import { LoraState } from '../src/adapter/lora';
import { stepSeed, ZoScheduler } from '../src/train/scheduler';
import { writeAdapter } from '../src/adapter/peft';
import { scoreItems } from '../src/eval/score';
import { taskMetrics } from '../src/eval/metrics';
import { perturbedLayers } from './adapters';
import { assetPath, stories260K } from './assets';
import { gpuFixture, randoms } from './gpu';
import { referenceForward, referenceLoss } from './reference/cpu_model';
import { logSumExp } from './reference/ops';

const root = path.resolve(import.meta.dirname, '..');
const enc = (s: string) => new TextEncoder().encode(s);

/** A candidate's mean continuation log-prob from the float64 forward of its own tokens. */
function referenceScore(file: LlamaModelFile, c: Candidate): number {
  const logits = referenceForward(file, c.tokens.slice(0, -1));
  let sum = 0;
  for (let t = c.start; t < c.tokens.length; t++) sum += logits[t - 1][c.tokens[t]] - logSumExp(logits[t - 1]);
  return sum / (c.tokens.length - c.start);
}

// Scoring and training on tasks check maths against float64 references: on the CPU backend (WASM);
// the kernels themselves run on both backends in the kernel specs.
describe('tasks', function () {
  let file: LlamaModelFile;
  let tok: Tokenizer;
  let tmp: string;
  before(() => {
    ({ file, tok } = stories260K());
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-tasks-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('readers', () => {
    it('TSV and CSV with a header, quoted fields, named columns', () => {
      assert.deepEqual(readTable('sentence\tlabel\na good film \t1\n\nbad\t0\n', 't.tsv'), [
        { text: 'a good film', label: '1' },
        { text: 'bad', label: '0' },
      ]);
      assert.deepEqual(readTable('id,review,class\n1,"fine, really ""fine""",pos\n', 'r.csv'), [{ text: 'fine, really "fine"', label: 'pos' }]);
      assert.deepEqual(readTable('Label\tSMS\nspam\twin now\n', 's.tsv', { text: 'SMS', label: 'Label' }), [{ text: 'win now', label: 'spam' }]);
    });
    it('JSONL classification and choice; per-class line files', () => {
      assert.deepEqual(readClassification('{"sentence":"ok","label":1}\n{"text":"no","label":"0"}\n', 'c.jsonl'), [
        { text: 'ok', label: '1' },
        { text: 'no', label: '0' },
      ]);
      assert.deepEqual(readJsonlChoice('{"premise":"p","choices":["a","b"],"label":1}', 'x.jsonl'), [{ premise: 'p', choices: ['a', 'b'], label: 1 }]);
      assert.deepEqual(readLines('one\n\n two \n', 'pos.txt', 'pos'), [
        { text: 'one', label: 'pos' },
        { text: 'two', label: 'pos' },
      ]);
    });
    it('errors: missing column, bad rows, empty files, bad JSON, bad encoding with the line number', () => {
      assert.throws(() => readTable('text\tscore\nx\t1\n', 'a.tsv'), /a\.tsv: no label column \(looked for label, labels, class, category\); the header has text, score/);
      assert.throws(() => readTable('sentence\tlabel\nonly-one-field\n', 'b.tsv'), /b\.tsv:2: 1 fields, the header has 2/);
      assert.throws(() => readTable('', 'e.tsv'), /e\.tsv: the file is empty/);
      assert.throws(() => readClassification('{"sentence":"x"}\n', 'n.jsonl'), /n\.jsonl:1: no "label"/);
      assert.throws(() => readJsonlChoice('{"premise":"p","choices":["a","b"],"label":2}', 'q.jsonl'), /q\.jsonl:1: "label" must be an index into the 2 choices/);
      assert.throws(() => readJsonlChoice('{"premise":"p",\n', 'j.jsonl'), /j\.jsonl:1: invalid JSON/);
      const bad = new Uint8Array([...enc('ok\nfine\n'), 0xe9, ...enc('t\xe9\n')]);
      assert.throws(() => decodeText(bad, 'l1.txt'), /l1\.txt:3: not valid UTF-8 .*--encoding latin1/);
      assert.equal(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), 'l1.txt', 'latin1'), 'café');
    });
    it('an unknown label names the example and the classes', () => {
      const task = { template: '{text} It was', classes: ['0', '1'], labelWords: [' bad', ' good'] };
      assert.throws(() => classifyItems(tok, [{ text: 'x', label: '2' }], task, 64, 'd.tsv'), /d\.tsv: example 1 has label "2", not one of "0", "1"/);
    });
  });

  it('candidates: continuation tokens after the prompt; long texts lose their start, not the template tail', () => {
    const c = candidate(tok, 'a fine day. It was', ' great', 64, 'x');
    assert.equal(tok.decode(c.tokens.slice(c.start)).trim(), 'great');
    assert.deepEqual(c.tokens, tok.encode('a fine day. It was great', { bos: true, eos: false }));
    const long = candidate(tok, 'word '.repeat(100) + 'It was', ' great', 16, 'x');
    assert.equal(long.tokens.length, 16);
    assert.equal(long.tokens[0], 1);
    assert.match(tok.decode(long.tokens), /It was great$/);
    assert.throws(() => candidate(tok, 'It was', ' great', 2, 'x'), /do not fit --seq 2/);
    // training rows: labels on the continuation only
    const items = classifyItems(tok, [{ text: 'nice', label: '1' }], { template: '{text} It was', classes: ['0', '1'], labelWords: [' bad', ' great'] }, 16, 'x');
    const b = new ItemDataset(items, 16).batchAt(0, 1, 0);
    const labelled = [...b.labels].map((l, i) => [i, l]).filter(([, l]) => l >= 0);
    const cand = items[0].candidates[1];
    assert.deepEqual(labelled.map(([i]) => i), Array.from({ length: cand.tokens.length - cand.start }, (_, k) => cand.start - 1 + k));
    assert.deepEqual(labelled.map(([, l]) => l), cand.tokens.slice(cand.start));
  });

  it('choice: batched GPU scores equal the float64 reference and decide the handmade items', async () => {
    const { gpu } = await gpuFixture('wasm');
    const model = await Model.load(gpu, file);
    const items: Item[] = choiceItems(tok, [
      { premise: 'Once upon a time, there was a little', choices: ['girl', 'table spoon river'], label: 0 },
      { premise: 'Lily went to the park. She saw a big', choices: ['dog', 'of the'], label: 0 },
      { premise: 'The sun was', choices: ['the the the', 'shining'], label: 1 },
    ], 64, 'handmade');
    const batched = await scoreItems(model, null, items, 16);
    const single = await scoreItems(model, null, items, 1);
    items.forEach((it, i) =>
      it.candidates.forEach((c, j) => {
        const want = referenceScore(file, c);
        assert.ok(Math.abs(batched[i][j] - want) < 1e-4 * Math.abs(want), `item ${i} choice ${j}: ${batched[i][j]} vs ${want}`);
        assert.ok(Math.abs(single[i][j] - batched[i][j]) < 1e-5 * Math.abs(want));
      }),
    );
    assert.equal(taskMetrics(items, batched).accuracy, 1);
    model.destroy();
  });

  it('classification loss: every candidate is a row (right one first); the slot losses match the float64 reference', async () => {
    const task = { template: '{text} It was', classes: ['neg', 'pos'], labelWords: [' sad', ' very happy'] };
    const items = classifyItems(tok, [
      { text: 'The dog ran away and never came back.', label: 'neg' },
      { text: 'They played in the sun all day.', label: 'pos' },
      { text: 'Tom lost his red ball.', label: 'neg' },
    ], task, 24, 'handmade');
    const data = new ItemDataset(items, 24, 'classes');
    assert.equal(data.candidates, 2);
    const b = data.batchAt(0, 3, 5);
    assert.equal(b.tokens.length, 3 * 2 * 24);
    // each example's rows: the right candidate, then the other one, labels on their continuations
    const rows = Array.from({ length: 6 }, (_, r) => [...b.tokens.subarray(r * 24, (r + 1) * 24)]);
    const starts = (row: number[], toks: number[]) => toks.every((t, i) => row[i] === t);
    const seen = new Set<Item>();
    for (let e = 0; e < 3; e++) {
      const it = items.find((x) => starts(rows[2 * e], x.candidates[x.answer].tokens));
      assert.ok(it, `row ${2 * e} is some example's right candidate`);
      assert.ok(starts(rows[2 * e + 1], it.candidates[1 - it.answer].tokens), `row ${2 * e + 1} is the same example's other candidate`);
      seen.add(it);
    }
    assert.equal(seen.size, 3);
    rows.forEach((row, r) => {
      const c = items.flatMap((x) => x.candidates).find((cd) => starts(row, cd.tokens))!;
      const labelled = [...b.labels.subarray(r * 24, (r + 1) * 24)].map((l, t) => [t, l]).filter(([, l]) => l >= 0);
      assert.deepEqual(labelled, c.tokens.slice(c.start).map((tk, k) => [c.start - 1 + k, tk]), `row ${r}: labels on its continuation`);
    });
    assert.throws(() => new ItemDataset([...items, { answer: 0, candidates: [items[0].candidates[0]] }], 24, 'classes'), /example 1 has 2, example 4 has 1/);

    const { gpu } = await gpuFixture('wasm');
    const model = await Model.load(gpu, file);
    const lcfg = { rank: 4, alpha: 8, targets: ['q', 'v'] as ('q' | 'v')[] };
    const host = LoraState.initHost(file.config, lcfg, 2);
    host.layers.forEach((e, l) => lcfg.targets.forEach((t) => (e[t]!.B = randoms(e[t]!.B.length, 40 + l, 0.05))));
    const lora = LoraState.upload(gpu, file.config, lcfg, host);
    const opts = { mode: 'prge' as const, q: 2, eps: 1e-2, lr: 0, batch: 3, seq: 24, seed: 4, candidates: 2 };
    const sched = new ZoScheduler(model, lora, opts);
    const r = await sched.step(0, b);
    sched.destroy();
    lora.destroy();
    model.destroy();
    const seed = stepSeed(opts.seed, 0);
    for (let g = 0; g < 2 * opts.q; g++) {
      const ref = { scale: 2, rank: 4, layers: perturbedLayers(host, lcfg.targets, seed, g, opts.q, opts.eps) };
      // mean label-token loss of each row (MeZO's train_as_classification, as evaluation ranks),
      // then cross-entropy over each example's two rows
      const rowLoss = rows.map((_, r) => referenceLoss(file, b.tokens.subarray(r * 24, (r + 1) * 24), b.labels.subarray(r * 24, (r + 1) * 24), 24, ref).loss);
      let want = 0;
      for (let e = 0; e < 3; e++) want += logSumExp([-rowLoss[2 * e], -rowLoss[2 * e + 1]]) + rowLoss[2 * e];
      want /= 3;
      assert.ok(Math.abs(r.slotLosses[g] - want) < 1e-4 * Math.max(1, want), `slot ${g}: ${r.slotLosses[g]} vs ${want}`);
    }
  });

  it('packed candidates: one-token label words share a row; scores and classification-loss steps match the float64 reference', async () => {
    const prompt = (text: string) => tok.encode(`${text} It was`, { bos: true, eos: false });
    const cand = (p: number[], cont: number[]): Candidate => ({ tokens: [...p, ...cont], start: p.length });
    const p0 = prompt('The dog ran away.');
    // which candidates read the same tokens: all but their last
    assert.deepEqual(packCandidates([cand(p0, [300]), cand(p0, [301]), cand(p0, [302])]), { fill: [0], rowOf: [0, 0, 0] });
    assert.deepEqual(packCandidates([cand(p0, [300]), cand(p0, [300, 7]), cand(p0, [301, 8])]), { fill: [1, 2], rowOf: [0, 0, 1] });
    assert.deepEqual(packCandidates([cand(p0, [300, 5]), cand(p0, [301, 5])]).fill.length, 2);
    // three examples of 3 candidates: one-token ones (one row each example), and in the last two
    // 2-token ones that read different tokens (two rows: the one-token candidate rides on the first)
    const texts = ['The dog ran away and never came back.', 'They played in the sun all day.', 'Tom lost his red ball.'];
    const items: Item[] = texts.map((t, i) => {
      const p = prompt(t);
      const cs = i === 2 ? [cand(p, [300]), cand(p, [301, 9]), cand(p, [302, 9])] : [cand(p, [300]), cand(p, [301]), cand(p, [302])];
      return { candidates: cs, answer: (i + 1) % 3 };
    });
    const T = 24;
    const data = new ItemDataset(items, T, 'classes');
    assert.equal(data.candidates, 3);
    assert.equal(data.rowsPerExample, 2, 'the last example needs 2 rows; the others 1');
    assert.equal(data.labelsPerExample, 5);
    const batch = 3;
    const b = data.batchAt(0, batch, 5);
    assert.equal(b.tokens.length, batch * 2 * T);
    assert.ok(b.picks, 'a classification batch has picks');
    const { at, label, seq } = b.picks;
    // each pick is a position of its row that predicts a candidate's token, seq = example * 3 + j (right one j = 0)
    const examples = Array.from({ length: batch }, (_, e) => {
      const mine = [...seq.keys()].filter((k) => Math.floor(seq[k] / 3) === e);
      const row0 = Math.floor(at[mine[0]] / T);
      const toks = [...b.tokens.subarray(row0 * T, row0 * T + T)];
      const it = items.find((x) => x.candidates[0].tokens.slice(0, -1).every((tk, i) => toks[i] === tk))!;
      assert.ok(it, `example ${e}: its first row holds an item's prompt`);
      return { it, mine };
    });
    examples.forEach(({ it, mine }, e) => {
      const order = [it.answer, ...[0, 1, 2].filter((k) => k !== it.answer)];
      order.forEach((k, j) => {
        const c = it.candidates[k];
        const ks = mine.filter((m) => seq[m] === e * 3 + j);
        assert.deepEqual(ks.map((m) => label[m]), c.tokens.slice(c.start), `example ${e} candidate ${j}: its label tokens`);
        ks.forEach((m, n) => {
          const r = Math.floor(at[m] / T);
          const pos = at[m] % T;
          assert.equal(pos, c.start - 1 + n);
          assert.deepEqual([...b.tokens.subarray(r * T, r * T + pos + 1)], c.tokens.slice(0, pos + 1), 'the row holds what the candidate reads');
        });
      });
    });

    const { gpu } = await gpuFixture('wasm');
    const model = await Model.load(gpu, file);
    // scoring: every candidate's mean log-prob equals the float64 forward of its own tokens
    const scores = await scoreItems(model, null, items, 4);
    items.forEach((it, i) =>
      it.candidates.forEach((c, j) => {
        const want = referenceScore(file, c);
        assert.ok(Math.abs(scores[i][j] - want) < 1e-4 * Math.abs(want), `item ${i} candidate ${j}: ${scores[i][j]} vs ${want}`);
      }),
    );
    // one ZO step of the classification loss on the packed batch, LM head on the labelled positions only
    const lcfg = { rank: 4, alpha: 8, targets: ['q', 'v'] as ('q' | 'v')[] };
    const host = LoraState.initHost(file.config, lcfg, 2);
    host.layers.forEach((e, l) => lcfg.targets.forEach((t) => (e[t]!.B = randoms(e[t]!.B.length, 40 + l, 0.05))));
    const lora = LoraState.upload(gpu, file.config, lcfg, host);
    const opts = { mode: 'prge' as const, q: 2, eps: 1e-2, lr: 0, batch, seq: T, seed: 4, candidates: 3, rowsPerExample: data.rowsPerExample, labelsPerExample: data.labelsPerExample };
    const sched = new ZoScheduler(model, lora, opts);
    assert.equal(sched.forward.shape.nSelect, 2 * opts.q * batch * data.labelsPerExample, 'logits for the labelled positions only');
    const r = await sched.step(0, b);
    sched.destroy();
    lora.destroy();
    model.destroy();
    const stepS = stepSeed(opts.seed, 0);
    for (let g = 0; g < 2 * opts.q; g++) {
      const ref = { scale: 2, rank: 4, layers: perturbedLayers(host, lcfg.targets, stepS, g, opts.q, opts.eps) };
      // each candidate on a row of its own (the unpacked layout), its mean label-token loss; then
      // the cross-entropy over the example's candidates, the right one first
      const candLoss = (c: Candidate) => {
        const toks = new Int32Array(T);
        const labs = new Int32Array(T).fill(-100);
        toks.set(c.tokens);
        for (let t = c.start; t < c.tokens.length; t++) labs[t - 1] = c.tokens[t];
        return referenceLoss(file, toks, labs, T, ref).loss;
      };
      let want = 0;
      for (const { it } of examples) {
        const order = [it.answer, ...[0, 1, 2].filter((k) => k !== it.answer)];
        const losses = order.map((k) => candLoss(it.candidates[k]));
        want += logSumExp(losses.map((l) => -l)) + losses[0];
      }
      want /= batch;
      assert.ok(Math.abs(r.slotLosses[g] - want) < 1e-4 * Math.max(1, want), `slot ${g}: ${r.slotLosses[g]} vs ${want}`);
    }
  });

  it('eval --preset sst2: accuracy equals the hand computation from mobizo logits (base and adapter)', () => {
    const modelArgs = ['--model', assetPath('models', 'stories260K.bin'), '--tokenizer', assetPath('models', 'tok512.bin')];
    // an adapter with random B on q,v
    const host = LoraState.initHost(file.config, { rank: 4, alpha: 8, targets: ['q', 'v'] }, 1);
    host.layers.forEach((e, l) => (['q', 'v'] as const).forEach((t) => (e[t]!.B = randoms(e[t]!.B.length, 50 + l, 0.3))));
    const adapter = path.join(tmp, 'adapter');
    fs.mkdirSync(adapter);
    for (const [name, data] of Object.entries(writeAdapter(host))) fs.writeFileSync(path.join(adapter, name), data);
    const n = 4;
    const dev = readTable(fs.readFileSync(assetPath('data', 'sst2', 'dev.tsv'), 'utf8'), 'dev.tsv');
    for (const extra of [[], ['--adapter', adapter]]) {
      const r = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), 'eval', ...modelArgs, ...extra, '--preset', 'sst2', '--eval-size', String(n), '--json'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const got = JSON.parse(r.stdout);
      assert.equal(got.n, n);
      // the same examples, scored by hand from the logits command
      const items = classifyItems(tok, sampleLikeEval(dev, n), { template: '{text} It was', classes: ['0', '1'], labelWords: [' terrible', ' great'] }, 64, 'dev');
      let correct = 0;
      for (const it of items) {
        const scores = it.candidates.map((c) => {
          const out = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), 'logits', ...modelArgs, ...extra, '--tokens', c.tokens.join(',')], { encoding: 'utf8' });
          const logits = JSON.parse(out.stdout).logits as number[][];
          let s = 0;
          for (let t = c.start; t < c.tokens.length; t++) s += logits[t - 1][c.tokens[t]] - logSumExp(logits[t - 1]);
          return s / (c.tokens.length - c.start);
        });
        if ((scores[1] > scores[0] ? 1 : 0) === it.answer) correct++;
      }
      assert.equal(got.accuracy, correct / n, `eval ${got.accuracy} vs by hand ${correct / n} (${extra.length ? 'adapter' : 'base'})`);
    }
  });
});

/** The examples `eval --eval-size n --seed 0` samples: of the deduplicated set, classes in proportion. */
function sampleLikeEval(xs: ClassExample[], n: number): ClassExample[] {
  return stratifiedSample(dedupe(xs).kept, n, 0);
}
