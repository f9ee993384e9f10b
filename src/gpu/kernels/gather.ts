// out[i] = table[index[i]]: token embedding lookup, and picking the rows the LM head sees.
import { grid1d, type Dispatch, type Params } from '../kernel';
import { expectShape, Tensor } from '../tensor';
import { CompressedWeight, LAYOUTS, type Weight } from '../weight';
import type { Kernels } from './registry';
import { num, type Costs } from './cost';

export function gather(ks: Kernels, label: string, table: Tensor, index: Tensor, out: Tensor): Dispatch {
  const [tableRows, width] = table.shape;
  const [rows] = index.shape;
  const who = `gather ${label}`;
  expectShape(who, table, [tableRows, width]);
  expectShape(who, index, [rows]);
  expectShape(who, out, [rows, width]);
  if (index.dtype !== 'u32') throw new Error(`${who}: index ${index.label} must be u32, is ${index.dtype}`);
  const k = ks.get('gather');
  const g = grid1d(rows * width, k.workgroupSize[0]); // a thread per element of out
  return k.dispatch(label, { table, index, out }, { rows, width, tableRows }, g.workgroups);
}

const QUANT_GATHERS = [
  'gather_f32_part', 'gather_f16', 'gather_bf16', 'gather_q8_0', 'gather_q4_0', 'gather_q4_1', 'gather_q5_0', 'gather_q5_1',
  'gather_q2_k', 'gather_q3_k', 'gather_q4_k', 'gather_q5_k', 'gather_q6_k',
] as const;

/**
 * Embedding rows from a table of any weight kind: f32 (gather), compressed (gather_quant.wgsl
 * dequantises in registers), or split by rows across buffers (one dispatch per row block, each
 * writing the rows whose index falls in its block).
 */
export function gatherWeight(ks: Kernels, label: string, table: Weight, index: Tensor, out: Tensor): Dispatch[] {
  if (table instanceof Tensor) return [gather(ks, label, table, index, out)];
  const [totalRows, width] = table.shape;
  const [rows] = index.shape;
  const who = `gather ${label}`;
  expectShape(who, index, [rows]);
  expectShape(who, out, [rows, width]);
  if (index.dtype !== 'u32') throw new Error(`${who}: index ${index.label} must be u32, is ${index.dtype}`);
  if (width % 4 !== 0) throw new Error(`${who}: a ${table.type} table needs rows of a multiple of 4 values, has ${width}`);
  const fold = grid1d(rows, 1); // rows over y, folded into z
  const parts = table instanceof CompressedWeight ? [{ row0: 0, weight: table }] : table.parts;
  return parts.map(({ row0, weight }, i) => {
    const entry = `gather_${weight.type}${weight.type === 'f32' ? '_part' : ''}`;
    const kernel = ks.get(entry);
    const params = { rows, width, tableRows: weight.shape[0], rowBase: row0, totalRows, rowStride: fold.stride };
    const grid: [number, number, number] = [Math.ceil(width / 4 / kernel.workgroupSize[0]), fold.workgroups[0], fold.workgroups[1]];
    const name = parts.length > 1 ? `${label}.part${i}` : label;
    return kernel.dispatch(name, { wq: weight.quants, index, out, ws: weight.scales ?? weight.quants }, params, grid);
  });
}

/** Only the first `rows` indices are in use (the grid stays; the extra groups exit). */
export function gatherRows(d: Dispatch, rows: number): void {
  d.update({ rows });
}

const layoutBytes = (entry: string) => {
  const l = LAYOUTS[entry.replace(/^gather_/, '').replace(/_part$/, '') as keyof typeof LAYOUTS];
  return l.bytes / l.elements;
};

export const costs: Costs<'gather' | (typeof QUANT_GATHERS)[number]> = {
  gather: (p) => ({ flops: 0, bytes: 4 * (2 * num(p, 'rows') * num(p, 'width') + num(p, 'rows')) }),
  ...(Object.fromEntries(
    QUANT_GATHERS.map((e) => [e, (p: Params) => ({ flops: 0, bytes: (4 + layoutBytes(e)) * num(p, 'rows') * num(p, 'width') + 4 * num(p, 'rows') })]),
  ) as Costs<(typeof QUANT_GATHERS)[number]>),
};
