// Twins of shaders/rmsnorm.wgsl: out[r, :] (+)= x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight.
// rmsnorm covers the rows of its workgroups (row = wid.x + wid.y * groups.x), rmsnorm_rows those
// of its threads (row = gid.x + gid.y * groups.x * 64); both compute each row the same way here.
import { binding, f32At, partBegin, partEnd, u32At } from './common';
import { rmsnorm_B, rmsnorm_Params, rmsnorm_rows_B } from './params.gen';

function normRows(p: usize, x: usize, w: usize, out: usize, covered: u64, part: u32, parts: u32): void {
  const rowsParam = u32At(p, rmsnorm_Params.rows);
  const rows = covered < <u64>rowsParam ? <u32>covered : rowsParam;
  const width = u32At(p, rmsnorm_Params.width);
  const eps = f32At(p, rmsnorm_Params.eps);
  const acc = u32At(p, rmsnorm_Params.accumulate) != 0;
  const r1 = partEnd(rows, part, parts);
  for (let r = partBegin(rows, part, parts); r < r1; r++) {
    const base = <usize>r * <usize>width << 2;
    const xr = x + base;
    const orow = out + base;
    let s4 = f32x4.splat(0);
    let i: u32 = 0;
    for (; i + 4 <= width; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      s4 = f32x4.add(s4, f32x4.mul(v, v));
    }
    let ss = (f32x4.extract_lane(s4, 0) + f32x4.extract_lane(s4, 1)) + (f32x4.extract_lane(s4, 2) + f32x4.extract_lane(s4, 3));
    for (; i < width; i++) {
      const v = load<f32>(xr + (<usize>i << 2));
      ss += v * v;
    }
    const inv: f32 = <f32>1.0 / Mathf.sqrt(ss / <f32>width + eps);
    const inv4 = f32x4.splat(inv);
    i = 0;
    if (acc) {
      for (; i + 4 <= width; i += 4) {
        const o = <usize>i << 2;
        const y = f32x4.mul(f32x4.mul(v128.load(xr + o), inv4), v128.load(w + o));
        v128.store(orow + o, f32x4.add(v128.load(orow + o), y));
      }
      for (; i < width; i++) {
        const o = <usize>i << 2;
        store<f32>(orow + o, load<f32>(orow + o) + load<f32>(xr + o) * inv * load<f32>(w + o));
      }
    } else {
      for (; i + 4 <= width; i += 4) {
        const o = <usize>i << 2;
        v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(xr + o), inv4), v128.load(w + o)));
      }
      for (; i < width; i++) {
        const o = <usize>i << 2;
        store<f32>(orow + o, load<f32>(xr + o) * inv * load<f32>(w + o));
      }
    }
  }
}

export function rmsnorm(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, rmsnorm_B.params);
  normRows(p, binding(bind, rmsnorm_B.x), binding(bind, rmsnorm_B.weight), binding(bind, rmsnorm_B.out), <u64>wx * <u64>wy, part, parts);
}

export function rmsnorm_rows(bind: usize, wx: u32, wy: u32, wz: u32, part: u32, parts: u32): void {
  const p = binding(bind, rmsnorm_rows_B.params);
  normRows(p, binding(bind, rmsnorm_rows_B.x), binding(bind, rmsnorm_rows_B.weight), binding(bind, rmsnorm_rows_B.out), <u64>wx * <u64>wy * 64, part, parts);
}
