// What every CLI command shares: one-line errors, reading the user's files, opening the GPU and
// the model (a checkpoint, or the built-in toy model when none is given).
import fs from 'node:fs';
import path from 'node:path';
import { createGpu, type Gpu } from '../gpu/device';
import { parseModelFile } from '../model/load';
import { Model } from '../model/model';
import { Tokenizer } from '../model/tokenizer';
import { toyModel, toyTokenizerBytes } from '../model/toy';
import { LoraState } from '../zo/lora';
import { loadAdapterDir } from './adapter_dir';

/** Runs a command body; any error becomes `mobizo <cmd>: <message>` on stderr and exit code 1. */
export async function runAction(cmd: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`mobizo ${cmd}: ${msg}\n`);
    if (process.env.MOBIZO_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
}

/** Reads a file the user named; the error says which option named it. */
export function readUserFile(file: string, what: string): Uint8Array {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new Error(`${what} ${file}: no such file`);
  }
  if (st.isDirectory()) throw new Error(`${what} ${file}: is a directory, expected a file`);
  return new Uint8Array(fs.readFileSync(file));
}

export function parseIntOption(value: string, name: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${value}`);
  return n;
}

export function parseFloatOption(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${value}`);
  return n;
}

export interface ModelOptions {
  model?: string;
  tokenizer?: string;
  adapter?: string; // LoRA adapter directory (PEFT layout)
}

export interface Loaded {
  gpu: Gpu;
  model: Model;
  tokenizer: Tokenizer;
  name: string;
  lora?: LoraState; // loaded from --adapter
}

/** Opens the GPU, loads model + tokenizer (default tokenizer: tokenizer.bin beside the model). */
export async function openModel(opts: ModelOptions, log: (s: string) => void): Promise<Loaded> {
  let bytes: Uint8Array | null = null;
  let tokBytes: Uint8Array;
  let tokName: string;
  if (opts.model) {
    bytes = readUserFile(opts.model, 'model');
    tokName = opts.tokenizer ?? path.join(path.dirname(opts.model), 'tokenizer.bin');
    if (!opts.tokenizer && !fs.existsSync(tokName)) {
      throw new Error(`no tokenizer given and none at ${tokName}: pass --tokenizer FILE`);
    }
    tokBytes = readUserFile(tokName, 'tokenizer');
  } else {
    if (opts.tokenizer) throw new Error('--tokenizer needs --model');
    log('no --model given: using the built-in toy model (random weights, its text is noise); try `mobizo fetch stories260K`');
    tokName = 'toy tokenizer';
    tokBytes = toyTokenizerBytes();
  }
  // Parse everything before touching the GPU, so bad files fail fast and alone.
  const file = bytes ? parseModelFile(bytes, opts.model!) : toyModel();
  const tokenizer = Tokenizer.fromLlama2c(tokBytes, file.config.vocabSize, tokName);
  const gpu = await createGpu();
  log(`adapter: ${gpu.adapterInfo}`);
  const model = await Model.load(gpu, file);
  const lora = opts.adapter ? LoraState.fromAdapter(gpu, model.config, loadAdapterDir(opts.adapter, model.config)) : undefined;
  if (lora) log(`adapter: ${opts.adapter} (rank ${lora.config.rank}, targets ${lora.config.targets.join(',')})`);
  return { gpu, model, tokenizer, name: opts.model ?? 'toy', lora };
}
