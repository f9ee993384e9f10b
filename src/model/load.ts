// Model files by content: llama2.c checkpoints for now (GGUF and safetensors are planned).
import type { Gpu } from '../gpu/device';
import type { LlamaModelFile } from './config';
import { parseLlama2c } from './llama2c';
import { Model } from './model';

export function parseModelFile(bytes: Uint8Array, source: string): LlamaModelFile {
  if (bytes.length >= 4 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46) {
    throw new Error(`${source}: GGUF files are not supported yet (use a llama2.c .bin checkpoint)`);
  }
  return parseLlama2c(bytes, source);
}

/** Parses a checkpoint's bytes and uploads it to the GPU. */
export async function loadModel(gpu: Gpu, bytes: Uint8Array, source: string): Promise<Model> {
  return Model.load(gpu, parseModelFile(bytes, source));
}
