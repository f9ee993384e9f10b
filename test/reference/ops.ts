// Float64 CPU reference ops: the oracle that GPU kernels are tested against.
// Plain loops, one op per function, no cleverness. Inputs are any array of numbers (number[],
// Float32Array, Float64Array); outputs are new Float64Arrays. Matrices are row-major; shapes are
// inferred from the lengths and the one size each op is given, and checked.

export type Vec = ArrayLike<number>;

function rowsOf(what: string, length: number, rowLength: number): number {
  if (!Number.isInteger(rowLength) || rowLength <= 0 || length % rowLength !== 0) {
    throw new Error(`${what}: length ${length} is not a multiple of the row length ${rowLength}`);
  }
  return length / rowLength;
}

/** y = x W^T:  x [M, K], w [N, K] -> [M, N]. */
export function matmulT(x: Vec, w: Vec, k: number): Float64Array {
  const m = rowsOf('matmulT x', x.length, k);
  const n = rowsOf('matmulT w', w.length, k);
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += x[i * k + t] * w[j * k + t];
      y[i * n + j] = s;
    }
  }
  return y;
}

/** RMSNorm of each row: x [M, D], w [D] -> w * x / sqrt(mean(x^2) + eps). */
export function rmsnorm(x: Vec, w: Vec, eps: number): Float64Array {
  const d = w.length;
  const m = rowsOf('rmsnorm x', x.length, d);
  const y = new Float64Array(m * d);
  for (let i = 0; i < m; i++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) y[i * d + j] = w[j] * (inv * x[i * d + j]);
  }
  return y;
}

/** RoPE frequency scaling as transformers' rope_type ('linear', 'llama3') or a GGUF's rope_freqs ('factors'). */
export type RefRopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPos: number }
  | { type: 'factors'; factors: ArrayLike<number> };

/** Frequency of pair i: theta^(-2i/hd), then as transformers' _compute_linear / _compute_llama3_parameters. */
export function ropeFrequency(i: number, hd: number, theta: number, scaling?: RefRopeScaling): number {
  const base = 1 / Math.pow(theta, (2 * i) / hd);
  if (!scaling) return base;
  if (scaling.type === 'linear') return base / scaling.factor;
  if (scaling.type === 'factors') return base / scaling.factors[i];
  const lowWavelen = scaling.originalMaxPos / scaling.lowFreqFactor;
  const highWavelen = scaling.originalMaxPos / scaling.highFreqFactor;
  const wavelen = (2 * Math.PI) / base;
  const llama = wavelen > lowWavelen ? base / scaling.factor : base;
  const smooth = (scaling.originalMaxPos / wavelen - scaling.lowFreqFactor) / (scaling.highFreqFactor - scaling.lowFreqFactor);
  const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
  return medium ? ((1 - smooth) * llama) / scaling.factor + smooth * llama : llama;
}

/** Rotary position embedding of each head of each row: x [T, nHeads * hd], positions [T].
 * Pair i (i < hd/2) is rotated by angle pos * ropeFrequency(i); the pair is
 * (2i, 2i+1) for 'adjacent' (llama2.c) and (i, i + hd/2) for 'halfsplit' (HF Llama). */
export function rope(x: Vec, positions: ArrayLike<number>, hd: number, theta: number, style: 'adjacent' | 'halfsplit', scaling?: RefRopeScaling): Float64Array {
  const t = positions.length;
  if (t === 0 || x.length % t !== 0) throw new Error(`rope: x length ${x.length} is not ${t} rows (one per position)`);
  const width = x.length / t;
  const nHeads = rowsOf('rope row', width, hd);
  if (hd % 2 !== 0) throw new Error(`rope: head dim ${hd} is odd`);
  const y = Float64Array.from(x);
  for (let r = 0; r < t; r++) {
    for (let h = 0; h < nHeads; h++) {
      const base = r * width + h * hd;
      for (let i = 0; i < hd / 2; i++) {
        const angle = positions[r] * ropeFrequency(i, hd, theta, scaling);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const a = style === 'adjacent' ? base + 2 * i : base + i;
        const b = style === 'adjacent' ? base + 2 * i + 1 : base + i + hd / 2;
        y[a] = x[a] * c - x[b] * s;
        y[b] = x[a] * s + x[b] * c;
      }
    }
  }
  return y;
}

/** Softmax of each row of length n (default: the whole vector as one row). */
export function softmax(x: Vec, n: number = x.length): Float64Array {
  const m = rowsOf('softmax x', x.length, n);
  const y = new Float64Array(x.length);
  for (let i = 0; i < m; i++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[i * n + j]);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(x[i * n + j] - max);
    for (let j = 0; j < n; j++) y[i * n + j] = Math.exp(x[i * n + j] - max) / sum;
  }
  return y;
}

/** log(sum(exp(x))) of one vector, computed stably. */
export function logSumExp(x: Vec): number {
  let max = -Infinity;
  for (let j = 0; j < x.length; j++) max = Math.max(max, x[j]);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let j = 0; j < x.length; j++) sum += Math.exp(x[j] - max);
  return max + Math.log(sum);
}

/** Causal grouped-query attention. q [Tq, nH * hd], k and v [Tk, nKv * hd]; query head h reads
 * key/value head floor(h / (nH / nKv)); scores scaled by 1/sqrt(hd) (or opts.scale). The queries
 * are the last Tq positions of the Tk keys (Tq = Tk: a whole sequence; Tq = 1: one decoding step
 * with a KV cache), so query row i at position p = (Tk - Tq) + i sees keys 0 .. p, or with a
 * sliding window W only keys j with p - W < j <= p (transformers' sliding_window_overlay).
 * Returns [Tq, nH * hd]. */
export function attention(q: Vec, k: Vec, v: Vec, nH: number, nKv: number, hd: number, opts: { scale?: number; window?: number } = {}): Float64Array {
  if (nH % nKv !== 0) throw new Error(`attention: nH ${nH} is not a multiple of nKv ${nKv}`);
  const tq = rowsOf('attention q', q.length, nH * hd);
  const tk = rowsOf('attention k', k.length, nKv * hd);
  if (v.length !== k.length) throw new Error(`attention: v length ${v.length} != k length ${k.length}`);
  if (tq > tk) throw new Error(`attention: ${tq} queries but only ${tk} keys`);
  const group = nH / nKv;
  const scale = opts.scale ?? 1 / Math.sqrt(hd);
  const out = new Float64Array(tq * nH * hd);
  for (let i = 0; i < tq; i++) {
    const last = tk - tq + i; // the query's own position
    const first = opts.window ? Math.max(0, last - opts.window + 1) : 0;
    for (let h = 0; h < nH; h++) {
      const kvh = Math.floor(h / group);
      const scores = new Float64Array(last + 1 - first);
      for (let j = first; j <= last; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[i * nH * hd + h * hd + d] * k[j * nKv * hd + kvh * hd + d];
        scores[j - first] = s * scale;
      }
      const p = softmax(scores);
      for (let j = first; j <= last; j++) {
        for (let d = 0; d < hd; d++) out[i * nH * hd + h * hd + d] += p[j - first] * v[j * nKv * hd + kvh * hd + d];
      }
    }
  }
  return out;
}

/** x * sigmoid(x). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** SwiGLU: silu(gate) * up, element-wise. */
export function swiglu(gate: Vec, up: Vec): Float64Array {
  if (gate.length !== up.length) throw new Error(`swiglu: gate length ${gate.length} != up length ${up.length}`);
  const y = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) y[i] = silu(gate[i]) * up[i];
  return y;
}

/** GELU, tanh approximation (PyTorch's gelu(approximate='tanh')). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** GeGLU: geluTanh(gate) * up, element-wise (Gemma's FFN). */
export function geglu(gate: Vec, up: Vec): Float64Array {
  if (gate.length !== up.length) throw new Error(`geglu: gate length ${gate.length} != up length ${up.length}`);
  const y = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) y[i] = geluTanh(gate[i]) * up[i];
  return y;
}

/** Index of the largest value; the first one on ties (as llama2.c's sample_argmax). */
export function argmax(x: Vec): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}
