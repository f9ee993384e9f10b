// The MobiZO kernels against float64 references that draw Z from the TypeScript Philox twin.
import assert from 'node:assert/strict';
import { mplora } from '../src/gpu/kernels/mplora';
import { slotLoss, xent } from '../src/gpu/kernels/xent';
import { zoGrad, zoUpdate } from '../src/gpu/kernels/zo_update';
import { StepBlock } from '../src/gpu/step_block';
import { tensor } from '../src/gpu/tensor';
import { zoNormals } from '../src/util/philox';
import { forBackends, input, poisoned, randoms, relError, run } from './gpu';
import { logSumExp } from './reference/ops';

forBackends('MobiZO kernels vs float64 reference', (fx) => {
  it('mplora: every slot gets B + sign eps Z_i, Z regenerated from the key', async () => {
    const { gpu, ks } = await fx();
    // q = 3 queries, a prge pass of all 2q slots, 70 rows per slot (two row chunks), ragged out;
    // rank 5 draws Z one element at a time, rank 8 four at a time
    const [q, rowsPerSlot, outDim, eps, scale, seed, tensorId] = [3, 70, 37, 1e-2, 2, 12345, 9];
    for (const [slotBase, slots, rank] of [[0, 2 * q, 5], [q, q, 5], [4, 1, 5], [0, 2 * q, 8]]) {
      const rows = slots * rowsPerSlot;
      const ax = randoms(rows * rank, 1);
      const b = randoms(outDim * rank, 2, 0.5);
      const y0 = randoms(rows * outDim, 3);
      const y = input(gpu, 'y', [rows, outDim], y0);
      const step = new StepBlock(gpu, 'step');
      step.set({ seed, slotBase, eps, lr: 0 });
      run(gpu, mplora(ks, 'test', input(gpu, 'ax', [rows, rank], ax), input(gpu, 'b', [outDim, rank], b), y, { rowsPerSlot, q, scale, tensor: tensorId }, step));
      step.destroy();
      const want = Float64Array.from(y0);
      for (let p = 0; p < slots; p++) {
        const g = slotBase + p;
        const z = zoNormals(seed, tensorId, g % q, outDim * rank);
        const sign = g < q ? 1 : -1;
        for (let r = p * rowsPerSlot; r < (p + 1) * rowsPerSlot; r++) {
          for (let o = 0; o < outDim; o++) {
            let acc = 0;
            for (let j = 0; j < rank; j++) acc += (b[o * rank + j] + sign * eps * z[o * rank + j]) * ax[r * rank + j];
            want[r * outDim + o] += scale * acc;
          }
        }
      }
      const err = relError(await y.read(), want);
      assert.ok(err < 1e-5, `slots ${slotBase}+${slots}, rank ${rank}: rel error ${err}`);
    }
  });

  it('xent and slot_loss: masked mean cross-entropy per slot', async () => {
    const { gpu, ks } = await fx();
    const [vocab, rowsPerSlot, slots, slotBase] = [300, 6, 3, 1];
    // selected rows: some of each slot, in order; a -100 label is ignored
    const sel = [0, 2, 5, 6, 7, 11, 12, 17];
    const labels = Int32Array.from([4, -100, 299, 0, 17, 5, 250, 9]);
    const nMax = 10; // a bigger buffer than in use
    const logits = randoms(nMax * vocab, 8, 5);
    const rowLoss = poisoned(gpu, 'rowLoss', [nMax]);
    const lab = tensor(gpu, 'labels', [nMax], 'scratch', { dtype: 'i32', data: Int32Array.from([...labels, 0, 0]) });
    const selT = input(gpu, 'sel', [nMax], Uint32Array.from([...sel, 0, 0]), 'u32');
    const losses = poisoned(gpu, 'losses', [2 * 3]);
    const lg = input(gpu, 'logits', [nMax, vocab], logits);
    const step = new StepBlock(gpu, 'step');
    step.set({ seed: 0, slotBase, eps: 0, lr: 0 });
    run(gpu, xent(ks, 't', lg, lab, rowLoss, sel.length), slotLoss(ks, 't', rowLoss, lab, selT, losses, { nSel: sel.length, slots, rowsPerSlot, norm: 0, group: 0, examples: 0 }, step));
    const got = await losses.read();
    for (let p = 0; p < slots; p++) {
      let s = 0;
      let c = 0;
      sel.forEach((row, i) => {
        if (Math.floor(row / rowsPerSlot) !== p || labels[i] < 0) return;
        const l = logits.subarray(i * vocab, (i + 1) * vocab);
        s += logSumExp(l) - l[labels[i]];
        c++;
      });
      assert.ok(Math.abs(got[slotBase + p] - s / c) < 1e-5 * Math.abs(s / c), `slot ${p}: ${got[slotBase + p]} vs ${s / c}`);
    }
    assert.ok(Number.isNaN(got[0]), 'slots outside the pass stay untouched');
  });

  it('class_loss: cross-entropy over the candidates\' mean label-token log-likelihoods (MeZO), mean per slot', async () => {
    const { gpu, ks } = await fx();
    // 3 candidates per example, 2 examples per slot, sequences of 5 tokens; the pass holds slots
    // 2..4 of 6. Candidates have 1 to 3 labelled tokens, at ragged positions, and two candidates
    // share each row (packed rows: a position can be picked twice, for two candidates).
    const [vocab, T, group, examples, slots, slotBase] = [77, 5, 3, 2, 3, 2];
    const rowsPerSlot = T * Math.ceil((group * examples) / 2);
    const sel: number[] = [];
    const labels: number[] = [];
    const seqs: number[] = [];
    for (let p = 0; p < slots; p++) {
      for (let sq = 0; sq < group * examples; sq++) {
        const n = 1 + ((sq + p) % 3);
        for (let t = 4 - n; t < 4; t++) (sel.push(p * rowsPerSlot + Math.floor(sq / 2) * T + t), labels.push((sq * 31 + t * 7 + p) % vocab), seqs.push(sq));
      }
    }
    sel.push(rowsPerSlot + 4), labels.push(-100), seqs.push(0); // an ignored row
    const nMax = sel.length + 3;
    const logits = randoms(nMax * vocab, 21, 3);
    const rowLoss = poisoned(gpu, 'rowLoss', [nMax]);
    const lab = tensor(gpu, 'labels', [nMax], 'scratch', { dtype: 'i32', data: Int32Array.from([...labels, 0, 0, 0]) });
    const selT = input(gpu, 'sel', [nMax], Uint32Array.from([...sel, 0, 0, 0]), 'u32');
    const losses = poisoned(gpu, 'losses', [6]);
    const step = new StepBlock(gpu, 'step');
    step.set({ seed: 0, slotBase, eps: 0, lr: 0 });
    const seqT = input(gpu, 'seqs', [nMax], Uint32Array.from([...seqs, 0, 0, 0]), 'u32');
    const shape = { nSel: sel.length, slots, rowsPerSlot, norm: 0, group, examples, seqs: seqT };
    run(gpu, xent(ks, 't', input(gpu, 'logits', [nMax, vocab], logits), lab, rowLoss, sel.length), slotLoss(ks, 't', rowLoss, lab, selT, losses, shape, step));
    const got = await losses.read();
    // multi-token label words with ragged counts (1 to 3 tokens): a candidate scores the mean of
    // its tokens' log-likelihoods, as evaluation ranks them; the sum would rank them differently
    let sumVsMean = 0;
    for (let p = 0; p < slots; p++) {
      const seqLoss = new Float64Array(group * examples);
      const seqCount = new Float64Array(group * examples);
      sel.forEach((row, i) => {
        if (Math.floor(row / rowsPerSlot) !== p || labels[i] < 0) return;
        const l = logits.subarray(i * vocab, (i + 1) * vocab);
        const sq = seqs[i];
        seqLoss[sq] += logSumExp(l) - l[labels[i]];
        seqCount[sq]++;
      });
      const ce = (score: (sq: number) => number) => {
        let total = 0;
        for (let e = 0; e < examples; e++) {
          const scores = Array.from({ length: group }, (_, c) => score(e * group + c));
          total += logSumExp(scores) - scores[0];
        }
        return total / examples;
      };
      const want = ce((sq) => -seqLoss[sq] / seqCount[sq]);
      sumVsMean = Math.max(sumVsMean, Math.abs(ce((sq) => -seqLoss[sq]) - want));
      // absolute for small losses: the scores themselves are float32 sums of size ~10
      assert.ok(Math.abs(got[slotBase + p] - want) < 1e-5 * Math.max(1, Math.abs(want)), `slot ${p}: ${got[slotBase + p]} vs ${want}`);
    }
    assert.ok(sumVsMean > 0.1, `the test tells the mean from the sum (${sumVsMean})`);
    assert.ok(Number.isNaN(got[0]) && Number.isNaN(got[1]), 'slots outside the pass stay untouched');
    // a candidate with no labelled token has no score: the slot's loss is NaN (the step is skipped)
    const noLabel = Int32Array.from([...labels, 0, 0, 0]);
    noLabel.fill(-100, 0, 3); // slot 0's first sequence (1 labelled token) and the next one's first two
    const lab2 = tensor(gpu, 'labels2', [nMax], 'scratch', { dtype: 'i32', data: noLabel });
    run(gpu, xent(ks, 't', input(gpu, 'logits2', [nMax, vocab], logits), lab2, rowLoss, sel.length), slotLoss(ks, 't', rowLoss, lab2, selT, losses, shape, step));
    const got2 = await losses.read();
    assert.ok(Number.isNaN(got2[slotBase]) && Number.isFinite(got2[slotBase + 1]), `${got2}`);
    assert.throws(() => slotLoss(ks, 't', rowLoss, lab, selT, losses, { ...shape, seqs: undefined }, step), /class_loss t: the class loss needs the examples per slot \(2\) and each selected row's candidate sequence/);
  });

  it('zo_grad and zo_update: B -= lr/q sum g_i Z_i; a non-finite loss leaves B unchanged', async () => {
    const { gpu, ks } = await fx();
    const [q, eps, lr, seed, tensorId, n] = [4, 1e-3, 0.05, 777, 3, 1003];
    const L = Float32Array.from([2.5, 2.4, 2.6, 2.55, 2.49, 2.41, 2.58, 2.6]);
    const b0 = randoms(n, 4);
    for (const poison of [false, true]) {
      const losses = input(gpu, 'L', [2 * q], poison ? Float32Array.from([...L.subarray(0, 5), NaN, ...L.subarray(6)]) : L);
      const grad = poisoned(gpu, 'g', [q + 1]);
      const b = input(gpu, 'b', [n], b0);
      const step = new StepBlock(gpu, 'step');
      step.set({ seed, slotBase: 0, eps, lr });
      run(gpu, zoGrad(ks, 't', losses, grad, q, step), zoUpdate(ks, 't', grad, b, { q, tensor: tensorId }, step));
      const g = await grad.read();
      const got = await b.read();
      if (poison) {
        assert.equal(g[q], 0);
        assert.deepEqual(Array.from(got), Array.from(b0));
        continue;
      }
      assert.equal(g[q], 1);
      const want = Float64Array.from(b0);
      for (let i = 0; i < q; i++) {
        const gi = (L[i] - L[i + q]) / (2 * eps);
        assert.ok(Math.abs(g[i] - gi) <= 1e-3 * Math.abs(gi) + 1e-3, `g[${i}] ${g[i]} vs ${gi}`);
        const z = zoNormals(seed, tensorId, i, n);
        for (let e = 0; e < n; e++) want[e] -= (lr / q) * gi * z[e];
      }
      let maxDiff = 0;
      for (let e = 0; e < n; e++) maxDiff = Math.max(maxDiff, Math.abs(got[e] - want[e]));
      assert.ok(maxDiff < 1e-5, `max |diff| ${maxDiff}`);
    }
  });
});
