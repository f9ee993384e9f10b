// matmul_subgroup: y = x W^T with the K reduction spread over a subgroup's lanes (a file of its
// own: `enable subgroups` applies to a whole module, and adapters without the feature must still
// compile shaders/matmul.wgsl). Meant for few rows (decoding, the LM head at label positions),
// where the tiled kernels leave most threads idle: a workgroup of 64 threads computes 64
// columns of y for 4 rows; each column is one row of W read once, coalesced across the lanes.
// Correct for any M, N, K and any subgroup size up to 64 (the lanes' order need not follow the
// workgroup's: a subgroup computes the columns its own lanes own, one after another).
enable subgroups;

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

const ROWS: u32 = 4u;  // rows of x per workgroup

@compute @workgroup_size(64)
fn matmul_subgroup(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
  @builtin(subgroup_size) sgSize: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let m0 = wg.y * ROWS;
  let mine = wg.x * 64u + li;  // the column of y this thread writes
  let K = params.K;
  let last = params.M - 1u;
  let x0 = min(m0, last) * K;
  let x1 = min(m0 + 1u, last) * K;
  let x2 = min(m0 + 2u, last) * K;
  let x3 = min(m0 + 3u, last) * K;
  var result = vec4<f32>(0.0);
  for (var j = 0u; j < sgSize; j++) {
    let n = subgroupShuffle(mine, j);  // lane j's column, computed by the whole subgroup
    let wr = min(n, params.N - 1u) * K;
    var part = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < K; k0 += sgSize) {
      let k = k0 + lane;
      if (k < K) {
        part += vec4<f32>(x[x0 + k], x[x1 + k], x[x2 + k], x[x3 + k]) * w[wr + k];
      }
    }
    let total = subgroupAdd(part);
    if (lane == j) { result = total; }
  }
  if (mine < params.N) {
    for (var i = 0u; i < ROWS; i++) {
      let m = m0 + i;
      if (m < params.M) {
        let at = m * params.N + mine;
        if (params.accumulate == 1u) { y[at] += result[i]; } else { y[at] = result[i]; }
      }
    }
  }
}
