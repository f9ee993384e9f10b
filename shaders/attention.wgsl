// attention: causal grouped-query attention with an online softmax (no T x T score buffer).
// One thread per (query row, head). Query row r is token t = r % T of sequence b = r / T, at
// absolute position pos = pos0 + t; it attends to keys 0..pos of sequence b in the cache.
// Query head h reads key/value head h / (nHeads / nKvHeads).

struct Params {
  rows: u32,      // B * T query rows
  T: u32,         // query tokens per sequence
  S: u32,         // positions per sequence in k / v (the cache capacity, or T without a cache)
  pos0: u32,      // absolute position of the first query token
  nHeads: u32,
  nKvHeads: u32,
  headDim: u32,
  scale: f32,     // 1 / sqrt(headDim)
  stride: u32,    // threads per grid row (2-D grid when rows * nHeads needs it)
}

const MAX_HEAD_DIM: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;            // [rows, nHeads * headDim]
@group(0) @binding(2) var<storage, read> k: array<f32>;            // [B, S, nKvHeads * headDim]
@group(0) @binding(3) var<storage, read> v: array<f32>;            // [B, S, nKvHeads * headDim]
@group(0) @binding(4) var<storage, read_write> out: array<f32>;    // [rows, nHeads * headDim]

@compute @workgroup_size(64)
fn attention(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.rows * params.nHeads) { return; }
  let h = i % params.nHeads;
  let r = i / params.nHeads;
  let hd = params.headDim;
  let b = r / params.T;
  let pos = params.pos0 + r % params.T;
  let kvDim = params.nKvHeads * hd;
  let kvHead = h / (params.nHeads / params.nKvHeads);
  let qBase = r * params.nHeads * hd + h * hd;
  let kvBase = b * params.S * kvDim + kvHead * hd;

  var acc: array<f32, MAX_HEAD_DIM>;
  for (var d = 0u; d < hd; d++) { acc[d] = 0.0; }
  var m = -3.0e38;
  var l = 0.0;
  for (var j = 0u; j <= pos; j++) {
    let kOff = kvBase + j * kvDim;
    var s = 0.0;
    for (var d = 0u; d < hd; d++) { s += q[qBase + d] * k[kOff + d]; }
    s *= params.scale;
    let mNew = max(m, s);
    let c = exp(m - mNew);
    let p = exp(s - mNew);
    l = l * c + p;
    for (var d = 0u; d < hd; d++) { acc[d] = acc[d] * c + p * v[kOff + d]; }
    m = mNew;
  }
  for (var d = 0u; d < hd; d++) { out[qBase + d] = acc[d] / l; }
}
