// matmul_quant: y = x W^T with W stored compressed, dequantised in registers (never in memory),
// one entry point per layout of shaders/quant_blocks.wgsl (F16, BF16, ggml's Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; and F32 words, for the row blocks of a split f32 matrix).
// Same 4 x 4 register blocking as matmul.wgsl's matmul_vec4; x is read as vec4 (K % 4 == 0).
// W may be one row block of a larger matrix (a weight split across buffers): its N rows give the
// columns yColumn .. yColumn + N - 1 of y, whose rows are yStride apart.

struct Params {
  M: u32,
  N: u32,           // rows of this W
  K: u32,
  accumulate: u32,  // 1: y += x W^T
  yStride: u32,     // columns of y (N when W is whole)
  yColumn: u32,     // column of y that W's row 0 gives (0 when W is whole)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;    // [M, K / 4]
@group(0) @binding(2) var<storage, read> wq: array<u32>;          // [N rows of the layout's words]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;     // [M, yStride]
@group(0) @binding(4) var<storage, read> ws: array<u32>;          // [scale words] f16 block scales (Q8_0, Q4_0, Q5_0, Q3_K, Q6_K)

#include "quant_blocks.wgsl"
#include "block4.wgsl"

fn store(m: u32, n: u32, v: f32) {
  if (m < params.M && n < params.N) {
    let i = m * params.yStride + params.yColumn + n;
    if (params.accumulate == 1u) { y[i] += v; } else { y[i] = v; }
  }
}

fn storeRow(m: u32, n0: u32, v: vec4<f32>) {
  store(m, n0, v.x);
  store(m, n0 + 1u, v.y);
  store(m, n0 + 2u, v.z);
  store(m, n0 + 3u, v.w);
}

fn storeBlock(m0: u32, n0: u32, c: Block4) {
  storeRow(m0, n0, c.c0);
  storeRow(m0 + 1u, n0, c.c1);
  storeRow(m0 + 2u, n0, c.c2);
  storeRow(m0 + 3u, n0, c.c3);
}

// The 4 x 4 block of block4.wgsl, as in matmul_vec4, W decoded 4 values at a time.
fn mm(gid: vec3<u32>, t: u32) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let K = params.K;
  let K4 = K / 4u;
  let xr = rows4(m0, params.M, K4);
  let r = rows4(n0, params.N, 1u);
  var c = Block4();
  for (var k = 0u; k < K4; k++) {
    let b = mat4x4<f32>(decode4(t, r.x, K, 4u * k), decode4(t, r.y, K, 4u * k), decode4(t, r.z, K, 4u * k), decode4(t, r.w, K, 4u * k));
    c = block4Add(c, x4[xr.x + k], x4[xr.y + k], x4[xr.z + k], x4[xr.w + k], b);
  }
  storeBlock(m0, n0, c);
}

// The quantised layouts: the same 4 x 4 block, K walked in sub-blocks (32 or 16 values, one scale
// each). Per sub-block each of the 4 weight rows decodes its scales and word offsets once (subHead),
// then steps of 4 values read one word per row (subQ4): the per-value work is a shift, a mask, a
// conversion and a multiply-add, and each decoded vec4 serves the 4 rows of x.
fn mmq(gid: vec3<u32>, t: u32) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let K4 = params.K / 4u;
  let xr = rows4(m0, params.M, K4);
  let r = rows4(n0, params.N, params.K / blockLen(t));  // the rows' first blocks
  var c = Block4();
  let sub = subLen(t);
  for (var s = 0u; s < params.K / sub; s++) {
    let h0 = subHead(t, r.x, s);
    let h1 = subHead(t, r.y, s);
    let h2 = subHead(t, r.z, s);
    let h3 = subHead(t, r.w, s);
    for (var i = 0u; i < sub / 4u; i++) {
      let k = (sub / 4u) * s + i;
      let b = mat4x4<f32>(subQ4(t, h0, i), subQ4(t, h1, i), subQ4(t, h2, i), subQ4(t, h3, i));
      c = block4Add(c, x4[xr.x + k], x4[xr.y + k], x4[xr.z + k], x4[xr.w + k], b);
    }
  }
  storeBlock(m0, n0, c);
}

// One row of x per thread (a 1 x 4 block; workgroups of 64 threads along N: tile 256 N x 1 M), for
// decoding (M = 1): the 4 x 4 block would compute 4 copies of the one row, 56 of its 64 threads idle.
fn mmq1(gid: vec3<u32>, t: u32) {
  let n0 = gid.x * 4u;
  let m = gid.y;
  if (m >= params.M || n0 >= params.N) { return; }
  let x0 = m * (params.K / 4u);
  let r = rows4(n0, params.N, params.K / blockLen(t));
  var c = vec4<f32>(0.0);
  let sub = subLen(t);
  for (var s = 0u; s < params.K / sub; s++) {
    let h0 = subHead(t, r.x, s);
    let h1 = subHead(t, r.y, s);
    let h2 = subHead(t, r.z, s);
    let h3 = subHead(t, r.w, s);
    for (var i = 0u; i < sub / 4u; i++) {
      c += x4[x0 + (sub / 4u) * s + i] * mat4x4<f32>(subQ4(t, h0, i), subQ4(t, h1, i), subQ4(t, h2, i), subQ4(t, h3, i));
    }
  }
  storeRow(m, n0, c);
}

// The same with 8 rows of x per thread (a 4 x 8 block; workgroup tile 32 N x 64 M): each decoded vec4
// serves twice the rows, for prefill / training shapes (M in the hundreds).
fn mmq8(gid: vec3<u32>, t: u32) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 8u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let K4 = params.K / 4u;
  let xlo = rows4(m0, params.M, K4);
  let xhi = rows4(m0 + 4u, params.M, K4);
  let r = rows4(n0, params.N, params.K / blockLen(t));
  var lo = Block4();  // rows m0 .. m0 + 3
  var hi = Block4();  // rows m0 + 4 .. m0 + 7
  let sub = subLen(t);
  for (var s = 0u; s < params.K / sub; s++) {
    let h0 = subHead(t, r.x, s);
    let h1 = subHead(t, r.y, s);
    let h2 = subHead(t, r.z, s);
    let h3 = subHead(t, r.w, s);
    for (var i = 0u; i < sub / 4u; i++) {
      let k = (sub / 4u) * s + i;
      let b = mat4x4<f32>(subQ4(t, h0, i), subQ4(t, h1, i), subQ4(t, h2, i), subQ4(t, h3, i));
      lo = block4Add(lo, x4[xlo.x + k], x4[xlo.y + k], x4[xlo.z + k], x4[xlo.w + k], b);
      hi = block4Add(hi, x4[xhi.x + k], x4[xhi.y + k], x4[xhi.z + k], x4[xhi.w + k], b);
    }
  }
  storeBlock(m0, n0, lo);
  storeBlock(m0 + 4u, n0, hi);
}

@compute @workgroup_size(8, 8) fn matmul_f32_part(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, F32); }
@compute @workgroup_size(8, 8) fn matmul_bf16(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, BF16); }
@compute @workgroup_size(8, 8) fn matmul_f16(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, F16); }
@compute @workgroup_size(8, 8) fn matmul_q8_0(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q8_0); }
@compute @workgroup_size(8, 8) fn matmul_q4_0(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q4_0); }
@compute @workgroup_size(8, 8) fn matmul_q4_1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q4_1); }
@compute @workgroup_size(8, 8) fn matmul_q5_0(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q5_0); }
@compute @workgroup_size(8, 8) fn matmul_q5_1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q5_1); }
@compute @workgroup_size(8, 8) fn matmul_q2_k(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q2_K); }
@compute @workgroup_size(8, 8) fn matmul_q3_k(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q3_K); }
@compute @workgroup_size(8, 8) fn matmul_q4_k(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q4_K); }
@compute @workgroup_size(8, 8) fn matmul_q5_k(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q5_K); }
@compute @workgroup_size(8, 8) fn matmul_q6_k(@builtin(global_invocation_id) gid: vec3<u32>) { mmq(gid, Q6_K); }
// 1 row of x per thread.
@compute @workgroup_size(64) fn matmul_f16_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, F16); }
@compute @workgroup_size(64) fn matmul_bf16_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, BF16); }
@compute @workgroup_size(64) fn matmul_q8_0_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q8_0); }
@compute @workgroup_size(64) fn matmul_q4_0_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q4_0); }
@compute @workgroup_size(64) fn matmul_q4_1_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q4_1); }
@compute @workgroup_size(64) fn matmul_q5_0_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q5_0); }
@compute @workgroup_size(64) fn matmul_q5_1_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q5_1); }
@compute @workgroup_size(64) fn matmul_q2_k_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q2_K); }
@compute @workgroup_size(64) fn matmul_q3_k_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q3_K); }
@compute @workgroup_size(64) fn matmul_q4_k_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q4_K); }
@compute @workgroup_size(64) fn matmul_q5_k_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q5_K); }
@compute @workgroup_size(64) fn matmul_q6_k_r1(@builtin(global_invocation_id) gid: vec3<u32>) { mmq1(gid, Q6_K); }
// 8 rows of x per thread.
@compute @workgroup_size(8, 8) fn matmul_f16_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, F16); }
@compute @workgroup_size(8, 8) fn matmul_bf16_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, BF16); }
@compute @workgroup_size(8, 8) fn matmul_q8_0_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q8_0); }
@compute @workgroup_size(8, 8) fn matmul_q4_0_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q4_0); }
@compute @workgroup_size(8, 8) fn matmul_q4_1_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q4_1); }
@compute @workgroup_size(8, 8) fn matmul_q5_0_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q5_0); }
@compute @workgroup_size(8, 8) fn matmul_q5_1_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q5_1); }
@compute @workgroup_size(8, 8) fn matmul_q2_k_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q2_K); }
@compute @workgroup_size(8, 8) fn matmul_q3_k_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q3_K); }
@compute @workgroup_size(8, 8) fn matmul_q4_k_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q4_K); }
@compute @workgroup_size(8, 8) fn matmul_q5_k_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q5_K); }
@compute @workgroup_size(8, 8) fn matmul_q6_k_r8(@builtin(global_invocation_id) gid: vec3<u32>) { mmq8(gid, Q6_K); }
// The per-value decoders (decode4 for every value), kept to measure the sub-block ones against (bench/quant_matmul.ts).
@compute @workgroup_size(8, 8) fn matmul_q8_0_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q8_0); }
@compute @workgroup_size(8, 8) fn matmul_q4_0_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q4_0); }
@compute @workgroup_size(8, 8) fn matmul_q4_1_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q4_1); }
@compute @workgroup_size(8, 8) fn matmul_q5_0_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q5_0); }
@compute @workgroup_size(8, 8) fn matmul_q5_1_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q5_1); }
@compute @workgroup_size(8, 8) fn matmul_q2_k_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q2_K); }
@compute @workgroup_size(8, 8) fn matmul_q3_k_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q3_K); }
@compute @workgroup_size(8, 8) fn matmul_q4_k_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q4_K); }
@compute @workgroup_size(8, 8) fn matmul_q5_k_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q5_K); }
@compute @workgroup_size(8, 8) fn matmul_q6_k_elem(@builtin(global_invocation_id) gid: vec3<u32>) { mm(gid, Q6_K); }
