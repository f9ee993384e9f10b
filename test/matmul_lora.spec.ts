// matmul_lora (the MP-LoRA term in the matmul's epilogue) against a float64 reference that draws
// Z from the TypeScript Philox twin, and against the unfused matmul + mplora pair.
import assert from 'node:assert/strict';
import { matmul } from '../src/gpu/kernels/matmul';
import { matmulLora } from '../src/gpu/kernels/matmul_lora';
import { mplora } from '../src/gpu/kernels/mplora';
import { StepBlock } from '../src/gpu/step_block';
import { matmulLoraReference } from './adapters';
import { forBackends, input, poisoned, randoms, relError, run } from './gpu';

forBackends('matmul_lora: y = x W^T + s (B + sign eps Z) (A x) in one dispatch', (fx) => {
  // [kernel, rowsPerSlot, N, K, rank, q, slotBase, slots, accumulate]: ragged rows (slots that end
  // inside a 32-row tile and inside a 4-row block), ragged N, K not a multiple of 4 for the scalar
  // entry, ranks not multiples of 4 (one Z element at a time) and multiples (four at a time)
  const cases: [string, number, number, number, number, number, number, number, boolean][] = [
    ['matmul', 13, 37, 19, 5, 3, 0, 6, false],
    ['matmul', 70, 45, 23, 8, 2, 2, 2, true],
    ['matmul_vec4', 13, 37, 20, 5, 3, 0, 6, false],
    ['matmul_vec4', 70, 45, 44, 8, 2, 0, 4, true],
    ['matmul_vec4', 6, 33, 12, 3, 4, 4, 3, false],
    ['matmul_vec4', 34, 50, 16, 7, 1, 0, 2, false],
  ];
  const [eps, scale, seed, tensorId] = [1e-2, 2, 4242, 11];
  for (const [kernel, rowsPerSlot, N, K, rank, q, slotBase, slots, accumulate] of cases) {
    const tag = `${kernel}: ${slots} slots of ${rowsPerSlot} rows from ${slotBase}, N ${N}, K ${K}, rank ${rank}, q ${q}${accumulate ? ', accumulate' : ''}`;
    it(tag, async () => {
      const { gpu, ks } = await fx();
      const M = slots * rowsPerSlot;
      const xs = randoms(M * K, 1);
      const ws = randoms(N * K, 2, 0.5);
      const axs = randoms(M * rank, 3);
      const bs = randoms(N * rank, 4, 0.5);
      const y0 = randoms(M * N, 5);
      const x = input(gpu, 'x', [M, K], xs);
      const w = input(gpu, 'w', [N, K], ws);
      const ax = input(gpu, 'ax', [M, rank], axs);
      const b = input(gpu, 'b', [N, rank], bs);
      const yFused = accumulate ? input(gpu, 'y', [M, N], y0) : poisoned(gpu, 'y', [M, N]);
      const yPair = accumulate ? input(gpu, 'y2', [M, N], y0) : poisoned(gpu, 'y2', [M, N]);
      const step = new StepBlock(gpu, 'step');
      step.set({ seed, slotBase, eps, lr: 0 });
      const s = { rowsPerSlot, q, scale, tensor: tensorId };
      run(gpu, matmulLora(ks, 't', x, w, ax, b, yFused, s, step, accumulate, kernel));
      run(gpu, matmul(ks, 't', x, w, yPair, accumulate, kernel), mplora(ks, 't', ax, b, yPair, s, step));
      const want = matmulLoraReference({ x: xs, w: ws, ax: axs, b: bs, y0: accumulate ? y0 : undefined, M, N, K, rank, rowsPerSlot, q, slotBase, seed, tensor: tensorId, eps, scale });
      const got = await yFused.read();
      const pair = await yPair.read();
      const err = relError(got, want);
      const errPair = relError(got, pair);
      for (const t of [x, w, ax, b, yFused, yPair]) t.destroy();
      step.destroy();
      assert.ok(err < 1e-5, `vs float64: rel error ${err}`);
      assert.ok(errPair < 1e-5, `vs matmul + mplora: rel error ${errPair}`);
    });
  }

  it('eps = 0 is plain LoRA; a slot >= 2q is refused', async () => {
    const { gpu, ks } = await fx();
    const [M, N, K, rank] = [9, 10, 8, 2];
    const xs = randoms(M * K, 6);
    const ws = randoms(N * K, 7);
    const axs = randoms(M * rank, 8);
    const bs = randoms(N * rank, 9);
    const [x, w, ax, b] = [input(gpu, 'x', [M, K], xs), input(gpu, 'w', [N, K], ws), input(gpu, 'ax', [M, rank], axs), input(gpu, 'b', [N, rank], bs)];
    const y = poisoned(gpu, 'y', [M, N]);
    const step = new StepBlock(gpu, 'step');
    step.set({ seed: 1, slotBase: 0, eps: 0, lr: 0 });
    run(gpu, matmulLora(ks, 't', x, w, ax, b, y, { rowsPerSlot: M, q: 1, scale: 0.5, tensor: 1 }, step));
    const want = new Float64Array(M * N);
    for (let r = 0; r < M; r++) {
      for (let o = 0; o < N; o++) {
        let v = 0;
        for (let k = 0; k < K; k++) v += xs[r * K + k] * ws[o * K + k];
        for (let j = 0; j < rank; j++) v += 0.5 * bs[o * rank + j] * axs[r * rank + j];
        want[r * N + o] = v;
      }
    }
    const err = relError(await y.read(), want);
    assert.ok(err < 1e-5, `rel error ${err}`);
    assert.throws(() => matmulLora(ks, 't', x, w, ax, b, y, { rowsPerSlot: 3, q: 1, scale: 1, tensor: 1 }, step), /3 slots exceed 2q = 2/);
    assert.throws(() => matmulLora(ks, 't', x, w, ax, b, y, { rowsPerSlot: 3, q: 2, scale: 1, tensor: 1, zo: { zoRank: 2 } }, step), /only P-RGE/);
    for (const t of [x, w, ax, b, y]) t.destroy();
    step.destroy();
  });
});
