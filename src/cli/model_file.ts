// The model a command names (--model), opened for a per-tensor upload: a GGUF or llama2.c file
// through a file source (no buffer of the whole file: files past 2 GiB open), a Hugging Face folder
// through sources of its safetensors files. A file that is neither is named by what it looks like.
import fs from 'node:fs';
import { hfSourceModel } from '../formats/hf';
import { HF_DIR_LAYOUT } from '../formats/hf_dir';
import type { ParsedSource } from '../formats/parse';
import { parseSourceByContent } from '../model/model_format';
import { fileSource } from './file_source';
import { hfDirSources, isHfDir } from './hf_dir';
import type { ByteSource } from '../formats/byte_source';

/** Opens `file` (a model file or an HF folder) for Model.load; `wrap` may instrument each file's source (tests). */
export async function openModelFile(file: string, wrap: (s: ByteSource) => ByteSource = (s) => s): Promise<ParsedSource> {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new Error(`model ${file}: no such file`);
  }
  if (st.isDirectory() && !isHfDir(file)) throw new Error(`model ${file}: is a directory without config.json (${HF_DIR_LAYOUT}), expected a model file or such a directory`);
  if (isHfDir(file)) {
    const files = hfDirSources(file);
    const hf = await hfSourceModel({ ...files, safetensors: files.safetensors.map(wrap) }, file);
    return { tensors: hf.tensors, format: 'hf', ...(hf.tokenizer ? { tokenizer: hf.tokenizer } : {}) };
  }
  return parseSourceByContent(wrap(fileSource(file))); // neither GGUF nor llama2.c: named by what it looks like (a web page ...)
}
