// Decoders of the weight layouts kept compressed in memory (the twin of shaders/quant_blocks.wgsl;
// helpers only, no twin exports): one row of K values at a time into f32, 16 values per SIMD step,
// each block's scales decoded once. Values are the WGSL's expressions in the same f32 order (exact
// products of an f16 scale and small integers, then at most one rounded add), so each equals
// Math.fround of ggml's float64 value (src/formats/ggml_quants.ts).
//
// Bytes per block in memory (src/gpu/weight.ts packs them; as in the file except that the f16 scale of
// the layouts marked "d in ws" moves to a separate array of f16 scales, block i at halfword i):
//   F32 4 per value, F16 / BF16 2 per value
//   Q8_0 32: qs[32] (d in ws)               Q4_0 16: qs[16] (d in ws)
//   Q4_1 20: d, m, qs[16]                   Q5_0 20: qh[4], qs[16] (d in ws)
//   Q5_1 24: d, m, qh[4], qs[16]
//   Q2_K 84: scales[16], qs[64], d, dmin     Q3_K 108: hmask[32], qs[64], scales[12] (d in ws)
//   Q4_K 144: d, dmin, scales[12], qs[128]   Q5_K 176: d, dmin, scales[12], qh[32], qs[128]
//   Q6_K 208: ql[128], qh[64], scales[16] (d in ws)

export const F32: u32 = 0;
export const F16: u32 = 1;
export const Q8_0: u32 = 2;
export const Q4_0: u32 = 3;
export const Q4_1: u32 = 4;
export const Q5_0: u32 = 5;
export const Q5_1: u32 = 6;
export const Q2_K: u32 = 7;
export const Q3_K: u32 = 8;
export const Q4_K: u32 = 9;
export const Q5_K: u32 = 10;
export const Q6_K: u32 = 11;
export const BF16: u32 = 12;

const TWO_112: f32 = 5.192296858534828e33; // 2^112: f16 bits << 13 read as f32, times this, is the f16's value

/** An f16 (low 16 bits of h) as f32, exactly (subnormals, infinities and NaN included). */
export function half(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const em = h & 0x7fff;
  if (em > 0x7bff) return reinterpret<f32>(sign | 0x7f800000 | (em << 13));
  return reinterpret<f32>(sign | reinterpret<u32>(reinterpret<f32>(em << 13) * TWO_112));
}

/** Four f16 (u32 lanes holding 16-bit values) as f32x4, as half() converts each. */
// @ts-ignore: decorator
@inline function halves4(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const bits = i32x4.shl(em, 13);
  const finite = f32x4.mul(bits, f32x4.splat(TWO_112));
  const special = i32x4.gt_s(em, i32x4.splat(0x7bff));
  return v128.or(v128.bitselect(v128.or(bits, i32x4.splat(0x7f800000)), finite, special), sign);
}

/** Lanes 0..3 (hi: 4..7) of 8 halfwords as the high halves of 4 u32 lanes (h << 16). */
// @ts-ignore: decorator
@inline function high16(v: v128, hi: bool): v128 {
  const z = i32x4.splat(0);
  return hi
    ? i8x16.shuffle(z, v, 0, 0, 24, 25, 0, 0, 26, 27, 0, 0, 28, 29, 0, 0, 30, 31)
    : i8x16.shuffle(z, v, 0, 0, 16, 17, 0, 0, 18, 19, 0, 0, 20, 21, 0, 0, 22, 23);
}

/** Finite f16 values held as h << 16 as f32x4: sign and exponent-mantissa moved to f32 positions, times 2^112 (exact; subnormals too). */
// @ts-ignore: decorator
@inline function finiteHalves4(x: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(x, 3), i32x4.splat(<i32>0x8fffe000)), f32x4.splat(TWO_112));
}

/**
 * K f16 (or bf16) values at src into K f32 at dst (K % 4 == 0), 8 per step. F16 takes the finite
 * path (4 operations per 4 values) and, if the row holds an infinity or NaN, converts it again with
 * halves4, which handles them.
 */
function halfRow(src: usize, K: u32, bf: bool, dst: usize): void {
  let k: usize = 0;
  let top = i16x8.splat(0); // the largest |h| seen (f16: exponent and mantissa bits)
  for (; k + 8 <= K; k += 8) {
    const v = v128.load(src + 2 * k);
    const lo = high16(v, false);
    const hi = high16(v, true);
    if (bf) {
      v128.store(dst + 4 * k, lo);
      v128.store(dst + 4 * k, hi, 16);
    } else {
      top = i16x8.max_u(top, v128.and(v, i16x8.splat(0x7fff)));
      v128.store(dst + 4 * k, finiteHalves4(lo));
      v128.store(dst + 4 * k, finiteHalves4(hi), 16);
    }
  }
  if (k < K) {
    const v = v128.load64_zero(src + 2 * k);
    const lo = high16(v, false);
    top = i16x8.max_u(top, v128.and(v, i16x8.splat(0x7fff)));
    v128.store(dst + 4 * k, bf ? lo : finiteHalves4(lo));
  }
  if (bf || !v128.any_true(i16x8.gt_u(top, i16x8.splat(0x7bff)))) return;
  for (k = 0; k < K; k += 4) v128.store(dst + 4 * k, halves4(i32x4.extend_low_i16x8_u(v128.load64_zero(src + 2 * k))));
}

/** 16 small signed integers (i8 lanes) times a: 16 f32 at dst. */
// @ts-ignore: decorator
@inline function put16(dst: usize, q: v128, a: v128): void {
  const lo = i16x8.extend_low_i8x16_s(q);
  const hi = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.mul(a, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo))));
  v128.store(dst, f32x4.mul(a, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo))), 16);
  v128.store(dst, f32x4.mul(a, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi))), 32);
  v128.store(dst, f32x4.mul(a, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi))), 48);
}

/** 16 small non-negative integers (u8 lanes < 128) as a q + b: 16 f32 at dst. */
// @ts-ignore: decorator
@inline function put16b(dst: usize, q: v128, a: v128, b: v128): void {
  const lo = i16x8.extend_low_i8x16_u(q);
  const hi = i16x8.extend_high_i8x16_u(q);
  v128.store(dst, f32x4.add(f32x4.mul(a, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo))), b));
  v128.store(dst, f32x4.add(f32x4.mul(a, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo))), b), 16);
  v128.store(dst, f32x4.add(f32x4.mul(a, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi))), b), 32);
  v128.store(dst, f32x4.add(f32x4.mul(a, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi))), b), 48);
}

// @ts-ignore: decorator
@inline function lowNibbles(v: v128): v128 {
  return v128.and(v, i8x16.splat(15));
}

// @ts-ignore: decorator
@inline function highNibbles(v: v128): v128 {
  return i8x16.shr_u(v, 4);
}

/** Bits 0..15 (or 16..31 with hi) of qh, one per byte lane, as 0 or 16 (the 5th bit of Q5_0 / Q5_1 values). */
// @ts-ignore: decorator
@inline function fifthBits(qh: u32, hi: bool): v128 {
  const spread = hi
    ? i8x16.swizzle(i32x4.splat(<i32>qh), i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3))
    : i8x16.swizzle(i32x4.splat(<i32>qh), i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const bit = v128.and(spread, i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
  return v128.and(i8x16.ne(bit, i8x16.splat(0)), i8x16.splat(16));
}

/** ggml get_scale_min_k4: the 6-bit scale (low 16 bits) and min (high 16 bits) j of the 12 bytes at p. */
// @ts-ignore: decorator
@inline function scaleMinK4(p: usize, j: usize): u32 {
  if (j < 4) return (<u32>load<u8>(p + j) & 63) | ((<u32>load<u8>(p + j + 4) & 63) << 16);
  const sc = (<u32>load<u8>(p + j + 4) & 15) | ((<u32>load<u8>(p + j - 4) >> 6) << 4);
  const m = (<u32>load<u8>(p + j + 4) >> 4) | ((<u32>load<u8>(p + j) >> 6) << 4);
  return sc | (m << 16);
}

/** Q4_K / Q5_K block at blk (qh at blk + 16 and qs at blk + 48 for Q5_K) into 256 f32 at dst. */
function blockK45(blk: usize, five: bool, dst: usize): void {
  const d = half(load<u16>(blk));
  const dmin = half(load<u16>(blk + 2));
  const qs = blk + (five ? 48 : 16);
  for (let j: usize = 0; j < 8; j++) {
    const sm = scaleMinK4(blk + 4, j);
    const a = f32x4.splat(d * <f32>(sm & 0xffff));
    const b = f32x4.splat(-(dmin * <f32>(sm >> 16)));
    const p = qs + 32 * (j >> 1);
    let q0 = v128.load(p);
    let q1 = v128.load(p, 16);
    if (j & 1) {
      q0 = highNibbles(q0);
      q1 = highNibbles(q1);
    } else {
      q0 = lowNibbles(q0);
      q1 = lowNibbles(q1);
    }
    if (five) {
      const one = i8x16.splat(1);
      q0 = v128.or(q0, i8x16.shl(v128.and(i8x16.shr_u(v128.load(blk + 16), <i32>j), one), 4));
      q1 = v128.or(q1, i8x16.shl(v128.and(i8x16.shr_u(v128.load(blk + 32), <i32>j), one), 4));
    }
    put16b(dst + 128 * j, q0, a, b);
    put16b(dst + 128 * j + 64, q1, a, b);
  }
}

/** The 16-value sub-blocks s16 = 8 h + 2 j + half of Q2_K / Q3_K / Q6_K: value 16 s16 + l reads byte 32 h + 16 half + l. */
function blockQ2K(blk: usize, dst: usize): void {
  const d = half(load<u16>(blk + 80));
  const dmin = half(load<u16>(blk + 82));
  for (let s: usize = 0; s < 16; s++) {
    const h = s >> 3;
    const j = <i32>((s & 7) >> 1);
    const sc = <u32>load<u8>(blk + s);
    const a = f32x4.splat(d * <f32>(sc & 15));
    const b = f32x4.splat(-(dmin * <f32>(sc >> 4)));
    const q = v128.and(i8x16.shr_u(v128.load(blk + 16 + 32 * h + 16 * (s & 1)), 2 * j), i8x16.splat(3));
    put16b(dst + 64 * s, q, a, b);
  }
}

function blockQ3K(blk: usize, d: f32, dst: usize): void {
  for (let s: usize = 0; s < 16; s++) {
    const h = s >> 3;
    const j = <i32>((s & 7) >> 1);
    const l0: usize = 16 * (s & 1);
    const low = s < 8 ? <u32>load<u8>(blk + 96 + s) & 15 : <u32>load<u8>(blk + 96 + s - 8) >> 4;
    const sc = low | (((<u32>load<u8>(blk + 104 + (s & 3)) >> (2 * <u32>(s >> 2))) & 3) << 4);
    const a = f32x4.splat(d * (<f32>sc - 32));
    const q = v128.and(i8x16.shr_u(v128.load(blk + 32 + 32 * h + l0), 2 * j), i8x16.splat(3));
    const hb = v128.and(i8x16.shr_u(v128.load(blk + l0), 4 * <i32>h + j), i8x16.splat(1));
    put16(dst + 64 * s, i8x16.sub(v128.or(q, i8x16.shl(hb, 2)), i8x16.splat(4)), a);
  }
}

function blockQ6K(blk: usize, d: f32, dst: usize): void {
  for (let s: usize = 0; s < 16; s++) {
    const h = s >> 3;
    const c = (s & 7) >> 1;
    const l0: usize = 16 * (s & 1);
    const a = f32x4.splat(d * <f32>load<i8>(blk + 192 + s));
    const L = v128.load(blk + 64 * h + l0 + 32 * (c & 1));
    const lo = c >= 2 ? highNibbles(L) : lowNibbles(L);
    const hi = v128.and(i8x16.shr_u(v128.load(blk + 128 + 32 * h + l0), 2 * <i32>c), i8x16.splat(3));
    put16(dst + 64 * s, i8x16.sub(v128.or(lo, i8x16.shl(hi, 4)), i8x16.splat(32)), a);
  }
}

/** A 32-value block of 16 qs bytes at qs (value l: low nibble of byte l, value 16 + l: its high nibble) as a q + b, 5th bits from qh. */
// @ts-ignore: decorator
@inline function block32(qs: usize, qh: u32, five: bool, a: v128, b: v128, dst: usize): void {
  let lo = lowNibbles(v128.load(qs));
  let hi = highNibbles(v128.load(qs));
  if (five) {
    lo = v128.or(lo, fifthBits(qh, false));
    hi = v128.or(hi, fifthBits(qh, true));
  }
  put16b(dst, lo, a, b);
  put16b(dst + 64, hi, a, b);
}

/** Values per block of layout t. */
export function blockValues(t: u32): u32 {
  if (t == F32) return 1;
  if (t == F16 || t == BF16) return 2;
  return t < Q2_K ? 32 : 256;
}

/** Bytes per block of layout t in the words array (the scale of Q8_0, Q4_0, Q5_0, Q3_K, Q6_K is in ws). */
export function blockBytes(t: u32): u32 {
  switch (t) {
    case F32: return 4;
    case F16: case BF16: return 4;
    case Q8_0: return 32;
    case Q4_0: return 16;
    case Q4_1: case Q5_0: return 20;
    case Q5_1: return 24;
    case Q2_K: return 84;
    case Q3_K: return 108;
    case Q4_K: return 144;
    case Q5_K: return 176;
    default: return 208; // Q6_K
  }
}

/**
 * Row `row` of a [rows, K] weight in layout t (words at wq, f16 block scales at ws) into K f32 at
 * dst. K is a multiple of the layout's block (4 for F32 / F16 / BF16).
 */
export function decodeRow(t: u32, wq: usize, ws: usize, row: u32, K: u32, dst: usize): void {
  if (t == F32) {
    memory.copy(dst, wq + <usize>row * K * 4, <usize>K << 2);
    return;
  }
  if (t == F16 || t == BF16) {
    halfRow(wq + <usize>row * K * 2, K, t == BF16, dst);
    return;
  }
  const bytes = <usize>blockBytes(t);
  const nb = K / blockValues(t);
  const b0 = <usize>row * nb;
  let blk = wq + b0 * bytes;
  let out = dst;
  for (let i: usize = 0; i < nb; i++, blk += bytes) {
    const bi = b0 + i;
    switch (t) {
      case Q8_0: {
        const a = f32x4.splat(half(load<u16>(ws + 2 * bi)));
        put16(out, v128.load(blk), a);
        put16(out + 64, v128.load(blk, 16), a);
        break;
      }
      case Q4_0: {
        // d (q - 8): the offset in integers (exact), as the WGSL's d * (f32(q) - 8)
        const a = f32x4.splat(half(load<u16>(ws + 2 * bi)));
        const v = v128.load(blk);
        put16(out, i8x16.sub(lowNibbles(v), i8x16.splat(8)), a);
        put16(out + 64, i8x16.sub(highNibbles(v), i8x16.splat(8)), a);
        break;
      }
      case Q4_1: block32(blk + 4, 0, false, f32x4.splat(half(load<u16>(blk))), f32x4.splat(half(load<u16>(blk + 2))), out); break;
      case Q5_0: {
        const a = f32x4.splat(half(load<u16>(ws + 2 * bi)));
        const qh = load<u32>(blk);
        const v = v128.load(blk + 4);
        put16(out, i8x16.sub(v128.or(lowNibbles(v), fifthBits(qh, false)), i8x16.splat(16)), a);
        put16(out + 64, i8x16.sub(v128.or(highNibbles(v), fifthBits(qh, true)), i8x16.splat(16)), a);
        break;
      }
      case Q5_1: block32(blk + 8, load<u32>(blk + 4), true, f32x4.splat(half(load<u16>(blk))), f32x4.splat(half(load<u16>(blk + 2))), out); break;
      case Q2_K: blockQ2K(blk, out); break;
      case Q3_K: blockQ3K(blk, half(load<u16>(ws + 2 * bi)), out); break;
      case Q4_K: blockK45(blk, false, out); break;
      case Q5_K: blockK45(blk, true, out); break;
      default: blockQ6K(blk, half(load<u16>(ws + 2 * bi)), out); // Q6_K
    }
    out += <usize>blockValues(t) << 2;
  }
}

/** Rows row0 .. row0 + rows - 1 into rows x K f32 at dst (row r at dst + 4 K r). */
export function decodeRows(t: u32, wq: usize, ws: usize, row0: u32, rows: u32, K: u32, dst: usize): void {
  for (let r: u32 = 0; r < rows; r++) decodeRow(t, wq, ws, row0 + r, K, dst + <usize>r * K * 4);
}
