// Dequantisation of ggml's block types beyond Q8_0 / Q4_0 (ggml-quants.c dequantize_row_*), in
// float64: every product of an f16 scale and a small integer is exact, so Math.fround of these values
// is what ggml's float32 code and gguf-py's numpy code produce (checked against gguf-py's golden
// bytes in test/quants.spec.ts). The GPU reads the same blocks in registers (shaders/quant_blocks.wgsl).
//
// Block layouts (ggml-common.h; f16 fields little-endian; K blocks hold QK_K = 256 values):
//   Q4_1  20 B: d, m (f16), qs[16]: byte j = element j (low nibble), j + 16 (high); x = d q + m
//   Q5_0  22 B: d, qh[4] (bit j = the 5th bit of element j), qs[16] as Q4_1; x = d (q - 16)
//   Q5_1  24 B: d, m, qh[4], qs[16]; x = d q + m
//   Q2_K  84 B: scales[16] (low nibble scale, high nibble min, per 16 values), qs[64] (2 bits), d, dmin
//   Q3_K 110 B: hmask[32] (3rd bit), qs[64] (2 bits), scales[12] (16 packed 6-bit scales), d
//   Q4_K 144 B: d, dmin, scales[12] (8 packed 6-bit scale / min pairs, per 32 values), qs[128]
//   Q5_K 176 B: d, dmin, scales[12] as Q4_K, qh[32] (5th bit), qs[128]
//   Q6_K 210 B: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8, per 16 values), d
import { f16BitsToFloat } from './safetensors';

export type GgmlQuantName = 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q2_K' | 'Q3_K' | 'Q4_K' | 'Q5_K' | 'Q6_K';

/** Values and bytes per block of each type dequantised here. */
export const QUANT_BLOCKS: Readonly<Record<GgmlQuantName, { elements: number; bytes: number }>> = {
  Q4_1: { elements: 32, bytes: 20 },
  Q5_0: { elements: 32, bytes: 22 },
  Q5_1: { elements: 32, bytes: 24 },
  Q2_K: { elements: 256, bytes: 84 },
  Q3_K: { elements: 256, bytes: 110 },
  Q4_K: { elements: 256, bytes: 144 },
  Q5_K: { elements: 256, bytes: 176 },
  Q6_K: { elements: 256, bytes: 210 },
};

export function isGgmlQuant(type: string): type is GgmlQuantName {
  return Object.hasOwn(QUANT_BLOCKS, type);
}

const half = (b: Uint8Array, at: number) => f16BitsToFloat(b[at] | (b[at + 1] << 8));

/** ggml get_scale_min_k4: the j-th (0..7) 6-bit scale and min of a Q4_K / Q5_K block's scales[12]. */
function scaleMinK4(q: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [q[at + j] & 63, q[at + j + 4] & 63];
  return [(q[at + j + 4] & 0x0f) | ((q[at + j - 4] >> 6) << 4), (q[at + j + 4] >> 4) | ((q[at + j] >> 6) << 4)];
}

/** Dequantises one block starting at byte `b` into out[o .. o + elements). */
function block(type: GgmlQuantName, q: Uint8Array, b: number, out: Float64Array, o: number): void {
  switch (type) {
    case 'Q4_1': {
      const d = half(q, b);
      const m = half(q, b + 2);
      for (let j = 0; j < 16; j++) {
        out[o + j] = d * (q[b + 4 + j] & 15) + m;
        out[o + j + 16] = d * (q[b + 4 + j] >> 4) + m;
      }
      return;
    }
    case 'Q5_0':
    case 'Q5_1': {
      const one = type === 'Q5_1';
      const d = half(q, b);
      const m = one ? half(q, b + 2) : 0;
      const h = b + (one ? 4 : 2);
      const qh = (q[h] | (q[h + 1] << 8) | (q[h + 2] << 16) | (q[h + 3] << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const lo = (q[h + 4 + j] & 15) | (((qh >>> j) & 1) << 4);
        const hi = (q[h + 4 + j] >> 4) | (((qh >>> (j + 16)) & 1) << 4);
        out[o + j] = one ? d * lo + m : d * (lo - 16);
        out[o + j + 16] = one ? d * hi + m : d * (hi - 16);
      }
      return;
    }
    case 'Q2_K': {
      const d = half(q, b + 80);
      const dmin = half(q, b + 82);
      for (let e = 0; e < 256; e++) {
        const h = e >> 7;
        const j = (e & 127) >> 5;
        const l = e & 31;
        const sc = q[b + 8 * h + 2 * j + (l >> 4)];
        out[o + e] = d * (sc & 15) * ((q[b + 16 + 32 * h + l] >> (2 * j)) & 3) - dmin * (sc >> 4);
      }
      return;
    }
    case 'Q3_K': {
      const d = half(q, b + 108);
      for (let e = 0; e < 256; e++) {
        const h = e >> 7;
        const j = (e & 127) >> 5;
        const l = e & 31;
        const s = 8 * h + 2 * j + (l >> 4);
        const low = s < 8 ? q[b + 96 + s] & 15 : q[b + 96 + s - 8] >> 4;
        const sc = low | (((q[b + 104 + (s & 3)] >> (2 * (s >> 2))) & 3) << 4);
        const v = ((q[b + 32 + 32 * h + l] >> (2 * j)) & 3) - ((q[b + l] >> (4 * h + j)) & 1 ? 0 : 4);
        out[o + e] = d * (sc - 32) * v;
      }
      return;
    }
    case 'Q4_K':
    case 'Q5_K': {
      const five = type === 'Q5_K';
      const d = half(q, b);
      const dmin = half(q, b + 2);
      const qs = b + (five ? 48 : 16);
      for (let e = 0; e < 256; e++) {
        const g = e >> 6;
        const upper = (e & 63) >> 5;
        const l = e & 31;
        const [sc, m] = scaleMinK4(q, b + 4, 2 * g + upper);
        let v = (q[qs + 32 * g + l] >> (4 * upper)) & 15;
        if (five) v += ((q[b + 16 + l] >> (2 * g + upper)) & 1) << 4;
        out[o + e] = d * sc * v - dmin * m;
      }
      return;
    }
    case 'Q6_K': {
      const d = half(q, b + 208);
      for (let e = 0; e < 256; e++) {
        const h = e >> 7;
        const c = (e & 127) >> 5;
        const l = e & 31;
        const lo = (q[b + 64 * h + l + 32 * (c & 1)] >> (4 * (c >> 1))) & 15;
        const hi = (q[b + 128 + 32 * h + l] >> (2 * c)) & 3;
        const sc = (q[b + 192 + 8 * h + (l >> 4) + 2 * c] << 24) >> 24;
        out[o + e] = d * sc * ((lo | (hi << 4)) - 32);
      }
      return;
    }
  }
}

/** `n` values of `type` blocks, in float64 (exact products of the block's scales and quants). */
export function dequantize(type: GgmlQuantName, bytes: Uint8Array, n: number): Float64Array {
  const blk = QUANT_BLOCKS[type];
  if (!Number.isInteger(n) || n < 0 || n % blk.elements !== 0) throw new Error(`${type}: element count ${n} is not a multiple of ${blk.elements}`);
  const nb = n / blk.elements;
  if (bytes.length !== nb * blk.bytes) throw new Error(`${type}: ${n} elements need ${nb * blk.bytes} bytes, got ${bytes.length}`);
  const out = new Float64Array(n);
  for (let i = 0; i < nb; i++) block(type, bytes, i * blk.bytes, out, i * blk.elements);
  return out;
}
