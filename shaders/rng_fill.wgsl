// rng_fill: materialises perturbation normals (for tests, debugging and the host-side oracle;
// the training kernels call zo_normal themselves and never store Z).
//   rng_fill: out[e]  = zo_normal(seed, tensor, query, first + e)                      e < n
//   rng_bits: bits[e] = philox4x32(vec4(first + e, query, 0, 0), vec2(seed, tensor))    e < n
// (first + e wraps mod 2^32; rng_bits exists so tests can compare the raw Philox words bit for bit.)

#include "rng.wgsl"

struct Params {
  n: u32,       // elements (rng_fill) or counters (rng_bits)
  stride: u32,  // threads per grid row (the grid is 2-D when n needs more than 65535 workgroups)
  first: u32,   // element (rng_fill) or counter (rng_bits) of thread 0
  seed: u32,    // step seed S: key word 0
  tensor: u32,  // B-tensor id: key word 1
  query: u32,   // perturbation index i: counter word 1
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;         // [n]
@group(0) @binding(2) var<storage, read_write> bits: array<vec4<u32>>;  // [n, 4]

@compute @workgroup_size(64)
fn rng_fill(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x + gid.y * params.stride;
  if (e >= params.n) { return; }
  out[e] = zo_normal(params.seed, params.tensor, params.query, params.first + e);
}

@compute @workgroup_size(64)
fn rng_bits(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x + gid.y * params.stride;
  if (e >= params.n) { return; }
  bits[e] = philox4x32(vec4<u32>(params.first + e, params.query, 0u, 0u), vec2<u32>(params.seed, params.tensor));
}
