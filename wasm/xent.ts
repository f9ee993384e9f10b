// Twins of shaders/xent.wgsl: the token cross-entropy of each selected row, and the per-slot
// losses (slot_loss: masked mean; class_loss: MeZO's cross-entropy over candidates). xent covers
// the rows of its workgroups (i = wid.x + wid.y * groups.x < nSel); the slot losses one slot per
// workgroup along x (losses[slotBase + p], p < wx).
import { binding, exp4, expf1, f32At, hsum, nan32, partBegin, partEnd, u32At } from './common';
import { class_loss_B, slot_loss_B, xent_B, xent_LossParams, xent_Params, zo_step_StepParams } from './params.gen';

export function xent(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, xent_B.params);
  const logits = binding(bind, xent_B.logits);
  const labels = binding(bind, xent_B.labels);
  const rowLoss = binding(bind, xent_B.rowLoss);
  const nSel = u32At(p, xent_Params.nSel);
  const vocab = u32At(p, xent_Params.vocab);
  const groups = <u64>wx * <u64>wy;
  const rows = groups < <u64>nSel ? <u32>groups : nSel;
  const r1 = partEnd(rows, part, parts);
  for (let i = partBegin(rows, part, parts); i < r1; i++) {
    const row = logits + ((<usize>i * <usize>vocab) << 2);
    const label = load<i32>(labels + (<usize>i << 2));
    const out = rowLoss + (<usize>i << 2);
    if (label < 0) {
      store<f32>(out, 0);
      continue;
    }
    if (<u32>label >= vocab) {
      store<f32>(out, nan32()); // a label outside the vocabulary poisons the slot's loss
      continue;
    }
    // max, then sum of exp(l - max)
    let m4 = f32x4.splat(-3.0e38);
    let v: u32 = 0;
    for (; v + 4 <= vocab; v += 4) m4 = f32x4.max(m4, v128.load(row + (<usize>v << 2)));
    let m = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
    for (; v < vocab; v++) m = max(m, load<f32>(row + (<usize>v << 2)));
    const m4s = f32x4.splat(m);
    let s4 = f32x4.splat(0);
    for (v = 0; v + 4 <= vocab; v += 4) s4 = f32x4.add(s4, exp4(f32x4.sub(v128.load(row + (<usize>v << 2)), m4s)));
    let s = hsum(s4);
    for (; v < vocab; v++) s += expf1(load<f32>(row + (<usize>v << 2)) - m);
    store<f32>(out, m + Mathf.log(s) - load<f32>(row + (<usize>label << 2)));
  }
}

export function slot_loss(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const lp = binding(bind, slot_loss_B.lparams);
  const zo = binding(bind, slot_loss_B.zo);
  const rowLossIn = binding(bind, slot_loss_B.rowLossIn);
  const selLabels = binding(bind, slot_loss_B.selLabels);
  const selRows = binding(bind, slot_loss_B.selRows);
  const losses = binding(bind, slot_loss_B.losses);
  const nSel = u32At(lp, xent_LossParams.nSel);
  const rowsPerSlot = u32At(lp, xent_LossParams.rowsPerSlot);
  const norm = f32At(lp, xent_LossParams.norm);
  const slotBase = u32At(zo, zo_step_StepParams.slotBase);
  const p1 = partEnd(wx, part, parts);
  for (let p = partBegin(wx, part, parts); p < p1; p++) {
    let s: f32 = 0;
    let c: f32 = 0;
    for (let i: u32 = 0; i < nSel; i++) {
      const at = <usize>i << 2;
      if (load<u32>(selRows + at) / rowsPerSlot == p && load<i32>(selLabels + at) >= 0) {
        s += load<f32>(rowLossIn + at);
        c += 1;
      }
    }
    // no label: NaN, and the update is skipped
    const denom = norm > 0 ? norm : c;
    store<f32>(losses + (<usize>(slotBase + p) << 2), c == 0 ? nan32() : s / denom);
  }
}

export function class_loss(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const lp = binding(bind, class_loss_B.lparams);
  const zo = binding(bind, class_loss_B.zo);
  const rowLossIn = binding(bind, class_loss_B.rowLossIn);
  const selLabels = binding(bind, class_loss_B.selLabels);
  const selRows = binding(bind, class_loss_B.selRows);
  const selSeqs = binding(bind, class_loss_B.selSeqs);
  const losses = binding(bind, class_loss_B.losses);
  const nSel = u32At(lp, xent_LossParams.nSel);
  const rowsPerSlot = u32At(lp, xent_LossParams.rowsPerSlot);
  const group = u32At(lp, xent_LossParams.group);
  const nEx = u32At(lp, xent_LossParams.examples);
  const slotBase = u32At(zo, zo_step_StepParams.slotBase);
  const p1 = partEnd(wx, part, parts);
  for (let p = partBegin(wx, part, parts); p < p1; p++) {
    let total: f32 = 0;
    let bad = false;
    for (let e: u32 = 0; e < nEx; e++) {
      // online logsumexp over the candidates' scores
      let m: f32 = -3.0e38;
      let acc: f32 = 0;
      let right: f32 = 0;
      for (let c: u32 = 0; c < group; c++) {
        const sq = e * group + c;
        let sum: f32 = 0;
        let n: u32 = 0;
        for (let i: u32 = 0; i < nSel; i++) {
          const at = <usize>i << 2;
          if (load<u32>(selRows + at) / rowsPerSlot == p && load<u32>(selSeqs + at) == sq && load<i32>(selLabels + at) >= 0) {
            sum += load<f32>(rowLossIn + at);
            n++;
          }
        }
        if (n == 0) bad = true; // a candidate without label tokens: no score
        const sc: f32 = n > 0 ? -sum / <f32>n : 0; // the mean label-token log-likelihood
        if (c == 0) right = sc;
        if (sc > m) {
          acc = acc * Mathf.exp(m - sc) + 1;
          m = sc;
        } else {
          acc += Mathf.exp(sc - m);
        }
      }
      total += m + Mathf.log(acc) - right;
    }
    store<f32>(losses + (<usize>(slotBase + p) << 2), bad || nEx == 0 ? nan32() : total / <f32>nEx);
  }
}
