// matmul: y = x W^T for a linear layer whose weight is stored [out, in] (PyTorch / llama2.c).
// Register-blocked: each thread computes a 4 x 4 block of y, a workgroup of 8 x 8 threads a
// 32 x 32 tile. Correct for any M, N, K (edges are guarded). With accumulate = 1 the result is
// added to y (the residual connection fused into the epilogue).
//   matmul       scalar loads, any K
//   matmul_vec4  vec4 loads along K, needs K % 4 == 0 (x and w bound as vec4 arrays)

#include "block4.wgsl"

struct Params {
  M: u32,           // rows of x and y
  N: u32,           // rows of w = columns of y
  K: u32,           // columns of x and w
  accumulate: u32,  // 1: y += x W^T, 0: y = x W^T
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [M, K]
@group(0) @binding(2) var<storage, read> w: array<f32>;          // [N, K]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;    // [M, N]

fn store(m: u32, n: u32, v: f32) {
  if (m < params.M && n < params.N) {
    let i = m * params.N + n;
    if (params.accumulate == 1u) { y[i] += v; } else { y[i] = v; }
  }
}

fn storeBlock(m0: u32, n0: u32, acc: array<vec4<f32>, 4>) {
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) { store(m0 + i, n0 + j, acc[i][j]); }
  }
}

@compute @workgroup_size(8, 8)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  // Clamp the rows read at the edges (reads stay in bounds; stores are guarded).
  var mr: array<u32, 4>;
  var nr: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    mr[i] = min(m0 + i, params.M - 1u) * params.K;
    nr[i] = min(n0 + i, params.N - 1u) * params.K;
  }
  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < params.K; k++) {
    let b = vec4<f32>(w[nr[0] + k], w[nr[1] + k], w[nr[2] + k], w[nr[3] + k]);
    for (var i = 0u; i < 4u; i++) { acc[i] += x[mr[i] + k] * b; }
  }
  storeBlock(m0, n0, acc);
}

// The same bindings seen as vec4 rows (K % 4 == 0, so every row starts on a vec4).
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;  // [M, K / 4]
@group(0) @binding(2) var<storage, read> w4: array<vec4<f32>>;  // [N, K / 4]

// The 4 x 4 block of block4.wgsl, x and w read as vec4 along K.
@compute @workgroup_size(8, 8)
fn matmul_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let K4 = params.K / 4u;
  let xr = rows4(m0, params.M, K4);
  let wr = rows4(n0, params.N, K4);
  var c = Block4();
  for (var k = 0u; k < K4; k++) {
    c = block4Add(c, x4[xr.x + k], x4[xr.y + k], x4[xr.z + k], x4[xr.w + k], mat4x4<f32>(w4[wr.x + k], w4[wr.y + k], w4[wr.z + k], w4[wr.w + k]));
  }
  storeBlock(m0, n0, array<vec4<f32>, 4>(c.c0, c.c1, c.c2, c.c3));
}

// ---- Workgroup-memory tiling (what a GPU wants; on SwiftShader the register-blocked kernels above
// are faster, see RUNTIME-NOTES). A workgroup of 16 x 16 threads computes a 64 x 64 tile of y,
// each thread a 4 x 4 block. Per step of TK = 16 along K the workgroup stages x[64, 16] and
// w[64, 16] in workgroup memory, transposed so a thread reads 4 rows (or 4 columns) as one vec4;
// every element of x and w is then read from memory once per tile instead of once per thread.
//   matmul_tiled       scalar loads, any K (out-of-range elements are staged as 0)
//   matmul_tiled_vec4  vec4 loads along K, needs K % 4 == 0

const TILE: u32 = 64u;  // rows of x and of w per workgroup tile
const TK: u32 = 16u;    // K per staging step

var<workgroup> xt: array<vec4<f32>, 256>;  // [TK, TILE / 4]: xt[k * 16 + i / 4][i % 4] = x[m0 + i, k0 + k]
var<workgroup> wt: array<vec4<f32>, 256>;  // [TK, TILE / 4]: wt[k * 16 + j / 4][j % 4] = w[n0 + j, k0 + k]

/** The inner product of one staged step: rows 4 ty.. of x against columns 4 tx.. of w. */
fn tileStep(tx: u32, ty: u32, acc: ptr<function, array<vec4<f32>, 4>>) {
  var c0 = (*acc)[0];
  var c1 = (*acc)[1];
  var c2 = (*acc)[2];
  var c3 = (*acc)[3];
  for (var kk = 0u; kk < TK; kk++) {
    let a = xt[kk * 16u + ty];
    let b = wt[kk * 16u + tx];
    c0 += a.x * b;
    c1 += a.y * b;
    c2 += a.z * b;
    c3 += a.w * b;
  }
  *acc = array<vec4<f32>, 4>(c0, c1, c2, c3);
}

@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * TILE;
  let n0 = wg.x * TILE;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < params.K; k0 += TK) {
    for (var s = 0u; s < 4u; s++) {
      let e = li + 256u * s;  // element of the 64 x 16 tile; consecutive threads walk K
      let r = e / TK;
      let k = k0 + e % TK;
      let at = (e % TK) * 16u + r / 4u;
      var a = 0.0;
      if (m0 + r < params.M && k < params.K) { a = x[(m0 + r) * params.K + k]; }
      xt[at][r % 4u] = a;
      var b = 0.0;
      if (n0 + r < params.N && k < params.K) { b = w[(n0 + r) * params.K + k]; }
      wt[at][r % 4u] = b;
    }
    workgroupBarrier();
    tileStep(lid.x, lid.y, &acc);
    workgroupBarrier();
  }
  storeBlock(m0 + lid.y * 4u, n0 + lid.x * 4u, acc);
}

@compute @workgroup_size(16, 16)
fn matmul_tiled_vec4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * TILE;
  let n0 = wg.x * TILE;
  let K4 = params.K / 4u;
  let r = li / 4u;       // tile row this thread stages
  let kq = li % 4u;      // which vec4 of the 16 K of the step
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < params.K; k0 += TK) {
    let k4 = k0 / 4u + kq;
    var a = vec4<f32>(0.0);
    if (m0 + r < params.M && k4 < K4) { a = x4[(m0 + r) * K4 + k4]; }
    var b = vec4<f32>(0.0);
    if (n0 + r < params.N && k4 < K4) { b = w4[(n0 + r) * K4 + k4]; }
    let at = kq * 64u + r / 4u;  // row 4 kq + c of the staged [TK, 16] layout
    let c = r % 4u;
    xt[at][c] = a.x;
    xt[at + 16u][c] = a.y;
    xt[at + 32u][c] = a.z;
    xt[at + 48u][c] = a.w;
    wt[at][c] = b.x;
    wt[at + 16u][c] = b.y;
    wt[at + 32u][c] = b.z;
    wt[at + 48u][c] = b.w;
    workgroupBarrier();
    tileStep(lid.x, lid.y, &acc);
    workgroupBarrier();
  }
  storeBlock(m0 + lid.y * 4u, n0 + lid.x * 4u, acc);
}
