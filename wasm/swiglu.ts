// Twins of shaders/swiglu.wgsl: the FFN's gated activations and two elementwise maps, one thread
// per element (e = gid.x + gid.y * stride, e < n).
import { binding, f32At, forEach1d, u32At } from './common';
import { add_row_B, geglu_B, scale_B, softcap_B, swiglu_B, swiglu_Params } from './params.gen';

// The ranges' shared arguments (set by the entry, read by the bodies; a wasm global per thread).
let gateAt: usize = 0;
let upAt: usize = 0;
let outAt: usize = 0;
let xAt: usize = 0;
let cParam: f32 = 0;
let widthParam: u32 = 1;

/** tanh without the overflow of exp(2x) for large |x| (tanhSafe). */
// @ts-ignore: decorator
@inline function tanhSafe(v: f32): f32 {
  const e = Mathf.exp(<f32>-2.0 * Mathf.abs(v));
  const t = (<f32>1.0 - e) / (<f32>1.0 + e);
  return v >= 0 ? t : -t;
}

function swigluRange(b: u32, e: u32, _ctx: usize): void {
  for (let i = b; i < e; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gateAt + o);
    store<f32>(outAt + o, (g / (<f32>1.0 + Mathf.exp(-g))) * load<f32>(upAt + o));
  }
}

function gegluRange(b: u32, e: u32, _ctx: usize): void {
  for (let i = b; i < e; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gateAt + o);
    const inner = <f32>0.7978845608028654 * (g + <f32>0.044715 * g * g * g);
    store<f32>(outAt + o, <f32>0.5 * g * (<f32>1.0 + tanhSafe(inner)) * load<f32>(upAt + o));
  }
}

function scaleRange(b: u32, e: u32, _ctx: usize): void {
  const c = f32x4.splat(cParam);
  let i = b;
  for (; i + 4 <= e; i += 4) {
    const o = xAt + (<usize>i << 2);
    v128.store(o, f32x4.mul(v128.load(o), c));
  }
  for (; i < e; i++) {
    const o = xAt + (<usize>i << 2);
    store<f32>(o, load<f32>(o) * cParam);
  }
}

function softcapRange(b: u32, e: u32, _ctx: usize): void {
  for (let i = b; i < e; i++) {
    const o = xAt + (<usize>i << 2);
    store<f32>(o, cParam * tanhSafe(load<f32>(o) / cParam));
  }
}

function addRowRange(b: u32, e: u32, _ctx: usize): void {
  for (let i = b; i < e; i++) {
    const o = xAt + (<usize>i << 2);
    store<f32>(o, load<f32>(o) + load<f32>(gateAt + (<usize>(i % widthParam) << 2)));
  }
}

function setup(bind: usize, params: u32, gate: u32, up: u32, out: u32, x: u32): void {
  const p = binding(bind, params);
  gateAt = gate < 0xffffffff ? binding(bind, gate) : 0;
  upAt = up < 0xffffffff ? binding(bind, up) : 0;
  outAt = out < 0xffffffff ? binding(bind, out) : 0;
  xAt = x < 0xffffffff ? binding(bind, x) : 0;
  cParam = f32At(p, swiglu_Params.c);
  widthParam = u32At(p, swiglu_Params.width);
}

// @ts-ignore: decorator
@inline function n(bind: usize, params: u32): u32 {
  return u32At(binding(bind, params), swiglu_Params.n);
}

// @ts-ignore: decorator
@inline function stride(bind: usize, params: u32): u32 {
  return u32At(binding(bind, params), swiglu_Params.stride);
}

const NONE: u32 = 0xffffffff;

export function swiglu(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  setup(bind, swiglu_B.params, swiglu_B.gate, swiglu_B.up, swiglu_B.out, NONE);
  forEach1d(n(bind, swiglu_B.params), stride(bind, swiglu_B.params), wx, wy, 64, part, parts, swigluRange, 0);
}

export function geglu(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  setup(bind, geglu_B.params, geglu_B.gate, geglu_B.up, geglu_B.out, NONE);
  forEach1d(n(bind, geglu_B.params), stride(bind, geglu_B.params), wx, wy, 64, part, parts, gegluRange, 0);
}

export function scale(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  setup(bind, scale_B.params, NONE, NONE, NONE, scale_B.x);
  forEach1d(n(bind, scale_B.params), stride(bind, scale_B.params), wx, wy, 64, part, parts, scaleRange, 0);
}

export function softcap(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  setup(bind, softcap_B.params, NONE, NONE, NONE, softcap_B.x);
  forEach1d(n(bind, softcap_B.params), stride(bind, softcap_B.params), wx, wy, 64, part, parts, softcapRange, 0);
}

export function add_row(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  setup(bind, add_row_B.params, add_row_B.gate, NONE, NONE, add_row_B.x);
  forEach1d(n(bind, add_row_B.params), stride(bind, add_row_B.params), wx, wy, 64, part, parts, addRowRange, 0);
}
