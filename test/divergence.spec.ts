import assert from 'node:assert/strict';
import { DivergenceWatch, divergenceLimit } from '../src/train/divergence';

describe('divergence watch', () => {
  it('flags a held-out loss that rises well above its start, not one that moves a little', () => {
    const w = new DivergenceWatch({ uniformLoss: Math.log(512) });
    assert.equal(w.eval(0, 4.74), null);
    assert.equal(w.eval(10, 4.9), null);
    const d = w.eval(20, 11.66);
    assert.ok(d);
    assert.equal(d.source, 'eval');
    assert.equal(d.start, 4.74);
    assert.ok(d.limit < 6.24 && d.limit > 4.74, `limit ${d.limit}`);
    assert.match(d.message, /diverged at step 20: the held-out loss rose to 11\.660 from 4\.740/);
  });

  it('judges the smoothed training loss after its warm-up, not single noisy steps', () => {
    const w = new DivergenceWatch({ warmup: 5 });
    for (let s = 1; s <= 20; s++) assert.equal(w.step(s, s % 2 ? 4.0 : 4.6), null, `step ${s}`);
    let d = null;
    for (let s = 21; s <= 80 && !d; s++) d = w.step(s, 9);
    assert.ok(d);
    assert.equal(d.source, 'train');
    assert.ok(d.loss > d.limit);
  });

  it('a low first step does not lower the start: the warm-up mean, and a bias-corrected EMA', () => {
    const w = new DivergenceWatch({ warmup: 4 });
    for (let s = 1; s <= 30; s++) assert.equal(w.step(s, s === 1 ? 0.5 : 2), null, `step ${s}`);
  });

  it('flags consecutive non-finite losses, but not one', () => {
    const w = new DivergenceWatch({ nonFiniteSteps: 3 });
    assert.equal(w.step(1, NaN), null);
    assert.equal(w.step(2, 4), null);
    assert.equal(w.step(3, NaN), null);
    assert.equal(w.step(4, Infinity), null);
    const d = w.step(5, NaN);
    assert.ok(d);
    assert.match(d.message, /non-finite/);
  });

  it('caps the limit at a uniform guess (but at least half a nat above the start)', () => {
    assert.equal(divergenceLimit(4, Infinity), 5);
    assert.equal(divergenceLimit(5.5, Math.log(512)), Math.log(512));
    assert.equal(divergenceLimit(0.69, Math.log(2)), 0.69 + 0.5);
    assert.equal(divergenceLimit(4, Infinity, 'train'), 6);
    assert.equal(divergenceLimit(2, Infinity, 'train'), 3);
  });

  it('a resumed run replays its history to the same references', () => {
    const a = new DivergenceWatch({ warmup: 3 });
    const hist = [4, 4.1, 3.9, 4, 4.2].map((loss, step) => ({ step, loss }));
    hist.forEach((h) => a.step(h.step + 1, h.loss));
    a.eval(0, 4.5);
    const b = new DivergenceWatch({ warmup: 3 });
    b.replay(hist, [{ step: 0, loss: 4.5 }]);
    assert.deepEqual(a.eval(5, 7), b.eval(5, 7));
    assert.deepEqual(a.step(6, 30), b.step(6, 30));
  });
});
