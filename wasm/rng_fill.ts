// Twins of shaders/rng_fill.wgsl: the perturbation normals and the raw Philox words, one thread
// per element (e = gid.x + gid.y * stride, e < n).
import { binding, forEach1d, u32At } from './common';
import { rng_bits_B, rng_fill_B, rng_fill_Params } from './params.gen';
import { philox4x32, zoNormal } from './rng';

let outAt: usize = 0;
let first: u32 = 0;
let seed: u32 = 0;
let tensor: u32 = 0;
let query: u32 = 0;

function readParams(p: usize): void {
  first = u32At(p, rng_fill_Params.first);
  seed = u32At(p, rng_fill_Params.seed);
  tensor = u32At(p, rng_fill_Params.tensor);
  query = u32At(p, rng_fill_Params.query);
}

function fillRange(b: u32, e: u32, _ctx: usize): void {
  for (let i = b; i < e; i++) store<f32>(outAt + (<usize>i << 2), zoNormal(seed, tensor, query, first + i));
}

function bitsRange(b: u32, e: u32, _ctx: usize): void {
  for (let i = b; i < e; i++) v128.store(outAt + (<usize>i << 4), philox4x32(first + i, query, 0, 0, seed, tensor));
}

export function rng_fill(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, rng_fill_B.params);
  readParams(p);
  outAt = binding(bind, rng_fill_B.out);
  forEach1d(u32At(p, rng_fill_Params.n), u32At(p, rng_fill_Params.stride), wx, wy, 64, part, parts, fillRange, 0);
}

export function rng_bits(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, rng_bits_B.params);
  readParams(p);
  outAt = binding(bind, rng_bits_B.bits);
  forEach1d(u32At(p, rng_fill_Params.n), u32At(p, rng_fill_Params.stride), wx, wy, 64, part, parts, bitsRange, 0);
}
