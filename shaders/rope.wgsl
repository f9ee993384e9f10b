// rope: rotary position embedding of queries or keys, out of place.
// Row r of x is token t = r % T of its sequence, at absolute position pos0 + t.
// Pair p of a head rotates by angle pos * theta^(-2p / headDim), read from a host-built table.
//   style 0 (llama2.c): pairs (2p, 2p + 1)      style 1 (HF Llama): pairs (p, p + headDim / 2)
// One thread per pair of a row; the grid is folded into two dimensions past 65535 workgroups.

struct Params {
  rows: u32,      // B * T
  T: u32,         // tokens per sequence in this batch
  pos0: u32,      // position of the first token (0 for a full pass, n_past when decoding)
  nHeads: u32,
  headDim: u32,
  style: u32,
  maxPos: u32,    // rows of the table
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // [rows, nHeads * headDim]
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;  // [maxPos, headDim / 2] (cos, sin)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;    // [rows, nHeads * headDim]

// A quiet NaN for positions that must never be read (a runtime value: NaN is no constant).
fn nan() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

@compute @workgroup_size(WG)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let half = params.headDim / 2u;
  let pairsPerRow = params.nHeads * half;
  let i = gid.x + gid.y * groups.x * WG;
  let row = i / pairsPerRow;
  let k = i % pairsPerRow;  // pair index within the row
  if (row >= params.rows) { return; }
  let head = k / half;
  let p = k % half;
  let pos = params.pos0 + row % params.T;
  let base = row * params.nHeads * params.headDim + head * params.headDim;
  var i0 = base + 2u * p;
  var i1 = i0 + 1u;
  if (params.style == 1u) {
    i0 = base + p;
    i1 = i0 + half;
  }
  if (pos >= params.maxPos) {
    out[i0] = nan();
    out[i1] = nan();
    return;
  }
  let cs = table[pos * half + p];
  let a = x[i0];
  let b = x[i1];
  out[i0] = a * cs.x - b * cs.y;
  out[i1] = a * cs.y + b * cs.x;
}
