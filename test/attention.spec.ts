// Both attention kernels (thread per (row, head); flash-style tiles with GQA heads sharing K/V, the
// keys split among spare lanes when few queries) against the float64 reference: whole sequences
// with T not a multiple of the tiles and past 256, decoding steps over a cache whose unused
// positions are NaN, outputs poisoned with NaN.
import assert from 'node:assert/strict';
import { attention, chooseAttention, FLASH_HEAD_DIM } from '../src/gpu/kernels/attention';
import { forBackends, input, poisoned, randoms, relError, run, type gpuFixture } from './gpu';
import * as ref from './reference/ops';

type Fixture = () => ReturnType<typeof gpuFixture>;

const TOL = 1e-5;
const KERNELS = ['attention', 'attention_flash'] as const;

interface Case {
  B: number;
  T: number;
  S: number;
  pos0: number;
  nH: number;
  nKv: number;
  hd: number;
  window?: number; // sliding window (keys before every query's window are NaN)
  scale?: number;
}

/** Runs `kernel` on the backend of `fx`, on random q/k/v (cache positions past pos0 + T are NaN) and checks each sequence. */
async function check(fx: Fixture, kernel: (typeof KERNELS)[number], c: Case, seed: number): Promise<void> {
  const { gpu, ks } = await fx();
  const { B, T, S, pos0, nH, nKv, hd, window = 0 } = c;
  const kvDim = nKv * hd;
  const q = randoms(B * T * nH * hd, seed, 2);
  const k = randoms(B * S * kvDim, seed + 1, 2);
  const v = randoms(B * S * kvDim, seed + 2);
  for (let b = 0; b < B; b++) {
    k.fill(NaN, (b * S + pos0 + T) * kvDim, (b + 1) * S * kvDim);
    v.fill(NaN, (b * S + pos0 + T) * kvDim, (b + 1) * S * kvDim);
    const unseen = window ? Math.max(0, pos0 + 1 - window) : 0; // before the first query's window
    k.fill(NaN, b * S * kvDim, (b * S + unseen) * kvDim);
    v.fill(NaN, b * S * kvDim, (b * S + unseen) * kvDim);
  }
  const out = poisoned(gpu, 'out', [B * T, nH * hd]);
  const tq = input(gpu, 'q', [B * T, nH * hd], q);
  const tk = input(gpu, 'k', [B * S, kvDim], k);
  const tv = input(gpu, 'v', [B * S, kvDim], v);
  const shape = { B, T, S, pos0, nHeads: nH, nKvHeads: nKv, headDim: hd, window, ...(c.scale ? { scale: c.scale } : {}) };
  run(gpu, attention(ks, 'test', tq, tk, tv, out, shape, kernel));
  const got = await out.read();
  for (let b = 0; b < B; b++) {
    const keys = k.subarray(b * S * kvDim, (b * S + pos0 + T) * kvDim);
    const vals = v.subarray(b * S * kvDim, (b * S + pos0 + T) * kvDim);
    const want = ref.attention(q.subarray(b * T * nH * hd, (b + 1) * T * nH * hd), keys, vals, nH, nKv, hd, { window, scale: c.scale });
    const err = relError(got.subarray(b * T * nH * hd, (b + 1) * T * nH * hd), want);
    assert.ok(err < TOL, `${kernel} ${JSON.stringify(c)} sequence ${b}: rel error ${err}`);
  }
  for (const t of [out, tq, tk, tv]) t.destroy();
}

forBackends('attention kernels vs float64 reference', (fx) => {
  for (const kernel of KERNELS) {
    describe(kernel, () => {
      it('whole sequences: GQA, T not a multiple of the tiles, odd headDim', async () => {
        await check(fx, kernel, { B: 2, T: 7, S: 7, pos0: 0, nH: 4, nKv: 2, hd: 10 }, 1);
        await check(fx, kernel, { B: 1, T: 37, S: 37, pos0: 0, nH: 6, nKv: 2, hd: 9 }, 4); // G = 3 does not divide 16 slots
        await check(fx, kernel, { B: 3, T: 19, S: 19, pos0: 0, nH: 3, nKv: 3, hd: 48 }, 7); // no GQA, stories15M's headDim
      });

      it('a long sequence past 256 tokens, headDim 64 (TinyLlama: 32 / 4 heads, here 8 / 1)', async () => {
        await check(fx, kernel, { B: 1, T: 300, S: 300, pos0: 0, nH: 8, nKv: 1, hd: 64 }, 10);
      });

      it('decoding and chunks over a cache: reads positions 0 .. pos only (the rest is NaN)', async () => {
        await check(fx, kernel, { B: 2, T: 1, S: 40, pos0: 29, nH: 4, nKv: 4, hd: 16 }, 13); // one token, MHA
        await check(fx, kernel, { B: 2, T: 1, S: 300, pos0: 270, nH: 8, nKv: 2, hd: 32 }, 16); // one token, GQA, long cache
        await check(fx, kernel, { B: 2, T: 3, S: 12, pos0: 4, nH: 6, nKv: 3, hd: 9 }, 19); // a chunk
        await check(fx, kernel, { B: 1, T: 1, S: 50, pos0: 45, nH: 6, nKv: 2, hd: 24 }, 22); // 3 query slots: keys split 4 ways
        await check(fx, kernel, { B: 1, T: 1, S: 20, pos0: 17, nH: 8, nKv: 1, hd: 64 }, 25); // TinyLlama's group of 8: split 2 ways
      });

      it('a sliding window W < T (Gemma 3 local layers): keys before each query\'s window are never read (NaN)', async () => {
        await check(fx, kernel, { B: 2, T: 37, S: 37, pos0: 0, nH: 4, nKv: 2, hd: 16, window: 6 }, 28); // windows not tile-aligned
        await check(fx, kernel, { B: 1, T: 29, S: 29, pos0: 0, nH: 6, nKv: 2, hd: 9, window: 11, scale: 0.2 }, 31); // G = 3, own scale
        await check(fx, kernel, { B: 1, T: 300, S: 300, pos0: 0, nH: 2, nKv: 1, hd: 32, window: 17 }, 34); // many tiles skipped
        await check(fx, kernel, { B: 2, T: 3, S: 40, pos0: 30, nH: 6, nKv: 3, hd: 9, window: 8 }, 37); // a chunk over a cache
        await check(fx, kernel, { B: 1, T: 1, S: 50, pos0: 45, nH: 6, nKv: 2, hd: 24, window: 13 }, 40); // decoding, keys split 4 ways
        await check(fx, kernel, { B: 1, T: 5, S: 5, pos0: 0, nH: 2, nKv: 2, hd: 8, window: 9 }, 43); // window past T: full attention
      });
    });
  }

  it('attention: any headDim (the output is accumulated 128 dimensions per sweep)', async () => {
    for (const hd of [128, 136, 300]) await check(fx, 'attention', { B: 1, T: 4, S: 4, pos0: 0, nH: 2, nKv: 1, hd }, hd);
  });

  it(`attention_flash refuses headDim > ${FLASH_HEAD_DIM} by name; the choice falls back to attention there`, async () => {
    const { gpu, ks } = await fx();
    const [T, hd] = [2, FLASH_HEAD_DIM + 4];
    const t = (label: string) => input(gpu, label, [T, hd], randoms(T * hd, 1));
    const shape = { B: 1, T, S: T, pos0: 0, nHeads: 1, nKvHeads: 1, headDim: hd };
    assert.throws(() => attention(ks, 'big', t('q'), t('k'), t('v'), poisoned(gpu, 'out', [T, hd]), shape, 'attention_flash'), /attention big: attention_flash takes headDim <= 128, got 132/);
    assert.equal(chooseAttention(ks, shape), 'attention');
    // on the CPU (SwiftShader, the WASM backend) the thread-per-row kernel is the default even for long T
    assert.equal(chooseAttention(ks, { ...shape, T: 512, S: 512, headDim: 64 }), gpu.adapterInfo.includes('swiftshader') || gpu.backend === 'wasm' ? 'attention' : 'attention_flash');
  });
});
