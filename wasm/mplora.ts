// Twin of shaders/mplora.wgsl: the MP-LoRA epilogue y[r, :] += scale (B + sign eps Z_i) (A x)[r, :]
// for the rows of each slot of the pass (global slot g = slotBase + r / rowsPerSlot, query g % q,
// sign + for g < q). Z is regenerated (wasm/rng.ts): full, low-rank U V^T / sqrt(r') (LOZO), or
// divided by sqrt(h) (HiZOO); eps = 0 or g >= 2q: plain LoRA. Workgroups cover outputs
// o < wx 16 and (slot, row chunk of 64) pairs wid.y < wy; each part takes a range of outputs and
// builds the perturbed rows of B it needs, OB outputs at a time, in its thread's scratch.
import { binding, f32At, partBegin, partEnd, scratch, u32At } from './common';
import { mplora_B, mplora_Params, zo_step_StepParams } from './params.gen';
import { zoNormal, zoNormals } from './rng';

const OT: u32 = 16; // outputs per workgroup
const ROW_CHUNK: u32 = 64; // rows of one slot per workgroup
const OB: u32 = 64; // outputs whose perturbed B rows are built at a time
const LOZO_V_BASE: u32 = 0x80000000;

export function mplora(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, mplora_B.params);
  const ax = binding(bind, mplora_B.ax);
  const b = binding(bind, mplora_B.b);
  const y = binding(bind, mplora_B.y);
  const zo = binding(bind, mplora_B.zo);
  const rows = u32At(p, mplora_Params.rows);
  const outDim = u32At(p, mplora_Params.outDim);
  const rank = u32At(p, mplora_Params.rank);
  const rowsPerSlot = u32At(p, mplora_Params.rowsPerSlot);
  const q = u32At(p, mplora_Params.q);
  const scale = f32At(p, mplora_Params.scale);
  const tensor = u32At(p, mplora_Params.tensor);
  const zr = u32At(p, mplora_Params.zoRank);
  const scaled = u32At(p, mplora_Params.scaled) != 0;
  const seed = u32At(zo, zo_step_StepParams.seed);
  const slotBase = u32At(zo, zo_step_StepParams.slotBase);
  const eps = f32At(zo, zo_step_StepParams.eps);
  if (rowsPerSlot == 0 || q == 0) return;
  const hs = scaled ? binding(bind, mplora_B.hs) : 0;
  const chunks = (rowsPerSlot + ROW_CHUNK - 1) / ROW_CHUNK;
  const outs = <u32>min(<u64>outDim, <u64>wx * <u64>OT);
  const bp = scratch((<usize>2 * OB * <usize>rank + <usize>rank * <usize>zr + <usize>OB * <usize>zr) << 2); // [OB, rank] perturbed rows of B
  const bt = bp + ((<usize>OB * <usize>rank) << 2); // [rank, OB] the same, transposed
  const zv = bt + ((<usize>OB * <usize>rank) << 2); // LOZO: V_i [rank, zr]
  const zu = zv + ((<usize>rank * <usize>zr) << 2); // LOZO: U_i rows [OB, zr]
  const scale4 = f32x4.splat(scale);
  const inv: f32 = zr > 0 ? <f32>1.0 / Mathf.sqrt(<f32>zr) : 1;
  const o1 = partEnd(outs, part, parts);
  for (let ob = partBegin(outs, part, parts); ob < o1; ob += OB) {
    const oe = min(o1, ob + OB);
    const n = oe - ob;
    let built: u32 = 0xffffffff; // the slot whose rows bp holds
    for (let wy_: u32 = 0; wy_ < wy; wy_++) {
      const slot = wy_ / chunks;
      const chunk = wy_ % chunks;
      const slotStart = slot * rowsPerSlot;
      const rEnd = min(slotStart + min((chunk + 1) * ROW_CHUNK, rowsPerSlot), rows);
      const rBegin = slotStart + chunk * ROW_CHUNK;
      if (rBegin >= rEnd) continue;
      if (slot != built) {
        built = slot;
        const g = slotBase + slot;
        const query = g % q;
        const sign: f32 = g < q ? 1 : -1;
        const perturbed = eps != 0 && g < 2 * q;
        const e0 = ob * rank;
        const count = n * rank;
        if (!perturbed) {
          memory.copy(bp, b + (<usize>e0 << 2), <usize>count << 2);
        } else if (zr > 0) {
          for (let t: u32 = 0; t < rank * zr; t++) store<f32>(zv + (<usize>t << 2), zoNormal(seed, tensor, query, LOZO_V_BASE + t));
          for (let t: u32 = 0; t < n * zr; t++) store<f32>(zu + (<usize>t << 2), zoNormal(seed, tensor, query, ob * zr + t));
          for (let lo: u32 = 0; lo < n; lo++) {
            for (let j: u32 = 0; j < rank; j++) {
              let z: f32 = 0;
              for (let k: u32 = 0; k < zr; k++) z += load<f32>(zu + (<usize>(lo * zr + k) << 2)) * load<f32>(zv + (<usize>(j * zr + k) << 2));
              const at = <usize>(lo * rank + j) << 2;
              store<f32>(bp + at, load<f32>(b + (<usize>e0 << 2) + at) + sign * eps * z * inv);
            }
          }
        } else {
          zoNormals(seed, tensor, query, e0, count, bp); // Z_i rows of these outputs
          const se = sign * eps;
          for (let t: u32 = 0; t < count; t++) {
            const at = <usize>t << 2;
            let z = load<f32>(bp + at);
            if (scaled) z /= Mathf.sqrt(load<f32>(hs + (<usize>e0 << 2) + at));
            store<f32>(bp + at, load<f32>(b + (<usize>e0 << 2) + at) + se * z);
          }
        }
        // transposed: bt[j, lo] = bp[lo, j], so the row loop runs four outputs per f32x4
        for (let lo: u32 = 0; lo < n; lo++) {
          for (let j: u32 = 0; j < rank; j++) store<f32>(bt + ((<usize>j * <usize>OB + <usize>lo) << 2), load<f32>(bp + ((<usize>lo * <usize>rank + <usize>j) << 2)));
        }
      }
      for (let r = rBegin; r < rEnd; r++) {
        const axRow = ax + ((<usize>r * <usize>rank) << 2);
        const yRow = y + ((<usize>r * <usize>outDim + <usize>ob) << 2);
        // four outputs at a time: acc[lo..lo+3] = sum_j ax[r, j] bt[j, lo..lo+3], j in order
        let lo: u32 = 0;
        for (; lo + 4 <= n; lo += 4) {
          let acc = f32x4.splat(0);
          for (let j: u32 = 0; j < rank; j++) {
            acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(axRow + (<usize>j << 2))), v128.load(bt + ((<usize>j * <usize>OB + <usize>lo) << 2))));
          }
          const yo = yRow + (<usize>lo << 2);
          v128.store(yo, f32x4.add(v128.load(yo), f32x4.mul(scale4, acc)));
        }
        for (; lo < n; lo++) {
          let acc: f32 = 0;
          for (let j: u32 = 0; j < rank; j++) acc += load<f32>(axRow + (<usize>j << 2)) * load<f32>(bt + ((<usize>j * <usize>OB + <usize>lo) << 2));
          const yo = yRow + (<usize>lo << 2);
          store<f32>(yo, load<f32>(yo) + scale * acc);
        }
      }
    }
  }
}
