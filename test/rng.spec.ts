// The counter-based perturbation RNG: the TypeScript Philox against Random123's known answers,
// the GPU against the TypeScript twin (raw words bit for bit, normals to 2e-6), and the normals'
// statistics: moments, a Kolmogorov-Smirnov distance, and independence of the keyed streams.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { rngBits, rngFill, type RngKey } from '../src/gpu/kernels/rng_fill';
import { INCLUDES } from '../src/gpu/kernels/registry';
import { tensor } from '../src/gpu/tensor';
import { philox4x32, zoNormal, zoNormals } from '../src/util/philox';
import { forBackends, gpuFixture, input, poisoned, run } from './gpu';

const hex = (a: ArrayLike<number>) => Array.from(a, (v) => (v >>> 0).toString(16).padStart(8, '0')).join(' ');

/** Φ(x), the standard normal CDF, through erfc (Numerical Recipes' erfcc, |error| < 1.2e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

function variance(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) ** 2;
  return s / (a.length - 1);
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** sup |F_n - Φ| of the sample. */
function ksDistance(a: ArrayLike<number>): number {
  const s = Float64Array.from(a).sort();
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = normalCdf(s[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}

/** max |got - want|; NaN anywhere in got gives Infinity. */
function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): { max: number; at: number } {
  assert.equal(got.length, want.length);
  let max = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i])) return { max: Infinity, at: i };
    const d = Math.abs(got[i] - want[i]);
    if (d > max) [max, at] = [d, i];
  }
  return { max, at };
}

describe('rng: Philox4x32-10 and the perturbation normals', () => {
  describe('TypeScript twin', () => {
    // Random123's tests/kat_vectors (the philox4x32 10 lines), also in TensorFlow's
    // compiler/tests/stateful_random_ops_test.py (testPhilox4x32).
    const KAT: [number[], number[], number[]][] = [
      [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
      [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
      [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
    ];
    for (const [ctr, key, want] of KAT) {
      it(`matches Random123's known answer for ctr ${hex(ctr)} key ${hex(key)}`, () => {
        const got = philox4x32(ctr as [number, number, number, number], key as [number, number]);
        assert.equal(hex(got), hex(want));
        assert.equal(hex(philox4x32(Uint32Array.from(ctr), Uint32Array.from(key))), hex(want));
      });
    }

    it('rejects counters and keys that are not u32 words', () => {
      assert.throws(() => philox4x32([0, 0, 0, -1], [0, 0]), /ctr\[3\] = -1 is not a u32/);
      assert.throws(() => philox4x32([0, 0, 0, 0], [2 ** 32, 0]), /key\[0\] = 4294967296 is not a u32/);
      assert.throws(() => zoNormal(0, 0, 0.5, 0), /query = 0.5 is not a u32/);
    });

    it('zoNormals equals zoNormal element by element, from any first element', () => {
      const first = 0xffffffff - 5; // wraps past 2^32
      const z = zoNormals(9, 4, 2, 13, first);
      for (let i = 0; i < z.length; i++) assert.equal(z[i], zoNormal(9, 4, 2, (first + i) >>> 0));
      assert.equal(zoNormals(1, 2, 3, 0).length, 0);
    });

    it('is the Box-Muller transform of the Philox block, lane by lane', () => {
      const x = philox4x32([5, 3, 0, 0], [11, 7]);
      const u = (a: number) => ((a >>> 8) + 0.5) / 16777216;
      const r01 = Math.sqrt(-2 * Math.log(u(x[0])));
      const r23 = Math.sqrt(-2 * Math.log(u(x[2])));
      const want = [r01 * Math.cos(2 * Math.PI * u(x[1])), r01 * Math.sin(2 * Math.PI * u(x[1])), r23 * Math.cos(2 * Math.PI * u(x[3])), r23 * Math.sin(2 * Math.PI * u(x[3]))];
      assert.deepEqual(Array.from(zoNormals(11, 7, 3, 4, 20)), want);
    });

    it('generates 1e6 normals in under a second', () => {
      const t0 = performance.now();
      const z = zoNormals(1, 2, 3, 1_000_000);
      const ms = performance.now() - t0;
      assert.ok(Number.isFinite(z[999_999]));
      assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
    });
  });

  describe('WGSL', () => {
    it('rng.wgsl is valid WGSL on its own: functions only, no bindings', async () => {
      const src = fs.readFileSync(path.join(import.meta.dirname, '..', 'shaders', 'rng.wgsl'), 'utf8');
      assert.equal(src, INCLUDES['rng.wgsl']);
      const r = new WgslReflect(src);
      assert.equal(r.entry.compute.length, 0);
      assert.ok(['philox4x32', 'zo_normal', 'zo_normal4'].every((f) => r.functions.some((g) => g.name === f)));
      const { gpu } = await gpuFixture();
      const module = gpu.device.createShaderModule({ label: 'rng.wgsl', code: src });
      const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
      assert.deepEqual(errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`), []);
    });

  });

  forBackends('kernels rng_bits and rng_fill', (fx) => {
    const bitCases: [string, RngKey, number, number][] = [
      ['zero key, counters from 0 (the first is the all-zero known answer)', { seed: 0, tensor: 0, query: 0 }, 0, 4099],
      ['all-ones key and query, counters wrapping past 2^32', { seed: 0xffffffff, tensor: 0xffffffff, query: 0xffffffff }, 0xffffffff - 1500, 3001],
      ['mixed key, counters near 2^31', { seed: 0x243f6a88, tensor: 0xdeadbeef, query: 17 }, 0x7fffff00, 2000],
    ];
    for (const [what, key, first, n] of bitCases) {
      it(`rng_bits equals the TypeScript Philox bit for bit: ${what}`, async () => {
        const { gpu, ks } = await fx();
        const bits = input(gpu, 'bits', [n, 4], new Uint32Array(n * 4).fill(0x7fc00000), 'u32'); // NaN bits
        run(gpu, rngBits(ks, 'test', bits, key, first));
        const got = await bits.readU32();
        let mismatches = 0;
        let firstBad = '';
        for (let e = 0; e < n; e++) {
          const want = philox4x32([(first + e) >>> 0, key.query, 0, 0], [key.seed, key.tensor]);
          const g = got.subarray(4 * e, 4 * e + 4);
          if (hex(g) !== hex(want)) {
            mismatches++;
            firstBad ||= `counter ${first + e}: got ${hex(g)} want ${hex(want)}`;
          }
        }
        assert.equal(mismatches, 0, `${mismatches} of ${n} blocks differ; ${firstBad}`);
        if (first === 0 && key.seed === 0 && key.tensor === 0 && key.query === 0) {
          assert.equal(hex(got.subarray(0, 4)), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
        }
      });
    }

    const TOL = 2e-6;
    let worst = 0;
    after(() => console.log(`      max |kernel - TS| of the normals: ${worst.toExponential(3)}`));

    const fillCases: [RngKey, number, number][] = [
      [{ seed: 1, tensor: 2, query: 3 }, 0, 1],
      [{ seed: 1, tensor: 2, query: 3 }, 0, 3],
      [{ seed: 1, tensor: 2, query: 3 }, 0, 5],
      [{ seed: 1, tensor: 2, query: 3 }, 0, 63],
      [{ seed: 1, tensor: 2, query: 3 }, 0, 65],
      [{ seed: 0xffffffff, tensor: 0x8000_0001, query: 0xffffffff }, 0xffffffff - 700, 1001], // wraps
      [{ seed: 31337, tensor: 12, query: 1 }, 6, 100_003],
      [{ seed: 2024, tensor: 5, query: 0 }, 0, (1 << 21) + 7], // ~1e6 Box-Muller pairs: u near 0 and 1 occur
    ];
    for (const [key, first, n] of fillCases) {
      it(`rng_fill equals zoNormal within ${TOL}: n = ${n}, first = ${first}, key ${JSON.stringify(key)}`, async () => {
        const { gpu, ks } = await fx();
        const out = poisoned(gpu, 'z', [n]);
        run(gpu, rngFill(ks, 'test', out, key, first));
        const got = await out.read();
        const want = zoNormals(key.seed, key.tensor, key.query, n, first);
        const { max, at } = maxAbsDiff(got, want);
        worst = Math.max(worst, max);
        assert.ok(max < TOL, `max |GPU - TS| = ${max} at element ${first + at}: GPU ${got[at]}, TS ${want[at]}`);
      });
    }

    it('the GPU normals have mean 0, variance 1 and the normal CDF (1e5 samples)', async () => {
      const { gpu, ks } = await fx();
      const n = 100_000;
      const out = poisoned(gpu, 'z', [n]);
      run(gpu, rngFill(ks, 'test', out, { seed: 7, tensor: 3, query: 0 }));
      const z = await out.read();
      const [m, v, d] = [mean(z), variance(z), ksDistance(z)];
      assert.ok(Math.abs(m) < 0.02, `mean ${m}`);
      assert.ok(Math.abs(v - 1) < 0.03, `variance ${v}`);
      // The 0.1% critical value of the one-sample K-S statistic is 1.95 / sqrt(n).
      assert.ok(d < 1.95 / Math.sqrt(n), `K-S distance ${d} (bound ${1.95 / Math.sqrt(n)})`);
    });

    it('streams of different seeds, tensors and queries are uncorrelated', async () => {
      const { gpu, ks } = await fx();
      const n = 100_000;
      const base: RngKey = { seed: 7, tensor: 3, query: 0 };
      const variants: [string, RngKey, number][] = [
        ['base', base, 0],
        ['seed + 1', { ...base, seed: 8 }, 0],
        ['tensor + 1', { ...base, tensor: 4 }, 0],
        ['query + 1', { ...base, query: 1 }, 0],
        ['seed and tensor swapped', { seed: 3, tensor: 7, query: 0 }, 0],
        ['next element (lag 1)', base, 1],
        ['next block (lag 4)', base, 4],
      ];
      const outs = variants.map(([name]) => poisoned(gpu, name, [n]));
      run(gpu, ...variants.map(([, key, first], i) => rngFill(ks, 'test', outs[i], key, first)));
      const zs = await Promise.all(outs.map((o) => o.read()));
      for (let i = 0; i < zs.length; i++) {
        for (let j = i + 1; j < zs.length; j++) {
          const c = correlation(zs[i], zs[j]);
          assert.ok(Math.abs(c) < 0.02, `corr(${variants[i][0]}, ${variants[j][0]}) = ${c}`);
        }
      }
    });

    it('wrappers reject wrong dtypes and shapes by name', async () => {
      const { gpu, ks } = await fx();
      const key = { seed: 1, tensor: 2, query: 3 };
      const f = poisoned(gpu, 'f', [8, 4]);
      assert.throws(() => rngBits(ks, 'x', f, key), /rng_bits x: tensor f is f32, expected u32/);
      const wide = tensor(gpu, 'wide', [8, 3], 'scratch', { dtype: 'u32' });
      assert.throws(() => rngBits(ks, 'x', wide, key), /rng_bits x: tensor wide has shape \[8,3\], expected \[8,4\]/);
      const u = tensor(gpu, 'u', [8], 'scratch', { dtype: 'u32' });
      assert.throws(() => rngFill(ks, 'x', u, key), /rng_fill x: tensor u is u32, expected f32/);
      assert.throws(() => rngFill(ks, 'x', poisoned(gpu, 'z', [8]), { ...key, seed: -1 }), /param seed = -1 is not a valid u32/);
    });
  });
});
