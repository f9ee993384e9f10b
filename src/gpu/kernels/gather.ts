// out[i] = table[index[i]]: token embedding lookup, and picking the rows the LM head sees.
import type { Dispatch } from '../kernel';
import { expectShape, type Tensor } from '../tensor';
import type { Kernels } from './registry';

export function gather(ks: Kernels, label: string, table: Tensor, index: Tensor, out: Tensor): Dispatch {
  const [tableRows, width] = table.shape;
  const [rows] = index.shape;
  const who = `gather ${label}`;
  expectShape(who, table, [tableRows, width]);
  expectShape(who, index, [rows]);
  expectShape(who, out, [rows, width]);
  if (index.dtype !== 'u32') throw new Error(`${who}: index ${index.label} must be u32, is ${index.dtype}`);
  if (rows > 65535) throw new Error(`${who}: ${rows} rows exceed one grid dimension (65535)`);
  return ks.get('gather').dispatch(label, { table, index, out }, { rows, width, tableRows }, [Math.ceil(width / 64), rows, 1]);
}
