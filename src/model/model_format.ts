// A model file opened in the app is recognised by its content, not its name: GGUF by its magic,
// a safetensors file by its header (8-byte length + JSON), a llama2.c checkpoint by a sane header
// (src/formats/llama2c.ts checks it). Each format gets its own message, and bytes that are none of
// them are named by what they start with.
import { parseModel, parseModelSource, isGguf, type ParsedModel, type ParsedSource } from '../formats/parse';
import type { ByteSource } from '../formats/byte_source';

export type SniffedFormat = 'gguf' | 'safetensors' | 'zip' | 'pickle' | 'ggml' | 'html' | 'lfs-pointer' | 'other';

/** The first bytes as hex, with the printable ones as text: `3f 8a 47 00 ("?.G.")`. */
export function describeStart(bytes: Uint8Array, n = 8): string {
  const head = bytes.subarray(0, n);
  if (!head.length) return 'the file is empty';
  const hex = [...head].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = [...head].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  return `starts with ${hex} ("${text}")`;
}

/** What the bytes look like, by their first bytes alone (llama2.c has no magic: see below). */
export function sniffFormat(bytes: Uint8Array): SniffedFormat {
  if (isGguf(bytes)) return 'gguf';
  const b = bytes;
  if (b.length >= 10) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const n = view.getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(b.length - 8) && b[8] === 0x7b /* { */) return 'safetensors';
  }
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) return 'zip';
  if (b.length >= 3 && b[0] === 0x80 && b[1] >= 2 && b[1] <= 5 && [0x28, 0x5d, 0x63, 0x7d, 0x8a, 0x95].includes(b[2])) return 'pickle'; // PROTO n, then an opcode
  const head = new TextDecoder('latin1').decode(b.subarray(0, 256)).replace(/^\uFEFF?\s*/, '').toLowerCase();
  if (head.startsWith('<!doctype html') || head.startsWith('<html') || (head.startsWith('<!--') && head.includes('<html'))) return 'html';
  if (head.startsWith('version https://git-lfs.github.com/spec/')) return 'lfs-pointer';
  const magic = String.fromCharCode(...b.subarray(0, 4));
  if (['lmgg', 'fmgg', 'tjgg', 'algg', 'ggml', 'ggmf', 'ggjt', 'ggla'].includes(magic)) return 'ggml';
  return 'other';
}

/**
 * Parses a checkpoint file (GGUF or llama2.c) by its content; throws one line naming the file and
 * what it is instead (a safetensors or PyTorch file, an old GGML file, unknown bytes).
 */
export function parseModelByContent(bytes: Uint8Array, name: string): ParsedModel {
  const format = sniffFormat(bytes);
  const start = describeStart(bytes);
  const namedGguf = /\.gguf$/i.test(name);
  if (format === 'gguf') return parseModel(bytes, name);
  if (format === 'lfs-pointer') throw new Error(`${name}: a Git LFS pointer, not the file itself (a clone without git lfs): run git lfs pull, or download the file (e.g. its hub reference hf:owner/repo/file)`);
  if (format === 'html') throw new Error(`${name}: an HTML page, not a model file (a wrong URL, or an error or login page in front of the file)`);
  if (format === 'safetensors') {
    throw new Error(`${name}: a safetensors file (Hugging Face weights): it needs its config.json and tokenizer.json: open the model's folder, or select its files together`);
  }
  let why: string;
  try {
    return parseModel(bytes, name); // llama2.c has no magic: its header's sanity is the test
  } catch (e) {
    why = (e as Error).message.replace(`${name}: `, '');
    if (!why.startsWith('not a llama2.c checkpoint')) throw e; // a sane llama2.c header: a llama2.c file with a problem of its own (truncated ...)
  }
  if (format === 'zip' || format === 'pickle') {
    throw new Error(`${name}: a PyTorch checkpoint (${format === 'zip' ? 'a zip archive' : 'a pickle'}, ${start}): export it to safetensors (a Hugging Face folder) or GGUF first`);
  }
  if (format === 'ggml') throw new Error(`${name}: an old GGML / GGJT file (${start}), the format before GGUF: convert it to GGUF (llama.cpp's convert scripts)`);
  if (namedGguf) throw new Error(`${name}: not a GGUF file (${start}; a GGUF file starts with "GGUF"), nor a llama2.c checkpoint (${why})`);
  throw new Error(`${name}: not a model file this engine reads (${start}): not GGUF (no "GGUF" magic), not safetensors, and not a llama2.c checkpoint (${why})`);
}

/**
 * A checkpoint read through a ByteSource (GGUF or llama2.c, tensors read when they are uploaded), with
 * parseModelByContent's messages for what it is instead (a web page, a safetensors file, a PyTorch
 * checkpoint ...), told from its first 64 KiB.
 */
export async function parseSourceByContent(src: ByteSource): Promise<ParsedSource> {
  try {
    return await parseModelSource(src);
  } catch (e) {
    if (!/not a llama2\.c checkpoint: header field/.test((e as Error).message)) throw e;
    parseModelByContent(await src.read(0, Math.min(src.size, 64 << 10)), src.name); // throws what it looks like
    throw e;
  }
}
