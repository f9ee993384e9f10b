// Model files by content: GGUF (magic "GGUF") or a llama2.c checkpoint (Hugging Face folders: hf.ts). A GGUF file carries its
// tokenizer and, for quantised tensors, the raw blocks the GPU matmuls read directly.
import type { LlamaModelFile } from './config';
import { parseGguf } from './gguf';
import { ggufToModelFile, type GgufModelFile } from './gguf_model';
import { GgufTokenizer } from './gguf_tokenizer';
import { parseLlama2c } from './llama2c';
import type { TextTokenizer } from './tokenizer';
import type { ByteSource } from './byte_source';
import type { ModelTensors } from './model_tensors';
import { ggufSourceModel } from './gguf_source';
import { llama2cSourceModel } from './llama2c';

export interface ParsedModel {
  file: LlamaModelFile;
  format: 'gguf' | 'llama2c' | 'hf';
  tokenizer?: TextTokenizer; // embedded (GGUF)
  raw?: GgufModelFile['rawTensors']; // GGUF tensors as stored (for quantised weights)
}

export function isGguf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46;
}

export function parseModel(bytes: Uint8Array, source: string): ParsedModel {
  if (isGguf(bytes)) {
    const g = parseGguf(bytes, source);
    const file = ggufToModelFile(g, bytes, source);
    return { file, format: 'gguf', tokenizer: GgufTokenizer.fromGguf(g, source), raw: file.rawTensors };
  }
  return { file: parseLlama2c(bytes, source), format: 'llama2c' };
}

export function parseModelFile(bytes: Uint8Array, source: string): LlamaModelFile {
  return parseModel(bytes, source).file;
}

/** A model file read through a ByteSource: its tensors are read when Model.load uploads them. */
export interface ParsedSource {
  tensors: ModelTensors;
  format: 'gguf' | 'llama2c' | 'hf';
  tokenizer?: TextTokenizer; // embedded (GGUF, an HF folder's tokenizer.json)
}

/**
 * A GGUF file or a llama2.c checkpoint, by content, read through a ByteSource: the header now (a few
 * MiB at most), each tensor when it is uploaded, so a file of any size opens with about one tensor
 * in memory. Errors as parseModel's.
 */
export async function parseModelSource(src: ByteSource): Promise<ParsedSource> {
  if (isGguf(await src.read(0, Math.min(src.size, 4)))) {
    const g = await ggufSourceModel(src);
    return { tensors: g.tensors, format: 'gguf', tokenizer: g.tokenizer };
  }
  return { tensors: await llama2cSourceModel(src), format: 'llama2c' };
}
