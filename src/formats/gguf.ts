// Reader of GGUF files (ggml's model format, versions 2 and 3, little-endian), and the Llama-family
// model inside one.
//
// Layout (ggml docs/gguf.md): "GGUF", u32 version, u64 tensor count, u64 metadata kv count, the
// kv pairs { string key, u32 value type, value }, the tensor infos { string name, u32 n_dims,
// u64 dims[n_dims] (ne[0] first: the fastest-varying, i.e. the row length), u32 ggml type, u64
// offset relative to the data section }, zero padding to `general.alignment` (default 32), then the
// data section. A string is a u64 byte length and UTF-8 bytes; an array is a u32 item type, a u64
// count and the items (arrays nest). Version 1 (u32 counts) is not read; version 3 only added
// big-endian files, which this reader rejects.
//
// Runs in browsers too: takes bytes, never touches the file system. Every error is one line that
// names the source.

import { dequantize, isGgmlQuant } from './ggml_quants';
import { f16BitsToFloat, tensorToFloat32 } from './safetensors';
import type { ByteSource } from './byte_source';

/** Metadata value types, by their id in the file. */
export const GGUF_VALUE_TYPES = ['UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'FLOAT32', 'BOOL', 'STRING', 'ARRAY', 'UINT64', 'INT64', 'FLOAT64'] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
export type GgufNumberType = 'UINT8' | 'INT8' | 'UINT16' | 'INT16' | 'UINT32' | 'INT32' | 'FLOAT32' | 'FLOAT64';

/** Items of an array value: numbers in a typed array of the item type, 64-bit integers as BigInt arrays. */
export type GgufArrayItems =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array | boolean[] | string[] | GgufValue[];

export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: 'UINT64' | 'INT64'; value: bigint }
  | { type: 'BOOL'; value: boolean }
  | { type: 'STRING'; value: string }
  | { type: 'ARRAY'; itemType: GgufValueType; value: GgufArrayItems };

/** A ggml tensor type: id in the file, elements per block and bytes per block. */
export interface GgmlTypeInfo {
  name: string;
  id: number;
  blockElements: number;
  blockBytes: number;
}

// ggml.h `enum ggml_type` with ggml-common.h block sizes (ids 4, 5, 31..33, 36..38 were removed).
const TYPE_TABLE: [string, number, number, number][] = [
  ['F32', 0, 1, 4], ['F16', 1, 1, 2], ['Q4_0', 2, 32, 18], ['Q4_1', 3, 32, 20], ['Q5_0', 6, 32, 22], ['Q5_1', 7, 32, 24],
  ['Q8_0', 8, 32, 34], ['Q8_1', 9, 32, 36], ['Q2_K', 10, 256, 84], ['Q3_K', 11, 256, 110], ['Q4_K', 12, 256, 144],
  ['Q5_K', 13, 256, 176], ['Q6_K', 14, 256, 210], ['Q8_K', 15, 256, 292], ['IQ2_XXS', 16, 256, 66], ['IQ2_XS', 17, 256, 74],
  ['IQ3_XXS', 18, 256, 98], ['IQ1_S', 19, 256, 50], ['IQ4_NL', 20, 32, 18], ['IQ3_S', 21, 256, 110], ['IQ2_S', 22, 256, 82],
  ['IQ4_XS', 23, 256, 136], ['I8', 24, 1, 1], ['I16', 25, 1, 2], ['I32', 26, 1, 4], ['I64', 27, 1, 8], ['F64', 28, 1, 8],
  ['IQ1_M', 29, 256, 56], ['BF16', 30, 1, 2], ['TQ1_0', 34, 256, 54], ['TQ2_0', 35, 256, 66], ['MXFP4', 39, 32, 17],
];
export const GGML_TYPES: ReadonlyMap<string, GgmlTypeInfo> = new Map(
  TYPE_TABLE.map(([name, id, blockElements, blockBytes]) => [name, { name, id, blockElements, blockBytes }]),
);
const TYPE_BY_ID = new Map([...GGML_TYPES.values()].map((t) => [t.id, t]));

/** Q8_0 block (ggml block_q8_0): f16 scale d at byte 0, then 32 int8 quants; x[j] = d * qs[j]. */
export const Q8_0_BLOCK = { elements: 32, bytes: 34, scaleOffset: 0, quantsOffset: 2 } as const;
/** Q4_0 block (ggml block_q4_0): f16 scale d at byte 0, then 16 bytes; byte j holds element j in its
 * low nibble and element j + 16 in its high nibble; x = d * (nibble - 8). Blocks are 18 bytes, so
 * they are not 4-byte aligned in a tensor. */
export const Q4_0_BLOCK = { elements: 32, bytes: 18, scaleOffset: 0, quantsOffset: 2 } as const;

export interface GgufTensor {
  name: string;
  dims: number[]; // as in the file: dims[0] is the row length (ggml ne[0])
  shape: number[]; // row-major, dims reversed: [.., out, in]
  type: string; // ggml type name ('F32', 'Q8_0' ...)
  byteOffset: number; // absolute offset of the data in the file (dataStart + the info's offset)
  nbytes: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensor[];
  alignment: number;
  dataStart: number; // absolute offset of the data section
}

export const GGUF_MAGIC = 'GGUF';
export const GGUF_DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4; // GGML_MAX_DIMS

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true }); // a piece may be U+FEFF
const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The header runs past the bytes read so far (not past the file): read at least `bytes` and parse again. */
class NeedMore {
  constructor(readonly bytes: number) {}
}

/**
 * Sequential little-endian reader whose every read checks the bytes are there. `bytes` may be the
 * first part of a file of `fileSize` bytes (a header read through a ByteSource): counts are bounded
 * by the file, and a read past the part throws NeedMore.
 */
class Cursor {
  pos = 0;
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly source: string,
    readonly fileSize = bytes.length,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(n: number, what: () => string): void {
    if (this.pos + n > this.fileSize) {
      throw new Error(`${this.source}: GGUF truncated: ${what()} at byte ${this.pos} needs ${n} bytes, the file ends at ${this.fileSize}`);
    }
    if (this.pos + n > this.bytes.length) throw new NeedMore(this.pos + n);
  }
  u32(what: () => string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: () => string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A u64 that must be a safe integer no larger than `max`. */
  count(max: number, what: () => string): number {
    const at = this.pos;
    const v = this.u64(what);
    if (v > BigInt(max)) {
      throw new Error(`${this.source}: GGUF ${what()} at byte ${at} is ${v}, more than the ${max} that ${this.fileSize} bytes can hold (a truncated file or a wrong count)`);
    }
    return Number(v);
  }
  string(what: () => string): string {
    const len = this.count(this.fileSize - this.pos - 8, () => `${what()} length`);
    this.need(len, what);
    const b = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    let ascii = true;
    for (let i = 0; i < b.length && ascii; i++) ascii = b[i] < 0x80;
    return ascii && b.length < 4096 ? String.fromCharCode.apply(null, b as unknown as number[]) : utf8.decode(b);
  }
}

type NumericArray = Exclude<GgufArrayItems, boolean[] | string[] | GgufValue[]>;
const NUMBER_ARRAYS: Record<GgufNumberType | 'UINT64' | 'INT64', { size: number; make: (n: number) => NumericArray }> = {
  UINT8: { size: 1, make: (n) => new Uint8Array(n) },
  INT8: { size: 1, make: (n) => new Int8Array(n) },
  UINT16: { size: 2, make: (n) => new Uint16Array(n) },
  INT16: { size: 2, make: (n) => new Int16Array(n) },
  UINT32: { size: 4, make: (n) => new Uint32Array(n) },
  INT32: { size: 4, make: (n) => new Int32Array(n) },
  FLOAT32: { size: 4, make: (n) => new Float32Array(n) },
  FLOAT64: { size: 8, make: (n) => new Float64Array(n) },
  UINT64: { size: 8, make: (n) => new BigUint64Array(n) },
  INT64: { size: 8, make: (n) => new BigInt64Array(n) },
};

function readNumber(c: Cursor, type: GgufNumberType | 'UINT64' | 'INT64', what: () => string): number | bigint {
  const size = NUMBER_ARRAYS[type].size;
  c.need(size, what);
  const v = c.view;
  const p = c.pos;
  c.pos += size;
  switch (type) {
    case 'UINT8': return v.getUint8(p);
    case 'INT8': return v.getInt8(p);
    case 'UINT16': return v.getUint16(p, true);
    case 'INT16': return v.getInt16(p, true);
    case 'UINT32': return v.getUint32(p, true);
    case 'INT32': return v.getInt32(p, true);
    case 'FLOAT32': return v.getFloat32(p, true);
    case 'FLOAT64': return v.getFloat64(p, true);
    case 'UINT64': return v.getBigUint64(p, true);
    case 'INT64': return v.getBigInt64(p, true);
  }
}

function valueType(c: Cursor, what: () => string): GgufValueType {
  const at = c.pos;
  const id = c.u32(() => `${what()} type`);
  const t = GGUF_VALUE_TYPES[id];
  if (t === undefined) throw new Error(`${c.source}: GGUF ${what()} at byte ${at} has value type ${id}, which is not a GGUF type (the kv count or the file is wrong)`);
  return t;
}

function readBool(c: Cursor, what: () => string): boolean {
  c.need(1, what);
  const b = c.bytes[c.pos++];
  if (b > 1) throw new Error(`${c.source}: GGUF ${what()} at byte ${c.pos - 1} is a bool of value ${b} (must be 0 or 1)`);
  return b === 1;
}

function readValue(c: Cursor, type: GgufValueType, what: () => string, depth: number): GgufValue {
  switch (type) {
    case 'BOOL': return { type, value: readBool(c, what) };
    case 'STRING': return { type, value: c.string(what) };
    case 'UINT64': case 'INT64': return { type, value: readNumber(c, type, what) as bigint };
    case 'ARRAY': {
      if (depth > 16) throw new Error(`${c.source}: GGUF ${what()} nests arrays more than 16 deep`);
      const itemType = valueType(c, () => `${what()} item`);
      // Every item takes at least one byte (8 for a string or an array), so the count is bounded by what is left.
      const minItem = itemType === 'STRING' || itemType === 'ARRAY' ? 8 : itemType === 'BOOL' ? 1 : NUMBER_ARRAYS[itemType].size;
      const n = c.count(Math.floor((c.fileSize - c.pos - 8) / minItem), () => `${what()} array length`);
      const item = (i: number) => () => `${what()}[${i}]`;
      if (itemType === 'STRING') return { type, itemType, value: Array.from({ length: n }, (_, i) => c.string(item(i))) };
      if (itemType === 'BOOL') return { type, itemType, value: Array.from({ length: n }, (_, i) => readBool(c, item(i))) };
      if (itemType === 'ARRAY') return { type, itemType, value: Array.from({ length: n }, (_, i) => readValue(c, 'ARRAY', item(i), depth + 1)) };
      const { size, make } = NUMBER_ARRAYS[itemType];
      c.need(n * size, what);
      const out = make(n);
      if (littleEndianHost) {
        new Uint8Array(out.buffer).set(c.bytes.subarray(c.pos, c.pos + n * size));
        c.pos += n * size;
      } else {
        for (let i = 0; i < n; i++) (out as unknown as (number | bigint)[])[i] = readNumber(c, itemType, item(i));
      }
      return { type, itemType, value: out };
    }
    default: return { type, value: readNumber(c, type, what) as number };
  }
}

/** Parses the header, metadata and tensor infos of a GGUF file, checking that every tensor lies in the file. */
export function parseGguf(bytes: Uint8Array, source: string): GgufFile {
  return parseGgufPart(bytes, bytes.length, source);
}

/**
 * The header of a GGUF file read through a ByteSource: a first part of the file (256 KiB), more when
 * the metadata runs past it (a large vocabulary), never the tensors' data. Bounded by the file.
 */
export async function readGgufHeader(src: ByteSource): Promise<GgufFile> {
  let n = Math.min(src.size, 256 << 10);
  for (;;) {
    try {
      return parseGgufPart(await src.read(0, n), src.size, src.name);
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      n = Math.min(src.size, Math.max(e.bytes + (256 << 10), 4 * n));
    }
  }
}

function parseGgufPart(bytes: Uint8Array, fileSize: number, source: string): GgufFile {
  const c = new Cursor(bytes, source, fileSize);
  c.need(4, () => 'the magic');
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== GGUF_MAGIC) {
    const hex = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`${source}: not a GGUF file: it starts with bytes ${hex}, not "GGUF"`);
  }
  c.pos = 4;
  const version = c.u32(() => 'the version');
  if (version !== 2 && version !== 3) {
    const be = version >= 0x01000000 && (version & 0xffff) === 0 ? ' (a big-endian file?)' : '';
    throw new Error(`${source}: GGUF version ${version} is not supported${be}: only versions 2 and 3 are read`);
  }
  // A tensor info takes at least 8 + 4 + 4 + 8 bytes, a kv pair at least 8 + 4 + 1.
  const nTensors = c.count(Math.floor(fileSize / 24), () => 'tensor count');
  const nKv = c.count(Math.floor(fileSize / 13), () => 'metadata kv count');

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const at = c.pos;
    const key = c.string(() => `metadata key ${i} of ${nKv}`);
    if (key.length === 0 || key.length > 65535 || !/^[\x20-\x7e]+$/.test(key)) {
      throw new Error(`${source}: GGUF metadata key ${i} of ${nKv} at byte ${at} is not a printable ASCII key: ${JSON.stringify(key.slice(0, 40))} (the kv count or the file is wrong)`);
    }
    if (metadata.has(key)) throw new Error(`${source}: GGUF metadata key "${key}" appears twice`);
    const what = () => `metadata "${key}"`;
    metadata.set(key, readValue(c, valueType(c, what), what, 0));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const a = metadata.get('general.alignment');
  if (a !== undefined) {
    if (a.type !== 'UINT32' || a.value === 0 || (a.value & (a.value - 1)) !== 0) {
      throw new Error(`${source}: GGUF general.alignment must be a power-of-two UINT32, got ${a.type} ${String(a.value)}`);
    }
    alignment = a.value;
  }

  const infos: { name: string; dims: number[]; type: GgmlTypeInfo; offset: number; nbytes: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = c.pos;
    const where = () => `tensor info ${i} of ${nTensors}`;
    const name = c.string(() => `${where()} name`);
    const nDims = c.u32(() => `${where()} ("${name}") n_dims`);
    if (nDims < 1 || nDims > MAX_DIMS) {
      throw new Error(`${source}: GGUF ${where()} at byte ${at} ("${name.slice(0, 64)}") has ${nDims} dimensions (1 to ${MAX_DIMS} allowed; the tensor count or the file is wrong)`);
    }
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.count(Number.MAX_SAFE_INTEGER, () => `tensor "${name}" dim ${d}`));
    const typeAt = c.pos;
    const typeId = c.u32(() => `tensor "${name}" type`);
    const type = TYPE_BY_ID.get(typeId);
    if (!type) throw new Error(`${source}: GGUF tensor "${name}" has unknown ggml type id ${typeId} (at byte ${typeAt})`);
    const offset = c.count(Number.MAX_SAFE_INTEGER, () => `tensor "${name}" offset`);
    if (names.has(name)) throw new Error(`${source}: GGUF tensor "${name}" appears twice`);
    names.add(name);
    const elements = dims.reduce((p, d) => p * d, 1);
    if (!Number.isSafeInteger(elements)) throw new Error(`${source}: GGUF tensor "${name}" dims [${dims}] are too large`);
    if (dims[0] % type.blockElements !== 0) {
      throw new Error(`${source}: GGUF tensor "${name}" has rows of ${dims[0]} elements, not a multiple of the ${type.name} block (${type.blockElements})`);
    }
    if (offset % alignment !== 0) throw new Error(`${source}: GGUF tensor "${name}" offset ${offset} is not aligned to ${alignment}`);
    infos.push({ name, dims, type, offset, nbytes: (elements / type.blockElements) * type.blockBytes });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  const dataLen = fileSize - dataStart;

  const tensors: GgufTensor[] = infos.map((t) => {
    if (t.offset + t.nbytes > dataLen) {
      throw new Error(
        `${source}: GGUF tensor "${t.name}" (${t.type.name} [${t.dims}], ${t.nbytes} bytes at data offset ${t.offset}) runs past the end of the file: the data section holds ${Math.max(0, dataLen)} bytes`,
      );
    }
    return { name: t.name, dims: t.dims, shape: [...t.dims].reverse(), type: t.type.name, byteOffset: dataStart + t.offset, nbytes: t.nbytes };
  });
  const spans = tensors.filter((t) => t.nbytes > 0).sort((x, y) => x.byteOffset - y.byteOffset);
  for (let i = 1; i < spans.length; i++) {
    const p = spans[i - 1];
    if (spans[i].byteOffset < p.byteOffset + p.nbytes) throw new Error(`${source}: GGUF tensors "${p.name}" and "${spans[i].name}" overlap`);
  }
  return { version, metadata, tensors, alignment, dataStart };
}

// ---- metadata access ------------------------------------------------------------------------------

/** The shortest decimal that is the same float32 (1e-5 rather than 9.999999747378752e-6). */
function shortF32(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

/** A numeric metadata value as a number (float32 values as their shortest decimal); undefined if absent. */
export function metaNumber(g: GgufFile, key: string, source: string): number | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type === 'UINT64' || v.type === 'INT64') {
    if (v.value > BigInt(Number.MAX_SAFE_INTEGER) || v.value < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${source}: GGUF metadata "${key}" = ${v.value} is too large`);
    return Number(v.value);
  }
  if (v.type === 'FLOAT32') return shortF32(v.value);
  if (typeof v.value === 'number') return v.value;
  throw new Error(`${source}: GGUF metadata "${key}" is ${v.type}, expected a number`);
}

export function metaString(g: GgufFile, key: string, source: string): string | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'STRING') throw new Error(`${source}: GGUF metadata "${key}" is ${v.type}, expected a string`);
  return v.value;
}

// ---- tensor data ----------------------------------------------------------------------------------

/** The bytes of a tensor (a view into `bytes`, no copy). */
export function tensorBytes(t: GgufTensor, bytes: Uint8Array): Uint8Array {
  return bytes.subarray(t.byteOffset, t.byteOffset + t.nbytes);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Q8_0 blocks -> n floats (ggml dequantize_row_q8_0; exact: an f16 times an int8 fits a float32). */
export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  checkBlocks(bytes, n, Q8_0_BLOCK, 'Q8_0');
  const out = new Float32Array(n);
  for (let b = 0, o = 0; o < n; b += Q8_0_BLOCK.bytes, o += 32) {
    const d = f16BitsToFloat(bytes[b] | (bytes[b + 1] << 8));
    for (let j = 0; j < 32; j++) out[o + j] = d * ((bytes[b + 2 + j] << 24) >> 24);
  }
  return out;
}

/** Q4_0 blocks -> n floats (ggml dequantize_row_q4_0). */
export function dequantizeQ4_0(bytes: Uint8Array, n: number): Float32Array {
  checkBlocks(bytes, n, Q4_0_BLOCK, 'Q4_0');
  const out = new Float32Array(n);
  for (let b = 0, o = 0; o < n; b += Q4_0_BLOCK.bytes, o += 32) {
    const d = f16BitsToFloat(bytes[b] | (bytes[b + 1] << 8));
    for (let j = 0; j < 16; j++) {
      const q = bytes[b + 2 + j];
      out[o + j] = d * ((q & 0x0f) - 8);
      out[o + j + 16] = d * ((q >> 4) - 8);
    }
  }
  return out;
}

function checkBlocks(bytes: Uint8Array, n: number, block: { elements: number; bytes: number }, name: string): void {
  if (!Number.isInteger(n) || n < 0 || n % block.elements !== 0) throw new Error(`${name}: element count ${n} is not a multiple of ${block.elements}`);
  if (bytes.length !== (n / block.elements) * block.bytes) {
    throw new Error(`${name}: ${n} elements need ${(n / block.elements) * block.bytes} bytes, got ${bytes.length}`);
  }
}

/** The ggml tensor types read (and kept compressed on the GPU where a matrix's rows are whole blocks). */
export const GGUF_READ_TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'] as const;

/** A tensor's values as float32: F32, F16 and BF16 exactly, the block types dequantised as ggml does. */
export function tensorToFloat(t: GgufTensor, bytes: Uint8Array, source: string): Float32Array {
  const data = tensorBytes(t, bytes);
  const n = t.dims.reduce((p, d) => p * d, 1);
  switch (t.type) {
    case 'F32': case 'F16': case 'BF16': return tensorToFloat32({ dtype: t.type, shape: [n], data }, t.name, source);
    case 'Q8_0': return dequantizeQ8_0(data, n);
    case 'Q4_0': return dequantizeQ4_0(data, n);
    default:
      if (isGgmlQuant(t.type)) return Float32Array.from(dequantize(t.type, data, n));
      throw new Error(`${source}: tensor "${t.name}" has type ${t.type}; only ${GGUF_READ_TYPES.join(', ')} are supported`);
  }
}

// ---- the Llama-family model -----------------------------------------------------------------------

/** One tensor as stored: for kernels that read quantised blocks directly. */
