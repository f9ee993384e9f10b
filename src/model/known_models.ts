// The known models (weights/manifest.json): checkpoints by URL with pinned sizes and sha256 (the
// TinyStories llama2.c models, model file then its llama2.c tokenizer), and Hugging Face references
// of the families this engine runs (GGUF files and HF model repositories), checked against the
// hub's own hashes when downloaded. `loadModel(gpu, name)` and `mobizo fetch <name>` take a name.
import manifestJson from '../../weights/manifest.json' with { type: 'json' };

/** One file of a checkpoint given by URL. */
export interface WeightFile {
  file: string; // local file name (no directories)
  url: string; // public download URL
  mirrorPath?: string; // path under a mirror's root; default: `file`
  bytes: number;
  sha256: string | null; // null: unknown, the download is not verified
}

/** A known model: files by URL (the first the checkpoint, a second its llama2.c tokenizer), or a hub reference. */
export interface ModelEntry {
  name: string;
  description: string;
  bundled?: boolean; // its files ship in weights/ (the default model of the commands)
  files?: WeightFile[];
  hub?: string; // a Hugging Face reference: hf:owner/repo[/file.gguf]
  family?: string; // the architecture family, for the list
}

export interface WeightsManifest {
  models: ModelEntry[];
}

/** The package's manifest of known models. */
export const knownModels: WeightsManifest = manifestJson as WeightsManifest;

/** The entry named `name` (case-insensitive), or undefined. */
export function knownModel(name: string, manifest: WeightsManifest = knownModels): ModelEntry | undefined {
  const n = name.toLowerCase();
  return manifest.models.find((m) => m.name.toLowerCase() === n);
}
