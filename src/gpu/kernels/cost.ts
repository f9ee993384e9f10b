// What one launch of a kernel does, counted from its params: the FLOPs and bytes the profiler
// reports. Each wrapper (src/gpu/kernels/<file>.ts) exports the formulas of its entry points as
// `costs`; src/gpu/profiler.ts gathers them into one table the compiler checks is complete.
import type { Params } from '../kernel';
import type { EntryName } from './registry';

/** Counted work of one launch: useful float operations and compulsory bytes moved. */
export interface Cost {
  flops: number;
  bytes: number;
}

/**
 * A launch's work from its params. FLOPs count the float operations a straight implementation
 * needs (a multiply-add is 2; exp, division, rsqrt count 1); bytes count each input read once and
 * each output written once (the roofline's compulsory traffic).
 */
export type CostFn = (p: Params) => Cost;

/** The formulas of some entry points, keyed by entry name. */
export type Costs<E extends EntryName> = Record<E, CostFn>;

/** The numeric param `name` of a launch; a missing or vector param is an error naming it. */
export function num(p: Params, name: string): number {
  const v = p[name];
  if (typeof v !== 'number') throw new Error(`param ${name} is ${v === undefined ? 'missing' : `not a number (${v})`}`);
  return v;
}
