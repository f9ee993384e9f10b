// multi_lora: the LoRA epilogue of a target linear layer when every sequence of the batch has its
// own adapter (many adapters in one pass, src/adapter/multi.ts). The A of every adapter on this
// target is packed into one [width, in] matrix (adapter i owns columns aOffset_i .. + rank_i of
// ax = x A^T); the B_i [out, rank_i] are packed one after another into `b` (from bOffset_i).
// Row r belongs to sequence s = r / rowsPerSeq, which uses adapter i = seqAdapter[s]:
//   y[r, o] += scale_i * sum_j B_i[o, j] * ax[r, aOffset_i + j]
// A sequence with no adapter (i >= adapters, e.g. 0xffffffff) or an adapter of rank 0 on this
// target (it does not adapt it) gets nothing added: the base model's output.

struct Params {
  rows: u32,        // rows of ax and y
  outDim: u32,      // columns of y
  width: u32,       // columns of ax (the sum of the adapters' ranks)
  rowsPerSeq: u32,  // T
  sequences: u32,   // entries of seqAdapter
  adapters: u32,    // entries of table
}

const OT: u32 = 64u;  // outputs per workgroup (one per thread)
const RB: u32 = 8u;   // rows per workgroup

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ax: array<f32>;          // [rows, width]
@group(0) @binding(2) var<storage, read> b: array<f32>;           // [sum of rank_i * outDim] the B_i, packed
@group(0) @binding(3) var<storage, read> table: array<vec4<u32>>; // [adapters] aOffset, rank, bOffset, bits of scale
@group(0) @binding(4) var<storage, read> seqAdapter: array<u32>;  // [sequences] adapter of each sequence
@group(0) @binding(5) var<storage, read_write> y: array<f32>;     // [rows, outDim]

@compute @workgroup_size(64)
fn multi_lora(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let o = wid.x * OT + lid.x;
  if (o >= params.outDim) { return; }
  let r0 = wid.y * RB;
  let r1 = min(r0 + RB, params.rows);
  for (var r = r0; r < r1; r++) {
    let s = r / params.rowsPerSeq;
    if (s >= params.sequences) { continue; }
    let i = seqAdapter[s];
    if (i >= params.adapters) { continue; }
    let e = table[i];
    let rank = e.y;
    if (rank == 0u) { continue; }
    var acc = 0.0;
    let bRow = e.z + o * rank;
    let axRow = r * params.width + e.x;
    for (var j = 0u; j < rank; j++) { acc += b[bRow + j] * ax[axRow + j]; }
    y[r * params.outDim + o] += bitcast<f32>(e.w) * acc;
  }
}
