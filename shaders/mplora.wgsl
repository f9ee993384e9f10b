// mplora: the Multi-Perturbed LoRA epilogue of a target linear layer (MobiZO's MP-LoRA).
// The batch is slot-major: row r belongs to slot p = r / rowsPerSlot of this pass, i.e. global
// slot g = slotBase + p, which uses query i = g % q with sign + when g < q and - otherwise.
//   y[r, :] += scale * (B + sign * eps * Z_i) (A x)[r, :]
// Z_i is never stored: each workgroup regenerates the [OT, rank] tile of Z_i it needs from the
// counter-based RNG (seed, tensor, query, element = o * rank + j), once for up to ROW_CHUNK rows.
// The step's seed, slot base and eps come from the shared step block (zo_step.wgsl); eps = 0
// gives plain LoRA (evaluation, generation with an adapter). A global slot g >= 2q is not
// perturbed (HiZOO's unperturbed loss rides the pass as slot 2q).
// Variants of Z (src/train/optimizer.ts), set per dispatch in Params:
//   zoRank r' > 0 (LOZO)   Z_i = U_i V_i^T / sqrt(r'), U_i [out, r'] with element (o, k) drawn as
//                          element o r' + k, V_i [rank, r'] with (j, k) drawn as element
//                          LOZO_V_BASE + j r' + k: a workgroup draws OT r' + rank r' normals per
//                          query instead of OT rank
//   scaled = 1 (HiZOO)     Z_i[e] / sqrt(h[e]), h the diagonal Hessian estimate (binding hs)

#include "rng.wgsl"
#include "zo_step.wgsl"

struct Params {
  rows: u32,         // rows of ax and y in this pass (slots * rowsPerSlot)
  outDim: u32,       // rows of B = columns of y
  rank: u32,         // LoRA rank r (<= MAX_RANK)
  rowsPerSlot: u32,  // Bsz * T
  q: u32,            // number of queries (perturbations)
  scale: f32,        // alpha / r
  tensor: u32,       // id of this B tensor in the RNG key
  zoRank: u32,       // 0: full Z; r' > 0: the low-rank Z = U V^T / sqrt(r') (LOZO)
  scaled: u32,       // 1: Z / sqrt(hs) (HiZOO)
}

const OT: u32 = 16u;         // outputs per workgroup
const RL: u32 = 4u;          // row lanes per workgroup
const ROW_CHUNK: u32 = 64u;  // rows of one slot per workgroup
override MAX_RANK: u32;     // set from TS (LIMITS in src/gpu/kernels/registry.ts)
override MAX_ZO_RANK: u32;  // the largest r' (LIMITS)
const LOZO_V_BASE: u32 = 0x80000000u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ax: array<f32>;          // [rows, rank] = x A^T
@group(0) @binding(2) var<storage, read> b: array<f32>;           // [outDim, rank]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;     // [rows, outDim]
@group(0) @binding(4) var<uniform> zo: StepParams;                // seed, slotBase, eps of the step
@group(0) @binding(5) var<storage, read> hs: array<f32>;          // [outDim, rank] diagonal Hessian (scaled = 1)

var<workgroup> bp: array<f32, OT * MAX_RANK>;  // the perturbed B tile, [OT, rank]
var<workgroup> zu: array<f32, OT * MAX_ZO_RANK>;      // LOZO: U_i rows of the tile
var<workgroup> zv: array<f32, MAX_RANK * MAX_ZO_RANK>; // LOZO: V_i

@compute @workgroup_size(16, 4)
fn mplora(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let rank = params.rank;
  let o0 = wid.x * OT;
  let chunks = (params.rowsPerSlot + ROW_CHUNK - 1u) / ROW_CHUNK;
  let slot = wid.y / chunks;
  let chunk = wid.y % chunks;
  let g = zo.slotBase + slot;
  let query = g % params.q;
  let sign = select(-1.0, 1.0, g < params.q);

  let li = lid.y * OT + lid.x;
  let perturbed = zo.eps != 0.0 && g < 2u * params.q;
  let zr = params.zoRank;
  let lozo = perturbed && zr > 0u;
  if (lozo) {
    for (var t = li; t < OT * zr; t += OT * RL) { zu[t] = zo_normal(zo.seed, params.tensor, query, o0 * zr + t); }
    for (var t = li; t < rank * zr; t += OT * RL) { zv[t] = zo_normal(zo.seed, params.tensor, query, LOZO_V_BASE + t); }
  }
  workgroupBarrier();
  if (lozo) {
    let inv = 1.0 / sqrt(f32(zr));
    for (var t = li; t < OT * rank; t += OT * RL) {
      let lo = t / rank;
      let j = t % rank;
      var v = 0.0;
      if (o0 + lo < params.outDim) {
        var z = 0.0;
        for (var k = 0u; k < zr; k++) { z += zu[lo * zr + k] * zv[j * zr + k]; }
        v = b[(o0 + lo) * rank + j] + sign * zo.eps * z * inv;
      }
      bp[t] = v;
    }
  } else if (rank % 4u == 0u) {
    // four consecutive elements share one Philox block: draw them together
    for (var t = 4u * li; t < OT * rank; t += 4u * OT * RL) {
      let o = o0 + t / rank;
      let e = o * rank + t % rank;
      var v = vec4<f32>(0.0);
      if (o < params.outDim) {
        v = vec4<f32>(b[e], b[e + 1u], b[e + 2u], b[e + 3u]);
        if (perturbed) {
          var z = zo_normal4(zo.seed, params.tensor, query, e / 4u);
          if (params.scaled != 0u) { z /= sqrt(vec4<f32>(hs[e], hs[e + 1u], hs[e + 2u], hs[e + 3u])); }
          v += sign * zo.eps * z;
        }
      }
      bp[t] = v.x;
      bp[t + 1u] = v.y;
      bp[t + 2u] = v.z;
      bp[t + 3u] = v.w;
    }
  } else {
    for (var t = li; t < OT * rank; t += OT * RL) {
      let o = o0 + t / rank;
      let e = o * rank + t % rank;
      var v = 0.0;
      if (o < params.outDim) {
        v = b[e];
        if (perturbed) {
          var z = zo_normal(zo.seed, params.tensor, query, e);
          if (params.scaled != 0u) { z /= sqrt(hs[e]); }
          v += sign * zo.eps * z;
        }
      }
      bp[t] = v;
    }
  }
  workgroupBarrier();

  let o = o0 + lid.x;
  if (o >= params.outDim) { return; }
  let slotStart = slot * params.rowsPerSlot;
  let rowEnd = min(slotStart + min((chunk + 1u) * ROW_CHUNK, params.rowsPerSlot), params.rows);
  for (var r = slotStart + chunk * ROW_CHUNK + lid.y; r < rowEnd; r += RL) {
    var acc = 0.0;
    for (var j = 0u; j < rank; j++) { acc += bp[lid.x * rank + j] * ax[r * rank + j]; }
    y[r * params.outDim + o] += params.scale * acc;
  }
}
