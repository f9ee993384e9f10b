// Weight matrices on the GPU in the form they were stored: f32, or compressed (f16, ggml Q8_0 /
// Q4_0) and dequantised in registers by the matmul. Frozen base weights can stay quantised:
// ZO fine-tuning only ever trains the LoRA B matrices.
import type { Gpu } from './device';
import { tensor, type Tensor } from './tensor';

export type CompressedType = 'f16' | 'q8_0' | 'q4_0';

/** A [N, K] weight in a compressed layout: `quants` words and, for q8_0 / q4_0, f16 block scales. */
export class CompressedWeight {
  constructor(
    readonly type: CompressedType,
    readonly label: string,
    readonly shape: readonly [number, number],
    readonly quants: Tensor, // u32 words (see shaders/matmul_quant.wgsl)
    readonly scales: Tensor | null, // u32: two f16 block scales per word
  ) {}

  get bytes(): number {
    return this.quants.bytes + (this.scales?.bytes ?? 0);
  }

  destroy(): void {
    this.quants.destroy();
    this.scales?.destroy();
  }
}

export type Weight = Tensor | CompressedWeight;

const BLOCK = { q8_0: { bytes: 34, quant: 32 }, q4_0: { bytes: 18, quant: 16 } } as const;

function words(bytes: Uint8Array): Uint32Array {
  const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
  padded.set(bytes);
  return new Uint32Array(padded.buffer);
}

/**
 * Uploads a weight from its stored bytes: F16 as is; Q8_0 / Q4_0 blocks ({f16 d, quants}) split
 * into a quants array and a scales array, so both are word-aligned. Footprint = the file's.
 */
export function uploadCompressed(gpu: Gpu, label: string, type: CompressedType, shape: [number, number], bytes: Uint8Array): CompressedWeight {
  const [N, K] = shape;
  if (type === 'f16') {
    if (K % 4 !== 0) throw new Error(`weight ${label}: f16 rows of ${K} are not a multiple of 4`);
    if (bytes.length !== N * K * 2) throw new Error(`weight ${label}: ${bytes.length} bytes, f16 [${N}, ${K}] needs ${N * K * 2}`);
    const q = tensor(gpu, `${label}.f16`, [N, K / 2], 'weights', { dtype: 'u32', data: words(bytes) });
    return new CompressedWeight(type, label, shape, q, null);
  }
  const b = BLOCK[type];
  if (K % 32 !== 0) throw new Error(`weight ${label}: ${type} rows of ${K} are not a multiple of 32`);
  const blocks = (N * K) / 32;
  if (bytes.length !== blocks * b.bytes) throw new Error(`weight ${label}: ${bytes.length} bytes, ${type} [${N}, ${K}] needs ${blocks * b.bytes}`);
  const quants = new Uint8Array(blocks * b.quant);
  const scales = new Uint16Array(blocks + (blocks % 2));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < blocks; i++) {
    scales[i] = view.getUint16(i * b.bytes, true);
    quants.set(bytes.subarray(i * b.bytes + 2, (i + 1) * b.bytes), i * b.quant);
  }
  const q = tensor(gpu, `${label}.${type}`, [(blocks * b.quant) / 4], 'weights', { dtype: 'u32', data: words(quants) });
  const s = tensor(gpu, `${label}.scales`, [scales.length / 2], 'weights', { dtype: 'u32', data: new Uint32Array(scales.buffer) });
  return new CompressedWeight(type, label, shape, q, s);
}
