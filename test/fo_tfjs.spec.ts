// The first-order baseline of bench/fo_vs_zo.ts is the engine's model: its tfjs Llama + LoRA
// (bench/fo_tfjs_llama.ts, on tfjs's cpu backend here) gives stories260K's float64 reference
// logits, base and with nonzero adapters, and its autodiff gradient of A and B equals central
// finite differences of the float64 reference loss.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { LlamaModelFile } from '../src/formats/config';
import { LoraState, type LoraConfig } from '../src/adapter/lora';
import type { AdapterTensors } from '../src/adapter/peft';
import { mulberry32 } from '../src/util/random';
import { disposeTfLlama, lmLoss, logits, loraVariables, tfLlama, tfLora, type TfLlama } from '../bench/fo_tfjs_llama';
import { stories260K } from './assets';
import { referenceForward, referenceLoss, type ReferenceLora } from './reference/cpu_model';

const loraCfg: LoraConfig = { rank: 4, alpha: 8, targets: ['q', 'v', 'down'] };

function refLora(h: AdapterTensors): ReferenceLora {
  return { scale: h.alpha / h.rank, rank: h.rank, layers: h.layers.map((e) => ({ ...e })) };
}

describe('first-order baseline: the tfjs Llama + LoRA of the bench', function () {
  let file: LlamaModelFile;
  let m: TfLlama;
  let host: AdapterTensors;
  const T = 13; // ragged: no tile multiple
  let tokens: Int32Array;
  let labels: Int32Array;

  before(async () => {
    await tf.setBackend('cpu');
    file = stories260K().file;
    m = tfLlama(file);
    host = LoraState.initHost(file.config, loraCfg, 3);
    const rand = mulberry32(11);
    for (const e of host.layers) for (const t of host.targets) e[t]!.B.forEach((_, i, B) => (B[i] = (rand() * 2 - 1) * 0.3));
    tokens = Int32Array.from({ length: 2 * T }, () => 1 + Math.floor(rand() * 511));
    labels = Int32Array.from({ length: 2 * T }, (_, i) => (i % T === T - 1 || i === 5 ? -100 : tokens[i + 1]));
    labels[2 * T - 4] = -100;
  });

  after(() => disposeTfLlama(m));

  it('logits equal the float64 reference within 1e-4, base and with adapters (max |diff| / max |ref|)', () => {
    const lora = tfLora(m, host);
    const rows = Int32Array.from({ length: 2 * T }, (_, i) => i);
    for (const withLora of [false, true]) {
      const got = tf.tidy(() => logits(m, withLora ? lora : null, tokens, 2, T, rows)).dataSync();
      let d = 0;
      let s = 0;
      for (let r = 0; r < 2; r++) {
        const want = referenceForward(file, Array.from(tokens.subarray(r * T, (r + 1) * T)), withLora ? refLora(host) : undefined);
        want.forEach((row, t) => row.forEach((v, j) => ((d = Math.max(d, Math.abs(got[(r * T + t) * 512 + j] - v))), (s = Math.max(s, Math.abs(v))))));
      }
      assert.ok(d / s < 1e-4, `${withLora ? 'with LoRA' : 'base'}: max |diff| / max |ref| = ${d / s}`);
    }
    for (const v of loraVariables(lora, 'AB')) v.dispose();
  });

  it('the gradient of A and B equals central differences of the float64 reference loss', () => {
    const lora = tfLora(m, host);
    const vars = loraVariables(lora, 'AB');
    const { value, grads } = tf.variableGrads(() => lmLoss(m, lora, tokens, labels, 2, T), vars);
    const ref = referenceLoss(file, tokens, labels, T, refLora(host)).loss;
    assert.ok(Math.abs(value.dataSync()[0] - ref) < 1e-5 * Math.abs(ref), `loss ${value.dataSync()[0]} vs reference ${ref}`);
    const rand = mulberry32(5);
    const h = 1e-3;
    let worst = 0;
    let largest = 0;
    const names: string[] = [];
    for (const [l, t, which] of [[0, 'q', 'B'], [2, 'v', 'A'], [4, 'down', 'B'], [1, 'down', 'A']] as const) {
      const hostT = host.layers[l][t]![which];
      const g = grads[lora.layers[l][t]![which].name].dataSync();
      for (let n = 0; n < 3; n++) {
        const i = Math.floor(rand() * hostT.length);
        const keep = hostT[i];
        const lossAt = (x: number) => {
          const p: ReferenceLora = refLora(host);
          const copy = Float64Array.from(hostT);
          copy[i] = x;
          p.layers[l] = { ...p.layers[l], [t]: { ...p.layers[l][t]!, [which]: copy } };
          return referenceLoss(file, tokens, labels, T, p).loss;
        };
        const fd = (lossAt(keep + h) - lossAt(keep - h)) / (2 * h);
        const err = Math.abs(g[i] - fd) / Math.max(Math.abs(fd), 1e-3);
        names.push(`l${l}.${t}.${which}[${i}]: tfjs ${g[i].toExponential(3)} fd ${fd.toExponential(3)}`);
        worst = Math.max(worst, err);
        largest = Math.max(largest, Math.abs(fd));
      }
    }
    assert.ok(largest > 1e-3, `the probed gradients are all ~0 (largest ${largest}): the check would be vacuous`);
    assert.ok(worst < 2e-2, `worst relative gradient error ${worst}:\n${names.join('\n')}`);
    tf.dispose([value, ...Object.values(grads)]);
    for (const v of vars) v.dispose();
  });
});
