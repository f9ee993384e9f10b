// Loading a checkpoint onto the GPU: its bytes are parsed by content (formats/parse.ts) and
// uploaded; quantised GGUF weights stay quantised.
import type { Gpu } from '../gpu/device';
import { parseModel } from '../formats/parse';
import { Model } from './model';

/** Parses a checkpoint's bytes and uploads it to the GPU (quantised GGUF weights stay quantised). */
export async function loadModel(gpu: Gpu, bytes: Uint8Array, source: string): Promise<Model> {
  const p = parseModel(bytes, source);
  return Model.load(gpu, p.file, p.raw);
}
