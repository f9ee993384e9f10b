// Helpers every twin uses: reading the ABI (binding table, Params fields) and splitting a
// dispatch's outputs into `parts` contiguous ranges (src/gpu/cpu/: one part per thread).
//
// ABI: export function ENTRY(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void
//   load<u32>(bind + 4 * i) is the address of binding i's buffer (a uniform's bytes as the WGSL
//   struct lays them out); (wx, wy, wz) the dispatch's workgroup counts; the part computes its
//   share of the outputs, in an order that does not depend on `parts`.

/** Address of binding `index` (an <entry>_B constant of params.gen.ts). */
// @ts-ignore: decorator
@inline export function binding(bind: usize, index: u32): usize {
  return <usize>load<u32>(bind + (<usize>index << 2));
}

/** A u32 field of a uniform at `p` (offset: a <file>_<Struct> constant of params.gen.ts). */
// @ts-ignore: decorator
@inline export function u32At(p: usize, offset: usize): u32 {
  return load<u32>(p + offset);
}

/** An f32 field of a uniform at `p`. */
// @ts-ignore: decorator
@inline export function f32At(p: usize, offset: usize): f32 {
  return load<f32>(p + offset);
}

/** First of the n items of part `part` of `parts` (contiguous ranges, sizes differing by at most 1). */
// @ts-ignore: decorator
@inline export function partBegin(n: u32, part: u32, parts: u32): u32 {
  return <u32>((<u64>n * <u64>part) / <u64>parts);
}

/** One past the last item of part `part` of `parts`. */
// @ts-ignore: decorator
@inline export function partEnd(n: u32, part: u32, parts: u32): u32 {
  return <u32>((<u64>n * <u64>(part + 1)) / <u64>parts);
}

/** Threads of a 1-D grid of workgroups of `wg` folded into (wx, wy): the elements it covers is min(n, this). */
// @ts-ignore: decorator
@inline export function gridThreads(wx: u32, wy: u32, wz: u32, wg: u32): u64 {
  return <u64>wx * <u64>wy * <u64>wz * <u64>wg;
}

/** min(n, threads of the grid): the elements a 1-D dispatch with a guard `i < n` writes. */
// @ts-ignore: decorator
@inline export function covered(n: u32, wx: u32, wy: u32, wz: u32, wg: u32): u32 {
  const t = gridThreads(wx, wy, wz, wg);
  return t < <u64>n ? <u32>t : n;
}

/** A quiet NaN (the WGSL kernels' marker for values that must never be read). */
// @ts-ignore: decorator
@inline export function nan32(): f32 {
  return reinterpret<f32>(<u32>0x7fc00000);
}

/** Horizontal sum of an f32x4, lanes added in the order (0 + 1) + (2 + 3). */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** sum of a[i] * b[i] over n floats at byte addresses a, b (f32x4 lanes, then the tail). */
export function dot(a: usize, b: usize, n: u32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + o + 16), v128.load(b + o + 16)));
  }
  if (i + 4 <= n) {
    const o = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    i += 4;
  }
  let s = hsum(f32x4.add(acc0, acc1));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

// ---- Per-thread scratch: the host gives each instance (one per thread) its own region once,
// through the exported setScratch (src/gpu/cpu/device.ts: 1 MiB a thread). Wasm globals are per
// instance, so a twin simply asks for its thread's region.

let scratchBase: usize = 0;
let scratchBytes: usize = 0;

/** Gives this instance (thread) its scratch region: `bytes` at `base`, owned by the host. */
export function setScratch(base: usize, bytes: usize): void {
  scratchBase = base;
  scratchBytes = bytes;
}

/** This thread's scratch region, of at least `bytes` bytes (aborts when the host gave less). */
export function scratch(bytes: usize): usize {
  if (scratchBase == 0 || bytes > scratchBytes) abort();
  return scratchBase;
}

/** Bytes of scratch this instance has. */
export function scratchSize(): usize {
  return scratchBytes;
}

/**
 * Elements of a 1-D dispatch `e = gid.x + gid.y * stride` guarded by `e < n`, with groups of `wg`
 * threads on a (wx, wy) grid: row y of the grid covers [y stride, y stride + wx wg) (clipped to n),
 * each row split into `parts` contiguous ranges. Calls body(begin, end, ctx) for this part's ranges.
 */
export function forEach1d(n: u32, stride: u32, wx: u32, wy: u32, wg: u32, part: u32, parts: u32, body: (b: u32, e: u32, ctx: usize) => void, ctx: usize): void {
  const rowLen = <u64>wx * <u64>wg;
  for (let y: u32 = 0; y < wy; y++) {
    const s = <u64>y * <u64>stride;
    if (s >= <u64>n) break;
    const end = s + rowLen < <u64>n ? s + rowLen : <u64>n;
    const len = <u32>(end - s);
    const b0 = <u32>s + partBegin(len, part, parts);
    const b1 = <u32>s + partEnd(len, part, parts);
    if (b1 > b0) body(b0, b1, ctx);
  }
}
