// Twins of shaders/swiglu.wgsl: the FFN's gated activations and two elementwise maps, one thread
// per element (e = gid.x + gid.y * stride, e < n).
import { binding, exp4, f32At, forEach1d, tanh4, u32At } from './common';
import { add_row_B, geglu_B, scale_B, softcap_B, swiglu_B, swiglu_Params } from './params.gen';

// The ranges' shared arguments (set by the entry, read by the bodies; a wasm global per thread).
let gateAt: usize = 0;
let upAt: usize = 0;
let outAt: usize = 0;
let xAt: usize = 0;
let cParam: f32 = 0;
let widthParam: u32 = 1;

// Each map as f32x4 lanes; a tail element is one lane of the same code (the same bits whichever part
// computes it).

// @ts-ignore: decorator
@inline function swiglu4(g: v128, u: v128): v128 {
  return f32x4.mul(f32x4.div(g, f32x4.add(f32x4.splat(1.0), exp4(f32x4.neg(g)))), u);
}

// @ts-ignore: decorator
@inline function geglu4(g: v128, u: v128): v128 {
  const inner = f32x4.mul(f32x4.splat(0.7978845608028654), f32x4.add(g, f32x4.mul(f32x4.mul(f32x4.mul(f32x4.splat(0.044715), g), g), g)));
  return f32x4.mul(f32x4.mul(f32x4.mul(f32x4.splat(0.5), g), f32x4.add(f32x4.splat(1.0), tanh4(inner))), u);
}

// @ts-ignore: decorator
@inline function softcap4(x: v128, c: v128): v128 {
  return f32x4.mul(c, tanh4(f32x4.div(x, c)));
}

function swigluRange(b: u32, e: u32, _ctx: usize): void {
  let i = b;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(outAt + o, swiglu4(v128.load(gateAt + o), v128.load(upAt + o)));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    store<f32>(outAt + o, f32x4.extract_lane(swiglu4(f32x4.splat(load<f32>(gateAt + o)), f32x4.splat(load<f32>(upAt + o))), 0));
  }
}

function gegluRange(b: u32, e: u32, _ctx: usize): void {
  let i = b;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(outAt + o, geglu4(v128.load(gateAt + o), v128.load(upAt + o)));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    store<f32>(outAt + o, f32x4.extract_lane(geglu4(f32x4.splat(load<f32>(gateAt + o)), f32x4.splat(load<f32>(upAt + o))), 0));
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
  const c = f32x4.splat(cParam);
  let i = b;
  for (; i + 4 <= e; i += 4) {
    const o = xAt + (<usize>i << 2);
    v128.store(o, softcap4(v128.load(o), c));
  }
  for (; i < e; i++) {
    const o = xAt + (<usize>i << 2);
    store<f32>(o, f32x4.extract_lane(softcap4(f32x4.splat(load<f32>(o)), c), 0));
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
