// Section 1 of the page: which model the user picked. A checkpoint file (llama2.c .bin with its
// tokenizer, or .gguf), or a Hugging Face model: a folder (<input webkitdirectory>) or its files
// selected together. The page only collects the files; the worker checks the folder with the
// CLI's rules and messages (src/worker/hf_folder.ts -> src/model/hf_dir.ts).
import type { ModelSource, NamedBlob } from '../worker/protocol';
import { ui } from './page';

/** Files only a Hugging Face model has (config.json, tokenizer.json, the index, the weights). */
const HF_FILE = /\.(safetensors|json)$/i;

/** What "several files selected together" is called in messages (there is no folder name). */
const SELECTED_FILES = 'the selected files';

export interface PickedModel {
  source: Exclude<ModelSource, { kind: 'demo' }>;
  label: string; // for the busy line
  bytes: number; // the weights' size
}

/** The files directly inside a folder picked with webkitdirectory, and the folder's name. */
function folderContents(files: File[]): { name: string; files: NamedBlob[] } {
  const name = files[0].webkitRelativePath.split('/')[0] || files[0].name;
  const inside = files.filter((f) => f.webkitRelativePath.split('/').length === 2); // not in subfolders
  return { name, files: inside.map((f) => ({ name: f.name, blob: f })) };
}

/** The model the inputs describe; throws an Error saying what to choose when they describe none. */
export function pickedModel(): PickedModel {
  const folder = [...(ui.modelDir.files ?? [])];
  const picked = [...(ui.modelFile.files ?? [])];
  const tok = ui.tokFile.files?.[0];
  const tokenizer = tok ? { tokenizer: tok, tokenizerName: tok.name } : {};
  if (folder.length > 0 || picked.length > 1 || picked.some((f) => HF_FILE.test(f.name))) {
    const hf = folder.length > 0 ? folderContents(folder) : { name: SELECTED_FILES, files: picked.map((f) => ({ name: f.name, blob: f as Blob })) };
    const bytes = hf.files.filter((f) => /\.safetensors$/i.test(f.name)).reduce((s, f) => s + f.blob.size, 0);
    return { source: { kind: 'hf', ...hf, ...tokenizer }, label: folder.length > 0 ? `the folder ${hf.name}` : `${hf.files.length} files`, bytes };
  }
  const model = picked[0];
  if (!model) throw new Error('Choose a checkpoint file (llama2.c .bin or .gguf) or a Hugging Face model folder first.');
  if (!tok && !/\.gguf$/i.test(model.name)) throw new Error('Choose the tokenizer file too (llama2.c checkpoints come with a tokenizer .bin, e.g. tok512.bin).');
  return { source: { kind: 'files', model, modelName: model.name, ...tokenizer }, label: model.name, bytes: model.size };
}

/** A checkpoint file and a folder exclude each other: picking one clears the other. */
export function bindModelInputs(): void {
  ui.modelFile.addEventListener('change', () => {
    if (ui.modelFile.files?.length) ui.modelDir.value = '';
  });
  ui.modelDir.addEventListener('change', () => {
    if (ui.modelDir.files?.length) ui.modelFile.value = '';
  });
}
