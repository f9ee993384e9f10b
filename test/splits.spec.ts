// Held-out sets of classify / choice data: seeded, stratified by class, duplicates removed, three
// parts (train / validation / test); and the per-class metrics of an evaluation. CPU only.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { ChoiceExample, ClassExample } from '../src/data/examples';
import { dedupe, exampleKey, stratifiedSample, stratifiedSplit, type Item } from '../src/data/tasks';
import { taskMetrics } from '../src/eval/metrics';
import { Model } from '../src/model/model';
import { prepareTask, type DataFile } from '../src/train/task_source';
import { assetPath, stories260K } from './assets';
import { gpuFixture } from './gpu';

/** `n` examples of class `label`, texts `${label} ${i}`. */
const examples = (label: string, n: number): ClassExample[] => Array.from({ length: n }, (_, i) => ({ text: `${label} ${i}`, label }));
const count = (xs: ClassExample[], label: string) => xs.filter((x) => x.label === label).length;
const texts = (xs: { text: string }[]) => xs.map((x) => x.text).sort();

describe('splits', () => {
  it('stratified: each class held out in proportion, in file order or not; disjoint and covering', () => {
    const data = [...examples('neg', 300), ...examples('pos', 60)]; // one class first, as rt-polarity
    const s = stratifiedSplit(data, 0.1, 3, true);
    for (const part of [s.test, s.validation]) assert.deepEqual([count(part, 'neg'), count(part, 'pos')], [30, 6]);
    assert.deepEqual([count(s.train, 'neg'), count(s.train, 'pos')], [240, 48]);
    assert.deepEqual(texts([...s.train, ...s.validation, ...s.test]), texts(data), 'every example once');
    // any prefix of a held-out set mixes the classes (the order is shuffled)
    assert.ok(s.test.slice(0, 12).some((x) => x.label === 'pos') && s.test.slice(0, 12).some((x) => x.label === 'neg'));
    // without validation: the training data keeps it
    const two = stratifiedSplit(data, 0.1, 3, false);
    assert.equal(two.validation.length, 0);
    assert.equal(two.train.length, 324);
  });

  it('seeded: the same seed the same sets, another seed other sets', () => {
    const data = [...examples('a', 80), ...examples('b', 40)];
    const a = stratifiedSplit(data, 0.1, 0, true);
    assert.deepEqual(stratifiedSplit(data, 0.1, 0, true), a);
    const b = stratifiedSplit(data, 0.1, 1, true);
    assert.notDeepEqual(texts(b.test), texts(a.test));
    assert.notDeepEqual(texts(b.validation), texts(a.validation));
  });

  it('small classes: every held-out set gets one when the class can spare it, training keeps one', () => {
    const data = [...examples('big', 50), ...examples('three', 3), ...examples('two', 2), ...examples('one', 1)];
    const s = stratifiedSplit(data, 0.1, 0, true);
    assert.deepEqual(['big', 'three', 'two', 'one'].map((c) => [count(s.train, c), count(s.validation, c), count(s.test, c)]), [
      [40, 5, 5],
      [1, 1, 1],
      [1, 0, 1],
      [1, 0, 0],
    ]);
    assert.throws(() => stratifiedSplit(data, 1, 0, true), /fraction must be in \[0, 1\), got 1/);
  });

  it('duplicates: exact repeats removed within, and training examples that repeat a held-out text', () => {
    const xs: ClassExample[] = [
      { text: 'win a prize', label: 'spam' },
      { text: 'see you at six', label: 'ham' },
      { text: 'win a prize', label: 'spam' },
      { text: 'win a prize', label: 'ham' }, // same text, other label: the first one stays
      { text: 'ok', label: 'ham' },
    ];
    assert.deepEqual(dedupe(xs), { kept: [xs[0], xs[1], xs[4]], removed: 2 });
    assert.deepEqual(dedupe(xs, new Set(['ok'])).kept, [xs[0], xs[1]]);
    const choice: ChoiceExample[] = [
      { premise: 'p', choices: ['a', 'b'], label: 0 },
      { premise: 'p', choices: ['a', 'c'], label: 0 },
      { premise: 'p', choices: ['a', 'b'], label: 1 },
    ];
    assert.equal(dedupe(choice).removed, 1);
    assert.notEqual(exampleKey(choice[0]), exampleKey(choice[1]));
  });

  it('a sample keeps the classes in proportion', () => {
    const data = [...examples('ham', 870), ...examples('spam', 130)];
    const s = stratifiedSample(data, 200, 5);
    assert.equal(s.length, 200);
    assert.deepEqual([count(s, 'ham'), count(s, 'spam')], [174, 26]);
    assert.notDeepEqual(texts(stratifiedSample(data, 200, 6)), texts(s));
    assert.equal(stratifiedSample(data, 0, 5), data);
  });

  describe('prepareTask', () => {
    const { file, tok } = stories260K();
    const rt = (): DataFile[] => ['rt-polarity.neg', 'rt-polarity.pos'].map((f) => ({ name: f, bytes: new Uint8Array(fs.readFileSync(assetPath('data', 'rt-polarity', f))) }));
    const prep = (seed: number, heldOut: 'test' | 'validation' = 'test', purpose: 'train' | 'eval' = 'train') =>
      prepareTask({ preset: 'rt-polarity', files: rt(), evalSize: 0, heldOut, purpose }, tok, 64, seed);
    /** An item by its prompt (the right candidate's tokens up to the continuation). */
    const key = (it: Item) => it.candidates[0].tokens.slice(0, it.candidates[0].start).join(',');
    const perClass = (items: Item[]) => [0, 1].map((c) => items.filter((it) => it.answer === c).length);

    it('rt-polarity (negatives first in its files): both classes held out, other seeds other sets, no prompt in two parts', () => {
      const a = prep(0);
      assert.match(a.describe, /\d+ training examples, \d+ validation, \d+ for evaluation \(test\)/);
      assert.equal(a.heldOut, 'test');
      assert.equal(a.sampled, null);
      const [neg, pos] = perClass(a.evalItems!);
      assert.ok(neg > 450 && pos > 450, `test split: ${neg} neg, ${pos} pos`);
      const val = prep(0, 'validation');
      assert.deepEqual(perClass(val.evalItems!), perClass(a.evalItems!));
      const train = new Set(a.trainItems!.map(key));
      const test = new Set(a.evalItems!.map(key));
      const validation = new Set(val.evalItems!.map(key));
      assert.ok([...test].every((k) => !train.has(k) && !validation.has(k)), 'a test prompt in train or validation');
      assert.ok([...validation].every((k) => !train.has(k)), 'a validation prompt in train');
      const b = prep(1);
      const overlap = b.evalItems!.filter((it) => test.has(key(it))).length;
      assert.ok(overlap < 0.3 * test.size, `seed 1 shares ${overlap} of ${test.size} test prompts with seed 0`);
      // eval --preset scores the same test split as finetune with the same seed
      assert.deepEqual(prep(0, 'test', 'eval').evalItems!.map(key), a.evalItems!.map(key));
      // a sample keeps both classes and says so
      const s = prepareTask({ preset: 'rt-polarity', files: rt(), evalSize: 40, purpose: 'eval' }, tok, 64, 0);
      assert.deepEqual(perClass(s.evalItems!), [20, 20]);
      assert.deepEqual(s.sampled, { n: 40, of: a.evalItems!.length });
    });

    it("a task's held-out loss is the one it trains: over the candidates (classes), the label tokens' (label)", async () => {
      const { gpu } = await gpuFixture();
      const model = await Model.load(gpu, file);
      for (const loss of ['classes', 'label'] as const) {
        const t = prepareTask({ preset: 'rt-polarity', files: rt(), evalSize: 6, loss }, tok, 64, 0);
        const m = await t.metrics!(model, null, 16);
        const e = await t.evaluate(model, null, 16);
        assert.equal(e.loss, loss === 'classes' ? m.classLoss : m.loss, loss);
        assert.ok(m.classLoss < m.loss, `class loss ${m.classLoss} is on another scale than the label tokens' ${m.loss}`);
      }
      model.destroy();
    });

    it('sms-spam: the repeated messages are removed, none of the test texts is in train', () => {
      const files = [{ name: 'SMSSpamCollection.tsv', bytes: new Uint8Array(fs.readFileSync(assetPath('data', 'sms-spam', 'SMSSpamCollection.tsv'))) }];
      const t = prepareTask({ preset: 'sms-spam', files, evalSize: 0 }, tok, 256, 0); // long enough for whole messages
      const removed = Number(/(\d+) exact duplicates removed/.exec(t.describe)?.[1]);
      assert.ok(removed > 300, t.describe); // the collection repeats many messages verbatim
      const train = new Set(t.trainItems!.map(key));
      assert.equal(t.evalItems!.filter((it) => train.has(key(it))).length, 0);
      const [ham, spam] = perClass(t.evalItems!);
      assert.ok(spam > 40 && ham > 5 * spam, `${ham} ham, ${spam} spam`);
    });
  });

  it('metrics: per-class counts, precision, recall and the confusion matrix', () => {
    const item = (answer: number): Item => ({ answer, candidates: [{ tokens: [1, 5], start: 1 }, { tokens: [1, 6], start: 1 }] });
    // answers 0,0,0,1,1 ; predictions 0,0,1,1,0
    const items = [0, 0, 0, 1, 1].map(item);
    const scores = [
      [-1, -2],
      [-1, -3],
      [-2, -1],
      [-3, -1],
      [-1, -2],
    ];
    const m = taskMetrics(items, scores, ['ham', 'spam']);
    assert.deepEqual(m.confusion, [
      [2, 1],
      [1, 1],
    ]);
    assert.deepEqual(
      m.classes.map((c) => [c.name, c.count, c.predicted, c.correct]),
      [
        ['ham', 3, 3, 2],
        ['spam', 2, 2, 1],
      ],
    );
    assert.ok(Math.abs(m.classes[0].precision - 2 / 3) < 1e-12 && Math.abs(m.classes[0].recall - 2 / 3) < 1e-12);
    assert.ok(Math.abs(m.classes[1].precision - 1 / 2) < 1e-12 && Math.abs(m.classes[1].recall - 1 / 2) < 1e-12);
    assert.equal(m.accuracy, 3 / 5);
    assert.ok(Math.abs(m.f1 - (2 / 3 + 1 / 2) / 2) < 1e-12);
    assert.ok(Math.abs(m.loss - (1 + 1 + 2 + 1 + 2) / 5) < 1e-12);
    // over the candidates (--loss classes): -log softmax(scores)[answer], in float64
    const ce = scores.map((s, i) => Math.log(s.reduce((a, v) => a + Math.exp(v), 0)) - s[items[i].answer]);
    assert.ok(Math.abs(m.classLoss - ce.reduce((a, b) => a + b, 0) / 5) < 1e-12, `classLoss ${m.classLoss}`);
    assert.ok(Math.abs(taskMetrics(items, items.map(() => [-4, -4])).classLoss - Math.log(2)) < 1e-12, 'equal scores: a uniform guess, ln 2');
    // a class never predicted: precision 0, not NaN
    const never = taskMetrics(items, items.map(() => [0, -1]), ['ham', 'spam']);
    assert.deepEqual([never.classes[1].predicted, never.classes[1].precision, never.classes[1].recall], [0, 0, 0]);
    assert.throws(() => taskMetrics(items, [[0, NaN], ...scores.slice(1)]), /item 1 got a non-finite score/);
  });
});
