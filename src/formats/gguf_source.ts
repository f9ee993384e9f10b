// A GGUF file read through a ByteSource (src/formats/byte_source.ts): the header and metadata
// first (a few MiB at most: the tokenizer's arrays), then each tensor's bytes when Model.load
// uploads it. The same checks and config as a GGUF in memory (gguf_model.ts).
import type { ByteSource } from './byte_source';
import { readGgufHeader, tensorToFloat, type GgufFile, type GgufTensor } from './gguf';
import { ggufModel } from './gguf_model';
import { GgufTokenizer } from './gguf_tokenizer';
import { presentTensors, sameRanges, sourceTensors, type ModelTensors, type SourceTensor } from './model_tensors';

export async function ggufSourceModel(src: ByteSource): Promise<{ gguf: GgufFile; tensors: ModelTensors; tokenizer: GgufTokenizer }> {
  const g = await readGgufHeader(src);
  const source = src.name;
  const at = (t: GgufTensor) => ({ src, offset: t.byteOffset, nbytes: t.nbytes });
  const f32 = (t: GgufTensor, bytes: Uint8Array) => tensorToFloat({ ...t, byteOffset: 0 }, bytes, source);
  // the only data the config needs: llama's rope_freqs, and whether output.weight copies the embedding
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const rf = byName.get('rope_freqs.weight');
  const rfValues = rf ? f32(rf, await src.read(rf.byteOffset, rf.nbytes)) : undefined;
  const [out, embd] = [byName.get('output.weight'), byName.get('token_embd.weight')];
  const same = !!out && !!embd && out.type === embd.type && (await sameRanges(at(out), at(embd)));
  const file = ggufModel(g, {
    f32: (t) => {
      if (t === rf && rfValues) return rfValues;
      throw new Error(`${source}: internal: tensor "${t.name}" is read through the source, per tensor`);
    },
    same: () => same,
  }, source);
  const tensors = new Map<string, SourceTensor>();
  for (const name of presentTensors(file)) {
    const t = byName.get(name)!;
    tensors.set(name, { ...at(t), type: t.type, shape: t.shape, storedLayout: true, toF32: (bytes) => f32(t, bytes) });
  }
  return { gguf: g, tensors: sourceTensors(file.config, tensors), tokenizer: GgufTokenizer.fromGguf(g, source) };
}
