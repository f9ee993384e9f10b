// matmul_lora: a target linear with its MP-LoRA term in one dispatch (the mplora epilogue folded
// into the register-blocked matmul of shaders/matmul.wgsl):
//   y[r, :] (+)= x[r, :] W^T + scale * (B + sign * eps * Z_i) (A x)[r, :]
// with ax = x A^T precomputed ([M, rank], its own small matmul). The batch is slot-major as in
// mplora.wgsl: row r is in slot p = r / rowsPerSlot, global slot g = slotBase + p, query i = g % q,
// sign + when g < q, - otherwise; g >= 2q and eps = 0 are unperturbed. Z_i is P-RGE's full normal
// one, element (o, j) drawn as element o * rank + j of zo_normal (rng.wgsl), never stored: each
// thread regenerates the elements of its own 4 columns, once per global slot among its 4 rows.
// (A workgroup-shared Z tile was measured slower on SwiftShader: its barriers and workgroup
// memory cost more than regenerating Z per thread, as they make mplora itself slow.)
// Each thread computes a 4 x 4 block of y, a workgroup of 8 x 8 threads a 32 x 32 tile.
//   matmul_lora       scalar loads, any K
//   matmul_lora_vec4  vec4 loads along K, needs K % 4 == 0

#include "rng.wgsl"
#include "zo_step.wgsl"
#include "block4.wgsl"

struct Params {
  M: u32,            // rows of x, ax and y (slots * rowsPerSlot)
  N: u32,            // rows of w and of B = columns of y
  K: u32,            // columns of x and w
  accumulate: u32,   // 1: y += ..., 0: y = ...
  rank: u32,         // LoRA rank (<= MAX_RANK)
  rowsPerSlot: u32,  // Bsz * T
  q: u32,            // queries
  scale: f32,        // alpha / r
  tensor: u32,       // RNG id of this B
}

const TN: u32 = 32u;  // columns of y per workgroup
const TM: u32 = 32u;  // rows of y per workgroup

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [M, K]
@group(0) @binding(2) var<storage, read> w: array<f32>;          // [N, K]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;    // [M, N]
@group(0) @binding(4) var<storage, read> ax: array<f32>;         // [M, rank] = x A^T
@group(0) @binding(5) var<storage, read> b: array<f32>;          // [N, rank]
@group(0) @binding(6) var<uniform> zo: StepParams;               // seed, slotBase, eps of the step

/** Element (n, j) of B + sign eps Z_i, for n < N. */
fn bz(n: u32, j: u32, query: u32, ze: f32) -> f32 {
  let e = n * params.rank + j;
  var v = b[e];
  if (ze != 0.0) { v += ze * zo_normal(zo.seed, params.tensor, query, e); }
  return v;
}

/** Elements (n, j .. j + 3) of B + sign eps Z_i (rank % 4 == 0: one Philox block). */
fn bz4(n: u32, j: u32, query: u32, ze: f32) -> vec4<f32> {
  let e = n * params.rank + j;
  var v = vec4<f32>(b[e], b[e + 1u], b[e + 2u], b[e + 3u]);
  if (ze != 0.0) { v += ze * zo_normal4(zo.seed, params.tensor, query, e / 4u); }
  return v;
}

fn put(m: u32, n0: u32, v: vec4<f32>) {
  if (m >= params.M) { return; }
  for (var jn = 0u; jn < 4u; jn++) {
    let n = n0 + jn;
    if (n < params.N) {
      let e = m * params.N + n;
      if (params.accumulate == 1u) { y[e] += v[jn]; } else { y[e] = v[jn]; }
    }
  }
}

/**
 * Stores the 4 x 4 block (rows m0.., columns n0.. of y) plus its MP-LoRA term. Each thread
 * regenerates the Z elements of its own 4 columns, once per global slot among its 4 rows (no
 * workgroup memory or barriers: on SwiftShader those cost more than the regeneration).
 */
fn epilogue(m0: u32, n0: u32, acc0: vec4<f32>, acc1: vec4<f32>, acc2: vec4<f32>, acc3: vec4<f32>) {
  if (m0 >= params.M || n0 >= params.N) { return; }
  let rank = params.rank;
  let last = params.M - 1u;
  let lastN = params.N - 1u;
  let a0 = min(m0, last) * rank;
  let a1 = min(m0 + 1u, last) * rank;
  let a2 = min(m0 + 2u, last) * rank;
  let a3 = min(m0 + 3u, last) * rank;
  // the columns read at the edge are clamped (their stores are guarded)
  let n1 = min(n0 + 1u, lastN);
  let n2 = min(n0 + 2u, lastN);
  let n3 = min(n0 + 3u, lastN);
  let gFirst = zo.slotBase + m0 / params.rowsPerSlot;
  let gLast = zo.slotBase + min(m0 + 3u, last) / params.rowsPerSlot;
  var l0 = vec4<f32>(0.0);
  var l1 = vec4<f32>(0.0);
  var l2 = vec4<f32>(0.0);
  var l3 = vec4<f32>(0.0);
  for (var g = gFirst; g <= gLast; g++) {
    let query = g % params.q;
    let perturbed = zo.eps != 0.0 && g < 2u * params.q;
    let ze = select(0.0, select(-1.0, 1.0, g < params.q) * zo.eps, perturbed);
    var d0 = vec4<f32>(0.0);
    var d1 = vec4<f32>(0.0);
    var d2 = vec4<f32>(0.0);
    var d3 = vec4<f32>(0.0);
    if (rank % 4u == 0u) {
      for (var j = 0u; j < rank; j += 4u) {
        let c0 = bz4(n0, j, query, ze);
        let c1 = bz4(n1, j, query, ze);
        let c2 = bz4(n2, j, query, ze);
        let c3 = bz4(n3, j, query, ze);
        let x0 = vec4<f32>(ax[a0 + j], ax[a0 + j + 1u], ax[a0 + j + 2u], ax[a0 + j + 3u]);
        let x1 = vec4<f32>(ax[a1 + j], ax[a1 + j + 1u], ax[a1 + j + 2u], ax[a1 + j + 3u]);
        let x2 = vec4<f32>(ax[a2 + j], ax[a2 + j + 1u], ax[a2 + j + 2u], ax[a2 + j + 3u]);
        let x3 = vec4<f32>(ax[a3 + j], ax[a3 + j + 1u], ax[a3 + j + 2u], ax[a3 + j + 3u]);
        d0 += vec4<f32>(dot(x0, c0), dot(x0, c1), dot(x0, c2), dot(x0, c3));
        d1 += vec4<f32>(dot(x1, c0), dot(x1, c1), dot(x1, c2), dot(x1, c3));
        d2 += vec4<f32>(dot(x2, c0), dot(x2, c1), dot(x2, c2), dot(x2, c3));
        d3 += vec4<f32>(dot(x3, c0), dot(x3, c1), dot(x3, c2), dot(x3, c3));
      }
    } else {
      for (var j = 0u; j < rank; j++) {
        let bv = vec4<f32>(bz(n0, j, query, ze), bz(n1, j, query, ze), bz(n2, j, query, ze), bz(n3, j, query, ze));
        d0 += ax[a0 + j] * bv;
        d1 += ax[a1 + j] * bv;
        d2 += ax[a2 + j] * bv;
        d3 += ax[a3 + j] * bv;
      }
    }
    // each row takes the term of its own slot
    l0 = select(l0, d0, zo.slotBase + m0 / params.rowsPerSlot == g);
    l1 = select(l1, d1, zo.slotBase + (m0 + 1u) / params.rowsPerSlot == g);
    l2 = select(l2, d2, zo.slotBase + (m0 + 2u) / params.rowsPerSlot == g);
    l3 = select(l3, d3, zo.slotBase + (m0 + 3u) / params.rowsPerSlot == g);
  }
  let sc = params.scale;
  put(m0, n0, acc0 + sc * l0);
  put(m0 + 1u, n0, acc1 + sc * l1);
  put(m0 + 2u, n0, acc2 + sc * l2);
  put(m0 + 3u, n0, acc3 + sc * l3);
}

@compute @workgroup_size(8, 8)
fn matmul_lora(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  var acc: array<vec4<f32>, 4>;
  if (m0 < params.M && n0 < params.N) {
    var mr: array<u32, 4>;
    var nr: array<u32, 4>;
    for (var i = 0u; i < 4u; i++) {
      mr[i] = min(m0 + i, params.M - 1u) * params.K;
      nr[i] = min(n0 + i, params.N - 1u) * params.K;
    }
    for (var k = 0u; k < params.K; k++) {
      let bv = vec4<f32>(w[nr[0] + k], w[nr[1] + k], w[nr[2] + k], w[nr[3] + k]);
      for (var i = 0u; i < 4u; i++) { acc[i] += x[mr[i] + k] * bv; }
    }
  }
  epilogue(m0, n0, acc[0], acc[1], acc[2], acc[3]);
}

@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;  // [M, K / 4]
@group(0) @binding(2) var<storage, read> w4: array<vec4<f32>>;  // [N, K / 4]

// The main loop of matmul_vec4 (shaders/matmul.wgsl): the 4 x 4 block of block4.wgsl.
@compute @workgroup_size(8, 8)
fn matmul_lora_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  var c = Block4();
  if (m0 < params.M && n0 < params.N) {
    let K4 = params.K / 4u;
    let xr = rows4(m0, params.M, K4);
    let wr = rows4(n0, params.N, K4);
    for (var k = 0u; k < K4; k++) {
      c = block4Add(c, x4[xr.x + k], x4[xr.y + k], x4[xr.z + k], x4[xr.w + k], mat4x4<f32>(w4[wr.x + k], w4[wr.y + k], w4[wr.z + k], w4[wr.w + k]));
    }
  }
  epilogue(m0, n0, c.c0, c.c1, c.c2, c.c3);
}
