// The ZO optimizers of a step: how each B is perturbed and updated from the step's slot losses.
// All of them ride the same pass (prge: one pass, one submit, no host wait) and regenerate Z from
// the step seed; none stores Z. With the projected gradient g_i = (L+_i - L-_i) / (2 eps) of
// query i (zo_grad), the estimate ghat = 1/q sum_i g_i Z_i, and t = step + 1:
//   sgd       plain P-RGE (MobiZO): B -= lr ghat. No state.
//   momentum  m = beta1 m + (1 - beta1) ghat;  B -= lr m / (1 - beta1^t)   (bias-corrected EMA)
//   adam      m as momentum, v = beta2 v + (1 - beta2) ghat^2;
//             B -= lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + 1e-8)   (Adam's formula on ghat)
//             State m, v: 2 |B| floats (O(|B|)), in the checkpoint's optimizer_state.safetensors.
//   lozo      LOZO / SubZero-style low-rank perturbation per target: Z_i = U_i V_i^T / sqrt(r'),
//             U_i [out, r'] and V_i [rank, r'] i.i.d. normal, regenerated from the step seed (both
//             redrawn every step; LOZO's lazy V is not kept). 1 / sqrt(r') keeps every element of
//             Z at unit variance, so lr and eps mean what they do for sgd. B -= lr/q sum_i g_i Z_i.
//             A workgroup draws (16 + rank) r' normals per query instead of 16 rank. No state.
//   hizoo     HiZOO (Zhao et al., arXiv 2402.15173, Algorithm 1) with a diagonal Hessian estimate h
//             (their Sigma^-1, initialised to 1). The pass holds one more slot, 2q, unperturbed
//             (eps 0): L0. The forward perturbs B +/- eps Z_i / sqrt(h). Then, per query,
//               c_i = |L+_i + L-_i - 2 L0| / (2 eps^2)          (zo_grad, curvature along Z_i / sqrt(h))
//               h  <- (1 - alpha) h + alpha (1/q sum_i c_i Z_i^2) h   (the paper's diag(Sigma'_t) =
//                     c Sigma_t^-1/2 u u^T Sigma_t^-1/2 with Sigma_t^-1 = h, averaged over the q queries)
//               B  -= lr/q sum_i g_i Z_i / sqrt(h)               (with the updated h, as Algorithm 1)
//             alpha = hessianSmooth. (The authors' code EMAs its sqrt-scale with c Z^2 / scale
//             instead; we follow the paper's formula.) State h: |B| floats.
// A step whose losses are not all finite changes neither B nor the state.
import type { Gpu } from '../gpu/device';
import type { Dispatch } from '../gpu/kernel';
import type { Kernels } from '../gpu/kernels/registry';
import { zoOptimizerUpdate, zoUpdate } from '../gpu/kernels/zo_update';
import type { StepBlock } from '../gpu/step_block';
import { tensor, type Tensor } from '../gpu/tensor';
import type { LoraState } from '../adapter/lora';
import { parseSafetensors, tensorToFloat32, writeSafetensors } from '../formats/safetensors';
import { OPTIMIZER_DEFAULTS, type ZoOptimizerName, type ZoOptions } from './options';

/** Adam's epsilon in the denominator. */
export const ADAM_EPS = 1e-8;
/** The checkpoint file holding the optimizer's state (absent for sgd and lozo). */
export const OPTIMIZER_STATE_FILE = 'optimizer_state.safetensors';

export interface OptimizerSpec {
  name: ZoOptimizerName;
  beta1: number;
  beta2: number;
  zoRank: number;
  hessianSmooth: number;
}

/** The run's optimizer with the defaults filled in. */
export function optimizerSpec(o: Pick<ZoOptions, 'optimizer' | 'beta1' | 'beta2' | 'zoRank' | 'hessianSmooth'>): OptimizerSpec {
  const d = OPTIMIZER_DEFAULTS;
  return { name: o.optimizer ?? d.optimizer, beta1: o.beta1 ?? d.beta1, beta2: o.beta2 ?? d.beta2, zoRank: o.zoRank ?? d.zoRank, hessianSmooth: o.hessianSmooth ?? d.hessianSmooth };
}

/** Per B, the state tensors of each optimizer (their names in optimizer_state.safetensors). */
export const STATE_TENSORS: Readonly<Record<ZoOptimizerName, readonly ('m' | 'v' | 'h')[]>> = { sgd: [], momentum: ['m'], adam: ['m', 'v'], lozo: [], hizoo: ['h'] };

/** Bias corrections (1 - beta1^t, 1 - beta2^t) of step `step` (0-based), t = step + 1. */
export function biasCorrections(spec: OptimizerSpec, step: number): [number, number] {
  return [1 - spec.beta1 ** (step + 1), 1 - spec.beta2 ** (step + 1)];
}

/** A state tensor's value in a fresh run: moments 0, HiZOO's Hessian 1. */
const freshValues = (k: 'm' | 'v' | 'h', numel: number) => new Float32Array(numel).fill(k === 'h' ? 1 : 0);

export class ZoOptimizer {
  /** Slots beyond the 2q perturbed ones: HiZOO's unperturbed slot. */
  readonly extraSlots: 0 | 1;
  private readonly state: Map<'m' | 'v' | 'h', Tensor>[]; // per adapter, in lora.adapters() order
  private readonly bias: Tensor | null; // [2] this step's bias corrections (momentum, adam)

  constructor(
    readonly gpu: Gpu,
    readonly lora: LoraState,
    readonly spec: OptimizerSpec,
  ) {
    this.extraSlots = spec.name === 'hizoo' ? 1 : 0;
    this.state = lora.adapters().map((ad) => {
      const m = new Map<'m' | 'v' | 'h', Tensor>();
      for (const k of STATE_TENSORS[spec.name]) {
        m.set(k, tensor(gpu, `zo.opt.${ad.layer}.${ad.target}.${k}`, ad.B.shape, 'adapters', { data: freshValues(k, ad.B.numel) }));
      }
      return m;
    });
    this.bias = spec.name === 'momentum' || spec.name === 'adam' ? tensor(gpu, 'zo.opt.bias', [2], 'scratch') : null;
    // the forward pass's mplora reads the form of Z from the adapter
    lora.adapters().forEach((ad, i) => {
      if (spec.name === 'lozo') ad.zo = { zoRank: spec.zoRank };
      else if (spec.name === 'hizoo') ad.zo = { hessian: this.state[i].get('h')! };
    });
  }

  /** The update dispatches of every B, reading `grad` (zo_grad's output) and the step block. */
  updates(ks: Kernels, grad: Tensor, block: StepBlock, q: number): Dispatch[] {
    const s = this.spec;
    return this.lora.adapters().map((ad, i) => {
      const label = `zo.update.${ad.layer}.${ad.target}`;
      const shape = { q, tensor: ad.id };
      const st = this.state[i];
      switch (s.name) {
        case 'sgd':
          return zoUpdate(ks, label, grad, ad.B, shape, block);
        case 'momentum':
          return zoOptimizerUpdate(ks, label, grad, ad.B, shape, block, { kind: 'momentum', beta1: s.beta1, m: st.get('m')!, biasCorrection: this.bias! });
        case 'adam':
          return zoOptimizerUpdate(ks, label, grad, ad.B, shape, block, { kind: 'adam', beta1: s.beta1, beta2: s.beta2, adamEps: ADAM_EPS, m: st.get('m')!, v: st.get('v')!, biasCorrection: this.bias! });
        case 'lozo':
          return zoOptimizerUpdate(ks, label, grad, ad.B, shape, block, { kind: 'lozo', zoRank: s.zoRank });
        case 'hizoo':
          return zoOptimizerUpdate(ks, label, grad, ad.B, shape, block, { kind: 'hizoo', alpha: s.hessianSmooth, h: st.get('h')! });
      }
    });
  }

  /** Writes step `step`'s per-step values (queue-ordered before the step's submit). */
  setStep(step: number): void {
    if (this.bias) this.bias.write(Float32Array.from(biasCorrections(this.spec, step)));
  }

  /** GPU bytes beside the adapters' own (the optimizer's memory cost). */
  get bytes(): number {
    return this.state.reduce((a, m) => a + [...m.values()].reduce((b, t) => b + t.bytes, 0), 0) + (this.bias?.bytes ?? 0);
  }

  /** The state as optimizer_state.safetensors, or null when the optimizer has none. */
  async save(): Promise<Uint8Array | null> {
    return this.encode((_k, t) => t.read());
  }

  /** The state of a fresh run (what the constructor writes) as optimizer_state.safetensors, made on the host: no readback. */
  async freshState(): Promise<Uint8Array | null> {
    return this.encode(async (k, t) => freshValues(k, t.numel));
  }

  private async encode(data: (k: 'm' | 'v' | 'h', t: Tensor) => Promise<Float32Array>): Promise<Uint8Array | null> {
    if (!STATE_TENSORS[this.spec.name].length) return null;
    const ads = this.lora.adapters();
    const out = [];
    for (let i = 0; i < ads.length; i++) {
      for (const [k, t] of this.state[i]) out.push({ name: `${ads[i].layer}.${ads[i].target}.${k}`, shape: [...t.shape], data: await data(k, t) });
    }
    return writeSafetensors(out, { optimizer: this.spec.name });
  }

  /** Loads the state a checkpoint saved (`source` names it in errors). */
  load(bytes: Uint8Array | undefined, source: string): void {
    const want = STATE_TENSORS[this.spec.name];
    if (!want.length) return;
    const file = `${source}/${OPTIMIZER_STATE_FILE}`;
    if (!bytes) throw new Error(`${file}: missing; optimizer ${this.spec.name} resumes from its saved state`);
    const st = parseSafetensors(bytes, file);
    if (st.metadata.optimizer !== this.spec.name) throw new Error(`${file}: holds the state of optimizer ${st.metadata.optimizer ?? '(none)'}, this run uses ${this.spec.name}`);
    this.lora.adapters().forEach((ad, i) => {
      for (const [k, t] of this.state[i]) {
        const name = `${ad.layer}.${ad.target}.${k}`;
        const s = st.tensors.get(name);
        if (!s) throw new Error(`${file}: no tensor ${name}`);
        if (s.shape.join(',') !== t.shape.join(',')) throw new Error(`${file}: tensor ${name} has shape [${s.shape}], expected [${t.shape}]`);
        t.write(tensorToFloat32(s, name, file));
      }
    });
  }

  destroy(): void {
    for (const ad of this.lora.adapters()) delete ad.zo;
    for (const m of this.state) for (const t of m.values()) t.destroy();
    this.bias?.destroy();
  }
}
