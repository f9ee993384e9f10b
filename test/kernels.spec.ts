// Every kernel against the float64 reference, on seeded random inputs with shapes that are not
// multiples of the tiles, outputs poisoned with NaN before the run.
import assert from 'node:assert/strict';
import { gather } from '../src/gpu/kernels/gather';
import { matmul } from '../src/gpu/kernels/matmul';
import { rmsnorm } from '../src/gpu/kernels/rmsnorm';
import { rope, ropeTable } from '../src/gpu/kernels/rope';
import { addRow, elementwise, elementwiseCount, swiglu } from '../src/gpu/kernels/swiglu';
import { xent } from '../src/gpu/kernels/xent';
import { grid1d } from '../src/gpu/kernel';
import { tensor } from '../src/gpu/tensor';
import { uploadCompressed } from '../src/gpu/weight';
import { dequantizeQ4_0, dequantizeQ8_0 } from '../src/formats/gguf';
import { floatToF16Bits, quantizeQ4_0, quantizeQ8_0 } from '../src/formats/gguf_writer';
import { f16BitsToFloat } from '../src/formats/safetensors';
import { forBackends, input, poisoned, randoms, relError, run } from './gpu';
import * as ref from './reference/ops';

forBackends('kernels vs float64 reference', (fx) => {
  const TOL = 1e-5;

  describe('matmul', () => {
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [3, 5, 7],
      [33, 65, 17], // scalar path, ragged tiles
      [37, 70, 64], // vec4 path, ragged tiles
      [1, 512, 64], // one row (decoding), LM-head width
      [100, 36, 172],
      [64, 64, 64],
    ];
    for (const [M, N, K] of shapes) {
      for (const accumulate of [false, true]) {
        it(`[${M}x${K}] x [${N}x${K}]^T${accumulate ? ' accumulate' : ''}`, async () => {
          const { gpu, ks } = await fx();
          const xd = randoms(M * K, M * 7 + K);
          const wd = randoms(N * K, N * 13 + K);
          const y0 = randoms(M * N, 99);
          const x = input(gpu, 'x', [M, K], xd);
          const w = input(gpu, 'w', [N, K], wd);
          const y = accumulate ? input(gpu, 'y', [M, N], y0) : poisoned(gpu, 'y', [M, N]);
          run(gpu, matmul(ks, 'test', x, w, y, accumulate));
          const want = ref.matmulT(xd, wd, K);
          if (accumulate) for (let i = 0; i < want.length; i++) want[i] += y0[i];
          const err = relError(await y.read(), want);
          assert.ok(err < TOL, `rel error ${err}`);
        });
      }
    }
  });

  it('rmsnorm, ragged widths', async () => {
    const { gpu, ks } = await fx();
    // the last two take the thread-per-row variant (rows >= 256)
    for (const [rows, width] of [[1, 64], [7, 100], [3, 1], [5, 300], [300, 64], [257, 37]]) {
      const xd = randoms(rows * width, rows + width, 3);
      const wd = randoms(width, width);
      const out = poisoned(gpu, 'out', [rows, width]);
      run(gpu, rmsnorm(ks, 'test', input(gpu, 'x', [rows, width], xd), input(gpu, 'w', [width], wd), out, 1e-5));
      const err = relError(await out.read(), ref.rmsnorm(xd, wd, 1e-5));
      assert.ok(err < TOL, `[${rows}x${width}] rel error ${err}`);
    }
  });

  it('rmsnorm accumulating into its output (Gemma post-norms: x += rmsnorm(y)), both variants', async () => {
    const { gpu, ks } = await fx();
    for (const [rows, width] of [[7, 100], [300, 37]]) {
      const xd = randoms(rows * width, rows, 3);
      const wd = randoms(width, width);
      const od = randoms(rows * width, rows + 1);
      const out = input(gpu, 'out', [rows, width], od);
      run(gpu, rmsnorm(ks, 'test', input(gpu, 'x', [rows, width], xd), input(gpu, 'w', [width], wd), out, 1e-6, true));
      const want = ref.rmsnorm(xd, wd, 1e-6).map((v, i) => v + od[i]);
      const err = relError(await out.read(), want);
      assert.ok(err < TOL, `[${rows}x${width}] rel error ${err}`);
    }
    const x = input(gpu, 'x', [2, 3], randoms(6, 1));
    assert.throws(() => rmsnorm(ks, 'self', x, input(gpu, 'w', [3], randoms(3, 2)), x, 1e-6, true), /rmsnorm self: accumulating into its own input/);
  });

  it('gather rows by index; an index past the table gives NaN', async () => {
    const { gpu, ks } = await fx();
    const table = randoms(50 * 13, 5);
    const idx = Uint32Array.from([3, 0, 49, 17, 3, 50]);
    const out = poisoned(gpu, 'out', [idx.length, 13]);
    run(gpu, gather(ks, 'test', input(gpu, 'table', [50, 13], table), input(gpu, 'idx', [idx.length], idx, 'u32'), out));
    const got = await out.read();
    for (let r = 0; r < 5; r++) {
      assert.deepEqual(Array.from(got.subarray(r * 13, (r + 1) * 13)), Array.from(table.subarray(idx[r] * 13, (idx[r] + 1) * 13)));
    }
    assert.ok(got.subarray(5 * 13).every((v) => Number.isNaN(v)));
  });

  it('swiglu', async () => {
    const { gpu, ks } = await fx();
    for (const n of [1, 1000, 70001]) {
      const g = randoms(n, n, 6);
      const u = randoms(n, n + 1, 2);
      const out = poisoned(gpu, 'out', [n]);
      run(gpu, swiglu(ks, 'test', input(gpu, 'g', [n], g), input(gpu, 'u', [n], u), out));
      const err = relError(await out.read(), ref.swiglu(g, u));
      assert.ok(err < TOL, `n=${n} rel error ${err}`);
    }
  });

  it('geglu (tanh GELU, Gemma 3): large |gate| too', async () => {
    const { gpu, ks } = await fx();
    for (const n of [1, 1000, 70001]) {
      const g = randoms(n, n + 7, 12); // |g| up to 12: tanh saturates, g^3 is large
      const u = randoms(n, n + 8, 2);
      const out = poisoned(gpu, 'out', [n]);
      run(gpu, swiglu(ks, 'test', input(gpu, 'g', [n], g), input(gpu, 'u', [n], u), out, 'gelu_tanh'));
      const err = relError(await out.read(), ref.geglu(g, u));
      assert.ok(err < TOL, `n=${n} rel error ${err}`);
    }
  });

  it('scale and softcap in place; softcap on the first n elements only', async () => {
    const { gpu, ks } = await fx();
    const n = 70001;
    const xd = randoms(n, 9, 40);
    const a = input(gpu, 'a', [n], xd);
    run(gpu, elementwise(ks, 'test', 'scale', a, 5.656854));
    assert.ok(relError(await a.read(), Array.from(xd, (v) => v * Math.fround(5.656854))) < 1e-7, 'scale');
    const b = input(gpu, 'b', [n], xd);
    const d = elementwise(ks, 'test', 'softcap', b, 30);
    elementwiseCount(d, 1000);
    run(gpu, d);
    const got = await b.read();
    const want = Array.from(xd.subarray(0, 1000), (v) => 30 * Math.tanh(v / 30));
    assert.ok(relError(got.subarray(0, 1000), want) < TOL, 'softcap');
    assert.deepEqual(got.subarray(1000), xd.subarray(1000), 'past n: untouched');
    assert.throws(() => elementwise(ks, 'bad', 'softcap', b, 0), /softcap bad: constant 0 is not a positive number/);
  });

  it('add_row: a bias row added to every row (Llama attention_bias o bias)', async () => {
    const { gpu, ks } = await fx();
    const [rows, width] = [37, 53];
    const xd = randoms(rows * width, 3);
    const bd = randoms(width, 4);
    const x = input(gpu, 'x', [rows, width], xd);
    run(gpu, addRow(ks, 'test', x, input(gpu, 'b', [width], bd)));
    assert.deepEqual(Array.from(await x.read()), Array.from(xd, (v, i) => Math.fround(v + bd[i % width])));
    assert.throws(() => addRow(ks, 'bad', x, input(gpu, 'b2', [width + 1], randoms(width + 1, 5))), /add_row bad: tensor b2 has shape \[54\], expected \[53\]/);
  });

  for (const style of ['adjacent', 'halfsplit'] as const) {
    it(`rope ${style}, two sequences, positions from pos0`, async () => {
      const { gpu, ks } = await fx();
      const [B, T, nHeads, headDim, pos0, maxPos] = [2, 5, 3, 6, 7, 20];
      const rows = B * T;
      const xd = randoms(rows * nHeads * headDim, 11);
      const table = input(gpu, 'table', [maxPos, headDim / 2, 2], ropeTable(maxPos, headDim, 10000));
      const out = poisoned(gpu, 'out', [rows, nHeads * headDim]);
      run(gpu, rope(ks, 'test', input(gpu, 'x', [rows, nHeads * headDim], xd), table, out, { T, pos0, nHeads, headDim, style }));
      const positions = Array.from({ length: rows }, (_, r) => pos0 + (r % T));
      const err = relError(await out.read(), ref.rope(xd, positions, headDim, 10000, style));
      assert.ok(err < TOL, `rel error ${err}`);
    });
  }
});

forBackends('grids folded into two dimensions (past 65535 workgroups in x)', (fx) => {
  const TOL = 1e-5;
  /** A grid of `groups` workgroups folded at `x` per row, as grid1d folds at 65535. */
  const folded = (groups: number, x: number): [number, number, number] => [x, Math.ceil(groups / x), 1];

  it('gather at full size: 65600 x 64 threads, a thread per element of out', async () => {
    const { gpu, ks } = await fx();
    const [rows, width, tableRows] = [65600, 64, 70];
    const table = randoms(tableRows * width, 1);
    const idx = Uint32Array.from({ length: rows }, (_, i) => (i * 31 + 7) % tableRows);
    const out = poisoned(gpu, 'out', [rows, width]);
    const d = gather(ks, 'test', input(gpu, 'table', [tableRows, width], table), input(gpu, 'idx', [rows], idx, 'u32'), out);
    assert.deepEqual(d.workgroups, [65535, 2, 1]);
    run(gpu, d);
    const got = await out.read();
    let bad = -1;
    for (let i = 0; i < rows * width && bad < 0; i++) if (got[i] !== table[idx[Math.floor(i / width)] * width + (i % width)]) bad = i;
    assert.equal(bad, -1, `element ${bad} (row ${Math.floor(bad / width)}) differs`);
  });

  // The shaders read the fold from num_workgroups, so a fold at any x checks them cheaply.
  it('rope (a thread per pair), rmsnorm_rows (per row), rmsnorm and xent (a workgroup per row)', async () => {
    const { gpu, ks } = await fx();
    const [rows, T, headDim] = [300, 3, 10];
    const xd = randoms(rows * headDim, 2);
    const out = poisoned(gpu, 'out', [rows, headDim]);
    const table = input(gpu, 'table', [T, headDim / 2, 2], ropeTable(T, headDim, 10000));
    const dr = rope(ks, 'test', input(gpu, 'x', [rows, headDim], xd), table, out, { T, pos0: 0, nHeads: 1, headDim, style: 'halfsplit' });
    dr.workgroups = folded(Math.ceil((rows * headDim) / 2 / 64), 5);
    run(gpu, dr);
    const positions = Array.from({ length: rows }, (_, r) => r % T);
    assert.ok(relError(await out.read(), ref.rope(xd, positions, headDim, 10000, 'halfsplit')) < TOL, 'rope');

    const wd = randoms(headDim, 3);
    const w = input(gpu, 'w', [headDim], wd);
    const x = input(gpu, 'xn', [rows, headDim], xd);
    for (const [entry, groups] of [['rmsnorm_rows', Math.ceil(rows / 64)], ['rmsnorm', rows]] as const) {
      const o = poisoned(gpu, 'o', [rows, headDim]);
      run(gpu, ks.get(entry).dispatch('test', { x, weight: w, out: o }, { rows, width: headDim, eps: 1e-5, accumulate: 0 }, folded(groups, 2)));
      assert.ok(relError(await o.read(), ref.rmsnorm(xd, wd, 1e-5)) < TOL, entry);
    }

    const vocab = 7;
    const logits = randoms(rows * vocab, 5, 3);
    const labels = Int32Array.from({ length: rows }, (_, i) => i % vocab);
    const rowLoss = poisoned(gpu, 'rowLoss', [rows]);
    const lab = tensor(gpu, 'labels', [rows], 'scratch', { dtype: 'i32', data: labels });
    const dx = xent(ks, 'test', input(gpu, 'logits', [rows, vocab], logits), lab, rowLoss, rows);
    dx.workgroups = folded(rows, 100);
    run(gpu, dx);
    const want = Array.from({ length: rows }, (_, i) => ref.logSumExp(logits.subarray(vocab * i, vocab * (i + 1))) - logits[vocab * i + labels[i]]);
    assert.ok(relError(await rowLoss.read(), want) < TOL, 'xent');
  });

  it('the wrappers fold at 65535: rmsnorm_rows, rmsnorm and xent grids', async () => {
    const { gpu, ks } = await fx();
    const many = 64 * 65600;
    const d = rmsnorm(ks, 'grid', input(gpu, 'x', [many, 1], new Float32Array(many)), input(gpu, 'w', [1], Float32Array.of(1)), poisoned(gpu, 'o', [many, 1]), 1e-5);
    assert.equal(d.kernel.name, 'rmsnorm_rows');
    assert.deepEqual(d.workgroups, [65535, 2, 1]);
    assert.deepEqual(grid1d(65600, 1).workgroups, [65535, 2, 1]);
    const n = 65600;
    const dx = xent(ks, 'grid', poisoned(gpu, 'l', [n, 1]), tensor(gpu, 'lab', [n], 'scratch', { dtype: 'i32' }), poisoned(gpu, 'r', [n]), n);
    assert.deepEqual(dx.workgroups, [65535, 2, 1]);
  });
});

forBackends('compressed matmul (f16, Q8_0, Q4_0) vs float64 on the dequantised weights', (fx) => {
  const shapes: [number, number, number][] = [
    [1, 70, 64],
    [37, 33, 96],
    [5, 512, 32],
  ];
  for (const type of ['f16', 'q8_0', 'q4_0'] as const) {
    for (const [M, N, K] of shapes) {
      it(`${type} [${M}x${K}] x [${N}x${K}]^T, accumulate`, async () => {
        const { gpu, ks } = await fx();
        const xd = randoms(M * K, M + K);
        const wd = randoms(N * K, N * 3 + K, 0.5);
        let bytes: Uint8Array;
        let deq: Float32Array;
        if (type === 'f16') {
          const h = Uint16Array.from(wd, (v) => floatToF16Bits(v));
          bytes = new Uint8Array(h.buffer);
          deq = Float32Array.from(h, (b) => f16BitsToFloat(b));
        } else if (type === 'q8_0') {
          bytes = quantizeQ8_0(wd);
          deq = dequantizeQ8_0(bytes, N * K);
        } else {
          bytes = quantizeQ4_0(wd);
          deq = dequantizeQ4_0(bytes, N * K);
        }
        const w = uploadCompressed(gpu, 'w', type, [N, K], bytes);
        const y0 = randoms(M * N, 77);
        for (const accumulate of [false, true]) {
          const y = accumulate ? input(gpu, 'y', [M, N], y0) : poisoned(gpu, 'y', [M, N]);
          run(gpu, matmul(ks, 'test', input(gpu, 'x', [M, K], xd), w, y, accumulate));
          const want = ref.matmulT(xd, deq, K);
          if (accumulate) for (let i = 0; i < want.length; i++) want[i] += y0[i];
          const err = relError(await y.read(), want);
          assert.ok(err < 1e-5, `rel error ${err}`);
        }
      });
    }
  }

  it('the ledger holds the compressed bytes: Q8_0 about 1/4, Q4_0 about 1/7 of f32', async () => {
    const { gpu } = await fx();
    const [N, K] = [64, 256];
    const wd = randoms(N * K, 5);
    const q8 = uploadCompressed(gpu, 'q8', 'q8_0', [N, K], quantizeQ8_0(wd));
    const q4 = uploadCompressed(gpu, 'q4', 'q4_0', [N, K], quantizeQ4_0(wd));
    assert.equal(q8.bytes, (N * K * 34) / 32);
    assert.equal(q4.bytes, (N * K * 18) / 32);
    const f32 = N * K * 4;
    assert.ok(Math.abs(f32 / q8.bytes - 3.76) < 0.01 && Math.abs(f32 / q4.bytes - 7.11) < 0.01);
  });
});
