// quant_blocks: decoders of the weight layouts the GPU keeps compressed (an include: functions only,
// no bindings). The including shader declares `wq: array<u32>` (the layout's words) and, for the
// layouts whose blocks are not whole words, `ws: array<u32>` (their f16 block scales, two per word,
// block i in half i % 2 of word i / 2). Every decoder returns the 4 values k .. k + 3 (k % 4 == 0)
// of row `row` of a matrix with K values per row, exactly as ggml dequantises them
// (ggml-quants.c; the float64 twin is src/formats/ggml_quants.ts).
//
// Words per block on the GPU (src/gpu/weight.ts packs them; bytes as in the file unless noted):
//   F32   raw f32 bits, K words per row              F16   2 values per word, K / 2 words per row
//   BF16  2 values per word (bfloat16: the high half of an f32), K / 2 words per row
//   Q8_0  8 words: qs[32] (d in ws)                  Q4_0  4 words: qs[16] (d in ws)
//   Q4_1  5 words: d | m << 16, qs[16]               Q5_0  5 words: qh, qs[16] (d in ws)
//   Q5_1  6 words: d | m << 16, qh, qs[16]
//   Q2_K 21 words: scales[16], qs[64], d | dmin << 16
//   Q3_K 27 words: hmask[32], qs[64], scales[12] (d in ws)
//   Q4_K 36 words: d | dmin << 16, scales[12], qs[128]
//   Q5_K 44 words: d | dmin << 16, scales[12], qh[32], qs[128]
//   Q6_K 52 words: ql[128], qh[64], scales[16] (d in ws)

const F32: u32 = 0u;
const F16: u32 = 1u;
const Q8_0: u32 = 2u;
const Q4_0: u32 = 3u;
const Q4_1: u32 = 4u;
const Q5_0: u32 = 5u;
const Q5_1: u32 = 6u;
const Q2_K: u32 = 7u;
const Q3_K: u32 = 8u;
const Q4_K: u32 = 9u;
const Q5_K: u32 = 10u;
const Q6_K: u32 = 11u;
const BF16: u32 = 12u;

/** The 4 bytes of a word, low byte first. */
fn bytes4(w: u32) -> vec4<u32> {
  return (vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u);
}

/** Byte i of the words from `at` on. */
fn byteAt(at: u32, i: u32) -> u32 {
  return (wq[at + i / 4u] >> (8u * (i % 4u))) & 255u;
}

/** f16 block scale bi from ws. */
fn blockScale(bi: u32) -> f32 {
  let pair = unpack2x16float(ws[bi / 2u]);
  return select(pair.x, pair.y, (bi & 1u) == 1u);
}

/** ggml get_scale_min_k4: (scale, min) j of the 12 packed bytes at word `at`. */
fn scaleMinK4(at: u32, j: u32) -> vec2<f32> {
  if (j < 4u) { return vec2<f32>(f32(byteAt(at, j) & 63u), f32(byteAt(at, j + 4u) & 63u)); }
  let sc = (byteAt(at, j + 4u) & 15u) | ((byteAt(at, j - 4u) >> 6u) << 4u);
  let m = (byteAt(at, j + 4u) >> 4u) | ((byteAt(at, j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(m));
}

/** Nibbles of word w: low ones (hi false) or high ones. */
fn nibbles(w: u32, hi: bool) -> vec4<u32> {
  return (bytes4(w) >> vec4<u32>(select(0u, 4u, hi))) & vec4<u32>(15u);
}

fn decodeLegacy(t: u32, row: u32, K: u32, k: u32) -> vec4<f32> {
  let bi = row * (K / 32u) + k / 32u;
  let j = k % 32u;
  let hi = j >= 16u;
  let qi = (j % 16u) / 4u;  // word of qs
  switch t {
    case Q8_0: {
      let s = bitcast<i32>(wq[bi * 8u + j / 4u]);
      let q = vec4<f32>(f32(extractBits(s, 0u, 8u)), f32(extractBits(s, 8u, 8u)), f32(extractBits(s, 16u, 8u)), f32(extractBits(s, 24u, 8u)));
      return blockScale(bi) * q;
    }
    case Q4_0: { return blockScale(bi) * (vec4<f32>(nibbles(wq[bi * 4u + qi], hi)) - 8.0); }
    case Q4_1: {
      let dm = unpack2x16float(wq[bi * 5u]);
      return dm.x * vec4<f32>(nibbles(wq[bi * 5u + 1u + qi], hi)) + dm.y;
    }
    case Q5_0: {
      let h = (vec4<u32>(wq[bi * 5u]) >> (vec4<u32>(j) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u);
      return blockScale(bi) * (vec4<f32>(nibbles(wq[bi * 5u + 1u + qi], hi) | (h << vec4<u32>(4u))) - 16.0);
    }
    default: {  // Q5_1
      let dm = unpack2x16float(wq[bi * 6u]);
      let h = (vec4<u32>(wq[bi * 6u + 1u]) >> (vec4<u32>(j) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u);
      return dm.x * vec4<f32>(nibbles(wq[bi * 6u + 2u + qi], hi) | (h << vec4<u32>(4u))) + dm.y;
    }
  }
}

fn decodeK(t: u32, row: u32, K: u32, k: u32) -> vec4<f32> {
  let bi = row * (K / 256u) + k / 256u;
  let e = k % 256u;
  switch t {
    case Q2_K: {
      let base = bi * 21u;
      let dm = unpack2x16float(wq[base + 20u]);
      let h = e / 128u;
      let j = (e % 128u) / 32u;
      let l = e % 32u;
      let sc = byteAt(base, 8u * h + 2u * j + l / 16u);
      let q = (bytes4(wq[base + 4u + (32u * h + l) / 4u]) >> vec4<u32>(2u * j)) & vec4<u32>(3u);
      return (dm.x * f32(sc & 15u)) * vec4<f32>(q) - dm.y * f32(sc >> 4u);
    }
    case Q3_K: {
      let base = bi * 27u;
      let h = e / 128u;
      let j = (e % 128u) / 32u;
      let l = e % 32u;
      let s = 8u * h + 2u * j + l / 16u;
      let low = (byteAt(base + 24u, s % 8u) >> select(4u, 0u, s < 8u)) & 15u;
      let sc = low | (((byteAt(base + 24u, 8u + s % 4u) >> (2u * (s / 4u))) & 3u) << 4u);
      let q = (bytes4(wq[base + 8u + (32u * h + l) / 4u]) >> vec4<u32>(2u * j)) & vec4<u32>(3u);
      let hb = (bytes4(wq[base + l / 4u]) >> vec4<u32>(4u * h + j)) & vec4<u32>(1u);
      return (blockScale(bi) * (f32(sc) - 32.0)) * (vec4<f32>(q) - 4.0 * (1.0 - vec4<f32>(hb)));
    }
    case Q4_K, Q5_K: {
      let five = t == Q5_K;
      let base = bi * select(36u, 44u, five);
      let dm = unpack2x16float(wq[base]);
      let g = e / 64u;
      let upper = (e % 64u) / 32u;
      let l = e % 32u;
      let sm = scaleMinK4(base + 1u, 2u * g + upper);
      var q = nibbles(wq[base + select(4u, 12u, five) + 8u * g + l / 4u], upper == 1u);
      if (five) { q |= ((bytes4(wq[base + 4u + l / 4u]) >> vec4<u32>(2u * g + upper)) & vec4<u32>(1u)) << vec4<u32>(4u); }
      return (dm.x * sm.x) * vec4<f32>(q) - dm.y * sm.y;
    }
    default: {  // Q6_K
      let base = bi * 52u;
      let h = e / 128u;
      let c = (e % 128u) / 32u;
      let l = e % 32u;
      let lo = nibbles(wq[base + (64u * h + l + 32u * (c & 1u)) / 4u], c >= 2u);
      let hi = (bytes4(wq[base + 32u + (32u * h + l) / 4u]) >> vec4<u32>(2u * c)) & vec4<u32>(3u);
      let si = 8u * h + l / 16u + 2u * c;
      let sc = f32(extractBits(bitcast<i32>(wq[base + 48u + si / 4u]), 8u * (si % 4u), 8u));
      return (blockScale(bi) * sc) * (vec4<f32>(lo | (hi << vec4<u32>(4u))) - 32.0);
    }
  }
}

/** Values k .. k + 3 of row `row` (K values per row) of a weight in layout t. */
fn decode4(t: u32, row: u32, K: u32, k: u32) -> vec4<f32> {
  if (t == F32) {
    let at = row * K + k;
    return bitcast<vec4<f32>>(vec4<u32>(wq[at], wq[at + 1u], wq[at + 2u], wq[at + 3u]));
  }
  if (t == F16) {
    let at = (row * K + k) / 2u;
    return vec4<f32>(unpack2x16float(wq[at]), unpack2x16float(wq[at + 1u]));
  }
  if (t == BF16) {
    let at = (row * K + k) / 2u;
    let a = wq[at];
    let b = wq[at + 1u];
    return bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
  }
  if (t < Q2_K) { return decodeLegacy(t, row, K, k); }
  return decodeK(t, row, K, k);
}

// ---- Sub-block decoding for the matmul (shaders/matmul_quant.wgsl): the K axis of a row is walked
// in sub-blocks of SUB(t) values, the finest grain at which the layout changes scale: 32 (the 32-value
// blocks; Q4_K / Q5_K sub-blocks), 16 (Q2_K, Q3_K, Q6_K: 16 scales per super-block), 4 (F16, BF16). Per row and
// sub-block, subHead decodes once what its values share (scales, mins, word offsets); subQ4 then
// decodes values 4 i .. 4 i + 3 (i < SUB / 4) from it with one word read and a few bit operations.
// Values are the same expressions as decode4's (identical f32 results).

struct Sub {
  a: f32,    // value = a * q + b (q the small integer of the layout)
  b: f32,
  w: u32,    // word of values 0 .. 3 (i = 0)
  shift: u32,
  h: u32,    // high bits: their word (Q3_K, Q5_K, Q6_K), or the block's qh word itself (Q5_0, Q5_1)
  hs: u32,   // shift of the high bits
}

/** Values per sub-block of layout t (F16 / BF16: 4, one step; any K % 4 == 0). */
fn subLen(t: u32) -> u32 {
  if (t == F16 || t == BF16) { return 4u; }
  return select(32u, 16u, t == Q2_K || t == Q3_K || t == Q6_K);
}

/** Values per block of layout t (the unit of `rb`, a row's first block). */
fn blockLen(t: u32) -> u32 {
  if (t == F16 || t == BF16) { return 4u; }
  return select(256u, 32u, t < Q2_K);
}

/** 4 values' nibbles (or 2-bit / 1-bit fields: mask) of word w from bit `shift` of each byte. */
fn fields4(w: u32, shift: u32, mask: u32) -> vec4<u32> {
  return (vec4<u32>(w) >> (vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(shift))) & vec4<u32>(mask);
}

/** Sub-block s (values SUB s ..) of the row whose first block is `rb` (blocks per row: K / 32 or K / 256). */
fn subHead(t: u32, rb: u32, s: u32) -> Sub {
  var o: Sub;
  switch t {
    case F16, BF16: { o.w = (rb + s) * 2u; }
    case Q8_0: { o.a = blockScale(rb + s); o.w = (rb + s) * 8u; }
    case Q4_0: { o.a = blockScale(rb + s); o.b = -8.0; o.w = (rb + s) * 4u; }
    case Q4_1: { let bi = rb + s; let dm = unpack2x16float(wq[bi * 5u]); o.a = dm.x; o.b = dm.y; o.w = bi * 5u + 1u; }
    case Q5_0: { let bi = rb + s; o.a = blockScale(bi); o.w = bi * 5u + 1u; o.h = wq[bi * 5u]; }
    case Q5_1: { let bi = rb + s; let dm = unpack2x16float(wq[bi * 6u]); o.a = dm.x; o.b = dm.y; o.w = bi * 6u + 2u; o.h = wq[bi * 6u + 1u]; }
    case Q4_K, Q5_K: {
      let five = t == Q5_K;
      let base = (rb + s / 8u) * select(36u, 44u, five);
      let dm = unpack2x16float(wq[base]);
      let j = s % 8u;  // sub-block of 32
      let sm = scaleMinK4(base + 1u, j);
      o.a = dm.x * sm.x; o.b = -(dm.y * sm.y); o.w = base + select(4u, 12u, five) + 8u * (j / 2u); o.shift = 4u * (j % 2u);
      o.h = base + 4u; o.hs = j;
    }
    default: {  // 16-value sub-blocks: s16 = 8 h + 2 j + (half of 32), as ggml walks them
      let bi = rb + s / 16u;
      let s16 = s % 16u;
      let l0 = 16u * (s16 % 2u);
      let h = s16 / 8u;
      let j = (s16 % 8u) / 2u;
      switch t {
        case Q2_K: {
          let base = bi * 21u;
          let dm = unpack2x16float(wq[base + 20u]);
          let sc = byteAt(base, s16);
          o.a = dm.x * f32(sc & 15u); o.b = -(dm.y * f32(sc >> 4u)); o.w = base + 4u + (32u * h + l0) / 4u; o.shift = 2u * j;
        }
        case Q3_K: {
          let base = bi * 27u;
          let low = (byteAt(base + 24u, s16 % 8u) >> select(4u, 0u, s16 < 8u)) & 15u;
          let sc = low | (((byteAt(base + 24u, 8u + s16 % 4u) >> (2u * (s16 / 4u))) & 3u) << 4u);
          o.a = blockScale(bi) * (f32(sc) - 32.0); o.w = base + 8u + (32u * h + l0) / 4u; o.shift = 2u * j; o.h = base + l0 / 4u; o.hs = 4u * h + j;
        }
        default: {  // Q6_K: j here is ggml's c
          let base = bi * 52u;
          let sc = f32(extractBits(bitcast<i32>(wq[base + 48u + s16 / 4u]), 8u * (s16 % 4u), 8u));
          o.a = blockScale(bi) * sc; o.w = base + (64u * h + l0 + 32u * (j & 1u)) / 4u; o.shift = select(0u, 4u, j >= 2u);
          o.h = base + 32u + (32u * h + l0) / 4u; o.hs = 2u * j;
        }
      }
    }
  }
  return o;
}

/** Values 4 i .. 4 i + 3 of the sub-block that `o` heads (i < subLen(t) / 4). */
fn subQ4(t: u32, o: Sub, i: u32) -> vec4<f32> {
  switch t {
    case F16: { return vec4<f32>(unpack2x16float(wq[o.w]), unpack2x16float(wq[o.w + 1u])); }
    case BF16: {
      let a = wq[o.w];
      let b = wq[o.w + 1u];
      return bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
    }
    case Q8_0: {
      let s = bitcast<i32>(wq[o.w + i]);
      return o.a * vec4<f32>(f32(extractBits(s, 0u, 8u)), f32(extractBits(s, 8u, 8u)), f32(extractBits(s, 16u, 8u)), f32(extractBits(s, 24u, 8u)));
    }
    // 32-value blocks: values 0..15 are the low nibbles of the 4 words, 16..31 the high ones
    case Q4_0: { return o.a * (vec4<f32>(fields4(wq[o.w + i % 4u], 4u * (i / 4u), 15u)) + o.b); }
    case Q4_1: { return o.a * vec4<f32>(fields4(wq[o.w + i % 4u], 4u * (i / 4u), 15u)) + o.b; }
    case Q5_0, Q5_1: {
      let h = (vec4<u32>(o.h) >> (vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u);
      let q = vec4<f32>(fields4(wq[o.w + i % 4u], 4u * (i / 4u), 15u) | (h << vec4<u32>(4u)));
      if (t == Q5_0) { return o.a * (q - 16.0); }
      return o.a * q + o.b;
    }
    case Q4_K: { return o.a * vec4<f32>(fields4(wq[o.w + i], o.shift, 15u)) + o.b; }
    case Q5_K: {
      let q = fields4(wq[o.w + i], o.shift, 15u) | (fields4(wq[o.h + i], o.hs, 1u) << vec4<u32>(4u));
      return o.a * vec4<f32>(q) + o.b;
    }
    case Q2_K: { return o.a * vec4<f32>(fields4(wq[o.w + i], o.shift, 3u)) + o.b; }
    case Q3_K: {
      let q = fields4(wq[o.w + i], o.shift, 3u);
      let hb = fields4(wq[o.h + i], o.hs, 1u);
      return o.a * (vec4<f32>(q) - 4.0 * (1.0 - vec4<f32>(hb)));
    }
    default: {  // Q6_K
      let q = fields4(wq[o.w + i], o.shift, 15u) | (fields4(wq[o.h + i], o.hs, 3u) << vec4<u32>(4u));
      return o.a * (vec4<f32>(q) - 32.0);
    }
  }
}
