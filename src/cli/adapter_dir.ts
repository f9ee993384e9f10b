// A LoRA adapter directory in the Hugging Face PEFT layout (adapter_config.json +
// adapter_model.safetensors), as --adapter names it. The checkpoints of a run beside it
// (checkpoint-<step>/): src/cli/checkpoint_dir.ts.
import fs from 'node:fs';
import path from 'node:path';
import type { LlamaConfig } from '../formats/config';
import { readAdapter, type AdapterTensors } from '../adapter/peft';

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
