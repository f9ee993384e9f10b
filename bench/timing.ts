// Wall-clock timing of an async call: one warm-up (compiles, first uploads), then repeated until
// both a minimum count and a minimum total time are reached (or the maximum count). The median
// is the number reported; every sample is kept.
export interface Timing {
  ms: number; // median of the timed calls
  min: number;
  reps: number;
  samples: number[];
}

export interface TimingOptions {
  minReps?: number; // default 3
  maxReps?: number; // default 50
  minMs?: number; // total timed milliseconds to reach (default 300)
  warmup?: number; // untimed calls first (default 1)
}

export async function timeIt(fn: () => Promise<unknown>, o: TimingOptions = {}): Promise<Timing> {
  const { minReps = 3, maxReps = 50, minMs = 300, warmup = 1 } = o;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  let total = 0;
  while (samples.length < maxReps && (samples.length < minReps || total < minMs)) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    samples.push(dt);
    total += dt;
  }
  return { ms: median(samples), min: Math.min(...samples), reps: samples.length, samples };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Geometric mean of positive ratios (the fair average of speedups). */
export function geomean(xs: readonly number[]): number {
  const ok = xs.filter((x) => x > 0 && Number.isFinite(x));
  return ok.length ? Math.exp(ok.reduce((s, x) => s + Math.log(x), 0) / ok.length) : NaN;
}
