// Twins of shaders/zo_update.wgsl: the projected gradients (zo_grad) and the update of a B tensor
// by each optimizer. Z_i[e] is regenerated from (seed, tensor, i, e) by wasm/rng.ts, four elements
// per Philox block; each element's sums run over the queries in order, so any split of the
// elements gives the same bits. The updates cover e = gid.x + gid.y * stride < n and write
// nothing when g[q] = 0 (a non-finite loss).
import { binding, f32At, forEach1d, scratch, u32At } from './common';
import {
  zo_grad_B, zo_step_StepParams, zo_update_adam_B, zo_update_B, zo_update_hizoo_B, zo_update_lozo_B, zo_update_momentum_B,
  zo_update_OptParams, zo_update_Params, zo_update_UpdateParams,
} from './params.gen';
import { zoNormal, zoNormal4 } from './rng';

function isFinite32(x: f32): bool {
  return x == x && Mathf.abs(x) <= <f32>3.4028234e38;
}

// @ts-ignore: decorator
@inline function lossAt(losses: usize, i: u32): f32 {
  return load<f32>(losses + (<usize>i << 2));
}

export function zo_grad(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  if (part != 0 || wx == 0 || wy == 0 || wz == 0) return; // one thread
  const p = binding(bind, zo_grad_B.params);
  const losses = binding(bind, zo_grad_B.losses);
  const grad = binding(bind, zo_grad_B.grad);
  const eps = f32At(binding(bind, zo_grad_B.zo), zo_step_StepParams.eps);
  const q = u32At(p, zo_update_Params.q);
  const l0 = u32At(p, zo_update_Params.l0);
  let ok = true;
  for (let i: u32 = 0; i < 2 * q + l0; i++) ok = ok && isFinite32(lossAt(losses, i));
  for (let i: u32 = 0; i < q; i++) store<f32>(grad + (<usize>i << 2), (lossAt(losses, i) - lossAt(losses, i + q)) / (<f32>2.0 * eps));
  store<f32>(grad + (<usize>q << 2), ok ? 1 : 0);
  if (l0 != 0) {
    const base = lossAt(losses, 2 * q);
    for (let i: u32 = 0; i < q; i++) {
      store<f32>(grad + (<usize>(q + 1 + i) << 2), Mathf.abs(lossAt(losses, i) + lossAt(losses, i + q) - <f32>2.0 * base) / (<f32>2.0 * eps * eps));
    }
  }
}

// The update's arguments, set by the entry (a wasm global per thread).
let gAt: usize = 0;
let bAt: usize = 0;
let mAt: usize = 0;
let vAt: usize = 0;
let ostAt: usize = 0;
let q: u32 = 1;
let tensor: u32 = 0;
let seed: u32 = 0;
let lr: f32 = 0;
let beta1: f32 = 0;
let beta2: f32 = 0;
let adamEps: f32 = 0;
let alpha: f32 = 0;
let rank: u32 = 1;
let zoRank: u32 = 1;
let kind: u32 = 0; // KIND_*

const KIND_SGD: u32 = 0;
const KIND_MOMENTUM: u32 = 1;
const KIND_ADAM: u32 = 2;
const KIND_HIZOO: u32 = 3;
const CHUNK: u32 = 1024; // elements whose sums sit in scratch at a time

/**
 * s[e] = sum_i g[i] Z_i[e] for e in [e0, e1) into sAt, and with curv c[e] = sum_i g[q + 1 + i] Z_i[e]^2
 * (HiZOO) into cAt; whole Philox blocks four lanes at a time.
 */
function zoSums(e0: u32, e1: u32, sAt: usize, cAt: usize, curv: bool): void {
  let e = e0;
  while (e < e1) {
    const o = <usize>(e - e0) << 2;
    if ((e & 3) == 0 && e + 4 <= e1) {
      let s4 = f32x4.splat(0);
      let c4 = f32x4.splat(0);
      for (let i: u32 = 0; i < q; i++) {
        const z = zoNormal4(seed, tensor, i, e >> 2);
        s4 = f32x4.add(s4, f32x4.mul(f32x4.splat(load<f32>(gAt + (<usize>i << 2))), z));
        if (curv) c4 = f32x4.add(c4, f32x4.mul(f32x4.mul(f32x4.splat(load<f32>(gAt + (<usize>(q + 1 + i) << 2))), z), z));
      }
      v128.store(sAt + o, s4);
      if (curv) v128.store(cAt + o, c4);
      e += 4;
    } else {
      let s: f32 = 0;
      let c: f32 = 0;
      for (let i: u32 = 0; i < q; i++) {
        const z = zoNormal(seed, tensor, i, e);
        s += load<f32>(gAt + (<usize>i << 2)) * z;
        if (curv) c += load<f32>(gAt + (<usize>(q + 1 + i) << 2)) * z * z;
      }
      store<f32>(sAt + o, s);
      if (curv) store<f32>(cAt + o, c);
      e++;
    }
  }
}

function updateRange(b0: u32, b1: u32, _ctx: usize): void {
  const sAt = scratch(<usize>CHUNK << 3);
  const cAt = sAt + (<usize>CHUNK << 2);
  const fq = <f32>q;
  for (let c0 = b0; c0 < b1; c0 += CHUNK) {
    const c1 = min(b1, c0 + CHUNK);
    zoSums(c0, c1, sAt, cAt, kind == KIND_HIZOO);
    for (let e = c0; e < c1; e++) {
      const at = <usize>e << 2;
      const s = load<f32>(sAt + (<usize>(e - c0) << 2));
      const bp = bAt + at;
      if (kind == KIND_SGD) {
        store<f32>(bp, load<f32>(bp) - (lr / fq) * s);
      } else if (kind == KIND_MOMENTUM) {
        const mt = beta1 * load<f32>(mAt + at) + (<f32>1.0 - beta1) * (s / fq);
        store<f32>(mAt + at, mt);
        store<f32>(bp, load<f32>(bp) - (lr * mt) / load<f32>(ostAt));
      } else if (kind == KIND_ADAM) {
        const gh = s / fq;
        const mt = beta1 * load<f32>(mAt + at) + (<f32>1.0 - beta1) * gh;
        const vt = beta2 * load<f32>(vAt + at) + (<f32>1.0 - beta2) * gh * gh;
        store<f32>(mAt + at, mt);
        store<f32>(vAt + at, vt);
        store<f32>(bp, load<f32>(bp) - (lr * (mt / load<f32>(ostAt))) / (Mathf.sqrt(vt / load<f32>(ostAt + 4)) + adamEps));
      } else {
        const c = load<f32>(cAt + (<usize>(e - c0) << 2));
        const h = load<f32>(mAt + at);
        const hn = (<f32>1.0 - alpha) * h + alpha * (c / fq) * h;
        store<f32>(mAt + at, hn);
        store<f32>(bp, load<f32>(bp) - ((lr / fq) * s) / Mathf.sqrt(hn));
      }
    }
  }
}

/** Reads the shared arguments; false when g[q] = 0 (nothing to do). */
function setup(bind: usize, pIdx: u32, gIdx: u32, bIdx: u32, zoIdx: u32): bool {
  const p = binding(bind, pIdx);
  gAt = binding(bind, gIdx);
  bAt = binding(bind, bIdx);
  const zo = binding(bind, zoIdx);
  q = u32At(p, zo_update_UpdateParams.q);
  tensor = u32At(p, zo_update_UpdateParams.tensor);
  seed = u32At(zo, zo_step_StepParams.seed);
  lr = f32At(zo, zo_step_StepParams.lr);
  return load<f32>(gAt + (<usize>q << 2)) != 0;
}

function readOpt(p: usize): void {
  beta1 = f32At(p, zo_update_OptParams.beta1);
  beta2 = f32At(p, zo_update_OptParams.beta2);
  adamEps = f32At(p, zo_update_OptParams.adamEps);
  alpha = f32At(p, zo_update_OptParams.alpha);
  rank = u32At(p, zo_update_OptParams.rank);
  zoRank = u32At(p, zo_update_OptParams.zoRank);
}

export function zo_update(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  if (!setup(bind, zo_update_B.uparams, zo_update_B.g, zo_update_B.b, zo_update_B.uzo)) return;
  const p = binding(bind, zo_update_B.uparams);
  kind = KIND_SGD;
  forEach1d(u32At(p, zo_update_UpdateParams.n), u32At(p, zo_update_UpdateParams.stride), wx, wy, 64, part, parts, updateRange, 0);
}

export function zo_update_momentum(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  if (!setup(bind, zo_update_momentum_B.oparams, zo_update_momentum_B.g, zo_update_momentum_B.b, zo_update_momentum_B.uzo)) return;
  const p = binding(bind, zo_update_momentum_B.oparams);
  readOpt(p);
  mAt = binding(bind, zo_update_momentum_B.m);
  ostAt = binding(bind, zo_update_momentum_B.ost);
  kind = KIND_MOMENTUM;
  forEach1d(u32At(p, zo_update_OptParams.n), u32At(p, zo_update_OptParams.stride), wx, wy, 64, part, parts, updateRange, 0);
}

export function zo_update_adam(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  if (!setup(bind, zo_update_adam_B.oparams, zo_update_adam_B.g, zo_update_adam_B.b, zo_update_adam_B.uzo)) return;
  const p = binding(bind, zo_update_adam_B.oparams);
  readOpt(p);
  mAt = binding(bind, zo_update_adam_B.m);
  vAt = binding(bind, zo_update_adam_B.v);
  ostAt = binding(bind, zo_update_adam_B.ost);
  kind = KIND_ADAM;
  forEach1d(u32At(p, zo_update_OptParams.n), u32At(p, zo_update_OptParams.stride), wx, wy, 64, part, parts, updateRange, 0);
}

export function zo_update_hizoo(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  if (!setup(bind, zo_update_hizoo_B.oparams, zo_update_hizoo_B.g, zo_update_hizoo_B.b, zo_update_hizoo_B.uzo)) return;
  const p = binding(bind, zo_update_hizoo_B.oparams);
  readOpt(p);
  mAt = binding(bind, zo_update_hizoo_B.m);
  kind = KIND_HIZOO;
  forEach1d(u32At(p, zo_update_OptParams.n), u32At(p, zo_update_OptParams.stride), wx, wy, 64, part, parts, updateRange, 0);
}

const LOZO_V_BASE: u32 = 0x80000000;

/** LOZO: Z_i = U_i V_i^T / sqrt(r'); V_i of every query drawn once into scratch, U_i's row per output. */
function lozoRange(b0: u32, b1: u32, _ctx: usize): void {
  const zr = zoRank;
  const vAtS = scratch((<usize>q * <usize>rank * <usize>zr + <usize>q * <usize>zr) << 2); // [q, rank, zr]
  const uAtS = vAtS + ((<usize>q * <usize>rank * <usize>zr) << 2); // [q, zr] of the current output row
  for (let i: u32 = 0; i < q; i++) {
    for (let t: u32 = 0; t < rank * zr; t++) store<f32>(vAtS + ((<usize>(i * rank * zr + t)) << 2), zoNormal(seed, tensor, i, LOZO_V_BASE + t));
  }
  const inv: f32 = <f32>1.0 / Mathf.sqrt(<f32>zr);
  let row: u32 = 0xffffffff;
  for (let e = b0; e < b1; e++) {
    const o = e / rank;
    const j = e % rank;
    if (o != row) {
      row = o;
      for (let i: u32 = 0; i < q; i++) {
        for (let k: u32 = 0; k < zr; k++) store<f32>(uAtS + (<usize>(i * zr + k) << 2), zoNormal(seed, tensor, i, o * zr + k));
      }
    }
    let s: f32 = 0;
    for (let i: u32 = 0; i < q; i++) {
      let z: f32 = 0;
      const u = uAtS + (<usize>(i * zr) << 2);
      const v = vAtS + (<usize>(i * rank * zr + j * zr) << 2);
      for (let k: u32 = 0; k < zr; k++) z += load<f32>(u + (<usize>k << 2)) * load<f32>(v + (<usize>k << 2));
      s += load<f32>(gAt + (<usize>i << 2)) * z * inv;
    }
    const bp = bAt + (<usize>e << 2);
    store<f32>(bp, load<f32>(bp) - (lr / <f32>q) * s);
  }
}

export function zo_update_lozo(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  if (!setup(bind, zo_update_lozo_B.oparams, zo_update_lozo_B.g, zo_update_lozo_B.b, zo_update_lozo_B.uzo)) return;
  const p = binding(bind, zo_update_lozo_B.oparams);
  readOpt(p);
  // whole workgroups of 64 elements: e0 = (wid.x + wid.y * stride / 64) * 64
  forEach1d(u32At(p, zo_update_OptParams.n), u32At(p, zo_update_OptParams.stride), wx, wy, 64, part, parts, lozoRange, 0);
}
