// Sampling the next token from logits, as llama2.c's run.c does (same RNG, same top-p rule), so
// a seed gives the same choices as run.c would given the same logits.

/** xorshift64* as in run.c: random_u32 / random_f32. */
export class Rng {
  private state: bigint;
  constructor(seed: number) {
    // run.c seeds from the time when seed <= 0; we want determinism, so 0 maps to a constant.
    this.state = BigInt.asUintN(64, BigInt(seed > 0 ? seed : 0x2545f491));
  }
  u32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s = BigInt.asUintN(64, s ^ (s << 25n));
    s ^= s >> 27n;
    this.state = s;
    return Number(BigInt.asUintN(64, s * 0x2545f4914f6cdd1dn) >> 32n);
  }
  f32(): number {
    return (this.u32() >>> 8) / 16777216.0;
  }
}

export interface SamplerOptions {
  temperature: number; // 0 = greedy
  topP: number; // nucleus sampling when in (0, 1)
  seed: number;
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

export class Sampler {
  private readonly rng: Rng;
  constructor(readonly opts: SamplerOptions) {
    if (!(opts.temperature >= 0)) throw new Error(`temperature must be >= 0, got ${opts.temperature}`);
    if (!(opts.topP >= 0 && opts.topP <= 1)) throw new Error(`top-p must be in [0, 1], got ${opts.topP}`);
    this.rng = new Rng(opts.seed);
  }

  sample(logits: Float32Array): number {
    for (let i = 0; i < logits.length; i++) {
      if (!Number.isFinite(logits[i])) throw new Error(`sampling: logit ${i} is ${logits[i]} (the forward pass produced a non-finite value)`);
    }
    if (this.opts.temperature === 0) return argmax(logits);
    const probs = new Float32Array(logits.length);
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] / this.opts.temperature);
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += probs[i] = Math.exp(logits[i] / this.opts.temperature - max);
    for (let i = 0; i < probs.length; i++) probs[i] /= sum;
    const coin = this.rng.f32();
    const p = this.opts.topP;
    return p <= 0 || p >= 1 ? sampleMult(probs, coin) : sampleTopP(probs, p, coin);
  }
}

function sampleMult(probs: Float32Array, coin: number): number {
  let cdf = 0;
  for (let i = 0; i < probs.length; i++) {
    cdf += probs[i];
    if (coin < cdf) return i;
  }
  return probs.length - 1;
}

function sampleTopP(probs: Float32Array, topP: number, coin: number): number {
  // Tokens below (1 - topP) / (n - 1) cannot be in the nucleus: drop them before sorting.
  const cutoff = (1 - topP) / (probs.length - 1);
  const idx: number[] = [];
  for (let i = 0; i < probs.length; i++) if (probs[i] >= cutoff) idx.push(i);
  idx.sort((a, b) => probs[b] - probs[a]);
  let cum = 0;
  let last = idx.length - 1;
  for (let i = 0; i < idx.length; i++) {
    cum += probs[idx[i]];
    if (cum > topP) {
      last = i;
      break;
    }
  }
  const r = coin * cum;
  let cdf = 0;
  for (let i = 0; i <= last; i++) {
    cdf += probs[idx[i]];
    if (r < cdf) return idx[i];
  }
  return idx[last];
}
