// zo_update: the zeroth-order estimate and the update of every trainable B, on the GPU.
//   zo_grad    g[i] = (L[i] - L[i + q]) / (2 eps) for i < q; g[q] = 1 if every L is finite, else 0;
//              with l0 (HiZOO: L[2q] is the unperturbed loss L0) also the curvature per query
//              g[q + 1 + i] = |L[i] + L[i + q] - 2 L0| / (2 eps^2)
//   zo_update  B[e] -= lr / q * sum_i g[i] * Z_i[e]   (sgd: plain P-RGE)
// The optimizers of src/train/optimizer.ts (each skipped, state included, when g[q] = 0), with
// ghat[e] = 1/q sum_i g[i] Z_i[e] and c1 = 1 - beta1^t, c2 = 1 - beta2^t (t = step + 1, from ost):
//   zo_update_momentum  m = beta1 m + (1 - beta1) ghat;  B -= lr m / c1
//   zo_update_adam      m as above, v = beta2 v + (1 - beta2) ghat^2;  B -= lr (m / c1) / (sqrt(v / c2) + adamEps)
//   zo_update_lozo      Z_i = U_i V_i^T / sqrt(r'), U_i [out, r'], V_i [rank, r'] (lozo_u, lozo_v);
//                       B -= lr / q sum_i g[i] Z_i, U and V drawn once per workgroup tile
//   zo_update_hizoo     h = (1 - alpha) h + alpha (1/q sum_i g[q + 1 + i] Z_i^2) h  (diagonal Hessian EMA),
//                       then B -= lr / q sum_i g[i] Z_i / sqrt(h)  (the forward perturbed B by eps Z_i / sqrt(h_old))
// Z_i[e] is regenerated from (seed, tensor, i, e) exactly as mplora drew it; eps, lr and the
// seed come from the shared step block (zo_step.wgsl).

#include "rng.wgsl"
#include "zo_step.wgsl"

struct Params {
  q: u32,
  l0: u32,  // 1: losses[2q] is the unperturbed loss (HiZOO); g[q + 1 .. 2q] get the curvatures
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> losses: array<f32>;      // [2q (+ 1)] slot losses
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;  // [q + 1 (+ q)] projected grads, finite flag (, curvatures)
@group(0) @binding(3) var<uniform> zo: StepParams;

fn isFinite(x: f32) -> bool {
  return x == x && abs(x) <= 3.4028234e38;
}

@compute @workgroup_size(1)
fn zo_grad() {
  var ok = true;
  for (var i = 0u; i < 2u * params.q + params.l0; i++) { ok = ok && isFinite(losses[i]); }
  for (var i = 0u; i < params.q; i++) { grad[i] = (losses[i] - losses[i + params.q]) / (2.0 * zo.eps); }
  grad[params.q] = select(0.0, 1.0, ok);
  if (params.l0 != 0u) {
    let l0 = losses[2u * params.q];
    for (var i = 0u; i < params.q; i++) {
      grad[params.q + 1u + i] = abs(losses[i] + losses[i + params.q] - 2.0 * l0) / (2.0 * zo.eps * zo.eps);
    }
  }
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

// ---- the optimizers beside plain P-RGE (src/train/optimizer.ts) ----

const LOZO_V_BASE: u32 = 0x80000000u;  // RNG elements of V_i start here (U_i's are o * r' + k)
override MAX_RANK: u32;                // set from TS (LIMITS in src/gpu/kernels/registry.ts)
override MAX_ZO_RANK: u32;

struct OptParams {
  n: u32,       // elements of B
  q: u32,
  tensor: u32,  // id of this B tensor
  stride: u32,  // threads per grid row
  rank: u32,    // columns of B (lozo)
  zoRank: u32,  // r' (lozo)
  beta1: f32,   // momentum, adam
  beta2: f32,   // adam
  adamEps: f32, // adam
  alpha: f32,   // hizoo: the Hessian EMA's smoothing
}

@group(0) @binding(0) var<uniform> oparams: OptParams;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;      // [n] first moment (momentum, adam); h (hizoo)
@group(0) @binding(5) var<storage, read_write> v: array<f32>;      // [n] second moment (adam)
@group(0) @binding(6) var<storage, read> ost: array<f32>;          // [2] c1 = 1 - beta1^t, c2 = 1 - beta2^t of this step

var<workgroup> lu: array<f32, 64u * MAX_ZO_RANK>;         // U_i rows of the tile's outputs
var<workgroup> lv: array<f32, MAX_RANK * MAX_ZO_RANK>;    // all of V_i

// ghat[e] = 1/q sum_i g[i] Z_i[e]
fn zo_ghat(e: u32) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < oparams.q; i++) { s += g[i] * zo_normal(uzo.seed, oparams.tensor, i, e); }
  return s / f32(oparams.q);
}

@compute @workgroup_size(64)
fn zo_update_momentum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x + gid.y * oparams.stride;
  if (e >= oparams.n || g[oparams.q] == 0.0) { return; }
  let mt = oparams.beta1 * m[e] + (1.0 - oparams.beta1) * zo_ghat(e);
  m[e] = mt;
  b[e] -= uzo.lr * mt / ost[0];
}

@compute @workgroup_size(64)
fn zo_update_adam(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x + gid.y * oparams.stride;
  if (e >= oparams.n || g[oparams.q] == 0.0) { return; }
  let gh = zo_ghat(e);
  let mt = oparams.beta1 * m[e] + (1.0 - oparams.beta1) * gh;
  let vt = oparams.beta2 * v[e] + (1.0 - oparams.beta2) * gh * gh;
  m[e] = mt;
  v[e] = vt;
  b[e] -= uzo.lr * (mt / ost[0]) / (sqrt(vt / ost[1]) + oparams.adamEps);
}

@compute @workgroup_size(64)
fn zo_update_hizoo(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x + gid.y * oparams.stride;
  if (e >= oparams.n || g[oparams.q] == 0.0) { return; }
  let q = oparams.q;
  var s = 0.0;   // sum_i g_i z_i
  var c = 0.0;   // sum_i curvature_i z_i^2
  for (var i = 0u; i < q; i++) {
    let z = zo_normal(uzo.seed, oparams.tensor, i, e);
    s += g[i] * z;
    c += g[q + 1u + i] * z * z;
  }
  let h = m[e];
  let hn = (1.0 - oparams.alpha) * h + oparams.alpha * (c / f32(q)) * h;
  m[e] = hn;
  b[e] -= uzo.lr / f32(q) * s / sqrt(hn);
}

// One workgroup per 64 consecutive elements of B (rows o0 .. o1 of [out, rank]).
@compute @workgroup_size(64)
fn zo_update_lozo(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e0 = (wid.x + wid.y * (oparams.stride / 64u)) * 64u;
  if (e0 >= oparams.n || g[oparams.q] == 0.0) { return; }  // uniform over the workgroup
  let rank = oparams.rank;
  let zr = oparams.zoRank;
  let o0 = e0 / rank;
  let rows = min((e0 + 63u) / rank, oparams.n / rank - 1u) - o0 + 1u;
  let e = e0 + li;
  let inv = 1.0 / sqrt(f32(zr));
  var s = 0.0;
  for (var i = 0u; i < oparams.q; i++) {
    for (var t = li; t < rows * zr; t += 64u) { lu[t] = zo_normal(uzo.seed, oparams.tensor, i, o0 * zr + t); }
    for (var t = li; t < rank * zr; t += 64u) { lv[t] = zo_normal(uzo.seed, oparams.tensor, i, LOZO_V_BASE + t); }
    workgroupBarrier();
    if (e < oparams.n) {
      let lo = e / rank - o0;
      let j = e % rank;
      var z = 0.0;
      for (var k = 0u; k < zr; k++) { z += lu[lo * zr + k] * lv[j * zr + k]; }
      s += g[i] * z * inv;
    }
    workgroupBarrier();
  }
  if (e < oparams.n) { b[e] -= uzo.lr / f32(oparams.q) * s; }
}
