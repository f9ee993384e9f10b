// The ZO-overhead baseline: inference at a prge step's rows (2q copies of the batch) with the
// same loss head (xent + per-slot loss of the labelled rows) and the same readback (3q + 1
// floats through a mapped buffer), so "prge step / baseline" counts only what training adds:
// the MP-LoRA terms, the projected gradients and the updates. (Reading every logit back instead
// would divide by 4 MiB at q = 4 on stories260K, ~262 MB with a 32000 vocab.)
import { CopyBuffer } from '../src/gpu/program';
import { tensor, type Tensor } from '../src/gpu/tensor';
import type { Model } from '../src/model/model';
import { ForwardPass } from '../src/model/forward';
import { LossHead, labelledRows } from '../src/eval/loss_head';
import type { TokenBatch } from '../src/data/batch';

export class LossForward {
  readonly forward: ForwardPass;
  readonly head: LossHead;
  readonly rows: number; // sequences of the pass: 2q x Bsz
  private readonly losses: Tensor;
  private readonly readback: GPUBuffer;
  private readonly copy: CopyBuffer;

  constructor(
    readonly model: Model,
    readonly q: number,
    readonly batch: number,
    readonly seq: number,
  ) {
    const slots = 2 * q;
    this.rows = slots * batch;
    this.forward = new ForwardPass(model, { B: this.rows, T: seq, nSelect: this.rows * seq, slots, q });
    this.losses = tensor(model.gpu, 'baseline.losses', [3 * q + 1], 'scratch');
    this.head = new LossHead(this.forward, 'baseline', { losses: this.losses, norm: 0, group: 0 });
    this.readback = model.gpu.createBuffer('baseline.readback', (3 * q + 1) * 4, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ, 'readback');
    this.copy = new CopyBuffer('baseline.readback', this.losses.buffer, 0, this.readback, 0, (3 * q + 1) * 4);
  }

  /** Uploads the batch in every slot, runs forward + loss head, reads the 3q + 1 floats back. */
  async run(b: TokenBatch): Promise<Float32Array> {
    const n = this.batch * this.seq;
    const tokens = new Int32Array(2 * this.q * n);
    const sel = { rows: [] as number[], labels: [] as number[] };
    for (let slot = 0; slot < 2 * this.q; slot++) {
      tokens.set(b.tokens, slot * n);
      labelledRows(b.labels, slot * n, sel.rows, sel.labels);
    }
    this.forward.setInput(tokens, sel.rows);
    this.head.setLabels(sel.labels);
    this.head.program.submit(this.model.gpu.device, [this.copy]);
    await this.readback.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(this.readback.getMappedRange().slice(0));
    this.readback.unmap();
    return out;
  }

  destroy(): void {
    this.head.destroy();
    this.forward.destroy();
    this.losses.destroy();
    this.model.gpu.destroyBuffer(this.readback);
  }
}
