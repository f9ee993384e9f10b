// gather_quant: token embedding rows from a table stored compressed (the layouts of
// shaders/quant_blocks.wgsl), dequantised in registers; 4 columns per thread (width % 4 == 0).
// The table may be one row block of a larger one (split across buffers): it holds table rows
// rowBase .. rowBase + tableRows - 1, and an index outside them is left for another block to write.
// An index past all rows (>= totalRows) writes NaN, from the block with rowBase 0 (the host checks first).
//   out[i, :] = table[index[i] - rowBase, :]

struct Params {
  rows: u32,       // number of indices (rows of out)
  width: u32,      // row length
  tableRows: u32,  // rows in this block of the table
  rowBase: u32,    // table row of this block's row 0
  totalRows: u32,  // rows of the whole table
  rowStride: u32,  // rows per grid layer: row = gid.y + gid.z * rowStride (z folds rows past one dimension)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> wq: array<u32>;          // [tableRows rows of the layout's words]
@group(0) @binding(2) var<storage, read> index: array<u32>;       // [rows]
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;  // [rows, width / 4]
@group(0) @binding(4) var<storage, read> ws: array<u32>;          // [scale words] f16 block scales (Q8_0, Q4_0, Q5_0, Q3_K, Q6_K)

#include "quant_blocks.wgsl"

fn nan4() -> vec4<f32> {
  var bits = 0x7fc00000u;
  return vec4<f32>(bitcast<f32>(bits));
}

fn gq(gid: vec3<u32>, t: u32) {
  let c4 = gid.x;
  let row = gid.y + gid.z * params.rowStride;
  let w4 = params.width / 4u;
  if (row >= params.rows || c4 >= w4) { return; }
  let src = index[row];
  if (src >= params.totalRows) {
    if (params.rowBase == 0u) { out[row * w4 + c4] = nan4(); }
    return;
  }
  if (src < params.rowBase || src - params.rowBase >= params.tableRows) { return; }
  out[row * w4 + c4] = decode4(t, src - params.rowBase, params.width, 4u * c4);
}

@compute @workgroup_size(64) fn gather_f32_part(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, F32); }
@compute @workgroup_size(64) fn gather_bf16(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, BF16); }
@compute @workgroup_size(64) fn gather_f16(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, F16); }
@compute @workgroup_size(64) fn gather_q8_0(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q8_0); }
@compute @workgroup_size(64) fn gather_q4_0(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q4_0); }
@compute @workgroup_size(64) fn gather_q4_1(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q4_1); }
@compute @workgroup_size(64) fn gather_q5_0(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q5_0); }
@compute @workgroup_size(64) fn gather_q5_1(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q5_1); }
@compute @workgroup_size(64) fn gather_q2_k(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q2_K); }
@compute @workgroup_size(64) fn gather_q3_k(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q3_K); }
@compute @workgroup_size(64) fn gather_q4_k(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q4_K); }
@compute @workgroup_size(64) fn gather_q5_k(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q5_K); }
@compute @workgroup_size(64) fn gather_q6_k(@builtin(global_invocation_id) gid: vec3<u32>) { gq(gid, Q6_K); }
