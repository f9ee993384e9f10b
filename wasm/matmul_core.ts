// The f32 dot-product core of the matmul twins (matmul.ts, matmul_quant.ts, matmul_lora.ts):
// y[m, j] (+)= sum_k x[m, k] w[j, k] for a range of rows of x and a panel of rows of w, both row-major
// along K (the [out, in] weight layout, no transposition), optionally plus a second such product summed
// into the same accumulators (matmul_lora's LoRA term). Helpers only: no twin exports.
//
// Blocking: a 2 x 4 register block (2 rows of x against 4 rows of w) keeps 8 f32x4 accumulators,
// each lane summing every fourth product along K; the loads of 2 x vectors and 4 w vectors feed 8
// multiplies and 8 adds. On this machine's V8 (16 xmm registers) 2 x 4 ran ~34 GFLOP/s on one thread,
// 4 x 4 ~26 (accumulators spill), 3 x 4 / 4 x 2 / 2 x 6 / 1 x 8 20-30 (scratch/h2 prototypes).
// Columns are walked in chunks (chunkCols) per pair of x rows, so the pair stays in L1.
//
// Every output is computed by the same sequence of f32 operations whichever block or tail serves it
// (lane l sums k = l, l + 4, ... in order; the lanes are added (0 + 2) + (1 + 3); the K % 4 tail is
// added after, k ascending; then + y when accumulating), so results do not depend on how outputs are
// split into parts or panels: bit-identical for any thread count.

// Rows of w per column chunk: as many as fit CHUNK_BYTES (16 .. 64). Each chunk streams all rows of x
// once, so a wider chunk means fewer passes over x (at K = 1536 x is 1.5 MB, past L2: with 16-row
// chunks two threads were bound by those passes); the chunk itself stays in L2.
const CHUNK_BYTES: i32 = 256 << 10;

/** Rows of w (columns of y) per chunk for rows of K values. */
export function chunkCols(K: i32): i32 {
  return min(max((CHUNK_BYTES / max(K << 2, 1)) & ~3, 16), 64);
}

// Per-thread scratch (the quantised matmuls' decoded panel, matmul_lora's B + eps Z panel) lives in
// common.ts: the host gives each instance (thread) its region once through setScratch.
export { scratch, scratchSize, setScratch } from './common';

// ---- Blocks

/** Lanes of 4 accumulators summed, one per output lane: lane j = (a_j[0] + a_j[2]) + (a_j[1] + a_j[3]). */
// @ts-ignore: decorator
@inline function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const u0 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const u1 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u0, u1, 0, 1, 4, 5), v128.shuffle<f32>(u0, u1, 2, 3, 6, 7));
}

/** The lanes of one accumulator summed as hsum4 sums each: (a[0] + a[2]) + (a[1] + a[3]). */
// @ts-ignore: decorator
@inline function hsum1(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 2)) + (f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 3));
}

/** Column k of 4 rows of w, ws bytes apart. */
// @ts-ignore: decorator
@inline function column4(w: usize, ws: usize, o: usize): v128 {
  let v = f32x4.splat(load<f32>(w + o));
  v = f32x4.replace_lane(v, 1, load<f32>(w + ws + o));
  v = f32x4.replace_lane(v, 2, load<f32>(w + 2 * ws + o));
  return f32x4.replace_lane(v, 3, load<f32>(w + 3 * ws + o));
}

/** Stores 4 outputs: y = t, or y + t. */
// @ts-ignore: decorator
@inline function store4(y: usize, t: v128, acc: bool): void {
  v128.store(y, acc ? f32x4.add(v128.load(y), t) : t);
}

// @ts-ignore: decorator
@inline function store1(y: usize, t: f32, acc: bool): void {
  store<f32>(y, acc ? load<f32>(y) + t : t);
}

// Every block sums two products into the same accumulators: x . w along K, then a . b along R (R = 0:
// none; matmul_lora's LoRA term ax . (B + sign eps Z) scale otherwise). Rows of a are indexed as rows of
// x, rows of b as rows of w. The order per output: the f32x4 lanes of x . w, then of a . b, the lanes
// added, the K % 4 tail of x . w, the R % 4 tail of a . b.

/** Rows x, x + xs against rows w .. w + 3 ws (and a, a + as against b .. b + 3 bs): 2 x 4 outputs at y, y + ys. */
function block2x4(x: usize, xs: usize, w: usize, ws: usize, K: i32, a: usize, ra: usize, b: usize, bs: usize, R: i32, y: usize, ys: usize, acc: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  const kv = <usize>(K & ~3) << 2;
  let end = x + kv;
  let wp = w;
  for (let xp = x; xp < end; xp += 16, wp += 16) {
    const a0 = v128.load(xp);
    const a1 = v128.load(xp + xs);
    let v = v128.load(wp);
    c00 = f32x4.add(c00, f32x4.mul(a0, v));
    c10 = f32x4.add(c10, f32x4.mul(a1, v));
    v = v128.load(wp + ws);
    c01 = f32x4.add(c01, f32x4.mul(a0, v));
    c11 = f32x4.add(c11, f32x4.mul(a1, v));
    v = v128.load(wp + 2 * ws);
    c02 = f32x4.add(c02, f32x4.mul(a0, v));
    c12 = f32x4.add(c12, f32x4.mul(a1, v));
    v = v128.load(wp + 3 * ws);
    c03 = f32x4.add(c03, f32x4.mul(a0, v));
    c13 = f32x4.add(c13, f32x4.mul(a1, v));
  }
  const rv = <usize>(R & ~3) << 2;
  end = a + rv;
  wp = b;
  for (let xp = a; xp < end; xp += 16, wp += 16) {
    const a0 = v128.load(xp);
    const a1 = v128.load(xp + ra);
    let v = v128.load(wp);
    c00 = f32x4.add(c00, f32x4.mul(a0, v));
    c10 = f32x4.add(c10, f32x4.mul(a1, v));
    v = v128.load(wp + bs);
    c01 = f32x4.add(c01, f32x4.mul(a0, v));
    c11 = f32x4.add(c11, f32x4.mul(a1, v));
    v = v128.load(wp + 2 * bs);
    c02 = f32x4.add(c02, f32x4.mul(a0, v));
    c12 = f32x4.add(c12, f32x4.mul(a1, v));
    v = v128.load(wp + 3 * bs);
    c03 = f32x4.add(c03, f32x4.mul(a0, v));
    c13 = f32x4.add(c13, f32x4.mul(a1, v));
  }
  let t0 = hsum4(c00, c01, c02, c03);
  let t1 = hsum4(c10, c11, c12, c13);
  for (let o = kv; o < (<usize>K << 2); o += 4) {
    const v = column4(w, ws, o);
    t0 = f32x4.add(t0, f32x4.mul(f32x4.splat(load<f32>(x + o)), v));
    t1 = f32x4.add(t1, f32x4.mul(f32x4.splat(load<f32>(x + xs + o)), v));
  }
  for (let o = rv; o < (<usize>R << 2); o += 4) {
    const v = column4(b, bs, o);
    t0 = f32x4.add(t0, f32x4.mul(f32x4.splat(load<f32>(a + o)), v));
    t1 = f32x4.add(t1, f32x4.mul(f32x4.splat(load<f32>(a + ra + o)), v));
  }
  store4(y, t0, acc);
  store4(y + ys, t1, acc);
}

/** One row of x against 4 rows of w (and of a against 4 rows of b). */
function block1x4(x: usize, w: usize, ws: usize, K: i32, a: usize, b: usize, bs: usize, R: i32, y: usize, acc: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  const kv = <usize>(K & ~3) << 2;
  let end = x + kv;
  let wp = w;
  for (let xp = x; xp < end; xp += 16, wp += 16) {
    const v = v128.load(xp);
    c0 = f32x4.add(c0, f32x4.mul(v, v128.load(wp)));
    c1 = f32x4.add(c1, f32x4.mul(v, v128.load(wp + ws)));
    c2 = f32x4.add(c2, f32x4.mul(v, v128.load(wp + 2 * ws)));
    c3 = f32x4.add(c3, f32x4.mul(v, v128.load(wp + 3 * ws)));
  }
  const rv = <usize>(R & ~3) << 2;
  end = a + rv;
  wp = b;
  for (let xp = a; xp < end; xp += 16, wp += 16) {
    const v = v128.load(xp);
    c0 = f32x4.add(c0, f32x4.mul(v, v128.load(wp)));
    c1 = f32x4.add(c1, f32x4.mul(v, v128.load(wp + bs)));
    c2 = f32x4.add(c2, f32x4.mul(v, v128.load(wp + 2 * bs)));
    c3 = f32x4.add(c3, f32x4.mul(v, v128.load(wp + 3 * bs)));
  }
  let t = hsum4(c0, c1, c2, c3);
  for (let o = kv; o < (<usize>K << 2); o += 4) t = f32x4.add(t, f32x4.mul(f32x4.splat(load<f32>(x + o)), column4(w, ws, o)));
  for (let o = rv; o < (<usize>R << 2); o += 4) t = f32x4.add(t, f32x4.mul(f32x4.splat(load<f32>(a + o)), column4(b, bs, o)));
  store4(y, t, acc);
}

/** One row of x against one row of w (and of a against one row of b). */
function block1x1(x: usize, w: usize, K: i32, a: usize, b: usize, R: i32, y: usize, acc: bool): void {
  let c = f32x4.splat(0);
  const kv = <usize>(K & ~3) << 2;
  const rv = <usize>(R & ~3) << 2;
  for (let o: usize = 0; o < kv; o += 16) c = f32x4.add(c, f32x4.mul(v128.load(x + o), v128.load(w + o)));
  for (let o: usize = 0; o < rv; o += 16) c = f32x4.add(c, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  let t = hsum1(c);
  for (let o = kv; o < (<usize>K << 2); o += 4) t += load<f32>(x + o) * load<f32>(w + o);
  for (let o = rv; o < (<usize>R << 2); o += 4) t += load<f32>(a + o) * load<f32>(b + o);
  store1(y, t, acc);
}

/**
 * y[m, j] = x[m, :] . w[j, :] + a[m, :] . b[j, :] (+ y[m, j] when acc) for rows m0 <= m < m1 and
 * columns 0 <= j < nc. Byte addresses and strides: x row m at x + m xs, w row j at w + j ws, a row m at
 * a + m ra, b row j at b + j bs, y[m, j] at y + m ys + 4 j. Any K and R (R = 0: no second product);
 * rows need no alignment.
 */
export function dotRows2(x: usize, xs: usize, w: usize, ws: usize, K: i32, a: usize, ra: usize, b: usize, bs: usize, R: i32, y: usize, ys: usize, m0: i32, m1: i32, nc: i32, acc: bool): void {
  const chunk = chunkCols(K + R);
  for (let j0 = 0; j0 < nc; j0 += chunk) {
    const j1 = min(j0 + chunk, nc);
    let m = m0;
    for (; m + 2 <= m1; m += 2) {
      const xm = x + <usize>m * xs;
      const am = a + <usize>m * ra;
      const ym = y + <usize>m * ys;
      let j = j0;
      for (; j + 4 <= j1; j += 4) block2x4(xm, xs, w + <usize>j * ws, ws, K, am, ra, b + <usize>j * bs, bs, R, ym + (<usize>j << 2), ys, acc);
      for (; j < j1; j++) {
        block1x1(xm, w + <usize>j * ws, K, am, b + <usize>j * bs, R, ym + (<usize>j << 2), acc);
        block1x1(xm + xs, w + <usize>j * ws, K, am + ra, b + <usize>j * bs, R, ym + ys + (<usize>j << 2), acc);
      }
    }
    if (m < m1) {
      const xm = x + <usize>m * xs;
      const am = a + <usize>m * ra;
      const ym = y + <usize>m * ys;
      let j = j0;
      for (; j + 4 <= j1; j += 4) block1x4(xm, w + <usize>j * ws, ws, K, am, b + <usize>j * bs, bs, R, ym + (<usize>j << 2), acc);
      for (; j < j1; j++) block1x1(xm, w + <usize>j * ws, K, am, b + <usize>j * bs, R, ym + (<usize>j << 2), acc);
    }
  }
}

/** y[m, j] = x[m, :] . w[j, :] (+ y[m, j] when acc): dotRows2 without a second product. */
export function dotRows(x: usize, xs: usize, w: usize, ws: usize, y: usize, ys: usize, m0: i32, m1: i32, nc: i32, K: i32, acc: bool): void {
  dotRows2(x, xs, w, ws, K, 0, 0, 0, 0, 0, y, ys, m0, m1, nc, acc);
}

/** The columns [begin, end) of N that part `part` of `parts` writes: whole groups of 4 (begin in the low 32 bits). */
export function columnRange(N: u32, part: u32, parts: u32): u64 {
  const groups = (N + 3) >> 2;
  const b = <u32>((<u64>groups * <u64>part) / <u64>parts) << 2;
  const e = min(<u32>((<u64>groups * <u64>(part + 1)) / <u64>parts) << 2, N);
  return <u64>b | (<u64>max(b, e) << 32);
}
