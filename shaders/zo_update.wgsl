// zo_update: the zeroth-order estimate and the update of every trainable B, on the GPU.
//   zo_grad    g[i] = (L[i] - L[i + q]) / (2 eps) for i < q; g[q] = 1 if every L is finite, else 0
//   zo_update  B[e] -= lr / q * sum_i g[i] * Z_i[e]   (skipped when g[q] = 0)
// Z_i[e] is regenerated from (seed, tensor, i, e) exactly as mplora drew it; eps, lr and the
// seed come from the shared step block (zo_step.wgsl).

#include "rng.wgsl"
#include "zo_step.wgsl"

struct Params {
  q: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> losses: array<f32>;      // [2q] slot losses
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;  // [q + 1] projected grads, finite flag
@group(0) @binding(3) var<uniform> zo: StepParams;

fn isFinite(x: f32) -> bool {
  return x == x && abs(x) <= 3.4028234e38;
}

@compute @workgroup_size(1)
fn zo_grad() {
  var ok = true;
  for (var i = 0u; i < 2u * params.q; i++) { ok = ok && isFinite(losses[i]); }
  for (var i = 0u; i < params.q; i++) { grad[i] = (losses[i] - losses[i + params.q]) / (2.0 * zo.eps); }
  grad[params.q] = select(0.0, 1.0, ok);
}

struct UpdateParams {
  n: u32,       // elements of B
  q: u32,
  tensor: u32,  // id of this B tensor
  stride: u32,  // threads per grid row
}

@group(0) @binding(0) var<uniform> uparams: UpdateParams;
@group(0) @binding(1) var<storage, read> g: array<f32>;            // [q + 1]
@group(0) @binding(2) var<storage, read_write> b: array<f32>;      // [out, rank] the adapter's B
@group(0) @binding(3) var<uniform> uzo: StepParams;

@compute @workgroup_size(64)
fn zo_update(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x + gid.y * uparams.stride;
  if (e >= uparams.n || g[uparams.q] == 0.0) { return; }
  var s = 0.0;
  for (var i = 0u; i < uparams.q; i++) { s += g[i] * zo_normal(uzo.seed, uparams.tensor, i, e); }
  b[e] -= uzo.lr / f32(uparams.q) * s;
}
