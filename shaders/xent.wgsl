// xent: masked token cross-entropy, reduced per perturbation slot.
//   xent       rowLoss[i] = logsumexp(logits[i, :]) - logits[i, label[i]]  (0 where label < 0)
//   slot_loss  losses[slotBase + p] = sum of rowLoss over the labelled rows of slot p, divided by
//              their count (norm = 0: the mean token loss) or by norm (e.g. examples per slot)
//   class_loss losses[slotBase + p] = mean over the examples of slot p of the cross-entropy over
//              their candidates (MeZO's train_as_classification): example e has `group` candidate
//              sequences e * group + c, the right one c = 0; selected row i scores sequence
//              selSeqs[i] (candidates may share a row, src/data/tasks.ts packCandidates); candidate
//              c scores s_c = -(mean rowLoss of its labelled selected rows), its mean label-token
//              log-likelihood (as evaluation ranks candidates); the example's loss is logsumexp_c(s_c) - s_0
// The logits' rows are the selected rows of the pass (select[i] = row index, slot-major); the
// slot base is the step block's (zo_step.wgsl).

#include "zo_step.wgsl"

struct Params {
  nSel: u32,         // selected rows in use (<= rows of logits)
  vocab: u32,
}

struct LossParams {
  nSel: u32,         // selected rows in use
  rowsPerSlot: u32,  // rows of the pass per slot (Bsz * T)
  norm: f32,         // slot_loss divisor; 0: the number of labelled rows
  group: u32,        // class_loss: sequences per example (candidates)
  examples: u32,     // class_loss: examples per slot
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;          // [nSelMax, vocab]
@group(0) @binding(2) var<storage, read> labels: array<i32>;          // [nSelMax] (-100: ignored)
@group(0) @binding(3) var<storage, read_write> rowLoss: array<f32>;   // [nSelMax]

var<workgroup> red: array<f32, WG>;

fn reduceMax(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let out = red[0];
  workgroupBarrier();
  return out;
}

fn reduceSum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let out = red[0];
  workgroupBarrier();
  return out;
}

@compute @workgroup_size(WG)
fn xent(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x + wid.y * groups.x;  // a workgroup per row, folded into 2-D past 65535 rows
  if (i >= params.nSel) { return; }  // uniform per workgroup
  let base = i * params.vocab;
  var m = -3.0e38;
  for (var v = lid; v < params.vocab; v += WG) { m = max(m, logits[base + v]); }
  m = reduceMax(lid, m);
  var s = 0.0;
  for (var v = lid; v < params.vocab; v += WG) { s += exp(logits[base + v] - m); }
  s = reduceSum(lid, s);
  if (lid == 0u) {
    let label = labels[i];
    if (label < 0) {
      rowLoss[i] = 0.0;
    } else if (u32(label) >= params.vocab) {
      var nanBits = 0x7fc00000u;
      rowLoss[i] = bitcast<f32>(nanBits);  // a label outside the vocabulary poisons the slot's loss
    } else {
      rowLoss[i] = m + log(s) - logits[base + u32(label)];
    }
  }
}

@group(0) @binding(1) var<storage, read> rowLossIn: array<f32>;      // [nSelMax]
@group(0) @binding(2) var<storage, read> selLabels: array<i32>;      // [nSelMax]
@group(0) @binding(3) var<storage, read> selRows: array<u32>;        // [nSelMax] row of each selected row
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;   // [2q] per global slot
@group(0) @binding(0) var<uniform> lparams: LossParams;
@group(0) @binding(5) var<uniform> zo: StepParams;
@group(0) @binding(6) var<storage, read> selSeqs: array<u32>;        // [nSelMax] class_loss: the candidate sequence of each

var<workgroup> cnt: array<f32, WG>;

@compute @workgroup_size(WG)
fn slot_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let p = wid.x;
  var s = 0.0;
  var c = 0.0;
  for (var i = lid; i < lparams.nSel; i += WG) {
    if (selRows[i] / lparams.rowsPerSlot == p && selLabels[i] >= 0) {
      s += rowLossIn[i];
      c += 1.0;
    }
  }
  cnt[lid] = c;
  let total = reduceSum(lid, s);
  for (var st = WG / 2u; st > 0u; st /= 2u) {
    if (lid < st) { cnt[lid] += cnt[lid + st]; }
    workgroupBarrier();
  }
  // No label: 0 / 0 = NaN, and the update is skipped.
  let denom = select(cnt[0], lparams.norm, lparams.norm > 0.0);
  var nanBits = 0x7fc00000u;
  if (lid == 0u) { losses[zo.slotBase + p] = select(total / denom, bitcast<f32>(nanBits), cnt[0] == 0.0); }
}

@compute @workgroup_size(WG)
fn class_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let p = wid.x;
  let nEx = lparams.examples;
  var total = 0.0;
  var bad = 0.0;
  for (var e = lid; e < nEx; e += WG) {
    // online logsumexp over the candidates' scores
    var m = -3.0e38;
    var acc = 0.0;
    var right = 0.0;
    for (var c = 0u; c < lparams.group; c++) {
      let sq = e * lparams.group + c;
      var sum = 0.0;
      var n = 0u;
      for (var i = 0u; i < lparams.nSel; i++) {
        let r = selRows[i];
        if (r / lparams.rowsPerSlot == p && selSeqs[i] == sq && selLabels[i] >= 0) {
          sum += rowLossIn[i];
          n++;
        }
      }
      if (n == 0u) { bad += 1.0; }  // a candidate without label tokens: no score
      let sc = select(0.0, -sum / f32(n), n > 0u);  // the mean label-token log-likelihood
      if (c == 0u) { right = sc; }
      if (sc > m) {
        acc = acc * exp(m - sc) + 1.0;
        m = sc;
      } else {
        acc += exp(sc - m);
      }
    }
    total += m + log(acc) - right;
  }
  let sumAll = reduceSum(lid, total);
  let badAll = reduceSum(lid, bad);
  var nanBits = 0x7fc00000u;
  if (lid == 0u) { losses[zo.slotBase + p] = select(sumAll / f32(nEx), bitcast<f32>(nanBits), badAll > 0.0 || nEx == 0u); }
}
