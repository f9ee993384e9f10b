// The same Llama forward pass as src/model/transformer.ts (no KV cache, logits of every row),
// built from gpu.js kernels: the baseline of the forward scenario. Activations are 2-D arrays
// [rows, width] kept on the GPU as pipeline handles; one kernel per role (a kernel reuses its
// output buffer call to call, so values alive at the same time come from different kernels), and
// the residual stream ping-pongs between the two residual kernels (attention out, FFN down).
// Attention is the textbook four kernels: scores, row max, row sum, weighted sum of values.
import type { LlamaModelFile } from '../src/formats/config';
import { ropeTable } from '../src/gpu/kernels/rope';
import { flatRows, type GpuJs, type GpuJsKernel, type Resident } from './gpujs';

interface LayerHandles {
  attnNorm: Resident;
  wq: Resident;
  wk: Resident;
  wv: Resident;
  wo: Resident;
  ffnNorm: Resident;
  w1: Resident;
  w2: Resident;
  w3: Resident;
}

export class GpuJsLlama {
  private constructor(
    // biome-ignore lint/correctness/noUnusedPrivateClassMembers: keeps the gpu.js instance (and its kernels' context) alive as long as the model
    private readonly g: GpuJs,
    private readonly file: LlamaModelFile,
    readonly B: number,
    readonly T: number,
    private readonly w: { embed: Resident; layers: LayerHandles[]; finalNorm: Resident; cls: Resident; rope: Resident },
    private readonly k: Record<string, GpuJsKernel>,
  ) {}

  /** Uploads the weights and builds the kernels for B sequences of T tokens. */
  static async create(g: GpuJs, file: LlamaModelFile, B: number, T: number): Promise<GpuJsLlama> {
    const c = file.config;
    const W = file.weights;
    if (T > c.seqLen) throw new Error(`gpu.js forward: T ${T} exceeds the context ${c.seqLen}`);
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const up2 = (a: Float32Array, rows: number, cols: number) => g.upload2d(a, rows, cols);
    const layers: LayerHandles[] = [];
    for (const L of W.layers) {
      layers.push({
        attnNorm: await g.upload1d(L.attnNorm),
        wq: await up2(L.wq, qDim, c.dim),
        wk: await up2(L.wk, kvDim, c.dim),
        wv: await up2(L.wv, kvDim, c.dim),
        wo: await up2(L.wo, c.dim, qDim),
        ffnNorm: await g.upload1d(L.ffnNorm),
        w1: await up2(L.w1, c.hiddenDim, c.dim),
        w2: await up2(L.w2, c.dim, c.hiddenDim),
        w3: await up2(L.w3, c.hiddenDim, c.dim),
      });
    }
    const embed = await up2(W.tokenEmbedding, c.vocabSize, c.dim);
    const weights = {
      embed,
      layers,
      finalNorm: await g.upload1d(W.finalNorm),
      cls: c.sharedClassifier ? embed : await up2(W.classifier, c.vocabSize, c.dim),
      rope: await up2(ropeTable(T, c.headDim, c.ropeTheta), T, c.headDim), // [pos][2p] = cos, [2p + 1] = sin
    };
    const rows = B * T;
    const P = { pipeline: true };
    const mm = (N: number, K: number, pipeline = true) => g.matmulKernel(rows, N, K, pipeline);
    const mmAdd = (N: number, K: number) =>
      g.kernel(
        function (this: any, x: any, w: any, res: any) {
          let s = 0;
          for (let k = 0; k < this.constants.K; k++) {
            s += x[this.thread.y][k] * w[this.thread.x][k];
          }
          return res[this.thread.y][this.thread.x] + s;
        },
        { ...P, output: [N, rows], constants: { K } },
      );
    const rope = (nHeads: number) =>
      g.kernel(
        function (this: any, x: any, table: any) {
          const col = this.thread.x;
          const row = this.thread.y;
          const hd = this.constants.headDim;
          const half = hd / 2;
          const pos = row % this.constants.T;
          const i = col % hd;
          if (this.constants.style === 0) {
            const p = Math.floor(i / 2);
            const cs = table[pos][2 * p];
            const sn = table[pos][2 * p + 1];
            if (i % 2 === 0) return x[row][col] * cs - x[row][col + 1] * sn;
            return x[row][col - 1] * sn + x[row][col] * cs;
          }
          const p2 = i % half;
          const cs2 = table[pos][2 * p2];
          const sn2 = table[pos][2 * p2 + 1];
          if (i < half) return x[row][col] * cs2 - x[row][col + half] * sn2;
          return x[row][col - half] * sn2 + x[row][col] * cs2;
        },
        { ...P, output: [nHeads * c.headDim, rows], constants: { headDim: c.headDim, T, style: c.ropeStyle === 'adjacent' ? 0 : 1 } },
      );
    const heads = { T, nHeads: c.nHeads, group: c.nHeads / c.nKvHeads, headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim) };
    const k: Record<string, GpuJsKernel> = {
      embed: g.kernel(
        function (this: any, table: any, tokens: any) {
          return table[tokens[this.thread.y]][this.thread.x];
        },
        { ...P, output: [c.dim, rows] },
      ),
      // 1 / rms of each row, then x * inv * weight
      rmsInv: g.kernel(
        function (this: any, x: any) {
          let s = 0;
          for (let k = 0; k < this.constants.dim; k++) {
            const v = x[this.thread.x][k];
            s += v * v;
          }
          return 1 / Math.sqrt(s / this.constants.dim + this.constants.eps);
        },
        { ...P, output: [rows], constants: { dim: c.dim, eps: c.normEps } },
      ),
      rmsApply: g.kernel(
        function (this: any, x: any, inv: any, w: any) {
          return x[this.thread.y][this.thread.x] * inv[this.thread.y] * w[this.thread.x];
        },
        { ...P, output: [c.dim, rows] },
      ),
      q: mm(qDim, c.dim),
      k: mm(kvDim, c.dim),
      v: mm(kvDim, c.dim),
      ropeQ: rope(c.nHeads),
      ropeK: rope(c.nKvHeads),
      // scores[row * nHeads + h][j] = q . k_j * scale for j <= t (causal), else unused
      scores: g.kernel(
        function (this: any, q: any, kk: any) {
          const j = this.thread.x;
          const r = Math.floor(this.thread.y / this.constants.nHeads);
          const h = this.thread.y % this.constants.nHeads;
          const t = r % this.constants.T;
          if (j > t) return -1e30;
          const kr = r - t + j;
          const kvh = Math.floor(h / this.constants.group);
          const hd = this.constants.headDim;
          let s = 0;
          for (let d = 0; d < this.constants.headDim; d++) {
            s += q[r][h * hd + d] * kk[kr][kvh * hd + d];
          }
          return s * this.constants.scale;
        },
        { ...P, output: [T, rows * c.nHeads], constants: heads },
      ),
      rowMax: g.kernel(
        function (this: any, s: any) {
          const t = Math.floor(this.thread.x / this.constants.nHeads) % this.constants.T;
          let m = -1e30;
          for (let j = 0; j < this.constants.T; j++) {
            if (j <= t) m = Math.max(m, s[this.thread.x][j]);
          }
          return m;
        },
        { ...P, output: [rows * c.nHeads], constants: heads },
      ),
      rowSum: g.kernel(
        function (this: any, s: any, mx: any) {
          const t = Math.floor(this.thread.x / this.constants.nHeads) % this.constants.T;
          let l = 0;
          for (let j = 0; j < this.constants.T; j++) {
            if (j <= t) l += Math.exp(s[this.thread.x][j] - mx[this.thread.x]);
          }
          return l;
        },
        { ...P, output: [rows * c.nHeads], constants: heads },
      ),
      attend: g.kernel(
        function (this: any, s: any, mx: any, sm: any, vv: any) {
          const hd = this.constants.headDim;
          const r = this.thread.y;
          const h = Math.floor(this.thread.x / hd);
          const d = this.thread.x % hd;
          const t = r % this.constants.T;
          const i = r * this.constants.nHeads + h;
          const kvh = Math.floor(h / this.constants.group);
          let acc = 0;
          for (let j = 0; j < this.constants.T; j++) {
            if (j <= t) acc += Math.exp(s[i][j] - mx[i]) * vv[r - t + j][kvh * hd + d];
          }
          return acc / sm[i];
        },
        { ...P, output: [qDim, rows], constants: heads },
      ),
      oRes: mmAdd(c.dim, qDim),
      gate: mm(c.hiddenDim, c.dim),
      up: mm(c.hiddenDim, c.dim),
      swiglu: g.kernel(
        function (this: any, gt: any, u: any) {
          const x = gt[this.thread.y][this.thread.x];
          return (x / (1 + Math.exp(-x))) * u[this.thread.y][this.thread.x];
        },
        { ...P, output: [c.hiddenDim, rows] },
      ),
      downRes: mmAdd(c.dim, c.hiddenDim),
      head: mm(c.vocabSize, c.dim, false),
    };
    return new GpuJsLlama(g, file, B, T, weights, k);
  }

  /** Logits of every row: [B * T, vocab] (row = b * T + t), read back to the host. */
  async forward(tokens: ArrayLike<number>): Promise<Float32Array> {
    const c = this.file.config;
    const rows = this.B * this.T;
    if (tokens.length !== rows) throw new Error(`gpu.js forward: ${tokens.length} tokens, expected ${rows}`);
    const k = this.k;
    const w = this.w;
    const run = async (kernel: GpuJsKernel, ...args: unknown[]) => kernel(...args.map((a) => (isResident(a) ? a.handle : a)));
    const norm = async (x: unknown, weight: Resident) => run(k.rmsApply, x, await run(k.rmsInv, x), weight);
    let x = await run(k.embed, w.embed, Float32Array.from(tokens));
    for (const L of w.layers) {
      // attention block: xb = rmsnorm(x); q, k, v; RoPE; causal softmax(q k^T) v; x += att Wo^T
      const xb = await norm(x, L.attnNorm);
      const q = await run(k.ropeQ, await run(k.q, xb, L.wq), w.rope);
      const kk = await run(k.ropeK, await run(k.k, xb, L.wk), w.rope);
      const v = await run(k.v, xb, L.wv);
      const s = await run(k.scores, q, kk);
      const mx = await run(k.rowMax, s);
      const sm = await run(k.rowSum, s, mx);
      const att = await run(k.attend, s, mx, sm, v);
      x = await run(k.oRes, att, L.wo, x);
      // feed-forward block: x += (silu(xb W1^T) * (xb W3^T)) W2^T
      const xf = await norm(x, L.ffnNorm);
      const act = await run(k.swiglu, await run(k.gate, xf, L.w1), await run(k.up, xf, L.w3));
      x = await run(k.downRes, act, L.w2, x);
    }
    const logits = await run(k.head, await norm(x, w.finalNorm), w.cls);
    return flatRows(logits, rows, c.vocabSize);
  }

  destroy(): void {
    for (const kern of Object.values(this.k)) kern.destroy?.();
  }
}

function isResident(a: unknown): a is Resident {
  return !!a && typeof a === 'object' && 'handle' in a && 'rows' in a && 'cols' in a;
}
