// Reads a Hugging Face model directory (Node): config.json, model.safetensors or the shards listed
// by model.safetensors.index.json, and tokenizer.json when present, for parseHfModel.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { parseHfModel } from '../model/hf';

export type HfDirFiles = Parameters<typeof parseHfModel>[0];

const LAYOUT = 'a Hugging Face model directory holds config.json, model.safetensors (or model.safetensors.index.json and its shards) and tokenizer.json';

export function isHfDir(dir: string): boolean {
  return existsSync(dir) && statSync(dir).isDirectory() && existsSync(path.join(dir, 'config.json'));
}

export function readHfDir(dir: string): HfDirFiles {
  if (!existsSync(dir)) throw new Error(`${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: not a directory (${LAYOUT})`);
  const file = (name: string) => path.join(dir, name);
  const bytes = (name: string) => {
    const b = readFileSync(file(name));
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  };
  if (!existsSync(file('config.json'))) throw new Error(`${dir}: no config.json (${LAYOUT})`);
  const config = readFileSync(file('config.json'), 'utf8');
  const tokenizerJson = existsSync(file('tokenizer.json')) ? readFileSync(file('tokenizer.json'), 'utf8') : undefined;

  const indexName = 'model.safetensors.index.json';
  if (existsSync(file(indexName))) {
    const index = readFileSync(file(indexName), 'utf8');
    let weightMap: unknown;
    try {
      weightMap = (JSON.parse(index) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new Error(`${dir}: ${indexName} is not JSON (${(e as Error).message.split('\n')[0]})`);
    }
    if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap) || !Object.values(weightMap).every((v) => typeof v === 'string')) {
      throw new Error(`${dir}: ${indexName} has no "weight_map" object of file names`);
    }
    const shards = [...new Set(Object.values(weightMap as Record<string, string>))].sort();
    for (const s of shards) {
      if (s.includes('/') || s.includes('\\') || s === '..' || s === '.') throw new Error(`${dir}: ${indexName} names a shard outside the directory: ${JSON.stringify(s)}`);
    }
    const missing = shards.filter((s) => !existsSync(file(s)));
    if (missing.length > 0) {
      throw new Error(`${dir}: ${missing.length} of the ${shards.length} shards in ${indexName} ${missing.length > 1 ? 'are' : 'is'} missing: ${missing.join(', ')}`);
    }
    return { config, index, safetensors: shards.map((name) => ({ name, bytes: bytes(name) })), ...(tokenizerJson !== undefined ? { tokenizerJson } : {}) };
  }
  if (existsSync(file('model.safetensors'))) {
    return { config, safetensors: [{ name: 'model.safetensors', bytes: bytes('model.safetensors') }], ...(tokenizerJson !== undefined ? { tokenizerJson } : {}) };
  }
  const pytorch = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'consolidated.00.pth'].find((n) => existsSync(file(n)));
  if (pytorch) throw new Error(`${dir}: has ${pytorch} but no model.safetensors: only safetensors weights are read (convert the checkpoint to safetensors)`);
  throw new Error(`${dir}: no model.safetensors or ${indexName} (${LAYOUT})`);
}
