// swiglu: the gated activation of the Llama FFN, elementwise.
//   out = silu(gate) * up,  silu(g) = g / (1 + exp(-g))

struct Params {
  n: u32,       // elements
  stride: u32,  // threads per grid row (the grid is 2-D when n needs more than 65535 workgroups)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;        // [rows, hidden]
@group(0) @binding(2) var<storage, read> up: array<f32>;          // [rows, hidden]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [rows, hidden]

@compute @workgroup_size(64)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  let g = gate[i];
  out[i] = g / (1.0 + exp(-g)) * up[i];
}
