// The Llama forward pass, recorded once for a batch shape and replayed (read it like llama2.c's
// forward()). A batch is B right-padded sequences of T tokens, row = b * T + t. With a KV cache
// the pass handles T new tokens per sequence at positions pos0 .. pos0 + T - 1 (generation);
// without one it handles a whole sequence from position 0 (scoring, training).
import { attention, type AttentionShape } from '../gpu/kernels/attention';
import { gather, gatherRows, gatherWeight } from '../gpu/kernels/gather';
import { chooseMatmul, matmulWeight, setMatmulRows } from '../gpu/kernels/matmul';
import { FUSABLE_MATMULS, fuseLoraEnabled, matmulLora } from '../gpu/kernels/matmul_lora';
import { rmsnorm, rmsnormRows } from '../gpu/kernels/rmsnorm';
import { rope, ropeParams, type RopeShape } from '../gpu/kernels/rope';
import { addRow, elementwise, elementwiseCount, swiglu } from '../gpu/kernels/swiglu';
import { attentionParams } from '../gpu/kernels/attention';
import { grid1d, type Dispatch } from '../gpu/kernel';
import { mplora, type MploraShape } from '../gpu/kernels/mplora';
import { StepBlock } from '../gpu/step_block';
import type { LinearAdapters, Target } from './targets';
import { CopyRows, Program } from '../gpu/program';
import { Tensor, tensor } from '../gpu/tensor';
import type { Weight } from '../gpu/weight';
import type { Model } from './model';

/** Keys and values of past positions, per layer: [B * capacity, nKvHeads * headDim]. */
export class KvCache {
  /** @internal */
  readonly k: Tensor[];
  /** @internal */
  readonly v: Tensor[];
  constructor(
    model: Model,
    readonly B: number,
    readonly capacity: number,
  ) {
    const c = model.config;
    const kvDim = c.nKvHeads * c.headDim;
    this.k = [];
    this.v = [];
    for (let l = 0; l < c.nLayers; l++) {
      this.k.push(tensor(model.gpu, `kv_cache.${l}.k`, [B * capacity, kvDim], 'activations'));
      this.v.push(tensor(model.gpu, `kv_cache.${l}.v`, [B * capacity, kvDim], 'activations'));
    }
  }

  destroy(): void {
    for (const t of [...this.k, ...this.v]) t.destroy();
  }
}

export interface ForwardShape {
  B: number; // sequences
  T: number; // tokens per sequence in this pass
  nSelect: number; // most rows whose logits are computed (the LM head runs on these only)
  cache?: KvCache; // generation: attend to cached positions too
  lora?: LinearAdapters; // adapters on the target linears (MP-LoRA)
  slots?: number; // P: perturbation slots; the B sequences are P slots of B / P (slot-major)
  q?: number; // queries of the perturbations (slot g uses query g % q); default 1
  /** The ZO step's uniforms (seed, slot base, eps); default: a block of the pass's own, eps 0 (plain LoRA). @internal */
  step?: StepBlock;
  /** Fold each P-RGE MP-LoRA term into its f32 register-blocked matmul (matmul_lora); default: on the ZO step's passes (`step` given), per MOBIZO_FUSE_LORA / FUSE_LORA_DEFAULT. */
  fuseLora?: boolean;
}

/** Activations of one pass; every buffer is allocated once for the shape. */
interface RunState {
  tokens: Tensor; // [rows] u32
  x: Tensor; // [rows, dim] residual stream
  xb: Tensor; // [rows, dim] normalised input of a sub-block
  q: Tensor; // [rows, nHeads * headDim]
  qr: Tensor; // [rows, nHeads * headDim] q after RoPE
  k: Tensor; // [rows, kvDim]
  kr: Tensor; // [rows, kvDim] k after RoPE
  v: Tensor; // [rows, kvDim]
  att: Tensor; // [rows, nHeads * headDim] attention output
  gate: Tensor; // [rows, hiddenDim]
  up: Tensor; // [rows, hiddenDim]
  act: Tensor; // [rows, hiddenDim] silu(gate) * up
  select: Tensor; // [nSelect] u32 rows of x that reach the LM head
  xs: Tensor; // [nSelect, dim] selected rows
  xsn: Tensor; // [nSelect, dim] after the final norm
  logits: Tensor; // [nSelect, vocabSize]
  ax: Tensor | null; // [rows, rank] x A^T of the current LoRA target
  qn: Tensor | null; // [rows, nHeads * headDim] q after its per-head RMSNorm (Qwen3)
  kn: Tensor | null; // [rows, kvDim] k after its per-head RMSNorm
  zeros: Tensor | null; // [rows] u32 zeros: every row gathers the one bias row (Qwen2)
  sub: Tensor | null; // [rows, dim] a sub-block's output before its post-norm (Gemma)
}

export class ForwardPass {
  /** @internal */
  readonly program: Program;
  /** @internal */
  readonly state: RunState;
  readonly rows: number;
  private pos0 = 0;
  private readonly ropePositions: number; // rows of the RoPE tables the pass reads
  private readonly positional: { d: Dispatch; kind: 'rope' | 'attention'; shape: RopeShape | AttentionShape; stride: number }[] = [];
  private readonly cacheCopies: CopyRows[] = [];
  private readonly head: { gather: Dispatch; norm: Dispatch; matmul: Dispatch[]; softcap?: Dispatch }; // matmul: one per row block of a split LM head
  private activeSelect: number;
  readonly rowsPerSlot: number;
  /** The step block every MP-LoRA dispatch reads its perturbation from. @internal */
  readonly step: StepBlock;
  private readonly ownStep: boolean;

  constructor(
    readonly model: Model,
    readonly shape: ForwardShape,
  ) {
    const { B, T, nSelect, cache, lora } = shape;
    const P = shape.slots ?? 1;
    if (!Number.isInteger(P) || P < 1 || B % P !== 0) throw new Error(`forward: ${B} sequences are not ${P} equal slots`);
    const c = model.config;
    const ks = model.kernels;
    const W = model.weights;
    const rows = B * T;
    this.rows = rows;
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    if (cache && cache.B !== B) throw new Error(`forward: cache holds ${cache.B} sequences, batch has ${B}`);
    const S = cache ? cache.capacity : T;
    if (T > c.seqLen) throw new Error(`forward: ${T} tokens per sequence exceed the model's context of ${c.seqLen}`);
    const act = (name: string, shape: number[], dtype: 'f32' | 'u32' = 'f32') =>
      tensor(model.gpu, `${name}[${B}x${T}]`, shape, 'activations', { dtype });
    const s: RunState = {
      tokens: act('tokens', [rows], 'u32'),
      x: act('x', [rows, c.dim]),
      xb: act('xb', [rows, c.dim]),
      q: act('q', [rows, qDim]),
      qr: act('q_rope', [rows, qDim]),
      k: act('k', [rows, kvDim]),
      kr: act('k_rope', [rows, kvDim]),
      v: act('v', [rows, kvDim]),
      att: act('att', [rows, qDim]),
      gate: act('ffn_gate', [rows, c.hiddenDim]),
      up: act('ffn_up', [rows, c.hiddenDim]),
      act: act('ffn_act', [rows, c.hiddenDim]),
      select: act('select', [nSelect], 'u32'),
      xs: act('x_select', [nSelect, c.dim]),
      xsn: act('x_select_norm', [nSelect, c.dim]),
      logits: act('logits', [nSelect, c.vocabSize]),
      ax: lora ? act('lora_ax', [rows, lora.config.rank]) : null,
      qn: W.layers.some((L) => L.qNorm) ? act('q_norm', [rows, qDim]) : null,
      kn: W.layers.some((L) => L.kNorm) ? act('k_norm', [rows, kvDim]) : null,
      zeros: W.layers.some((L) => L.bq || L.bk || L.bv)
        ? tensor(model.gpu, `zeros[${B}x${T}]`, [rows], 'activations', { dtype: 'u32', data: new Uint32Array(rows) })
        : null,
      sub: W.layers.some((L) => L.postAttnNorm || L.postFfnNorm) ? act('sub_out', [rows, c.dim]) : null,
    };
    this.rowsPerSlot = rows / P;
    this.ownStep = !shape.step;
    this.step = shape.step ?? new StepBlock(model.gpu, `forward[${B}x${T}].step`);
    // Fused only on the ZO step's passes (the perturbed term is where it pays); inference keeps
    // matmul + the adapter kernel, so one adapter's logits equal its row's in a multi-adapter pass bit for bit.
    const fuse = shape.fuseLora ?? (!!shape.step && fuseLoraEnabled());
    this.activeSelect = nSelect;
    this.state = s;
    const p = new Program(`forward[${B}x${T}]`);
    const ropeShape = (nHeads: number): RopeShape => ({ T, pos0: 0, nHeads, headDim: c.headDim, style: c.ropeStyle });
    const ropes = model.rope(S); // tables of the positions this pass can reach (T, or the cache's capacity)
    this.ropePositions = ropes.positions;
    // the same buffer seen as one row per head: [rows * n, headDim]
    const heads = (t: Tensor, n: number) => new Tensor(t.gpu, t.buffer, `${t.label}.heads`, [t.shape[0] * n, c.headDim], t.dtype);
    const attShape = (l: number): AttentionShape => ({
      B, T, S, pos0: 0, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim,
      ...(c.attnScale !== undefined ? { scale: c.attnScale } : {}),
      ...(c.slidingLayers?.[l] ? { window: c.slidingWindow } : {}),
    });
    // x += rmsnorm(y W^T) (Gemma's post-norm), or y W^T accumulated into x directly (+ a bias row: Llama's o bias)
    const residual = (l: number, what: string, target: Target, y: Tensor, w: Weight, postNorm?: Tensor, bias?: Tensor) => {
      if (postNorm) {
        if (bias) throw new Error(`forward: layer ${l} has both a post-norm and a ${target} bias`);
        linear(l, target, y, w, s.sub!);
        p.add(rmsnorm(ks, `l${l}.post_${what}_norm`, s.sub!, postNorm, s.x, c.normEps, true));
        return;
      }
      linear(l, target, y, w, s.x, true);
      if (bias) p.add(addRow(ks, `l${l}.${target}.bias`, s.x, bias));
    };

    // y = x W^T (+ y, or + bias: y = bias first), plus the target's MP-LoRA term when it has an adapter
    const linear = (l: number, target: Target, x: Tensor, w: Weight, y: Tensor, accumulate = false, bias?: Tensor) => {
      if (bias) p.add(gather(ks, `l${l}.${target}.bias`, bias, s.zeros!, y));
      const ad = lora?.layers[l][target];
      const ms: MploraShape | null = ad ? { rowsPerSlot: this.rowsPerSlot, q: shape.q ?? 1, scale: lora!.scale, tensor: ad.id, zo: ad.zo } : null;
      // the fused form: ax = x A^T first, then x W^T and the MP-LoRA term in one dispatch
      const variant = fuse && ad && !ad.epilogue && !ad.zo && w instanceof Tensor && w.dtype === 'f32' ? chooseMatmul(ks, rows, w.shape[0], x.shape[1], 'f32') : '';
      if (ad && ms && variant in FUSABLE_MATMULS) {
        p.add(...matmulWeight(ks, `l${l}.${target}.lora_a`, x, ad.A, s.ax!));
        p.add(matmulLora(ks, `l${l}.${target}+lora`, x, w as Tensor, s.ax!, ad.B, y, ms, this.step, accumulate || bias !== undefined, variant));
        return;
      }
      p.add(...matmulWeight(ks, `l${l}.${target}`, x, w, y, accumulate || bias !== undefined));
      if (!ad || !ms) return;
      p.add(...matmulWeight(ks, `l${l}.${target}.lora_a`, x, ad.A, s.ax!));
      if (ad.epilogue) return void p.add(ad.epilogue(ks, `l${l}.${target}.lora_b`, s.ax!, y, T));
      p.add(mplora(ks, `l${l}.${target}.mplora`, s.ax!, ad.B, y, ms, this.step));
    };

    // x = token embedding (Gemma: times sqrt(dim))
    p.add(...gatherWeight(ks, 'embed', W.tokenEmbedding, s.tokens, s.x));
    if (c.embedScale !== undefined) p.add(elementwise(ks, 'embed_scale', 'scale', s.x, c.embedScale));
    W.layers.forEach((L, l) => {
      // attention: xb = rmsnorm(x); q, k, v = xb Wq^T (+ bq), xb Wk^T (+ bk), xb Wv^T (+ bv)
      p.add(rmsnorm(ks, `l${l}.attn_norm`, s.x, L.attnNorm, s.xb, c.normEps));
      linear(l, 'q', s.xb, L.wq, s.q, false, L.bq);
      linear(l, 'k', s.xb, L.wk, s.k, false, L.bk);
      linear(l, 'v', s.xb, L.wv, s.v, false, L.bv);
      // Qwen3, Gemma: RMSNorm of each head of q and k (rows * heads rows of headDim)
      let q = s.q;
      let k = s.k;
      if (L.qNorm && L.kNorm) {
        p.add(rmsnorm(ks, `l${l}.q_norm`, heads(s.q, c.nHeads), L.qNorm, heads(s.qn!, c.nHeads), c.normEps));
        p.add(rmsnorm(ks, `l${l}.k_norm`, heads(s.k, c.nKvHeads), L.kNorm, heads(s.kn!, c.nKvHeads), c.normEps));
        q = s.qn!;
        k = s.kn!;
      }
      // rotate q and k by position (Gemma's sliding layers: by the local RoPE)
      const table = c.slidingLayers?.[l] && ropes.local ? ropes.local : ropes.global;
      const rq = rope(ks, `l${l}.rope_q`, q, table, s.qr, ropeShape(c.nHeads));
      const rk = rope(ks, `l${l}.rope_k`, k, table, s.kr, ropeShape(c.nKvHeads));
      p.add(rq, rk);
      this.positional.push({ d: rq, kind: 'rope', shape: ropeShape(c.nHeads), stride: 0 });
      this.positional.push({ d: rk, kind: 'rope', shape: ropeShape(c.nKvHeads), stride: 0 });
      // keys and values: this pass's own, or appended to the cache at pos0
      let keys = s.kr;
      let values = s.v;
      if (cache) {
        for (let b = 0; b < B; b++) {
          const ck = new CopyRows(`l${l}.cache_k.${b}`, s.kr, b * T, cache.k[l], b * S, T, kvDim);
          const cv = new CopyRows(`l${l}.cache_v.${b}`, s.v, b * T, cache.v[l], b * S, T, kvDim);
          this.cacheCopies.push(ck, cv);
          p.add(ck, cv);
        }
        keys = cache.k[l];
        values = cache.v[l];
      }
      // causal grouped-query attention (Gemma's sliding layers: within the window), then x += att Wo^T
      const ad = attention(ks, `l${l}.attention`, s.qr, keys, values, s.att, attShape(l));
      this.positional.push({ d: ad, kind: 'attention', shape: attShape(l), stride: grid1d(rows * c.nHeads).stride });
      p.add(ad);
      residual(l, 'attn', 'o', s.att, L.wo, L.postAttnNorm, L.bo);
      // feed-forward: xb = rmsnorm(x); x += (act(xb W1^T) * (xb W3^T)) W2^T, act silu (Gemma: tanh GELU)
      p.add(rmsnorm(ks, `l${l}.ffn_norm`, s.x, L.ffnNorm, s.xb, c.normEps));
      linear(l, 'gate', s.xb, L.w1, s.gate);
      linear(l, 'up', s.xb, L.w3, s.up);
      p.add(swiglu(ks, `l${l}.swiglu`, s.gate, s.up, s.act, c.ffnActivation));
      residual(l, 'ffn', 'down', s.act, L.w2, L.postFfnNorm);
    });
    // LM head on the selected rows only: logits = rmsnorm(x[select]) Wcls^T (Gemma: soft-capped)
    this.head = {
      gather: gather(ks, 'select', s.x, s.select, s.xs),
      norm: rmsnorm(ks, 'final_norm', s.xs, W.finalNorm, s.xsn, c.normEps),
      matmul: matmulWeight(ks, 'lm_head', s.xsn, W.classifier, s.logits),
      ...(c.finalSoftcap !== undefined ? { softcap: elementwise(ks, 'logit_softcap', 'softcap', s.logits, c.finalSoftcap) } : {}),
    };
    p.add(this.head.gather, this.head.norm, ...this.head.matmul, ...(this.head.softcap ? [this.head.softcap] : []));
    this.program = p;
  }

  /**
   * Uploads the tokens ([B * T], right-padded), the rows whose logits are wanted and, with a
   * cache, the position of the first token. Token ids are checked here.
   */
  setInput(tokens: ArrayLike<number>, select: ArrayLike<number>, pos0 = 0): void {
    const { B, T, nSelect, cache } = this.shape;
    const c = this.model.config;
    if (tokens.length !== B * T) throw new Error(`forward: got ${tokens.length} tokens, the pass takes ${B} x ${T}`);
    if (select.length < 1 || select.length > nSelect) throw new Error(`forward: got ${select.length} selected rows, the pass takes 1..${nSelect}`);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new Error(`forward: token ${t} at ${i} is outside the vocabulary [0, ${c.vocabSize})`);
    }
    for (let i = 0; i < select.length; i++) {
      if (!Number.isInteger(select[i]) || select[i] < 0 || select[i] >= B * T) throw new Error(`forward: selected row ${select[i]} outside [0, ${B * T})`);
    }
    const S = cache ? cache.capacity : T;
    if (pos0 + T > S) throw new Error(`forward: positions up to ${pos0 + T} exceed the context of ${S}`);
    this.state.tokens.write(Uint32Array.from(tokens));
    this.state.select.write(Uint32Array.from(select));
    if (select.length !== this.activeSelect) this.setActiveSelect(select.length);
    if (pos0 !== this.pos0) this.setPosition(pos0);
  }

  /** The LM head runs on the first n selected rows only (the grid stays; extra groups exit). */
  private setActiveSelect(n: number): void {
    this.activeSelect = n;
    gatherRows(this.head.gather, n);
    rmsnormRows(this.head.norm, n);
    setMatmulRows(this.head.matmul, n);
    if (this.head.softcap) elementwiseCount(this.head.softcap, n * this.model.config.vocabSize);
  }

  get selectedRows(): number {
    return this.activeSelect;
  }

  private setPosition(pos0: number): void {
    if (!this.shape.cache && pos0 !== 0) throw new Error('forward: a pass without a KV cache starts at position 0');
    this.pos0 = pos0;
    const maxPos = this.ropePositions;
    for (const it of this.positional) {
      if (it.kind === 'rope') it.d.setParams(ropeParams(this.rows, { ...(it.shape as RopeShape), pos0 }, maxPos));
      else it.d.setParams(attentionParams({ ...(it.shape as AttentionShape), pos0 }, it.stride));
    }
    const S = this.shape.cache!.capacity;
    const T = this.shape.T;
    for (const cp of this.cacheCopies) {
      const b = Math.floor(cp.srcRow / T);
      cp.dstRow = b * S + pos0;
    }
  }

  encode(encoder: GPUCommandEncoder): void {
    this.program.encode(encoder);
  }

  /** Runs the pass and reads the logits back: [nSelect][vocabSize]. */
  async run(tokens: ArrayLike<number>, select: ArrayLike<number>, pos0 = 0): Promise<Float32Array> {
    this.setInput(tokens, select, pos0);
    const enc = this.model.gpu.device.createCommandEncoder({ label: this.program.label });
    this.encode(enc);
    this.model.gpu.device.queue.submit([enc.finish()]);
    return this.state.logits.read();
  }

  destroy(): void {
    for (const t of Object.values(this.state)) t?.destroy();
    for (const d of this.program.dispatches()) d.destroy();
    if (this.ownStep) this.step.destroy();
  }
}
