// rmsnorm: one workgroup per row (the grid is folded into two dimensions past 65535 rows).
//   out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight
// or, with accumulate, out[r, :] += that (Gemma 3's post-norms: the residual add of a normalised
// sub-block output).

struct Params {
  rows: u32,
  width: u32,
  eps: f32,
  accumulate: u32,  // 1: add to out
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // [rows, width]
@group(0) @binding(2) var<storage, read> weight: array<f32>;      // [width]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [rows, width]

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * groups.x;
  if (row >= params.rows) { return; }  // uniform per workgroup: barriers stay in uniform control flow
  let base = row * params.width;
  var ss = 0.0;
  for (var i = lid; i < params.width; i += WG) {
    let v = x[base + i];
    ss += v * v;
  }
  partial[lid] = ss;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(partial[0] / f32(params.width) + params.eps);
  for (var i = lid; i < params.width; i += WG) {
    let y = x[base + i] * inv * weight[i];
    out[base + i] = select(y, out[base + i] + y, params.accumulate != 0u);
  }
}

// The same with one thread per row and no barriers: for batches of many short rows (training
// passes), where a workgroup per row spends its time synchronising (measured on SwiftShader).
@compute @workgroup_size(WG)
fn rmsnorm_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = gid.x + gid.y * groups.x * WG;
  if (row >= params.rows) { return; }
  let base = row * params.width;
  var ss = 0.0;
  for (var i = 0u; i < params.width; i++) {
    let v = x[base + i];
    ss += v * v;
  }
  let inv = inverseSqrt(ss / f32(params.width) + params.eps);
  for (var i = 0u; i < params.width; i++) {
    let y = x[base + i] * inv * weight[i];
    out[base + i] = select(y, out[base + i] + y, params.accumulate != 0u);
  }
}
