// A Hugging Face model folder opened in the app (a folder picked whole, or its files selected
// together), read from Blobs: the small JSON files first, then, tensor by tensor, only the weight
// files that the shared plan (src/formats/hf_dir.ts, also the CLI's) names, so the checks and the
// error messages are the CLI's. Used by the worker and loadModel (a FileList picked in a page).
import { hfSourceModel } from '../formats/hf';
import { blobSource } from '../formats/byte_source';
import { HF_INDEX, HF_TEXT_FILES, hfPlanSources, planHfDir } from '../formats/hf_dir';
import type { ParsedSource } from '../formats/parse';

/** A file of a folder: its name (no folders) and contents. */
export interface NamedBlob {
  name: string;
  blob: Blob;
}

export interface HfFolder {
  parsed: ParsedSource; // the model read through byte sources, with the tokenizer of tokenizer.json when there is one
  used: NamedBlob[]; // the files that make the model (kept with a saved session)
  bytes: number; // their total size
}

/**
 * The folder `where` from its files (names without folders), read through byte sources: the JSON
 * files now, each weight tensor when Model.load uploads it (a folder of any size opens with about
 * one tensor in memory); errors start with `${where}:`, as the CLI's.
 */
export async function readHfFolder(where: string, files: readonly NamedBlob[]): Promise<HfFolder> {
  const byName = new Map(files.map((f) => [f.name, f.blob]));
  const texts = new Map<string, string>();
  for (const name of HF_TEXT_FILES) {
    const blob = byName.get(name);
    if (blob) texts.set(name, await blob.text());
  }
  const plan = planHfDir(where, [...byName.keys()], (name) => {
    const text = texts.get(name);
    if (text === undefined) throw new Error(`${where}: ${name} was not read`);
    return text;
  });
  const hf = await hfSourceModel(hfPlanSources(plan, (name) => blobSource(byName.get(name)!, name)), where);
  const parsed: ParsedSource = { tensors: hf.tensors, format: 'hf', ...(hf.tokenizer ? { tokenizer: hf.tokenizer } : {}) };
  const names = ['config.json', ...(plan.index !== undefined ? [HF_INDEX] : []), ...(plan.tokenizerJson !== undefined ? ['tokenizer.json'] : []), ...(plan.tokenizerConfig !== undefined ? ['tokenizer_config.json'] : []), ...plan.safetensors];
  const used = names.map((name) => ({ name, blob: byName.get(name)! }));
  return { parsed, used, bytes: used.reduce((s, f) => s + f.blob.size, 0) };
}

/** The model of the folder `where` (readHfFolder's, without the list of files used). */
export async function openHfFolder(where: string, files: readonly NamedBlob[]): Promise<ParsedSource> {
  return (await readHfFolder(where, files)).parsed;
}
