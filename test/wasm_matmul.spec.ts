// The WebAssembly twins of the matmul family (wasm/matmul.ts, matmul_quant.ts, matmul_lora.ts,
// gather_quant.ts) called directly through the kernel ABI (a binding table of addresses in the
// module's memory, the dispatch's grid, part / parts), against float64 references on ragged shapes,
// outputs poisoned with NaN first: every entry, every weight layout, plain and accumulating, and the
// same bits for any number of parts and any panel size.
import assert from 'node:assert/strict';
import { f16BitsToFloat } from '../src/formats/safetensors';
import { createMemory, WasmHeap } from '../src/gpu/cpu/memory';
import { compileKernels, kernelImports } from '../src/gpu/cpu/module';
import { LAYOUTS, packBlocks, type WeightLayout } from '../src/gpu/weight';
import { matmulLoraReference } from './adapters';
import { randoms, relError } from './gpu';
import { randomWeight, type RandomLayout } from './quant_fixture';
import * as ref from './reference/ops';

/** The kernel module in a memory of its own, the device's allocator over it, and a few helpers to call entries. */
class Harness {
  readonly exports: Record<string, (...a: number[]) => number>;
  readonly heap: WasmHeap;
  private live: number[] = [];
  private scratchAt = 0;

  constructor(module: WebAssembly.Module) {
    const memory = createMemory(64, true);
    const instance = new WebAssembly.Instance(module, kernelImports(memory));
    this.exports = instance.exports as unknown as Record<string, (...a: number[]) => number>;
    this.heap = new WasmHeap(memory, this.exports.heapBase(), 2 ** 31);
  }

  alloc(bytes: number): number {
    const p = this.heap.alloc(bytes, 'wasm_matmul.spec');
    this.live.push(p);
    return p;
  }

  /** A copy of `data` in the module's memory; returns its address. */
  put(data: Float32Array | Uint32Array | Uint8Array): number {
    const p = this.alloc(data.byteLength);
    this.heap.u8().set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), p);
    return p;
  }

  f32(p: number, n: number): Float32Array {
    return new Float32Array(this.heap.u8().buffer, p, n).slice();
  }

  /** Everything allocated since mark() is released by release(mark). */
  mark(): number {
    return this.live.length;
  }

  release(mark: number): void {
    for (const p of this.live.splice(mark)) this.heap.release(p);
  }

  /** Gives the kernels `bytes` of scratch (a fresh region; the previous one is released). */
  setScratch(bytes: number): void {
    if (this.scratchAt) this.heap.release(this.scratchAt);
    this.scratchAt = this.heap.alloc(bytes, 'wasm_matmul.spec scratch');
    this.exports.setScratch(this.scratchAt, bytes);
  }

  /** Runs `entry` as `parts` parts (one after another here; threads run them at once). */
  run(entry: string, bindings: number[], grid: [number, number, number], parts = 1): void {
    const fn = this.exports[entry];
    assert.ok(fn, `the module exports ${entry}`);
    const table = this.put(Uint32Array.from(bindings));
    for (let part = 0; part < parts; part++) fn(table, grid[0], grid[1], grid[2], part, parts);
  }
}

let harness: Harness | null = null;

/** The twins (wasm/build/mobizo.wasm through src/gpu/cpu/module.ts) with 1 MiB of scratch. */
async function wasm(): Promise<Harness> {
  if (harness) return harness;
  const h = new Harness((await compileKernels(true)).module);
  h.setScratch(1 << 20);
  harness = h;
  return h;
}

const nans = (n: number) => new Float32Array(n).fill(NaN);
const u32 = (...v: number[]) => Uint32Array.from(v);
/** A uniform of u32 fields, with f32 fields given as {f}: padded to 16 bytes. */
const uniform = (...v: (number | { f: number })[]) => {
  const b = new Uint32Array(Math.ceil(v.length / 4) * 4);
  v.forEach((x, i) => {
    b[i] = typeof x === 'number' ? x : new Uint32Array(Float32Array.of(x.f).buffer)[0];
  });
  return b;
};
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const PARTS = [2, 3, 5];

describe('wasm matmul (matmul, matmul_vec4, matmul_tiled, matmul_tiled_vec4) vs float64', () => {
  const entries: [string, number, boolean][] = [
    ['matmul', 32, false],
    ['matmul_vec4', 32, true],
    ['matmul_tiled', 64, false],
    ['matmul_tiled_vec4', 64, true],
  ];
  // [M, N, K]: M odd (a 1-row tail), N not a multiple of 4 (column tails), K with a tail of 1..3 for the scalar entries
  const shapes: [number, number, number][] = [[1, 1, 1], [5, 37, 19], [7, 33, 20], [70, 45, 44], [2, 130, 8], [3, 6, 3]];
  for (const [entry, tile, vec4] of entries) {
    it(`${entry}: ragged shapes, plain and accumulating, the same bits for 1, ${PARTS.join(', ')} parts`, async () => {
      const h = await wasm();
      for (const [M, N, K] of shapes) {
        if (vec4 && K % 4 !== 0) continue;
        const mark = h.mark();
        const xs = randoms(M * K, 1 + M);
        const ws = randoms(N * K, 2 + N);
        const y0 = randoms(M * N, 3);
        const want = ref.matmulT(xs, ws, K);
        const [x, w] = [h.put(xs), h.put(ws)];
        const grid: [number, number, number] = [Math.ceil(N / tile), Math.ceil(M / tile), 1];
        for (const acc of [0, 1]) {
          const params = h.put(uniform(M, N, K, acc));
          const y = h.put(acc ? y0 : nans(M * N));
          h.run(entry, [params, x, w, y], grid);
          const got = h.f32(y, M * N);
          const err = relError(got, acc ? want.map((v, i) => v + y0[i]) : want);
          assert.ok(err < 2e-6, `${entry} [${M}x${K}] x [${N}x${K}]^T accumulate ${acc}: rel error ${err}`);
          for (const parts of PARTS) {
            const yp = h.put(acc ? y0 : nans(M * N));
            h.run(entry, [params, x, w, yp], grid, parts);
            assert.deepEqual(bits(h.f32(yp, M * N)), bits(got), `${entry} [${M}, ${N}, ${K}] accumulate ${acc}: ${parts} parts differ from 1`);
          }
        }
        h.release(mark);
      }
    });
  }

  it('a grid that covers fewer rows or columns leaves the rest unwritten, as the WGSL guards', async () => {
    const h = await wasm();
    const [M, N, K] = [70, 45, 16];
    const xs = randoms(M * K, 5);
    const ws = randoms(N * K, 6);
    const want = ref.matmulT(xs, ws, K);
    const y = h.put(nans(M * N));
    h.run('matmul_vec4', [h.put(uniform(M, N, K, 0)), h.put(xs), h.put(ws), y], [1, 2, 1], 3); // 32 columns, 64 rows
    const got = h.f32(y, M * N);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const v = got[m * N + n];
        if (m < 64 && n < 32) assert.ok(Math.abs(v - want[m * N + n]) < 1e-5, `y[${m}, ${n}] = ${v}, want ${want[m * N + n]}`);
        else assert.ok(Number.isNaN(v), `y[${m}, ${n}] is outside the grid: must stay NaN, got ${v}`);
      }
    }
  });
});

/** Layouts of shaders/quant_blocks.wgsl, their file name and their matmul entry. */
const LAYOUT_CASES: [WeightLayout, RandomLayout | 'F32'][] = [
  ['f32', 'F32'], ['f16', 'F16'], ['bf16', 'BF16'], ['q8_0', 'Q8_0'], ['q4_0', 'Q4_0'], ['q4_1', 'Q4_1'], ['q5_0', 'Q5_0'],
  ['q5_1', 'Q5_1'], ['q2_k', 'Q2_K'], ['q3_k', 'Q3_K'], ['q4_k', 'Q4_K'], ['q5_k', 'Q5_K'], ['q6_k', 'Q6_K'],
];

/** Random weight bytes of a layout as the kernels read them (packBlocks), with their float64 values. */
function weight(file: RandomLayout | 'F32', n: number, seed: number) {
  if (file === 'F32') {
    const f = randoms(n, seed, 0.5);
    return { bytes: new Uint8Array(f.buffer), values: f };
  }
  return randomWeight(file, n, seed);
}

describe('wasm matmul_quant: every layout and entry (4-row, _r1, _r8, _elem) vs float64 over the dequantised weights', () => {
  for (const [layout, file] of LAYOUT_CASES) {
    const block = LAYOUTS[layout].elements === 1 || LAYOUTS[layout].elements === 2 ? 4 : LAYOUTS[layout].elements;
    // N = 37: 3 panels of 16 rows and a ragged one; K = 3 blocks (36 for the dense layouts); y wider than W (a row block of a split matrix)
    const [N, K, yStride, yColumn] = [37, block === 4 ? 36 : 3 * block, 45, 5];
    const base = layout === 'f32' ? 'matmul_f32_part' : `matmul_${layout}`;
    const entries = layout === 'f32' ? [base] : [base, `${base}_r1`, `${base}_r8`, ...(layout.startsWith('q') ? [`${base}_elem`] : [])];
    it(`${layout}: ${entries.join(', ')}; M = 1, 5, 21, 70; plain and accumulating into columns ${yColumn}.. of ${yStride}; any parts, any panel`, async () => {
      const h = await wasm();
      const mark = h.mark();
      const { bytes, values } = weight(file, N * K, 31);
      const packed = packBlocks(layout, bytes);
      const wq = h.put(packed.quants);
      const ws = packed.scales ? h.put(packed.scales) : wq;
      for (const M of [1, 5, 21, 70]) {
        const xs = randoms(M * K, 32 + M);
        const y0 = randoms(M * yStride, 33 + M);
        const want = ref.matmulT(xs, values, K);
        const x = h.put(xs);
        for (const entry of entries) {
          const tile = entry.endsWith('_r1') ? [256, 1] : entry.endsWith('_r8') ? [32, 64] : [32, 32];
          const grid: [number, number, number] = [Math.ceil(N / tile[0]), Math.ceil(M / tile[1]), 1];
          for (const acc of [0, 1]) {
            const params = h.put(uniform(M, N, K, acc, yStride, yColumn));
            const start = acc ? y0 : nans(M * yStride);
            const y = h.put(start);
            h.run(entry, [params, x, wq, y, ws], grid);
            const got = h.f32(y, M * yStride);
            const mine = new Float32Array(M * N);
            for (let m = 0; m < M; m++) {
              for (let c = 0; c < yStride; c++) {
                const v = got[m * yStride + c];
                if (c >= yColumn && c < yColumn + N) mine[m * N + c - yColumn] = v;
                else assert.ok(Object.is(v, start[m * yStride + c]), `${entry} M ${M}: column ${c} is not W's: must stay as it was`);
              }
            }
            const err = relError(mine, acc ? want.map((v, i) => v + y0[Math.floor(i / N) * yStride + yColumn + (i % N)]) : want);
            assert.ok(err < 2e-6, `${entry} M ${M} accumulate ${acc}: rel error ${err}`);
            for (const parts of PARTS) {
              const yp = h.put(start);
              h.run(entry, [params, x, wq, yp, ws], grid, parts);
              assert.deepEqual(bits(h.f32(yp, M * yStride)), bits(got), `${entry} M ${M} accumulate ${acc}: ${parts} parts differ from 1`);
            }
          }
        }
      }
      if (layout !== 'f32') {
        // a scratch that holds only 4 (then 1) decoded rows: smaller panels than the 16..64 of 1 MiB, the same bits
        const M = 9;
        const params = h.put(uniform(M, N, K, 0, yStride, yColumn));
        const x = h.put(randoms(M * K, 40));
        const grid: [number, number, number] = [Math.ceil(N / 32), 1, 1];
        const runWith = (scratch: number) => {
          h.setScratch(scratch);
          const y = h.put(nans(M * yStride));
          h.run(base, [params, x, wq, y, ws], grid, 2);
          return bits(h.f32(y, M * yStride));
        };
        const wide = runWith(1 << 20);
        assert.deepEqual(runWith(4 * K * 4), wide, 'a 4-row panel gives the bits of a full one');
        assert.deepEqual(runWith(K * 4), wide, 'a 1-row panel gives the bits of a full one');
        h.setScratch(1 << 20);
      }
      h.release(mark);
    });
  }
});

describe('wasm gather_quant: every layout, a table split in two row blocks; decoded values exact', () => {
  for (const [layout, file] of LAYOUT_CASES) {
    const entry = layout === 'f32' ? 'gather_f32_part' : `gather_${layout}`;
    const block = LAYOUTS[layout].elements <= 2 ? 4 : LAYOUTS[layout].elements;
    it(`${entry}: rows equal Math.fround of the float64 dequantisation; an index past the table gives NaN; any parts`, async () => {
      const h = await wasm();
      const mark = h.mark();
      const [rows, width] = [9, block === 4 ? 40 : 2 * block];
      const { bytes, values } = weight(file, rows * width, 21);
      const rowBytes = bytes.length / rows;
      const idx = u32(3, 0, 8, 3, 9, 5, 4);
      const index = h.put(idx);
      const runAll = (parts: number) => {
        const out = h.put(nans(idx.length * width));
        // rows 0..4 in one block, 5..8 in another (a split table): each writes only its own rows
        for (const [row0, n] of [[0, 5], [5, 4]]) {
          const p = packBlocks(layout, bytes.subarray(row0 * rowBytes, (row0 + n) * rowBytes));
          const wq = h.put(p.quants);
          const params = h.put(uniform(idx.length, width, n, row0, rows, idx.length));
          h.run(entry, [params, wq, index, out, p.scales ? h.put(p.scales) : wq], [Math.ceil(width / 256), idx.length, 1], parts);
        }
        return h.f32(out, idx.length * width);
      };
      const got = runAll(1);
      idx.forEach((r, i) => {
        const row = got.subarray(i * width, (i + 1) * width);
        if (r >= rows) assert.ok(row.every(Number.isNaN), `row ${i} (index ${r}) must be NaN`);
        else for (let c = 0; c < width; c++) assert.ok(Object.is(row[c], Math.fround(values[r * width + c])), `row ${i} col ${c}: ${row[c]} vs ${values[r * width + c]}`);
      });
      assert.deepEqual(bits(runAll(4)), bits(got), '4 parts differ from 1');
      h.release(mark);
    });
  }

  it('gather_f16: zeros of both signs, subnormals, the largest half exact; a row with infinities or NaN too; rows folded on z', async () => {
    const h = await wasm();
    // 12 halves a row (one step of 8 and a tail of 4): finite rows take the fast path, a row with inf / NaN the exact one
    const finite = u32(0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x7bff, 0x8001, 0xfbff, 0x3555, 0x83ff);
    const special = u32(0x3c00, 0x8000, 0x0001, 0x03ff, 0x7bff, 0x1234, 0x0000, 0xc000, 0x7c00, 0xfc00, 0x7e00, 0xfe01);
    const width = finite.length;
    const rows = 6;
    const table = Array.from({ length: rows }, (_, r) => (r % 2 ? special : finite));
    const words = new Uint32Array((rows * width) / 2);
    table.forEach((row, r) => {
      for (let i = 0; i < width; i += 2) words[(r * width + i) / 2] = row[i] | (row[i + 1] << 16);
    });
    const wq = h.put(words);
    const out = h.put(nans(rows * width));
    // wy 2, wz 3, rowStride 2: rows y + 2 z
    h.run('gather_f16', [h.put(uniform(rows, width, rows, 0, rows, 2)), wq, h.put(u32(5, 4, 3, 2, 1, 0)), out, wq], [1, 2, 3], 2);
    const got = h.f32(out, rows * width);
    for (let r = 0; r < rows; r++) {
      const want = table[5 - r];
      for (let c = 0; c < width; c++) assert.ok(Object.is(got[r * width + c], f16BitsToFloat(want[c])), `row ${r} half 0x${want[c].toString(16)}: ${got[r * width + c]}`);
    }
  });
});

describe('wasm matmul_lora: y = x W^T + s (B + sign eps Z) (A x), Z from the Philox stream, vs float64', () => {
  // [entry, rowsPerSlot, N, K, rank, q, slotBase, slots, accumulate] as test/matmul_lora.spec.ts, and a slot >= 2q (unperturbed)
  const cases: [string, number, number, number, number, number, number, number, boolean][] = [
    ['matmul_lora', 13, 37, 19, 5, 3, 0, 6, false],
    ['matmul_lora', 70, 45, 23, 8, 2, 2, 2, true],
    ['matmul_lora_vec4', 13, 37, 20, 5, 3, 0, 6, false],
    ['matmul_lora_vec4', 70, 45, 44, 8, 2, 0, 4, true],
    ['matmul_lora_vec4', 6, 33, 12, 3, 4, 4, 3, false],
    ['matmul_lora_vec4', 34, 150, 16, 7, 1, 0, 2, false],
    ['matmul_lora_vec4', 5, 20, 8, 4, 1, 1, 2, false],
  ];
  const [scale, seed, tensor] = [2, 4242, 11];
  for (const [entry, rowsPerSlot, N, K, rank, q, slotBase, slots, accumulate] of cases) {
    for (const eps of [1e-2, 0]) {
      it(`${entry}: ${slots} slots of ${rowsPerSlot} rows from ${slotBase}, N ${N}, K ${K}, rank ${rank}, q ${q}, eps ${eps}${accumulate ? ', accumulate' : ''}; any parts`, async () => {
        const h = await wasm();
        const mark = h.mark();
        const M = slots * rowsPerSlot;
        const [xs, ws, axs, bs, y0] = [randoms(M * K, 1), randoms(N * K, 2, 0.5), randoms(M * rank, 3), randoms(N * rank, 4, 0.5), randoms(M * N, 5)];
        const want = matmulLoraReference({ x: xs, w: ws, ax: axs, b: bs, y0: accumulate ? y0 : undefined, M, N, K, rank, rowsPerSlot, q, slotBase, seed, tensor, eps, scale });
        const params = h.put(uniform(M, N, K, accumulate ? 1 : 0, rank, rowsPerSlot, q, { f: scale }, tensor));
        const zo = h.put(uniform(seed, slotBase, { f: eps }, { f: 0 }));
        const inputs = [h.put(xs), h.put(ws)];
        const rest = [h.put(axs), h.put(bs), zo];
        const grid: [number, number, number] = [Math.ceil(N / 32), Math.ceil(M / 32), 1];
        const runParts = (parts: number) => {
          const y = h.put(accumulate ? y0 : nans(M * N));
          h.run(entry, [params, ...inputs, y, ...rest], grid, parts);
          return h.f32(y, M * N);
        };
        const got = runParts(1);
        const err = relError(got, want);
        assert.ok(err < 1e-5, `vs float64: rel error ${err}`);
        for (const parts of PARTS) assert.deepEqual(bits(runParts(parts)), bits(got), `${parts} parts differ from 1`);
        h.release(mark);
      });
    }
  }
});
