// loadModel: one function from whatever a developer holds to a Model on the GPU that carries its
// tokenizer. Bytes, a File, a folder of files picked in a page, a URL, a Node path, a Hugging Face
// reference or a known model's name; the file is recognised by its content (GGUF, llama2.c, an HF
// folder's config.json + safetensors) and read through a byte source: its header before the GPU is
// touched, each tensor when it is uploaded (quantised GGUF weights stay quantised), so a file of any
// size loads with about one tensor in host memory. The tokenizer is the file's own (GGUF metadata, the
// folder's tokenizer.json), or for llama2.c the `tokenizer` option (a Node path: tokenizer.bin
// beside the checkpoint when there is one).
import type { Gpu } from '../gpu/device';
import { blobSource, bytesSource } from '../formats/byte_source';
import type { ParsedSource } from '../formats/parse';
import { Tokenizer, type TextTokenizer } from '../formats/tokenizer';
import { isNode, nodeIo } from '../util/node_io';
import { openHfFolder, type NamedBlob } from './hf_folder';
import { formatHubRef, hubFiles, parseHubRef, type HubOptions } from './hub';
import { knownModel, type ModelEntry } from './known_models';
import { parseSourceByContent } from './model_format';
import { Model } from './model';
import { fetchInto, memoryPart, checkPart } from './transfer';
import { defaultCache } from './model_cache';

/**
 * What loadModel reads: a checkpoint's bytes; a `File` / `Blob`; a `FileList` or array of files (a
 * Hugging Face folder picked in a page: config.json, safetensors, tokenizer.json; or a llama2.c
 * checkpoint with its tokenizer file); an http(s) URL; in Node a file or folder path; a Hugging
 * Face reference (`hf:owner/repo/file.gguf`, `hf:owner/repo`, or `owner/repo`); or the name of a
 * known model (`mobizo fetch --list`).
 */
export type ModelSource = Uint8Array | ArrayBuffer | Blob | FileList | readonly Blob[] | string | URL;

/** A llama2.c tokenizer file: bytes, a Blob, a URL, or a Node path. */
export type TokenizerSource = Uint8Array | ArrayBuffer | Blob | string | URL;

/** loadModel's options; the hub options apply to references and known names. */
export interface LoadModelOptions extends HubOptions {
  /** Names the model in errors (default: the file name, URL or reference). */
  name?: string;
  /** A llama2.c tokenizer file; for a GGUF or HF model it replaces the file's own tokenizer. */
  tokenizer?: TokenizerSource;
}

/** A model read from its source, before the GPU. */
interface ReadModel {
  parsed: ParsedSource;
  name: string;
  tokenizerFile?: Uint8Array; // a llama2.c tokenizer that came with the source
}

/**
 * Loads a model onto `gpu` from `source` (see ModelSource); `model.tokenizer` is its tokenizer.
 * The third argument may be the old `name` string.
 */
export async function loadModel(gpu: Gpu, source: ModelSource, options: LoadModelOptions | string = {}): Promise<Model> {
  const opened = await resolveModel(source, typeof options === 'string' ? { name: options } : options);
  const model = await Model.load(gpu, opened.parsed.tensors);
  model.tokenizer = opened.tokenizer;
  return model;
}

/** A model read and parsed from its source, with its tokenizer: everything loadModel does before the GPU. */
export interface OpenedModel {
  parsed: ParsedSource;
  name: string;
  tokenizer?: TextTokenizer;
}

/** Reads and parses `source` and finds its tokenizer (no GPU): bad files fail here, fast and alone. */
export async function resolveModel(source: ModelSource, o: LoadModelOptions = {}): Promise<OpenedModel> {
  const read = await readModel(source, o);
  return { parsed: read.parsed, name: read.name, tokenizer: await modelTokenizer(read, o) };
}

/** The tokenizer of a read model: `opts.tokenizer`, the file's own, the one that came with it, or none. */
async function modelTokenizer(r: ReadModel, o: LoadModelOptions): Promise<TextTokenizer | undefined> {
  const vocab = r.parsed.tensors.config.vocabSize;
  if (o.tokenizer !== undefined) {
    const { bytes, name } = await tokenizerBytes(o.tokenizer);
    return Tokenizer.fromLlama2c(bytes, vocab, name);
  }
  if (r.parsed.tokenizer) {
    if (r.parsed.tokenizer.vocabSize !== vocab) throw new Error(`${r.name}: the embedded tokenizer has ${r.parsed.tokenizer.vocabSize} tokens, the model's vocabulary ${vocab}`);
    return r.parsed.tokenizer;
  }
  if (r.tokenizerFile) return Tokenizer.fromLlama2c(r.tokenizerFile, vocab, `${r.name}'s tokenizer`);
  return undefined; // a llama2.c checkpoint alone: FineTuner / generateText then need a tokenizer
}

async function tokenizerBytes(t: TokenizerSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (t instanceof Uint8Array) return { bytes: t, name: 'tokenizer' };
  if (t instanceof ArrayBuffer) return { bytes: new Uint8Array(t), name: 'tokenizer' };
  if (typeof Blob !== 'undefined' && t instanceof Blob) return { bytes: new Uint8Array(await t.arrayBuffer()), name: (t as File).name ?? 'tokenizer' };
  const s = String(t);
  if (isUrl(s) || !isNode) return { bytes: await fetchBytes(s, {}), name: s };
  return { bytes: await readPath(s, 'tokenizer'), name: s };
}

const isUrl = (s: string) => /^(https?|blob|data):/i.test(s);

/** Reads and parses the source (no GPU yet), with the right message for each kind of mistake. */
async function readModel(source: ModelSource, o: LoadModelOptions): Promise<ReadModel> {
  if (source instanceof Uint8Array) return bytesModel(source, o.name ?? 'model');
  if (source instanceof ArrayBuffer) return bytesModel(new Uint8Array(source), o.name ?? 'model');
  if (typeof Blob !== 'undefined' && source instanceof Blob) return blobModel(source, o.name ?? ((source as File).name || 'model'));
  if (source instanceof URL) return stringModel(source.href, o);
  if (typeof source === 'string') return stringModel(source, o);
  if (isFileList(source)) return filesModel(Array.from(source), o);
  throw new TypeError(`loadModel: source must be bytes, a File or Blob, a FileList, a URL, a path or a hub reference, got ${describe(source)}`);
}

function isFileList(s: unknown): s is ArrayLike<Blob> {
  return (Array.isArray(s) || (typeof FileList !== 'undefined' && s instanceof FileList)) && Array.from(s as ArrayLike<unknown>).every((f) => typeof Blob !== 'undefined' && f instanceof Blob);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}

const fileName = (p: string) => decodeURIComponent(p.replace(/\/+$/, '').split('/').pop() || p);

async function bytesModel(bytes: Uint8Array, name: string): Promise<ReadModel> {
  return { parsed: await parseSourceByContent(bytesSource(bytes, name)), name };
}

/** A Blob (a File, a file-backed Blob of Node's openAsBlob, a cached download): read slice by slice. */
async function blobModel(blob: Blob, name: string): Promise<ReadModel> {
  return { parsed: await parseSourceByContent(blobSource(blob, name)), name };
}

/**
 * A list of files: an HF folder when it holds config.json; otherwise one checkpoint (the largest
 * file) and, beside a llama2.c checkpoint, its tokenizer (the other file).
 */
async function filesModel(files: Blob[], o: LoadModelOptions): Promise<ReadModel> {
  if (files.length === 0) throw new Error('loadModel: the list of files is empty');
  const named: NamedBlob[] = files.map((f, i) => ({ name: fileName((f as File).name || `file${i}`), blob: f }));
  const rel = (files[0] as File & { webkitRelativePath?: string }).webkitRelativePath;
  const where = o.name ?? (rel?.includes('/') ? rel.split('/')[0] : 'the selected files');
  if (named.some((f) => f.name === 'config.json')) return { parsed: await openHfFolder(where, named), name: where };
  if (named.length > 2) throw new Error(`${where}: ${named.length} files without a config.json: pick one model file (GGUF or llama2.c, with its tokenizer file), or a Hugging Face folder`);
  const [model, tok] = [...named].sort((a, b) => b.blob.size - a.blob.size);
  const read = await blobModel(model.blob, o.name ?? model.name);
  if (tok && !read.parsed.tokenizer) read.tokenizerFile = new Uint8Array(await tok.blob.arrayBuffer());
  return read;
}

/** A string: a URL, a hub reference, a Node path, or a known model's name (in that order; see ModelSource). */
async function stringModel(s: string, o: LoadModelOptions): Promise<ReadModel> {
  if (isNode && /^file:/i.test(s)) s = decodeURIComponent(new URL(s).pathname);
  if (isUrl(s)) return bytesModel(await fetchBytes(s, o), o.name ?? fileName(new URL(s).pathname));
  if (s.startsWith('hf:')) return hubModel(s, o);
  if (isNode) {
    const { fsp } = await nodeIo();
    const st = await fsp.stat(s).catch(() => null);
    if (st) return pathModel(s, st.isDirectory(), o);
  }
  const known = knownModel(s);
  if (known) return knownModelRead(known, o);
  if (parseHubRef(s)) return hubModel(s, o);
  if (isNode) throw new Error(`${s}: no such file or folder, and not a hub reference (hf:owner/repo[/file.gguf]) or a known model name (mobizo fetch --list)`);
  return bytesModel(await fetchBytes(s, o), o.name ?? fileName(s)); // a relative URL in a page
}

async function hubModel(s: string, o: LoadModelOptions): Promise<ReadModel> {
  const ref = parseHubRef(s);
  if (!ref) throw new Error(`${s}: not a Hugging Face reference (hf:owner/repo[@revision][/path/file.gguf])`);
  const files = await hubFiles(ref, o);
  const name = o.name ?? formatHubRef(ref);
  if (ref.file) return blobModel(files[0].blob, name);
  return { parsed: await openHfFolder(name, files), name };
}

/** A known model: its hub reference, or its files by URL (checked against the manifest, cached). */
async function knownModelRead(m: ModelEntry, o: LoadModelOptions): Promise<ReadModel> {
  if (m.hub) return hubModel(m.hub, { ...o, name: o.name ?? m.name });
  const files = m.files ?? [];
  if (!files.length) throw new Error(`known model ${m.name} has neither files nor a hub reference`);
  const cache = o.cache === false ? null : await defaultCache(typeof o.cache === 'string' ? o.cache : undefined);
  const blobs: Blob[] = [];
  for (const f of files) {
    const key = `urls/${m.name}/${f.file}`;
    const hit = await cache?.get(key);
    if (hit) {
      o.onProgress?.({ file: f.file, loaded: hit.size, total: hit.size, cached: true });
      blobs.push(hit.blob);
      continue;
    }
    const part = cache ? await cache.part(key) : memoryPart();
    await fetchInto(f.url, part, f.file, f.bytes, { fetch: o.fetch, signal: o.signal, onProgress: o.onProgress, log: o.log });
    await checkPart(part, f.file, f.url, { size: f.bytes, sha256: f.sha256 });
    blobs.push(cache ? (await cache.commit(key)).blob : new Blob([(part as ReturnType<typeof memoryPart>).bytes() as BlobPart]));
  }
  const read = await blobModel(blobs[0], o.name ?? m.name);
  if (blobs[1] && !read.parsed.tokenizer) read.tokenizerFile = new Uint8Array(await blobs[1].arrayBuffer());
  return read;
}

/** A Node path: a checkpoint file (a llama2.c one takes tokenizer.bin beside it), or an HF folder. */
async function pathModel(p: string, dir: boolean, o: LoadModelOptions): Promise<ReadModel> {
  const { fs, fsp, path } = await nodeIo();
  const name = o.name ?? p;
  if (dir) {
    const names = (await fsp.readdir(p, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
    const files = await Promise.all(names.map(async (n) => ({ name: n, blob: await fs.openAsBlob(path.join(p, n)) })));
    return { parsed: await openHfFolder(name, files), name };
  }
  const read = await blobModel(await fs.openAsBlob(p), name); // file-backed: each tensor read when uploaded (files past 2 GiB too)
  const beside = path.join(path.dirname(p), 'tokenizer.bin');
  if (!read.parsed.tokenizer && o.tokenizer === undefined && fs.existsSync(beside)) read.tokenizerFile = await readPath(beside, 'tokenizer');
  return read;
}

async function readPath(p: string, what: string): Promise<Uint8Array> {
  const { fsp } = await nodeIo();
  try {
    const b = await fsp.readFile(p);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(code === 'ENOENT' ? `${what} ${p}: no such file` : code === 'EISDIR' ? `${what} ${p}: is a folder, expected a file` : `${what} ${p}: ${(e as Error).message}`);
  }
}

/** GETs a URL's bytes with progress; an HTTP error or an HTML page is reported as such. */
async function fetchBytes(url: string, o: Pick<LoadModelOptions, 'fetch' | 'signal' | 'onProgress' | 'log'>): Promise<Uint8Array> {
  const part = memoryPart();
  await fetchInto(url, part, fileName(url.split('?')[0]), null, { fetch: o.fetch, signal: o.signal, onProgress: o.onProgress, log: o.log });
  return part.bytes();
}
