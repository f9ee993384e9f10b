// attention: causal grouped-query attention with an online softmax (no T x T score buffer).
// One thread per (query row, head). Query row r is token t = r % T of sequence b = r / T, at
// absolute position pos = pos0 + t; it attends to keys 0..pos of sequence b in the cache, or with
// a sliding window W > 0 to keys pos - W + 1 .. pos only (Gemma 3's local layers: kv > q - W).
// Query head h reads key/value head h / (nHeads / nKvHeads).
// The output accumulates HEAD_CHUNK dimensions at a time in a private array (which no `override`
// can size), so any headDim works: past HEAD_CHUNK the keys are swept once more per chunk.

struct Params {
  rows: u32,      // B * T query rows
  T: u32,         // query tokens per sequence
  S: u32,         // positions per sequence in k / v (the cache capacity, or T without a cache)
  pos0: u32,      // absolute position of the first query token
  nHeads: u32,
  nKvHeads: u32,
  headDim: u32,
  scale: f32,     // score scale: 1 / sqrt(headDim), or the model's (Gemma: query_pre_attn_scalar^-0.5)
  stride: u32,    // threads per grid row (2-D grid when rows * nHeads needs it)
  window: u32,    // sliding window: keys a query sees (its own and window - 1 before); 0: all before it
}

/** The first key position a query at `pos` sees. */
fn firstKey(pos: u32) -> u32 {
  return select(0u, pos + 1u - params.window, params.window > 0u && pos + 1u > params.window);
}

const HEAD_CHUNK: u32 = 128u;  // output dimensions per sweep over the keys

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

  for (var d0 = 0u; d0 < hd; d0 += HEAD_CHUNK) {
    let n = min(HEAD_CHUNK, hd - d0);
    var acc: array<f32, HEAD_CHUNK>;
    for (var d = 0u; d < n; d++) { acc[d] = 0.0; }
    var m = -3.0e38;
    var l = 0.0;
    for (var j = firstKey(pos); j <= pos; j++) {
      let kOff = kvBase + j * kvDim;
      var s = 0.0;
      for (var d = 0u; d < hd; d++) { s += q[qBase + d] * k[kOff + d]; }
      s *= params.scale;
      let mNew = max(m, s);
      let c = exp(m - mNew);
      let p = exp(s - mNew);
      l = l * c + p;
      for (var d = 0u; d < n; d++) { acc[d] = acc[d] * c + p * v[kOff + d0 + d]; }
      m = mNew;
    }
    for (var d = 0u; d < n; d++) { out[qBase + d0 + d] = acc[d] / l; }
  }
}

// ---- attention_flash: the same attention, tiled for a GPU (flash-style online softmax).
// A workgroup of 64 threads owns up to 16 query slots of one sequence b and one key/value head:
// slot s of (b, kvHead) is query token t = s / G for head kvHead * G + s % G (G = nHeads /
// nKvHeads), so the G heads that share a K/V head share every staged tile (GQA). Four threads
// serve a slot, each holding the dimensions d = part, part + 4, ... of its query and its output
// accumulator in registers. Keys are staged FLASH_KEYS at a time in workgroup memory (K and V
// tiles); the four partial dot products of a slot meet in workgroup memory; each slot masks the
// keys past its own position. With fewer than 16 slots (decoding) the spare lanes split the keys:
// `split` groups of lanes take every split-th key of a tile, and their softmax states are merged
// at the end (flash-decoding within one workgroup). Any T, S, pos0; headDim <= FLASH_HEAD_DIM.
// With a sliding window the sweep starts at the tile holding the first slot's first key, and each
// slot masks the keys before its own first key too.

const FLASH_HEAD_DIM: u32 = 128u;                 // largest headDim (registers: 32 per thread)
const FLASH_KEYS: u32 = 8u;                       // keys per staged tile
const FLASH_SLOTS: u32 = 16u;                     // lane groups (of 4 threads) per workgroup
const FLASH_DIMS: u32 = FLASH_HEAD_DIM / 4u;      // dimensions per thread

var<workgroup> kvTile: array<f32, 2048>;  // K [FLASH_KEYS, headDim] at 0, V at 1024; at the end: [16, headDim] partial outputs
var<workgroup> partial: array<f32, 512>;  // [FLASH_SLOTS, FLASH_KEYS, 4] partial dot products; at the end: (m, l) per lane group

@compute @workgroup_size(64)
fn attention_flash(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let hd = params.headDim;
  let G = params.nHeads / params.nKvHeads;
  let kvHead = wg.y;
  let b = wg.z;
  let slots = params.T * G;                        // query slots of (b, kvHead)
  // lane groups per query slot: 1, or (decoding) the largest power of two <= 16 / slots
  var split = 1u;
  while (split * 2u * slots <= FLASH_SLOTS) { split *= 2u; }
  let perGroup = FLASH_SLOTS / split;              // query slots per workgroup
  let group = li / 4u;                             // lane group 0..15
  let part = li % 4u;
  let sub = group / perGroup;                      // which share of the keys, < split
  let s = wg.x * perGroup + group % perGroup;
  let valid = s < slots;
  let sc0 = min(s, slots - 1u);
  let t = sc0 / G;
  let h = kvHead * G + sc0 % G;
  let pos = params.pos0 + t;
  // keys the whole workgroup needs: up to the position of its last slot
  let lastSlot = min(wg.x * perGroup + perGroup, slots) - 1u;
  let keys = params.pos0 + lastSlot / G + 1u;
  let firstSlot = min(wg.x * perGroup, slots - 1u);
  let first = firstKey(params.pos0 + firstSlot / G);   // the first key any slot here sees
  let start = first / FLASH_KEYS * FLASH_KEYS;           // uniform: whole tiles
  let lo = firstKey(pos);
  let kvDim = params.nKvHeads * hd;
  let kvBase = b * params.S * kvDim + kvHead * hd;
  let qBase = (b * params.T + t) * params.nHeads * hd + h * hd;

  var qv: array<f32, FLASH_DIMS>;
  var acc: array<f32, FLASH_DIMS>;
  for (var i = 0u; i < FLASH_DIMS; i++) {
    let d = part + 4u * i;
    qv[i] = select(0.0, q[qBase + min(d, hd - 1u)] * params.scale, d < hd);
    acc[i] = 0.0;
  }
  var m = -3.0e38;
  var l = 0.0;
  for (var j0 = start; j0 < keys; j0 += FLASH_KEYS) {
    for (var e0 = 0u; e0 < FLASH_KEYS * hd; e0 += 64u) {  // uniform bounds: barriers follow
      let e = e0 + li;
      if (e < FLASH_KEYS * hd) {
        let j = j0 + e / hd;
        let at = kvBase + min(j, keys - 1u) * kvDim + e % hd;
        kvTile[e] = select(0.0, k[at], j < keys && j >= first);
        kvTile[1024u + e] = select(0.0, v[at], j < keys && j >= first);
      }
    }
    workgroupBarrier();
    for (var c = sub; c < FLASH_KEYS; c += split) {
      var dotp = 0.0;
      for (var i = 0u; i < FLASH_DIMS; i++) {
        let d = part + 4u * i;
        if (d < hd) { dotp += qv[i] * kvTile[c * hd + d]; }
      }
      partial[(group * FLASH_KEYS + c) * 4u + part] = dotp;
    }
    workgroupBarrier();
    var sc: array<f32, FLASH_KEYS>;
    var mNew = m;
    for (var c = 0u; c < FLASH_KEYS; c++) {
      let at = (group * FLASH_KEYS + c) * 4u;
      let mine = c % split == sub && j0 + c <= pos && j0 + c >= lo;
      sc[c] = select(-3.0e38, partial[at] + partial[at + 1u] + partial[at + 2u] + partial[at + 3u], mine);
      mNew = max(mNew, sc[c]);
    }
    let corr = exp(m - mNew);
    l *= corr;
    for (var i = 0u; i < FLASH_DIMS; i++) { acc[i] *= corr; }
    for (var c = 0u; c < FLASH_KEYS; c++) {
      let p = select(0.0, exp(sc[c] - mNew), c % split == sub && j0 + c <= pos && j0 + c >= lo);
      l += p;
      for (var i = 0u; i < FLASH_DIMS; i++) {
        let d = part + 4u * i;
        if (d < hd) { acc[i] += p * kvTile[1024u + c * hd + d]; }
      }
    }
    m = mNew;
    workgroupBarrier();  // the tiles are overwritten next step
  }
  if (split > 1u) {
    // merge the key shares of each query slot: out = sum_g e^(m_g - M) acc_g / sum_g e^(m_g - M) l_g
    for (var i = 0u; i < FLASH_DIMS; i++) {
      let d = part + 4u * i;
      if (d < hd) { kvTile[group * hd + d] = acc[i]; }
    }
    if (part == 0u) {
      partial[2u * group] = m;
      partial[2u * group + 1u] = l;
    }
    workgroupBarrier();
    if (sub == 0u) {
      var mAll = m;
      for (var g = 1u; g < split; g++) { mAll = max(mAll, partial[2u * (group + g * perGroup)]); }
      l = 0.0;
      var w: array<f32, FLASH_SLOTS>;
      for (var g = 0u; g < split; g++) {
        let at = 2u * (group + g * perGroup);
        w[g] = exp(partial[at] - mAll);
        l += w[g] * partial[at + 1u];
      }
      for (var i = 0u; i < FLASH_DIMS; i++) {
        let d = part + 4u * i;
        var sum = 0.0;
        if (d < hd) {
          for (var g = 0u; g < split; g++) { sum += w[g] * kvTile[(group + g * perGroup) * hd + d]; }
        }
        acc[i] = sum;
      }
    }
  }
  if (valid && sub == 0u) {
    for (var i = 0u; i < FLASH_DIMS; i++) {
      let d = part + 4u * i;
      if (d < hd) { out[qBase + d] = acc[i] / l; }
    }
  }
}
