// Twins of shaders/attention.wgsl: causal grouped-query attention, one (query row, head) at a time,
// softmax over blocks of keys (online across blocks); the output row is the accumulator, so any
// headDim works. attention covers i = gid.x + gid.y * stride < rows * nHeads;
// attention_flash the query slots of its workgroups (x: slot groups, y: K/V head, z: sequence).
import { binding, dot, exp4, expf1, f32At, forEach1d, hsum, partBegin, partEnd, scratch, u32At } from './common';
import { attention_B, attention_flash_B, attention_Params } from './params.gen';

let qAt: usize = 0;
let kAt: usize = 0;
let vAt: usize = 0;
let outAt: usize = 0;
let T: u32 = 1;
let S: u32 = 1;
let pos0: u32 = 0;
let nHeads: u32 = 1;
let nKvHeads: u32 = 1;
let hd: u32 = 1;
let scaleP: f32 = 1;
let window: u32 = 0;

function readParams(bind: usize, params: u32, q: u32, k: u32, v: u32, out: u32): usize {
  const p = binding(bind, params);
  qAt = binding(bind, q);
  kAt = binding(bind, k);
  vAt = binding(bind, v);
  outAt = binding(bind, out);
  T = u32At(p, attention_Params.T);
  S = u32At(p, attention_Params.S);
  pos0 = u32At(p, attention_Params.pos0);
  nHeads = u32At(p, attention_Params.nHeads);
  nKvHeads = u32At(p, attention_Params.nKvHeads);
  hd = u32At(p, attention_Params.headDim);
  scaleP = f32At(p, attention_Params.scale);
  window = u32At(p, attention_Params.window);
  return p;
}

const KB: u32 = 1024; // keys whose scores sit in scratch at a time

/**
 * Attention of query row r (token r % T of sequence r / T) for head h, written to its output row:
 * per block of KB keys the scores q . k_j scale into scratch, their max, exp(s - max) four at a
 * time and the weighted sum of the values into the output row (rescaled when a later block raises
 * the max), divided by the sum of the weights at the end.
 */
function attendOne(r: u32, h: u32, sc: usize): void {
  const b = r / T;
  const pos = pos0 + r % T;
  const kvDim = nKvHeads * hd;
  const kvHead = h / (nHeads / nKvHeads);
  const qRow = qAt + ((<usize>r * <usize>nHeads * <usize>hd + <usize>h * <usize>hd) << 2);
  const oRow = outAt + ((<usize>r * <usize>nHeads * <usize>hd + <usize>h * <usize>hd) << 2);
  const kvBase = (<usize>b * <usize>S * <usize>kvDim + <usize>kvHead * <usize>hd) << 2;
  const kvStride = <usize>kvDim << 2;
  const first: u32 = window > 0 && pos + 1 > window ? pos + 1 - window : 0;
  memory.fill(oRow, 0, <usize>hd << 2);
  let m: f32 = -3.0e38;
  let l: f32 = 0;
  for (let j0 = first; j0 <= pos; j0 += KB) {
    const cnt = min(KB, pos + 1 - j0);
    // scores and their max
    let bm: f32 = -3.0e38;
    for (let c: u32 = 0; c < cnt; c++) {
      const s = dot(qRow, kAt + kvBase + <usize>(j0 + c) * kvStride, hd) * scaleP;
      store<f32>(sc + (<usize>c << 2), s);
      bm = max(bm, s);
    }
    const mNew = max(m, bm);
    if (mNew != m && l != 0) {
      const corr = expf1(m - mNew);
      l *= corr;
      scaleRow(oRow, corr);
    }
    m = mNew;
    // weights, four at a time
    const m4 = f32x4.splat(mNew);
    let l4 = f32x4.splat(0);
    let c: u32 = 0;
    for (; c + 4 <= cnt; c += 4) {
      const p4 = exp4(f32x4.sub(v128.load(sc + (<usize>c << 2)), m4));
      v128.store(sc + (<usize>c << 2), p4);
      l4 = f32x4.add(l4, p4);
    }
    let lb = hsum(l4);
    for (; c < cnt; c++) {
      const p = expf1(load<f32>(sc + (<usize>c << 2)) - mNew);
      store<f32>(sc + (<usize>c << 2), p);
      lb += p;
    }
    l += lb;
    // out += sum_c p_c v_(j0 + c), two keys at a time
    const vBlock = vAt + kvBase + <usize>j0 * kvStride;
    c = 0;
    for (; c + 2 <= cnt; c += 2) {
      const v0 = vBlock + <usize>c * kvStride;
      axpy2(oRow, load<f32>(sc + (<usize>c << 2)), v0, load<f32>(sc + (<usize>(c + 1) << 2)), v0 + kvStride);
    }
    if (c < cnt) axpy2(oRow, load<f32>(sc + (<usize>c << 2)), vBlock + <usize>c * kvStride, 0, vBlock + <usize>c * kvStride);
  }
  scaleRow(oRow, <f32>1.0 / l);
}

/** out[d] = out[d] + (a v[d] + b w[d]) over the head's hd values. */
function axpy2(out: usize, a: f32, v: usize, b: f32, w: usize): void {
  const a4 = f32x4.splat(a);
  const b4 = f32x4.splat(b);
  let d: u32 = 0;
  for (; d + 4 <= hd; d += 4) {
    const o = <usize>d << 2;
    v128.store(out + o, f32x4.add(v128.load(out + o), f32x4.add(f32x4.mul(a4, v128.load(v + o)), f32x4.mul(b4, v128.load(w + o)))));
  }
  for (; d < hd; d++) {
    const o = <usize>d << 2;
    store<f32>(out + o, load<f32>(out + o) + (a * load<f32>(v + o) + b * load<f32>(w + o)));
  }
}

/** out[d] *= c over the head's hd values. */
function scaleRow(out: usize, c: f32): void {
  const c4 = f32x4.splat(c);
  let d: u32 = 0;
  for (; d + 4 <= hd; d += 4) v128.store(out + (<usize>d << 2), f32x4.mul(v128.load(out + (<usize>d << 2)), c4));
  for (; d < hd; d++) store<f32>(out + (<usize>d << 2), load<f32>(out + (<usize>d << 2)) * c);
}

function attendRange(b: u32, e: u32, _ctx: usize): void {
  const sc = scratch(<usize>KB << 2);
  for (let i = b; i < e; i++) attendOne(i / nHeads, i % nHeads, sc);
}

export function attention(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = readParams(bind, attention_B.params, attention_B.q, attention_B.k, attention_B.v, attention_B.out);
  const n = u32At(p, attention_Params.rows) * nHeads;
  forEach1d(n, u32At(p, attention_Params.stride), wx, wy, 64, part, parts, attendRange, 0);
}

const FLASH_SLOTS: u32 = 16;

export function attention_flash(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  readParams(bind, attention_flash_B.params, attention_flash_B.q, attention_flash_B.k, attention_flash_B.v, attention_flash_B.out);
  const G = nHeads / nKvHeads;
  const slots = T * G; // query slots of one (sequence, K/V head)
  let split: u32 = 1;
  while (split * 2 * slots <= FLASH_SLOTS) split *= 2;
  const perGroup = FLASH_SLOTS / split;
  const covered = min(slots, wx * perGroup); // the slots the workgroups along x reach
  const heads = min(wy, nKvHeads);
  const units = wz * heads * covered;
  const u1 = partEnd(units, part, parts);
  const sc = scratch(<usize>KB << 2);
  for (let u = partBegin(units, part, parts); u < u1; u++) {
    const s = u % covered;
    const kvHead = (u / covered) % heads;
    const b = u / (covered * heads);
    const t = s / G;
    attendOne(b * T + t, kvHead * G + (s % G), sc);
  }
}
