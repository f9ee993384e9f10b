// The layout of a Hugging Face model directory, over its file names: which files a model needs
// (config.json; model.safetensors, or model.safetensors.index.json and the shards its weight_map
// names; tokenizer.json and tokenizer_config.json when present) and, when one is missing, a one-line error that names the
// directory and what it should hold. Runtime-neutral: the CLI lists and reads a folder with node:fs
// (src/cli/hf_dir.ts), the app a folder or files the user picked (src/worker/engine_worker.ts).
import type { ByteSource } from './byte_source';
import type { HfModelFiles, HfModelSources } from './hf';

export const HF_INDEX = 'model.safetensors.index.json';

/** What the directory should hold, for error messages. */
export const HF_DIR_LAYOUT = `a Hugging Face model directory holds config.json, model.safetensors (or ${HF_INDEX} and its shards) and tokenizer.json`;

/** The small JSON files planHfDir may read (the app reads these first, the weights after planning). */
export const HF_TEXT_FILES: readonly string[] = ['config.json', HF_INDEX, 'tokenizer.json', 'tokenizer_config.json'];

/** Checkpoint files of other formats that a directory may hold instead of safetensors. */
const NOT_SAFETENSORS = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'consolidated.00.pth'];

export interface HfDirPlan {
  config: string; // config.json's text
  index?: string; // model.safetensors.index.json's text, when sharded
  tokenizerJson?: string; // tokenizer.json's text, when present
  tokenizerConfig?: string; // tokenizer_config.json's text, when present with tokenizer.json
  safetensors: string[]; // the weight files to read: model.safetensors, or the shards (sorted)
}

/**
 * Which files of the directory `where` (its file names, without folders) make the model, reading
 * the small JSON files with `readText` (only names of HF_TEXT_FILES that are in `names`). Throws
 * `${where}: ...` when a file is missing or the index is malformed.
 */
export function planHfDir(where: string, names: readonly string[], readText: (name: string) => string): HfDirPlan {
  const has = new Set(names);
  if (!has.has('config.json')) throw new Error(`${where}: no config.json (${HF_DIR_LAYOUT})`);
  const config = readText('config.json');
  const tokenizer = has.has('tokenizer.json')
    ? { tokenizerJson: readText('tokenizer.json'), ...(has.has('tokenizer_config.json') ? { tokenizerConfig: readText('tokenizer_config.json') } : {}) }
    : {};

  if (has.has(HF_INDEX)) {
    const index = readText(HF_INDEX);
    let weightMap: unknown;
    try {
      weightMap = (JSON.parse(index) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new Error(`${where}: ${HF_INDEX} is not JSON (${(e as Error).message.split('\n')[0]})`);
    }
    if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap) || !Object.values(weightMap).every((v) => typeof v === 'string')) {
      throw new Error(`${where}: ${HF_INDEX} has no "weight_map" object of file names`);
    }
    const shards = [...new Set(Object.values(weightMap as Record<string, string>))].sort();
    for (const s of shards) {
      if (s.includes('/') || s.includes('\\') || s === '..' || s === '.') throw new Error(`${where}: ${HF_INDEX} names a shard outside the directory: ${JSON.stringify(s)}`);
    }
    const missing = shards.filter((s) => !has.has(s));
    if (missing.length > 0) {
      throw new Error(`${where}: ${missing.length} of the ${shards.length} shards in ${HF_INDEX} ${missing.length > 1 ? 'are' : 'is'} missing: ${missing.join(', ')}`);
    }
    return { config, index, safetensors: shards, ...tokenizer };
  }
  if (has.has('model.safetensors')) return { config, safetensors: ['model.safetensors'], ...tokenizer };
  const other = NOT_SAFETENSORS.find((n) => has.has(n));
  if (other) throw new Error(`${where}: has ${other} but no model.safetensors: only safetensors weights are read (convert the checkpoint to safetensors)`);
  throw new Error(`${where}: no model.safetensors or ${HF_INDEX} (${HF_DIR_LAYOUT})`);
}

/** The planned files with their weights' bytes (in the plan's order), as parseHfModel takes them. */
export function hfDirFiles(plan: HfDirPlan, weights: readonly Uint8Array[]): HfModelFiles {
  if (weights.length !== plan.safetensors.length) throw new Error(`hfDirFiles: ${weights.length} weight files given for ${plan.safetensors.length} planned`);
  return {
    config: plan.config,
    safetensors: plan.safetensors.map((name, i) => ({ name, bytes: weights[i] })),
    ...(plan.index !== undefined ? { index: plan.index } : {}),
    ...(plan.tokenizerJson !== undefined ? { tokenizerJson: plan.tokenizerJson } : {}),
    ...(plan.tokenizerConfig !== undefined ? { tokenizerConfig: plan.tokenizerConfig } : {}),
  };
}

/** The planned files as hfSourceModel takes them: each weight file the source `open` gives for its name (read per tensor). */
export function hfPlanSources(plan: HfDirPlan, open: (name: string) => ByteSource): HfModelSources {
  return { ...plan, safetensors: plan.safetensors.map(open) };
}
