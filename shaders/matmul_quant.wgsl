// matmul_quant: y = x W^T with W stored compressed, dequantised in registers (never in memory).
// Same 4 x 4 register blocking as matmul.wgsl; x is read as vec4 (K % 4 == 0).
//   matmul_f16   W as f16 pairs: word i of a row holds elements 2i (low half) and 2i + 1 (K even)
//   matmul_q8_0  ggml Q8_0: blocks of 32 along K, scale d (f16) and 32 int8 q; w = d * q
//   matmul_q4_0  ggml Q4_0: blocks of 32, scale d (f16) and 16 bytes; byte j holds element j in its
//                low nibble and element j + 16 in its high nibble; w = d * (nibble - 8)
// Block scales are packed two f16 per u32 (block i in half i % 2 of word i / 2), row-major over
// [N, K / 32] blocks.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  accumulate: u32,  // 1: y += x W^T
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;    // [M, K / 4]
@group(0) @binding(2) var<storage, read> wq: array<u32>;          // [N, K / 2] f16; [N, K / 4] q8_0; [N, K / 8] q4_0
@group(0) @binding(3) var<storage, read_write> y: array<f32>;     // [M, N]
@group(0) @binding(4) var<storage, read> ws: array<u32>;          // [ceil(N * K / 32 / 2)] f16 block scales

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

/** Row offsets (clamped at the edges: reads stay in bounds, stores are guarded). */
fn rows(base: u32, count: u32, stride: u32) -> vec4<u32> {
  return vec4<u32>(min(base, count - 1u), min(base + 1u, count - 1u), min(base + 2u, count - 1u), min(base + 3u, count - 1u)) * stride;
}

fn scale(bi: u32) -> f32 {  // (a parameter named "block" trips wgsl_reflect's parser)
  let pair = unpack2x16float(ws[bi / 2u]);
  return select(pair.x, pair.y, (bi & 1u) == 1u);
}

fn q8(w: u32) -> vec4<f32> {
  let s = bitcast<i32>(w);
  return vec4<f32>(f32(extractBits(s, 0u, 8u)), f32(extractBits(s, 8u, 8u)), f32(extractBits(s, 16u, 8u)), f32(extractBits(s, 24u, 8u)));
}

fn q4lo(w: u32) -> vec4<f32> {
  return vec4<f32>(f32(w & 15u), f32((w >> 8u) & 15u), f32((w >> 16u) & 15u), f32((w >> 24u) & 15u)) - 8.0;
}

fn q4hi(w: u32) -> vec4<f32> {
  return vec4<f32>(f32((w >> 4u) & 15u), f32((w >> 12u) & 15u), f32((w >> 20u) & 15u), f32(w >> 28u)) - 8.0;
}

@compute @workgroup_size(8, 8)
fn matmul_f16(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let K4 = params.K / 4u;
  let mr = rows(m0, params.M, K4);
  let nr = rows(n0, params.N, params.K / 2u);
  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < K4; k++) {
    var b: array<vec4<f32>, 4>;
    for (var j = 0u; j < 4u; j++) {
      let at = nr[j] + 2u * k;
      b[j] = vec4<f32>(unpack2x16float(wq[at]), unpack2x16float(wq[at + 1u]));
    }
    for (var i = 0u; i < 4u; i++) {
      let a = x4[mr[i] + k];
      acc[i] += vec4<f32>(dot(a, b[0]), dot(a, b[1]), dot(a, b[2]), dot(a, b[3]));
    }
  }
  storeBlock(m0, n0, acc);
}

@compute @workgroup_size(8, 8)
fn matmul_q8_0(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let nb = params.K / 32u;
  let mr = rows(m0, params.M, params.K / 4u);
  let nrow = rows(n0, params.N, 1u);
  var acc: array<vec4<f32>, 4>;
  for (var blk = 0u; blk < nb; blk++) {
    // Explicitly zeroed: SwiftShader keeps a loop-body `var` without initializer across iterations.
    var part = array<vec4<f32>, 4>(vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>());
    for (var w = 0u; w < 8u; w++) {
      var b: array<vec4<f32>, 4>;
      for (var j = 0u; j < 4u; j++) { b[j] = q8(wq[(nrow[j] * nb + blk) * 8u + w]); }
      for (var i = 0u; i < 4u; i++) {
        let a = x4[mr[i] + blk * 8u + w];
        part[i] += vec4<f32>(dot(a, b[0]), dot(a, b[1]), dot(a, b[2]), dot(a, b[3]));
      }
    }
    let d = vec4<f32>(scale(nrow[0] * nb + blk), scale(nrow[1] * nb + blk), scale(nrow[2] * nb + blk), scale(nrow[3] * nb + blk));
    for (var i = 0u; i < 4u; i++) { acc[i] += part[i] * d; }
  }
  storeBlock(m0, n0, acc);
}

@compute @workgroup_size(8, 8)
fn matmul_q4_0(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let nb = params.K / 32u;
  let mr = rows(m0, params.M, params.K / 4u);
  let nrow = rows(n0, params.N, 1u);
  var acc: array<vec4<f32>, 4>;
  for (var blk = 0u; blk < nb; blk++) {
    // Explicitly zeroed: SwiftShader keeps a loop-body `var` without initializer across iterations.
    var part = array<vec4<f32>, 4>(vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>());
    for (var w = 0u; w < 4u; w++) {
      var lo: array<vec4<f32>, 4>;
      var hi: array<vec4<f32>, 4>;
      for (var j = 0u; j < 4u; j++) {
        let word = wq[(nrow[j] * nb + blk) * 4u + w];
        lo[j] = q4lo(word);
        hi[j] = q4hi(word);
      }
      for (var i = 0u; i < 4u; i++) {
        let a = x4[mr[i] + blk * 8u + w];       // elements 4w .. 4w + 3 of the block
        let c = x4[mr[i] + blk * 8u + 4u + w];  // elements 16 + 4w ..
        part[i] += vec4<f32>(dot(a, lo[0]) + dot(c, hi[0]), dot(a, lo[1]) + dot(c, hi[1]), dot(a, lo[2]) + dot(c, hi[2]), dot(a, lo[3]) + dot(c, hi[3]));
      }
    }
    let d = vec4<f32>(scale(nrow[0] * nb + blk), scale(nrow[1] * nb + blk), scale(nrow[2] * nb + blk), scale(nrow[3] * nb + blk));
    for (var i = 0u; i < 4u; i++) { acc[i] += part[i] * d; }
  }
  storeBlock(m0, n0, acc);
}
