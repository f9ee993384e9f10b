// Reader and writer of the safetensors format (Hugging Face), for checkpoints and adapters.
//
// Layout: an unsigned 64-bit little-endian header length N, N bytes of UTF-8 JSON, then the data
// section. The JSON maps each tensor name to { dtype, shape, data_offsets: [begin, end] } with the
// offsets relative to the start of the data section; the optional key "__metadata__" holds a
// string -> string map. Tensors are row-major (C order), little-endian.
//
// The writer produces what the reference implementation (huggingface/safetensors, Rust, used by
// the Python package) produces: compact JSON with "__metadata__" first, tensors laid out and
// listed in ascending name order (all our tensors share one dtype, so the reference's
// "descending alignment, then name" sort reduces to the name), each entry's keys in the order
// dtype, shape, data_offsets, and the header padded with spaces to a multiple of 8 bytes so the
// data section is 8-byte aligned.
//
// The reader checks every number before it is used and throws one-line errors that name the
// source and the tensor. It is safe on hostile input but tolerant where safety is not at stake:
// unused gaps between tensors and trailing bytes are accepted (the reference rejects them).
// Browser-safe: no node: imports; takes and returns Uint8Array (or reads a header through a ByteSource).
import type { ByteSource } from './byte_source';

/** Bits per element of every dtype the reference implementation knows (F4/F6 are sub-byte). */
export const DTYPE_BITS: Readonly<Record<string, number>> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

/** The largest header the reader accepts (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | (string & {});

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** The tensor's bytes: a view into the parsed file (not a copy). */
  data: Uint8Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

export interface Float32TensorIn {
  name: string;
  shape: number[];
  data: Float32Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Number of elements of a shape ([] is a scalar: 1 element); null on overflow past 2^53. */
function elementCount(shape: readonly number[]): number | null {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return null;
  }
  return n;
}

/** Parses a safetensors file held in memory. Tensor data are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const h = parseSafetensorsHeader(bytes, bytes.length, source);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, e] of h.tensors) tensors.set(name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(h.dataStart + e.begin, h.dataStart + e.end) });
  return { metadata: h.metadata, tensors };
}

/** A tensor's place in a safetensors file: offsets relative to the data section (dataStart). */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsEntry>;
  dataStart: number; // 8 + the header's length
}

/** The 8-byte length and the JSON header of a safetensors file read through a ByteSource (its data not read). */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const len = await src.read(0, Math.min(8, src.size));
  const n = len.length < 8 ? 0 : new DataView(len.buffer, len.byteOffset, 8).getUint32(4, true) * 4294967296 + new DataView(len.buffer, len.byteOffset, 8).getUint32(0, true);
  // the checks of parseSafetensorsHeader come first: a hostile length is never read
  const head = len.length < 8 || n > src.size - 8 || n > MAX_HEADER_BYTES ? len : await src.read(0, 8 + n);
  return parseSafetensorsHeader(head, src.size, src.name);
}

/**
 * Parses the header of a safetensors file of `fileSize` bytes whose first bytes (at least the
 * 8-byte length and the JSON) are `head`: every tensor checked to lie in the file, none overlapping.
 */
export function parseSafetensorsHeader(head: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  if (fileSize < 8) {
    throw new Error(`${source}: not a safetensors file: ${fileSize} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const n = view.getUint32(4, true) * 4294967296 + view.getUint32(0, true);
  if (n > fileSize - 8) {
    throw new Error(`${source}: safetensors header length ${n} runs past the end of the file (${fileSize} bytes)`);
  }
  if (n > MAX_HEADER_BYTES) {
    throw new Error(`${source}: safetensors header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + n));
  } catch {
    throw new Error(`${source}: safetensors header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: safetensors header is not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new Error(`${source}: safetensors header is not a JSON object`);
  }

  const dataStart = 8 + n;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsEntry>();
  const spans: { name: string; begin: number; end: number }[] = [];

  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        throw new Error(`${source}: safetensors __metadata__ is not an object of strings`);
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new Error(`${source}: safetensors __metadata__ value of "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const what = `${source}: tensor "${name}"`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new Error(`${what}: header entry is not an object`);
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string') throw new Error(`${what}: dtype is missing or not a string`);
    const bits = DTYPE_BITS[dtype];
    if (bits === undefined) {
      throw new Error(`${what}: unknown dtype "${dtype}" (known: ${Object.keys(DTYPE_BITS).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new Error(`${what}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw new Error(`${what}: data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      throw new Error(`${what}: data_offsets [${begin}, ${end}] out of range (data section is ${dataLen} bytes)`);
    }
    const count = elementCount(shape);
    const totalBits = count === null ? null : count * bits;
    if (totalBits === null || !Number.isSafeInteger(totalBits)) {
      throw new Error(`${what}: shape ${fmtShape(shape)} is too large`);
    }
    if (totalBits % 8 !== 0) {
      throw new Error(`${what}: ${count} elements of ${dtype} (${bits} bits) do not fill whole bytes`);
    }
    if (end - begin !== totalBits / 8) {
      throw new Error(
        `${what}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} x ${fmtShape(shape)} needs ${totalBits / 8}`,
      );
    }
    spans.push({ name, begin, end });
    tensors.set(name, { dtype, shape: [...shape], begin, end });
  }

  // No two tensors may share bytes (empty tensors occupy nothing and cannot overlap).
  const occupied = spans.filter((s) => s.end > s.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < occupied.length; i++) {
    const p = occupied[i - 1];
    const c = occupied[i];
    if (c.begin < p.end) {
      throw new Error(
        `${source}: tensor "${c.name}" data_offsets [${c.begin}, ${c.end}] overlap tensor "${p.name}" [${p.begin}, ${p.end}]`,
      );
    }
  }
  return { metadata, tensors, dataStart };
}

let f16Table: Float32Array | null = null;

/** Value of an IEEE binary16 bit pattern (exact in float32). */
export function f16BitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function f16ToFloatTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToFloat(h);
  }
  return f16Table;
}

/** Decodes a float tensor (F32, F16 or BF16; conversion is exact) into a fresh Float32Array. */
export function tensorToFloat32(t: SafetensorsTensor, name: string, source: string): Float32Array {
  const count = elementCount(t.shape);
  const size = t.dtype === 'F32' ? 4 : t.dtype === 'F16' || t.dtype === 'BF16' ? 2 : 0;
  if (size === 0) {
    throw new Error(`${source}: tensor "${name}" has dtype ${t.dtype}; only F32, F16 and BF16 convert to float32`);
  }
  if (count === null || t.data.length !== count * size) {
    throw new Error(`${source}: tensor "${name}" holds ${t.data.length} bytes but ${t.dtype} x ${fmtShape(t.shape)} needs ${count === null ? 'too many' : count * size}`);
  }
  const out = new Float32Array(count);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.dtype === 'F32') {
    if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(t.data);
    else for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (t.dtype === 'BF16') {
    // bfloat16 is the top half of a float32: shift the bits up (keeps NaN payloads and -0).
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
  } else {
    const table = f16ToFloatTable();
    for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, true)];
  }
  return out;
}

/** Orders strings by Unicode code point, which is the byte order of their UTF-8 (Rust's str order). */
function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

/**
 * Serializes float32 tensors to a safetensors file, byte-identical to what the reference library
 * writes for the same tensors and metadata (metadata keys are written in sorted order; the
 * reference's order for them is that of a hash map). `metadata` omitted: no "__metadata__" key.
 */
export function writeSafetensors(tensors: Float32TensorIn[], metadata?: Record<string, string>): Uint8Array {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name === '' || t.name === '__metadata__') {
      throw new Error(`writeSafetensors: invalid tensor name ${JSON.stringify(t.name)}`);
    }
    if (seen.has(t.name)) throw new Error(`writeSafetensors: tensor "${t.name}" given twice`);
    seen.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) {
      throw new Error(`writeSafetensors: tensor "${t.name}" shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    }
    if (!(t.data instanceof Float32Array)) throw new Error(`writeSafetensors: tensor "${t.name}" data is not a Float32Array`);
    const count = elementCount(t.shape);
    if (count !== t.data.length) {
      throw new Error(`writeSafetensors: tensor "${t.name}" has ${t.data.length} values but shape ${fmtShape(t.shape)} needs ${count}`);
    }
  }
  const ordered = [...tensors].sort((a, b) => compareCodePoints(a.name, b.name));

  // Build the header JSON by hand to control key order exactly (compact, like serde_json).
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareCodePoints);
    const fields = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata value of "${k}" is not a string`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const t of ordered) {
    const end = offset + t.data.length * 4;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"F32","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen % 4294967296, true);
  view.setUint32(4, Math.floor(headerLen / 4294967296), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen); // pad with spaces
  let pos = 8 + headerLen;
  for (const t of ordered) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    else for (let i = 0; i < t.data.length; i++) view.setFloat32(pos + i * 4, t.data[i], true);
    pos += t.data.length * 4;
  }
  return out;
}
