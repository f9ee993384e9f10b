// block4: the 4 x 4 register block of the register-blocked matmuls (matmul_vec4, matmul_half,
// matmul_lora_vec4, the layouts of matmul_quant). An include: functions only, no bindings. A thread
// owns y[m0 .. m0 + 3, n0 .. n0 + 3] and, per 4 values of K, adds the products of 4 rows of x with
// 4 rows of w. Kept in named vectors, never a private array indexed in a loop: SwiftShader keeps
// those in memory, and this loop is where a forward pass spends its time.

struct Block4 {
  c0: vec4<f32>,  // y[m0, n0 .. n0 + 3]
  c1: vec4<f32>,  // y[m0 + 1, ..]
  c2: vec4<f32>,
  c3: vec4<f32>,
}

/** acc plus rows a0..a3 of x against the rows of w that are b's columns: ci[j] += dot(ai, b[j]). */
fn block4Add(acc: Block4, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>, b: mat4x4<f32>) -> Block4 {
  return Block4(acc.c0 + a0 * b, acc.c1 + a1 * b, acc.c2 + a2 * b, acc.c3 + a3 * b);
}

/**
 * Rows r0 .. r0 + 3 of a matrix with `rows` rows, clamped to its last one (reads at the edges stay
 * in bounds; the stores are guarded), each times `stride` (the row's offset in its units).
 */
fn rows4(r0: u32, rows: u32, stride: u32) -> vec4<u32> {
  let last = rows - 1u;
  return vec4<u32>(min(r0, last), min(r0 + 1u, last), min(r0 + 2u, last), min(r0 + 3u, last)) * stride;
}
