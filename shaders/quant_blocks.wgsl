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
