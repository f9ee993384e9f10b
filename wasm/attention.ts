// Twins of shaders/attention.wgsl: causal grouped-query attention with an online softmax, one
// (query row, head) at a time. The output row is the accumulator (zeroed first), so any headDim
// works without scratch. attention covers i = gid.x + gid.y * stride < rows * nHeads;
// attention_flash the query slots of its workgroups (x: slot groups, y: K/V head, z: sequence).
import { binding, f32At, forEach1d, partBegin, partEnd, u32At } from './common';
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

/** Attention of query row r (token r % T of sequence r / T) for head h, written to its output row. */
function attendOne(r: u32, h: u32): void {
  const b = r / T;
  const pos = pos0 + r % T;
  const kvDim = nKvHeads * hd;
  const kvHead = h / (nHeads / nKvHeads);
  const qRow = qAt + ((<usize>r * <usize>nHeads * <usize>hd + <usize>h * <usize>hd) << 2);
  const oRow = outAt + ((<usize>r * <usize>nHeads * <usize>hd + <usize>h * <usize>hd) << 2);
  const kvBase = (<usize>b * <usize>S * <usize>kvDim + <usize>kvHead * <usize>hd) << 2;
  const first: u32 = window > 0 && pos + 1 > window ? pos + 1 - window : 0;
  const bytes = <usize>hd << 2;
  memory.fill(oRow, 0, bytes);
  let m: f32 = -3.0e38;
  let l: f32 = 0;
  for (let j = first; j <= pos; j++) {
    const off = kvBase + ((<usize>j * <usize>kvDim) << 2);
    const kRow = kAt + off;
    const vRow = vAt + off;
    // s = q . k_j
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let d: u32 = 0;
    for (; d + 8 <= hd; d += 8) {
      const o = <usize>d << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(qRow + o), v128.load(kRow + o)));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(qRow + o + 16), v128.load(kRow + o + 16)));
    }
    for (; d + 4 <= hd; d += 4) {
      const o = <usize>d << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(qRow + o), v128.load(kRow + o)));
    }
    const a = f32x4.add(a0, a1);
    let s = (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
    for (; d < hd; d++) s += load<f32>(qRow + (<usize>d << 2)) * load<f32>(kRow + (<usize>d << 2));
    s *= scaleP;
    const mNew = max(m, s);
    const c = Mathf.exp(m - mNew);
    const p = Mathf.exp(s - mNew);
    l = l * c + p;
    m = mNew;
    // out = out * c + p * v_j
    const c4 = f32x4.splat(c);
    const p4 = f32x4.splat(p);
    d = 0;
    for (; d + 4 <= hd; d += 4) {
      const o = <usize>d << 2;
      v128.store(oRow + o, f32x4.add(f32x4.mul(v128.load(oRow + o), c4), f32x4.mul(p4, v128.load(vRow + o))));
    }
    for (; d < hd; d++) {
      const o = <usize>d << 2;
      store<f32>(oRow + o, load<f32>(oRow + o) * c + p * load<f32>(vRow + o));
    }
  }
  const inv4 = f32x4.splat(l);
  let d: u32 = 0;
  for (; d + 4 <= hd; d += 4) {
    const o = <usize>d << 2;
    v128.store(oRow + o, f32x4.div(v128.load(oRow + o), inv4));
  }
  for (; d < hd; d++) {
    const o = <usize>d << 2;
    store<f32>(oRow + o, load<f32>(oRow + o) / l);
  }
}

function attendRange(b: u32, e: u32, _ctx: usize): void {
  for (let i = b; i < e; i++) attendOne(i / nHeads, i % nHeads);
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
  for (let u = partBegin(units, part, parts); u < u1; u++) {
    const s = u % covered;
    const kvHead = (u / covered) % heads;
    const b = u / (covered * heads);
    const t = s / G;
    attendOne(b * T + t, kvHead * G + (s % G));
  }
}
