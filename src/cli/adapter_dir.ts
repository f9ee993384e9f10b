// Adapters and checkpoints on disk: a directory in the Hugging Face PEFT layout
// (adapter_config.json + adapter_model.safetensors) plus trainer_state.json for resuming.
import fs from 'node:fs';
import path from 'node:path';
import type { LlamaConfig } from '../formats/config';
import type { Model } from '../model/model';
import { readAdapter, type AdapterTensors } from '../adapter/peft';
import { parseCheckpoint, type CheckpointFiles, type CheckpointStore } from '../train/trainer';
import { OPTIMIZER_STATE_FILE } from '../train/optimizer';

function need(dir: string, name: string): string {
  const p = path.join(dir, name);
  if (!fs.existsSync(p)) throw new Error(`adapter directory ${dir}: missing ${name}`);
  return p;
}

export function loadAdapterDir(dir: string, config: LlamaConfig): AdapterTensors {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`--adapter ${dir}: no such directory`);
  const cfg = fs.readFileSync(need(dir, 'adapter_config.json'), 'utf8');
  const st = new Uint8Array(fs.readFileSync(need(dir, 'adapter_model.safetensors')));
  return readAdapter({ config: cfg, safetensors: st }, config, dir);
}

export function loadCheckpointDir(dir: string, model: Model) {
  const cfg = fs.readFileSync(need(dir, 'adapter_config.json'), 'utf8');
  const st = new Uint8Array(fs.readFileSync(need(dir, 'adapter_model.safetensors')));
  const state = fs.readFileSync(need(dir, 'trainer_state.json'), 'utf8');
  const opt = path.join(dir, OPTIMIZER_STATE_FILE); // the moments of momentum / adam / hizoo
  const optimizer = fs.existsSync(opt) ? new Uint8Array(fs.readFileSync(opt)) : undefined;
  return parseCheckpoint({ config: cfg, safetensors: st, state, optimizer }, model, dir);
}

/** Saves checkpoints into `dir`; each file is written beside and renamed, so a crash mid-write keeps the previous one. */
export function directoryStore(dir: string): CheckpointStore {
  return {
    async save(files: CheckpointFiles) {
      fs.mkdirSync(dir, { recursive: true });
      for (const [name, data] of Object.entries(files)) {
        const tmp = path.join(dir, `.${name}.tmp`);
        fs.writeFileSync(tmp, data);
        fs.renameSync(tmp, path.join(dir, name));
      }
    },
  };
}
