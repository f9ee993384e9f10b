// A GGUF larger than 2 GiB that costs no disk: the header (llama, a TinyLlama-like shape: dim 2048,
// FFN 5632, 32 / 4 heads; F16 matrices; stories260K's 512-token tokenizer) written, then a hole to the
// end (a sparse file: every weight zero). For the test that the CLI opens files past readFileSync's limit.
import fs from 'node:fs';
import { parseGguf, type GgufValue } from '../src/formats/gguf';
import { assetPath } from './assets';

/** Writes the file; returns its size. 26 layers: 2.14 GiB. */
export function writeSparseGguf(out: string, layers = 26): number {
  const [dim, hidden, heads, kvHeads, vocab] = [2048, 5632, 32, 4, 512];
  const kv = (dim / heads) * kvHeads;
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
  const u64 = (v: number) => new Uint8Array(new BigUint64Array([BigInt(v)]).buffer);
  const str = (s: string) => { const b = enc.encode(s); return [u64(b.length), b]; };
  const TYPES: Record<string, number> = { UINT32: 4, INT32: 5, FLOAT32: 6, STRING: 8, ARRAY: 9 };
  function value(v: GgufValue): Uint8Array[] {
    switch (v.type) {
      case 'UINT32': return [u32(v.value)];
      case 'INT32': return [new Uint8Array(new Int32Array([v.value]).buffer)];
      case 'FLOAT32': return [new Uint8Array(new Float32Array([v.value]).buffer)];
      case 'STRING': return str(v.value);
      case 'ARRAY': {
        const items = v.value as unknown as ArrayLike<unknown> & Iterable<unknown>;
        const head = [u32(TYPES[v.itemType]), u64(items.length)];
        if (v.itemType === 'STRING') return [...head, ...[...(items as string[])].flatMap(str)];
        return [...head, new Uint8Array((items as unknown as Float32Array).buffer.slice(0))];
      }
      default: throw new Error(`type ${v.type}`);
    }
  }
  const tok = parseGguf(new Uint8Array(fs.readFileSync(assetPath('models', 'stories260K.gguf'))), 'stories260K.gguf').metadata;
  const meta: [string, GgufValue][] = [
    ['general.architecture', { type: 'STRING', value: 'llama' }],
    ['llama.block_count', { type: 'UINT32', value: layers }],
    ['llama.context_length', { type: 'UINT32', value: 2048 }],
    ['llama.embedding_length', { type: 'UINT32', value: dim }],
    ['llama.feed_forward_length', { type: 'UINT32', value: hidden }],
    ['llama.attention.head_count', { type: 'UINT32', value: heads }],
    ['llama.attention.head_count_kv', { type: 'UINT32', value: kvHeads }],
    ...[...tok].filter(([k]) => k.startsWith('tokenizer.')),
  ];
  const tensors: { name: string; dims: number[]; type: number; bytes: number }[] = [];
  const f32 = (name: string, dims: number[]) => tensors.push({ name, dims, type: 0, bytes: 4 * dims.reduce((a, b) => a * b, 1) });
  const f16 = (name: string, dims: number[]) => tensors.push({ name, dims, type: 1, bytes: 2 * dims.reduce((a, b) => a * b, 1) });
  f32('token_embd.weight', [dim, vocab]);
  f32('output_norm.weight', [dim]);
  for (let l = 0; l < layers; l++) {
    f32(`blk.${l}.attn_norm.weight`, [dim]);
    f32(`blk.${l}.ffn_norm.weight`, [dim]);
    f16(`blk.${l}.attn_q.weight`, [dim, dim]);
    f16(`blk.${l}.attn_k.weight`, [dim, kv]);
    f16(`blk.${l}.attn_v.weight`, [dim, kv]);
    f16(`blk.${l}.attn_output.weight`, [dim, dim]);
    f16(`blk.${l}.ffn_gate.weight`, [dim, hidden]);
    f16(`blk.${l}.ffn_up.weight`, [dim, hidden]);
    f16(`blk.${l}.ffn_down.weight`, [hidden, dim]);
  }
  parts.push(enc.encode('GGUF'), u32(3), u64(tensors.length), u64(meta.length));
  for (const [k, v] of meta) parts.push(...str(k), u32(TYPES[v.type]), ...value(v));
  let offset = 0;
  for (const t of tensors) {
    parts.push(...str(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(offset));
    offset += Math.ceil(t.bytes / 32) * 32;
  }
  const headerLen = parts.reduce((a, p) => a + p.length, 0);
  const dataStart = Math.ceil(headerLen / 32) * 32;
  const fd = fs.openSync(out, 'w');
  let at = 0;
  for (const p of parts) at += fs.writeSync(fd, p, 0, p.length, at);
  fs.ftruncateSync(fd, dataStart + offset); // the tensors' bytes: a hole of zeros
  fs.closeSync(fd);
  return dataStart + offset;
}
