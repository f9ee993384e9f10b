// gather: copies whole rows of a table by index. Used for the token embedding
// (table = embedding, index = token ids) and to pick the rows the LM head evaluates.
//   out[i, :] = table[index[i], :]
// One thread per element of out; the grid is folded into two dimensions past 65535 workgroups.

struct Params {
  rows: u32,       // number of indices (rows of out)
  width: u32,      // row length
  tableRows: u32,  // rows of table; an index past it writes NaN (the host checks first)
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;       // [tableRows, width]
@group(0) @binding(2) var<storage, read> index: array<u32>;       // [rows]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [rows, width]

// A quiet NaN for positions that must never be read (a runtime value: NaN is no constant).
fn nan() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * WG;
  let row = i / params.width;
  let col = i % params.width;
  if (row >= params.rows) { return; }
  let src = index[row];
  if (src >= params.tableRows) {
    out[row * params.width + col] = nan();
    return;
  }
  out[row * params.width + col] = table[src * params.width + col];
}
