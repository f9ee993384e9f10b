// matmul_half: y = x W^T with W stored as f16 (the layout of an f16 CompressedWeight: element
// 2i in the low half of word i), read as native f16 where the adapter has `shader-f16` (a file of
// its own: `enable f16` applies to the whole module). Products and sums stay in f32, so the
// result equals the f32 kernels' on the dequantised weights (accumulation-safe); only the
// weight traffic halves. Needs K % 4 == 0 (x as vec4, W as vec4<f16>).
//   matmul_half        register-blocked 4 x 4 per thread (as matmul_vec4)
//   matmul_half_tiled  64 x 64 workgroup tiles staged in workgroup memory, W kept f16 there
enable f16;

#include "block4.wgsl"

struct Params {
  M: u32,           // rows of x and y
  N: u32,           // rows of w = columns of y
  K: u32,           // columns of x and w
  accumulate: u32,  // 1: y += x W^T, 0: y = x W^T
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;   // [M, K / 4]
@group(0) @binding(2) var<storage, read> wh: array<vec4<f16>>;   // [N, K / 4]
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
fn matmul_half(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let K4 = params.K / 4u;
  let xr = rows4(m0, params.M, K4);
  let wr = rows4(n0, params.N, K4);
  var c = Block4();
  for (var k = 0u; k < K4; k++) {
    let b = mat4x4<f32>(vec4<f32>(wh[wr.x + k]), vec4<f32>(wh[wr.y + k]), vec4<f32>(wh[wr.z + k]), vec4<f32>(wh[wr.w + k]));
    c = block4Add(c, x4[xr.x + k], x4[xr.y + k], x4[xr.z + k], x4[xr.w + k], b);
  }
  storeBlock(m0, n0, array<vec4<f32>, 4>(c.c0, c.c1, c.c2, c.c3));
}

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> xt: array<vec4<f32>, 256>;  // [TK, TILE / 4] as in matmul_tiled
var<workgroup> wt: array<vec4<f16>, 256>;  // [TK, TILE / 4], f16

@compute @workgroup_size(16, 16)
fn matmul_half_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * TILE;
  let n0 = wg.x * TILE;
  let K4 = params.K / 4u;
  let r = li / 4u;
  let kq = li % 4u;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < params.K; k0 += TK) {
    let k4 = k0 / 4u + kq;
    var a = vec4<f32>(0.0);
    if (m0 + r < params.M && k4 < K4) { a = x4[(m0 + r) * K4 + k4]; }
    var b = vec4<f16>(0.0h);
    if (n0 + r < params.N && k4 < K4) { b = wh[(n0 + r) * K4 + k4]; }
    let at = kq * 64u + r / 4u;
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
    for (var kk = 0u; kk < TK; kk++) {
      let xa = xt[kk * 16u + lid.y];
      let wb = vec4<f32>(wt[kk * 16u + lid.x]);
      c0 += xa.x * wb;
      c1 += xa.y * wb;
      c2 += xa.z * wb;
      c3 += xa.w * wb;
    }
    workgroupBarrier();
  }
  storeBlock(m0 + lid.y * 4u, n0 + lid.x * 4u, array<vec4<f32>, 4>(c0, c1, c2, c3));
}
