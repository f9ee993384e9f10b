// swiglu: the gated activations of the FFN, elementwise, and two elementwise maps of the Gemma 3
// forward (the embedding scale, the logits' soft-cap), in place.
//   swiglu   out = silu(gate) * up,  silu(g) = g / (1 + exp(-g))
//   geglu    out = gelu_tanh(gate) * up,  gelu_tanh(g) = g / 2 (1 + tanh(sqrt(2 / pi) (g + 0.044715 g^3)))
//            (PyTorch's gelu(approximate='tanh'), transformers' gelu_pytorch_tanh)
//   scale    x = x * c
//   softcap  x = c tanh(x / c)
//   add_row  x[r, :] += gate[:]  (a bias row added to every row of x [n / width, width])

struct Params {
  n: u32,       // elements
  stride: u32,  // threads per grid row (the grid is 2-D when n needs more than 65535 workgroups)
  c: f32,       // scale / softcap: the constant (unused by the activations)
  width: u32,   // add_row: the row length (unused by the others)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;        // [rows, hidden]
@group(0) @binding(2) var<storage, read> up: array<f32>;          // [rows, hidden]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [rows, hidden]
@group(0) @binding(4) var<storage, read_write> x: array<f32>;     // [n] (scale, softcap: in place)

/** tanh without the overflow of exp(2x) for large |x|. */
fn tanhSafe(v: f32) -> f32 {
  let e = exp(-2.0 * abs(v));
  let t = (1.0 - e) / (1.0 + e);
  return select(-t, t, v >= 0.0);
}

@compute @workgroup_size(64)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  let g = gate[i];
  out[i] = g / (1.0 + exp(-g)) * up[i];
}

@compute @workgroup_size(64)
fn geglu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  let g = gate[i];
  out[i] = 0.5 * g * (1.0 + tanhSafe(0.7978845608028654 * (g + 0.044715 * g * g * g))) * up[i];
}

@compute @workgroup_size(64)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  x[i] = x[i] * params.c;
}

@compute @workgroup_size(64)
fn softcap(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  x[i] = params.c * tanhSafe(x[i] / params.c);
}

@compute @workgroup_size(64)
fn add_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  x[i] = x[i] + gate[i % params.width];
}
