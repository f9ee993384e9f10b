// Reads a Hugging Face model directory (Node) for parseHfModel: the listing and reading are node:fs,
// which files are needed and the errors are src/model/hf_dir.ts (shared with the browser app).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { HfModelFiles, HfModelSources } from '../formats/hf';
import { fileSource } from './file_source';
import { HF_DIR_LAYOUT, hfDirFiles, hfPlanSources, planHfDir } from '../formats/hf_dir';

export type HfDirFiles = HfModelFiles;

export function isHfDir(dir: string): boolean {
  return existsSync(dir) && statSync(dir).isDirectory() && existsSync(path.join(dir, 'config.json'));
}

export function readHfDir(dir: string): HfDirFiles {
  if (!existsSync(dir)) throw new Error(`${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: not a directory (${HF_DIR_LAYOUT})`);
  const file = (name: string) => path.join(dir, name);
  const plan = planHfDir(dir, readdirSync(dir), (name) => readFileSync(file(name), 'utf8'));
  const weights = plan.safetensors.map((name) => {
    const b = readFileSync(file(name));
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  });
  return hfDirFiles(plan, weights);
}

/** The directory's files for hfSourceModel: the JSON texts read, the safetensors files as sources (read per tensor). */
export function hfDirSources(dir: string): HfModelSources {
  if (!existsSync(dir)) throw new Error(`${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: not a directory (${HF_DIR_LAYOUT})`);
  const plan = planHfDir(dir, readdirSync(dir), (name) => readFileSync(path.join(dir, name), 'utf8'));
  return hfPlanSources(plan, (name) => fileSource(path.join(dir, name), name));
}
