// What every CLI command shares: one-line errors (an option's error names its flag), reading the
// user's files, opening the GPU and the model (a checkpoint, or the bundled stories260K when none
// is given).
import fs from 'node:fs';
import type { Command } from 'commander';
import path from 'node:path';
import { BACKENDS, createGpu, type Backend, type Gpu, type GpuOptions } from '../gpu/device';
import type { ParsedSource } from '../formats/parse';
import { Model } from '../model/model';
import { Tokenizer, type TextTokenizer } from '../formats/tokenizer';
import { OptionError } from '../train/options';
import { LoraState } from '../adapter/lora';
import type { AdapterTensors } from '../adapter/peft';
import { loadAdapterDir } from './adapter_dir';
import { openModelFile } from './model_file';
import { localModelPath, packageWeights } from './download';

/**
 * The flag of each option the core names in an OptionError (its API name, e.g. `evalEvery`):
 * the one place the CLI's spelling of options meets the API's.
 */
export const FLAGS: Readonly<Record<string, string>> = {
  mode: '--mode',
  q: '--q',
  eps: '--eps',
  lr: '--lr',
  schedule: '--lr-schedule',
  batch: '--batch',
  seq: '--seq',
  steps: '--steps',
  seed: '--seed',
  targets: '--targets',
  rank: '--rank',
  alpha: '--alpha',
  evalEvery: '--eval-every',
  checkpointEvery: '--checkpoint-every',
  trainSize: '--train-size',
  evalSize: '--eval-size',
  evalFraction: '--eval-fraction',
  heldOut: '--held-out',
  onDiverge: '--on-diverge',
  loss: '--loss',
  candidates: '--loss', // the classification loss's candidates per example
  optimizer: '--optimizer',
  beta1: '--beta1',
  beta2: '--beta2',
  zoRank: '--zo-rank',
  hessianSmooth: '--hessian-smooth',
  maxMemoryMiB: '--max-memory',
};

/** An error's one line for the command line: an OptionError names the flag, not the API option. */
export function errorLine(e: unknown): string {
  if (e instanceof OptionError) return `${FLAGS[e.option] ?? `--${e.option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`} ${e.problem}`;
  return e instanceof Error ? e.message : String(e);
}

/** Runs a command body; any error becomes `mobizo <cmd>: <message>` on stderr and exit code 1. */
export async function runAction(cmd: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const msg = errorLine(e);
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

/** --model, --tokenizer (and --adapter) as every model command takes them. */
export function modelOptions(cmd: Command, opts: { adapter: boolean; many?: boolean }): Command {
  cmd
    .option('--model <path>', 'llama2.c .bin, GGUF (F32, F16, BF16, Q8_0, Q4_0-Q5_1, Q2_K-Q6_K), a Hugging Face folder, a known name (mobizo fetch --list) or a hub reference hf:owner/repo[/file.gguf]; none: the bundled stories260K')
    .option('--tokenizer <file>', 'llama2.c tokenizer (default: the GGUF/HF one, a known model\'s own, or tokenizer.bin beside a .bin)')
    .option('--backend <name>', 'auto (WebGPU on a real GPU, else WebAssembly on the CPU), webgpu or wasm; default: env MOBIZO_BACKEND or auto')
    .option('--threads <n>', 'wasm backend: CPU threads (default: every core)', (v) => parseIntOption(v, '--threads', 1));
  if (opts.adapter) {
    const many = opts.many ? '; a comma list a,b,c runs every adapter in one batched pass and reports each' : '';
    cmd.option(opts.many ? '--adapter <dirs>' : '--adapter <dir>', `LoRA adapter directory (PEFT layout, e.g. from mobizo finetune --out)${many}`);
  }
  return cmd;
}

export interface ModelOptions {
  model?: string;
  tokenizer?: string;
  backend?: string; // --backend: auto | webgpu | wasm
  threads?: number; // --threads (wasm)
  adapter?: string; // LoRA adapter directory (PEFT layout)
}

export interface Loaded {
  gpu: Gpu;
  model: Model;
  tokenizer: TextTokenizer;
  name: string;
  path: string; // the model's file or folder on disk (a known name or hub reference: its copy in the cache)
  lora?: LoraState; // loaded from --adapter
  /** --adapter a,b,c (commands that take many): each adapter's directory and tensors. */
  adapters?: { dirs: string[]; tensors: AdapterTensors[] };
}

/** createGpu's options from --backend / --threads (the flag's name in the error of a bad value). */
export function gpuOptions(opts: { backend?: string; threads?: number }): GpuOptions {
  if (opts.backend !== undefined && !BACKENDS.includes(opts.backend as Backend)) {
    throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got ${opts.backend}`);
  }
  return { backend: opts.backend as Backend | undefined, threads: opts.threads };
}

/**
 * Opens the GPU, loads model + tokenizer. --model is a GGUF (its own tokenizer), a Hugging Face
 * directory (tokenizer.json) or a llama2.c checkpoint (--tokenizer, default: the one a known model
 * comes with, or tokenizer.bin beside it); --tokenizer overrides with a llama2.c tokenizer. No --model: the bundled stories260K.
 */
export async function openModel(opts: ModelOptions, log: (s: string) => void, take: { many?: boolean } = {}): Promise<Loaded> {
  const dirs = opts.adapter?.split(',').map((d) => d.trim()) ?? [];
  if (dirs.length > 1 && !take.many) throw new Error(`--adapter takes one directory here, got ${dirs.length} (${opts.adapter})`);
  if (dirs.some((d) => !d)) throw new Error(`--adapter ${opts.adapter}: an empty directory name in the list`);
  let parsed: ParsedSource;
  let tokenizer: TextTokenizer;
  let modelPath: string;
  if (opts.model) {
    const local = await localModelPath(opts.model, log); // a known name or hub reference: downloaded into the cache
    const model = local.model;
    modelPath = model;
    parsed = await openModelFile(model); // read per tensor: any size; a web page or random bytes named as such
    const file = parsed.tensors;
    if (opts.tokenizer || !parsed.tokenizer) {
      // --tokenizer, else the one a known model comes with, else tokenizer.bin beside the checkpoint
      const tokName = opts.tokenizer ?? local.tokenizer ?? path.join(path.dirname(model), 'tokenizer.bin');
      if (!opts.tokenizer && !fs.existsSync(tokName)) throw new Error(`no tokenizer given and none at ${tokName}: pass --tokenizer FILE`);
      tokenizer = Tokenizer.fromLlama2c(readUserFile(tokName, 'tokenizer'), file.config.vocabSize, tokName);
    } else {
      tokenizer = parsed.tokenizer;
      if (tokenizer.vocabSize !== file.config.vocabSize) {
        throw new Error(`${model}: the embedded tokenizer has ${tokenizer.vocabSize} tokens, the model's vocabulary ${file.config.vocabSize}`);
      }
    }
  } else {
    if (opts.tokenizer) throw new Error('--tokenizer needs --model');
    const bundled = bundledModel();
    log(`no --model given: using the bundled stories260K (${path.relative(process.cwd(), bundled.model) || bundled.model}; a 260K-parameter TinyStories model, MIT)`);
    modelPath = bundled.model;
    parsed = await openModelFile(bundled.model);
    tokenizer = Tokenizer.fromLlama2c(readUserFile(bundled.tokenizer, 'bundled tokenizer'), parsed.tensors.config.vocabSize, bundled.tokenizer);
  }
  // Everything was parsed before touching the GPU, so bad files fail fast and alone.
  const gpu = await createGpu(gpuOptions(opts));
  log(`backend ${gpu.describe()}`);
  const model = await Model.load(gpu, parsed.tensors);
  const name = opts.model ?? 'stories260K';
  if (dirs.length > 1) {
    const tensors = dirs.map((d) => loadAdapterDir(d, model.config));
    tensors.forEach((a, i) => log(`adapter ${i}: ${dirs[i]} (rank ${a.rank}, targets ${a.targets.join(',')})`));
    return { gpu, model, tokenizer, name, path: modelPath, adapters: { dirs, tensors } };
  }
  const lora = opts.adapter ? LoraState.fromAdapter(gpu, model.config, loadAdapterDir(opts.adapter, model.config)) : undefined;
  if (lora) log(`adapter: ${opts.adapter} (rank ${lora.config.rank}, targets ${lora.config.targets.join(',')})`);
  return { gpu, model, tokenizer, name, path: modelPath, lora };
}

/** The model that ships in the package (weights/README.md): stories260K and its tokenizer. */
export function bundledModel(): { model: string; tokenizer: string } {
  const dir = packageWeights();
  return { model: path.join(dir, 'stories260K.bin'), tokenizer: path.join(dir, 'tok512.bin') };
}
