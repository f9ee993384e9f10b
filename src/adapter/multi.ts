// Many LoRA adapters in one pass over a shared base model: every sequence of a batch uses its own
// adapter (or none), and each adapter has its own rank, alpha and targets. Per target linear, the
// A of every adapter on it is packed into one [width, in] matrix (one matmul gives x A^T for all
// of them) and the B into one buffer with an offset table, so a pass records the same two
// dispatches per target whatever the number of adapters (shaders/multi_lora.wgsl). The forward
// pass sees an ordinary LinearAdapters whose adapters carry the multi_lora epilogue.
import type { Gpu } from '../gpu/device';
import { multiLora, multiLoraTable, type MultiLoraPack } from '../gpu/kernels/multi_lora';
import { tensor, type Tensor } from '../gpu/tensor';
import type { LlamaConfig } from '../formats/config';
import { TARGETS, targetShape, type LinearAdapter, type LinearAdapters, type Target } from '../model/targets';
import type { AdapterTensors } from './peft';

/** seqAdapter entry of a sequence that runs the base model only. */
const NONE = 0xffffffff;

interface PackedTarget extends LinearAdapter {
  pack: MultiLoraPack;
}

export class MultiAdapters implements LinearAdapters {
  /** rank: columns of x A^T, the widest target's sum of ranks. */
  readonly config: { readonly rank: number };
  readonly scale = 1; // each adapter's alpha / r is in the offset tables
  /** @internal */
  readonly layers: Partial<Record<Target, PackedTarget>>[];
  /** Adapter of each sequence (u32; NONE: base model). */
  private readonly seqAdapter: Tensor;

  private constructor(
    readonly count: number,
    readonly maxSequences: number,
    width: number,
    layers: Partial<Record<Target, PackedTarget>>[],
    seqAdapter: Tensor,
  ) {
    this.config = { rank: width };
    this.layers = layers;
    this.seqAdapter = seqAdapter;
  }

  /**
   * Uploads `adapters` (host tensors, e.g. read from PEFT files) for passes of up to `maxSequences`
   * sequences. Every sequence starts on the base model; `assign` picks their adapters.
   */
  static create(gpu: Gpu, model: LlamaConfig, adapters: readonly AdapterTensors[], maxSequences: number): MultiAdapters {
    if (!adapters.length) throw new Error('multi-adapter: no adapters');
    if (!Number.isInteger(maxSequences) || maxSequences < 1) throw new Error(`multi-adapter: maxSequences must be a positive integer, got ${maxSequences}`);
    adapters.forEach((a, i) => {
      if (!Number.isInteger(a.rank) || a.rank < 1) throw new Error(`multi-adapter: adapter ${i} has rank ${a.rank}, expected a positive integer`);
      if (!(a.alpha > 0)) throw new Error(`multi-adapter: adapter ${i} has alpha ${a.alpha}, expected > 0`);
      if (a.layers.length !== model.nLayers) throw new Error(`multi-adapter: adapter ${i} has ${a.layers.length} layers, the model ${model.nLayers}`);
    });
    const ranksOn = (t: Target) => adapters.map((a) => (a.targets.includes(t) ? a.rank : 0));
    const width = Math.max(...TARGETS.map((t) => ranksOn(t).reduce((s, r) => s + r, 0)));
    const scales = adapters.map((a) => a.alpha / a.rank);
    const seq = tensor(gpu, 'multi_lora.seq_adapter', [maxSequences], 'adapters', { dtype: 'u32', data: new Uint32Array(maxSequences).fill(NONE) });
    const layers = Array.from({ length: model.nLayers }, (_, l) => {
      const entry: Partial<Record<Target, PackedTarget>> = {};
      for (const t of TARGETS) {
        const ranks = ranksOn(t);
        const sum = ranks.reduce((s, r) => s + r, 0);
        if (!sum) continue;
        const { in: nIn, out: nOut } = targetShape(model, t);
        const A = new Float32Array(width * nIn); // rows past `sum` stay 0
        const B = new Float32Array(sum * nOut);
        let at = 0;
        adapters.forEach((a, i) => {
          if (!ranks[i]) return;
          const h = a.layers[l][t];
          const r = ranks[i];
          if (!h) throw new Error(`multi-adapter: adapter ${i} has no ${t} tensors for layer ${l}`);
          if (h.A.length !== r * nIn || h.B.length !== nOut * r) {
            throw new Error(`multi-adapter: adapter ${i} layer ${l} ${t}: A has ${h.A.length} values, B ${h.B.length}; expected [${r}, ${nIn}] and [${nOut}, ${r}]`);
          }
          A.set(h.A, at * nIn);
          B.set(h.B, at * nOut);
          at += r;
        });
        const pack: MultiLoraPack = {
          b: tensor(gpu, `multi_lora.${l}.${t}.B`, [sum * nOut], 'adapters', { data: B }),
          table: tensor(gpu, `multi_lora.${l}.${t}.table`, [adapters.length * 4], 'adapters', { dtype: 'u32', data: multiLoraTable(ranks, scales, nOut) }),
          adapters: adapters.length,
          ranks,
        };
        entry[t] = {
          A: tensor(gpu, `multi_lora.${l}.${t}.A`, [width, nIn], 'adapters', { data: A }),
          B: pack.b,
          id: -1,
          pack,
          epilogue: (ks, label, ax, y, rowsPerSeq) => multiLora(ks, label, ax, pack, seq, y, rowsPerSeq),
        };
      }
      return entry;
    });
    return new MultiAdapters(adapters.length, maxSequences, width, layers, seq);
  }

  /**
   * Sets the adapter of each sequence of the next passes: index into the adapters, or -1 for the
   * base model; sequences past the list's end run the base model.
   */
  assign(perSequence: ArrayLike<number>): void {
    if (perSequence.length > this.maxSequences) throw new Error(`multi-adapter: ${perSequence.length} sequences assigned, at most ${this.maxSequences}`);
    const t = new Uint32Array(this.maxSequences).fill(NONE);
    for (let s = 0; s < perSequence.length; s++) {
      const i = perSequence[s];
      if (!Number.isInteger(i) || i < -1 || i >= this.count) throw new Error(`multi-adapter: sequence ${s} is assigned adapter ${i}, expected -1 (base) or 0..${this.count - 1}`);
      if (i >= 0) t[s] = i;
    }
    this.seqAdapter.write(t);
  }

  /** Sequences a * perAdapter .. (a + 1) * perAdapter - 1 use adapter a: the same rows once per adapter. */
  assignCopies(perAdapter: number): void {
    this.assign(Array.from({ length: this.count * perAdapter }, (_, s) => Math.floor(s / perAdapter)));
  }

  destroy(): void {
    for (const e of this.layers) for (const a of Object.values(e)) (a.A as Tensor).destroy(), a.pack.b.destroy(), a.pack.table.destroy();
    this.seqAdapter.destroy();
  }
}
