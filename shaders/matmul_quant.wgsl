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

// The 4 x 4 block spelled out, as in matmul_vec4 (SwiftShader keeps indexed private arrays in memory).
fn mm(gid: vec3<u32>, t: u32) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let K = params.K;
  let K4 = K / 4u;
  let last = params.M - 1u;
  let lastN = params.N - 1u;
  let x0 = min(m0, last) * K4;
  let x1 = min(m0 + 1u, last) * K4;
  let x2 = min(m0 + 2u, last) * K4;
  let x3 = min(m0 + 3u, last) * K4;
  let r0 = min(n0, lastN);
  let r1 = min(n0 + 1u, lastN);
  let r2 = min(n0 + 2u, lastN);
  let r3 = min(n0 + 3u, lastN);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k = 0u; k < K4; k++) {
    let b0 = decode4(t, r0, K, 4u * k);
    let b1 = decode4(t, r1, K, 4u * k);
    let b2 = decode4(t, r2, K, 4u * k);
    let b3 = decode4(t, r3, K, 4u * k);
    let a0 = x4[x0 + k];
    let a1 = x4[x1 + k];
    let a2 = x4[x2 + k];
    let a3 = x4[x3 + k];
    c0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
    c1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
    c2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
    c3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
  }
  storeRow(m0, n0, c0);
  storeRow(m0 + 1u, n0, c1);
  storeRow(m0 + 2u, n0, c2);
  storeRow(m0 + 3u, n0, c3);
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
  let last = params.M - 1u;
  let lastN = params.N - 1u;
  let x0 = min(m0, last) * K4;
  let x1 = min(m0 + 1u, last) * K4;
  let x2 = min(m0 + 2u, last) * K4;
  let x3 = min(m0 + 3u, last) * K4;
  let perRow = params.K / blockLen(t);  // blocks per row
  let r0 = min(n0, lastN) * perRow;
  let r1 = min(n0 + 1u, lastN) * perRow;
  let r2 = min(n0 + 2u, lastN) * perRow;
  let r3 = min(n0 + 3u, lastN) * perRow;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  let sub = subLen(t);
  for (var s = 0u; s < params.K / sub; s++) {
    let h0 = subHead(t, r0, s);
    let h1 = subHead(t, r1, s);
    let h2 = subHead(t, r2, s);
    let h3 = subHead(t, r3, s);
    for (var i = 0u; i < sub / 4u; i++) {
      let k = (sub / 4u) * s + i;
      let b0 = subQ4(t, h0, i);
      let b1 = subQ4(t, h1, i);
      let b2 = subQ4(t, h2, i);
      let b3 = subQ4(t, h3, i);
      let a0 = x4[x0 + k];
      let a1 = x4[x1 + k];
      let a2 = x4[x2 + k];
      let a3 = x4[x3 + k];
      c0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
      c1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
      c2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
      c3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
    }
  }
  storeRow(m0, n0, c0);
  storeRow(m0 + 1u, n0, c1);
  storeRow(m0 + 2u, n0, c2);
  storeRow(m0 + 3u, n0, c3);
}

// One row of x per thread (a 1 x 4 block; workgroups of 64 threads along N: tile 256 N x 1 M), for
// decoding (M = 1): the 4 x 4 block would compute 4 copies of the one row, 56 of its 64 threads idle.
fn mmq1(gid: vec3<u32>, t: u32) {
  let n0 = gid.x * 4u;
  let m = gid.y;
  if (m >= params.M || n0 >= params.N) { return; }
  let x0 = m * (params.K / 4u);
  let lastN = params.N - 1u;
  let perRow = params.K / blockLen(t);
  let r0 = min(n0, lastN) * perRow;
  let r1 = min(n0 + 1u, lastN) * perRow;
  let r2 = min(n0 + 2u, lastN) * perRow;
  let r3 = min(n0 + 3u, lastN) * perRow;
  var c = vec4<f32>(0.0);
  let sub = subLen(t);
  for (var s = 0u; s < params.K / sub; s++) {
    let h0 = subHead(t, r0, s);
    let h1 = subHead(t, r1, s);
    let h2 = subHead(t, r2, s);
    let h3 = subHead(t, r3, s);
    for (var i = 0u; i < sub / 4u; i++) {
      let a = x4[x0 + (sub / 4u) * s + i];
      c += vec4<f32>(dot(a, subQ4(t, h0, i)), dot(a, subQ4(t, h1, i)), dot(a, subQ4(t, h2, i)), dot(a, subQ4(t, h3, i)));
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
  let last = params.M - 1u;
  let lastN = params.N - 1u;
  let x0 = min(m0, last) * K4;
  let x1 = min(m0 + 1u, last) * K4;
  let x2 = min(m0 + 2u, last) * K4;
  let x3 = min(m0 + 3u, last) * K4;
  let x4_ = min(m0 + 4u, last) * K4;
  let x5 = min(m0 + 5u, last) * K4;
  let x6 = min(m0 + 6u, last) * K4;
  let x7 = min(m0 + 7u, last) * K4;
  let perRow = params.K / blockLen(t);
  let r0 = min(n0, lastN) * perRow;
  let r1 = min(n0 + 1u, lastN) * perRow;
  let r2 = min(n0 + 2u, lastN) * perRow;
  let r3 = min(n0 + 3u, lastN) * perRow;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var c4 = vec4<f32>(0.0);
  var c5 = vec4<f32>(0.0);
  var c6 = vec4<f32>(0.0);
  var c7 = vec4<f32>(0.0);
  let sub = subLen(t);
  for (var s = 0u; s < params.K / sub; s++) {
    let h0 = subHead(t, r0, s);
    let h1 = subHead(t, r1, s);
    let h2 = subHead(t, r2, s);
    let h3 = subHead(t, r3, s);
    for (var i = 0u; i < sub / 4u; i++) {
      let k = (sub / 4u) * s + i;
      let b0 = subQ4(t, h0, i);
      let b1 = subQ4(t, h1, i);
      let b2 = subQ4(t, h2, i);
      let b3 = subQ4(t, h3, i);
      var a = x4[x0 + k];
      c0 += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
      a = x4[x1 + k];
      c1 += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
      a = x4[x2 + k];
      c2 += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
      a = x4[x3 + k];
      c3 += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
      a = x4[x4_ + k];
      c4 += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
      a = x4[x5 + k];
      c5 += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
      a = x4[x6 + k];
      c6 += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
      a = x4[x7 + k];
      c7 += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
    }
  }
  storeRow(m0, n0, c0);
  storeRow(m0 + 1u, n0, c1);
  storeRow(m0 + 2u, n0, c2);
  storeRow(m0 + 3u, n0, c3);
  storeRow(m0 + 4u, n0, c4);
  storeRow(m0 + 5u, n0, c5);
  storeRow(m0 + 6u, n0, c6);
  storeRow(m0 + 7u, n0, c7);
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
