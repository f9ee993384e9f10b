// Weight matrices on the GPU in the form they were stored: f32, or compressed (f16, bf16, ggml's Q8_0,
// Q4_0, Q4_1, Q5_0, Q5_1 and K-quant blocks) and dequantised in registers by the matmul and the
// embedding gather (shaders/quant_blocks.wgsl). Frozen base weights can stay quantised: ZO
// fine-tuning only ever trains the LoRA B matrices.
//
// A weight larger than the device's maxStorageBufferBindingSize (or maxBufferSize) is split by rows
// into blocks that each fit, uploaded to buffers of their own (a SplitWeight); the kernels' wrappers
// run one dispatch per block, so the forward pass never sees the split.
import type { Gpu } from './device';
import { tensor, type Tensor } from './tensor';

/** Layouts of shaders/quant_blocks.wgsl; 'f32' only as the blocks of a split f32 matrix. */
export type WeightLayout = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k';
export type CompressedType = Exclude<WeightLayout, 'f32'>;

/**
 * Per layout: values and file bytes per block, and `scaleAt`, the byte of the block's f16 scale when
 * the block is not a whole number of words (that scale goes to a separate array, the rest of the
 * block to the words array, so both are word-aligned and the footprint is the file's).
 */
export const LAYOUTS: Readonly<Record<WeightLayout, { elements: number; bytes: number; scaleAt?: number }>> = {
  f32: { elements: 1, bytes: 4 },
  f16: { elements: 2, bytes: 4 }, // two values per word (K even)
  bf16: { elements: 2, bytes: 4 }, // two values per word, each the high half of an f32
  q8_0: { elements: 32, bytes: 34, scaleAt: 0 },
  q4_0: { elements: 32, bytes: 18, scaleAt: 0 },
  q4_1: { elements: 32, bytes: 20 },
  q5_0: { elements: 32, bytes: 22, scaleAt: 0 },
  q5_1: { elements: 32, bytes: 24 },
  q2_k: { elements: 256, bytes: 84 },
  q3_k: { elements: 256, bytes: 110, scaleAt: 108 },
  q4_k: { elements: 256, bytes: 144 },
  q5_k: { elements: 256, bytes: 176 },
  q6_k: { elements: 256, bytes: 210, scaleAt: 208 },
};

/** The GPU layout of a ggml tensor type, if the kernels read it compressed. */
export function layoutOfGgml(type: string): CompressedType | undefined {
  const t = type.toLowerCase();
  return t !== 'f32' && Object.hasOwn(LAYOUTS, t) ? (t as CompressedType) : undefined;
}

/** A [N, K] weight (or a row block of one) in a layout: `quants` words and, where the layout has them, f16 block scales. */
export class CompressedWeight {
  constructor(
    readonly type: WeightLayout,
    readonly label: string,
    readonly shape: readonly [number, number],
    readonly quants: Tensor, // u32 words (see shaders/quant_blocks.wgsl)
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

/** A [N, K] weight split by rows across buffers: part i holds rows row0 .. row0 + its N - 1. */
export class SplitWeight {
  constructor(
    readonly label: string,
    readonly shape: readonly [number, number],
    readonly parts: readonly { row0: number; weight: CompressedWeight }[],
  ) {}

  get type(): WeightLayout {
    return this.parts[0].weight.type;
  }

  get bytes(): number {
    return this.parts.reduce((s, p) => s + p.weight.bytes, 0);
  }

  destroy(): void {
    for (const p of this.parts) p.weight.destroy();
  }
}

export type Weight = Tensor | CompressedWeight | SplitWeight;

function words(bytes: Uint8Array): Uint32Array {
  if (bytes.byteOffset % 4 === 0 && bytes.length % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
  padded.set(bytes);
  return new Uint32Array(padded.buffer);
}

/** Bytes on the GPU of `rows` rows of K values in `layout`: [words, scales]. */
function rowBytes(layout: WeightLayout, rows: number, K: number): [number, number] {
  const b = LAYOUTS[layout];
  const blocks = (rows * K) / b.elements;
  if (b.scaleAt === undefined) return [blocks * b.bytes, 0];
  return [blocks * (b.bytes - 2), Math.ceil(blocks / 2) * 4];
}

/**
 * The file's blocks of `layout` (whole blocks, rows in order) as the kernels read them: `quants` words
 * and, for the layouts with a `scaleAt`, their f16 block scales (block i in half i % 2 of word i / 2).
 */
export function packBlocks(layout: WeightLayout, bytes: Uint8Array): { quants: Uint32Array; scales: Uint32Array | null } {
  const b = LAYOUTS[layout];
  if (b.scaleAt === undefined) return { quants: words(bytes), scales: null };
  const blocks = bytes.length / b.bytes;
  if (!Number.isInteger(blocks)) throw new Error(`${layout}: ${bytes.length} bytes are not whole ${b.bytes}-byte blocks`);
  const body = b.bytes - 2;
  const quants = new Uint8Array(blocks * body);
  const scales = new Uint16Array(blocks + (blocks % 2));
  const at = b.scaleAt;
  for (let i = 0; i < blocks; i++) {
    const o = i * b.bytes;
    scales[i] = bytes[o + at] | (bytes[o + at + 1] << 8);
    quants.set(bytes.subarray(o, o + at), i * body);
    quants.set(bytes.subarray(o + at + 2, o + b.bytes), i * body + at);
  }
  return { quants: words(quants), scales: new Uint32Array(scales.buffer) };
}

/** One buffer's worth of rows: uploads rows of `bytes` (the file's blocks) in the GPU layout. */
function uploadRows(gpu: Gpu, label: string, layout: WeightLayout, shape: [number, number], bytes: Uint8Array): CompressedWeight {
  const { quants, scales } = packBlocks(layout, bytes);
  const q = tensor(gpu, `${label}.${layout}`, [quants.length], 'weights', { dtype: 'u32', data: quants });
  const s = scales && tensor(gpu, `${label}.scales`, [scales.length], 'weights', { dtype: 'u32', data: scales });
  return new CompressedWeight(layout, label, shape, q, s);
}

/** Rows per block so that each block's buffers fit the device (a multiple of 4 rows), or 0 if one row does not fit. */
export function rowsPerBuffer(gpu: Gpu, layout: WeightLayout, K: number): number {
  const lim = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const [q, s] = rowBytes(layout, 4, K); // 4 rows hold an even number of blocks: whole pairs of f16 scales
  return Math.floor(lim / Math.max(q, s)) * 4;
}

/**
 * Uploads a [N, K] weight from its stored bytes (the file's blocks, rows in order): F16 as is; the
 * block layouts as LAYOUTS says; 'f32' (split matrices only) as is. A weight beyond the device's
 * buffer limits is split by rows (see SplitWeight) and noted in the ledger; one whose single row
 * block cannot fit names the tensor, its size and the limit.
 */
export function uploadWeight(gpu: Gpu, label: string, type: WeightLayout, shape: [number, number], bytes: Uint8Array): CompressedWeight | SplitWeight {
  const [N, K] = shape;
  const b = LAYOUTS[type];
  if (type === 'f16' || type === 'bf16' || type === 'f32') {
    if (K % 4 !== 0) throw new Error(`weight ${label}: ${type} rows of ${K} are not a multiple of 4`);
  } else if (K % b.elements !== 0) {
    throw new Error(`weight ${label}: ${type} rows of ${K} are not a multiple of its ${b.elements}-value blocks`);
  }
  const fileRow = (K / b.elements) * b.bytes;
  if (bytes.length !== N * fileRow) throw new Error(`weight ${label}: ${bytes.length} bytes, ${type} [${N}, ${K}] needs ${N * fileRow}`);
  const [q, s] = rowBytes(type, N, K);
  const lim = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  if (Math.max(q, s) <= lim) return uploadRows(gpu, label, type, shape, bytes);
  const per = rowsPerBuffer(gpu, type, K);
  if (per < 4) {
    throw new Error(`weight ${label} [${N}, ${K}] ${type}: ${q + s} bytes, and even 4 of its rows (${rowBytes(type, 4, K)[0]} bytes) exceed this device's buffer limit of ${lim} bytes`);
  }
  const parts: { row0: number; weight: CompressedWeight }[] = [];
  for (let row0 = 0; row0 < N; row0 += per) {
    const rows = Math.min(per, N - row0);
    const name = `${label}.part${parts.length}`;
    parts.push({ row0, weight: uploadRows(gpu, name, type, [rows, K], bytes.subarray(row0 * fileRow, (row0 + rows) * fileRow)) });
  }
  gpu.ledger.noteSplit(label, parts.length, q + s);
  return new SplitWeight(label, shape, parts);
}

/** uploadWeight of a weight that must fit one set of buffers (no split: a weight beyond the limits is an error naming it). */
export function uploadCompressed(gpu: Gpu, label: string, type: WeightLayout, shape: [number, number], bytes: Uint8Array): CompressedWeight {
  const w = uploadWeight(gpu, label, type, shape, bytes);
  if (w instanceof SplitWeight) {
    w.destroy();
    throw new Error(`weight ${label} [${shape}] ${type}: ${w.bytes} bytes exceed this device's buffer limit; upload it with uploadWeight to split it`);
  }
  return w;
}

/** Uploads an f32 [N, K] weight: one tensor, or row blocks (SplitWeight) when it exceeds the device's buffer limits. */
export function uploadF32(gpu: Gpu, label: string, shape: number[], data: Float32Array): Tensor | SplitWeight {
  const bytes = data.length * 4;
  const lim = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  if (bytes <= lim || shape.length !== 2) return tensor(gpu, label, shape, 'weights', { data });
  return uploadWeight(gpu, label, 'f32', shape as [number, number], new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) as SplitWeight;
}
