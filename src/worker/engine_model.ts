// The engine's model: a file read and checked first (checkModel: nothing loaded is touched, so a
// page can ask "close the current run?" only about a file that opens), then loaded onto the GPU;
// the bundled stories260K fetched from beside the worker script; everything freed on unload.
import type { ParsedSource } from '../formats/parse';
import { Model } from '../model/model';
import { Tokenizer, type TextTokenizer } from '../formats/tokenizer';
import type { ModelRef, StoredModel } from '../train/session_store';
import { blobSource, bytesSource } from '../formats/byte_source';
import { fingerprintSource, fingerprintSources } from '../train/checkpoint';
import { readHfFolder } from '../model/hf_folder';
import { parseSourceByContent } from '../model/model_format';
import { responseProblem } from '../model/transfer';
import { eng, ensureGpu, needModel, notWhileTraining, type Checked } from './engine_state';
import { BUNDLED_MODEL, type CheckedModel, type ModelInfo, type ModelSource } from './protocol';

/** Parameters of the loaded weights (a tied classifier counted once). */
function countParams(m: Model): number {
  const w = m.weights;
  const numel = (t: { shape: readonly number[] } | undefined) => (t ? t.shape.reduce((a, b) => a * b, 1) : 0);
  let n = numel(w.tokenEmbedding) + numel(w.finalNorm) + (w.classifier === w.tokenEmbedding ? 0 : numel(w.classifier));
  for (const l of w.layers) for (const t of Object.values(l)) n += numel(t as { shape: readonly number[] } | undefined);
  return n;
}

/** Fetches a file the worker reads (the bundled model, a URL source); an HTTP error or an HTML page says so. */
async function fetchBytes(url: string, what: string): Promise<Uint8Array> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`${what}: cannot fetch ${url} (${(e as Error).message})`);
  }
  const problem = responseProblem(r, url);
  if (problem) throw new Error(`${what}: ${problem}`);
  return new Uint8Array(await r.arrayBuffer());
}

function fileName(url: string): string {
  return decodeURIComponent(new URL(url, self.location.href).pathname.split('/').pop() || url);
}

/** Reads a model source into a parsed model and its tokenizer, with what a saved session keeps of it. */
async function readSource(source: ModelSource): Promise<Checked & { tok: TextTokenizer }> {
  let parsed: ParsedSource;
  let name: string;
  let fileBytes: number;
  let blobs: StoredModel | null = null;
  let ref: ModelRef;
  let tokBytes: { bytes: Uint8Array; name: string } | null = null;
  let fingerprint: string;
  if (source.kind === 'demo' || source.kind === 'url') {
    const url = source.kind === 'demo' ? new URL(BUNDLED_MODEL.model, import.meta.url).href : source.url;
    const tokUrl = source.kind === 'demo' ? new URL(BUNDLED_MODEL.tokenizer, import.meta.url).href : source.tokenizerUrl;
    const what = source.kind === 'demo' ? 'the bundled demo model' : 'the model';
    name = source.kind === 'demo' ? BUNDLED_MODEL.name : fileName(url);
    const bytes = await fetchBytes(url, what);
    fileBytes = bytes.byteLength;
    parsed = await parseSourceByContent(bytesSource(bytes, name));
    fingerprint = await fingerprintSource(bytesSource(bytes, name));
    if (tokUrl) tokBytes = { bytes: await fetchBytes(tokUrl, `${what}'s tokenizer`), name: fileName(tokUrl) };
    ref = source.kind === 'demo' ? { kind: 'demo' } : { kind: 'url', name, url, ...(tokUrl ? { tokenizerUrl: tokUrl } : {}) };
  } else if (source.kind === 'hf') {
    name = source.name;
    const folder = await readHfFolder(name, source.files);
    parsed = folder.parsed;
    fileBytes = folder.bytes;
    blobs = { files: folder.used, ...(source.tokenizer && !parsed.tokenizer ? { tokenizer: source.tokenizer } : {}) };
    ref = { kind: 'hf', name, size: fileBytes, files: folder.used.map((f) => f.name), tokenizerName: parsed.tokenizer ? undefined : source.tokenizerName, stored: false };
    fingerprint = await fingerprintSources(folder.used.map((f) => blobSource(f.blob, f.name)));
    if (source.tokenizer && !parsed.tokenizer) tokBytes = { bytes: new Uint8Array(await source.tokenizer.arrayBuffer()), name: source.tokenizerName ?? 'tokenizer' };
  } else {
    name = source.modelName;
    fileBytes = source.model.size;
    parsed = await parseSourceByContent(blobSource(source.model, name)); // read tensor by tensor: no copy of the whole file
    blobs = { model: source.model, ...(source.tokenizer ? { tokenizer: source.tokenizer } : {}) };
    ref = { kind: 'files', name, size: source.model.size, tokenizerName: source.tokenizerName, stored: false };
    fingerprint = await fingerprintSource(blobSource(source.model, name));
    if (source.tokenizer) tokBytes = { bytes: new Uint8Array(await source.tokenizer.arrayBuffer()), name: source.tokenizerName ?? 'tokenizer' };
  }
  let tok: TextTokenizer;
  if (parsed.tokenizer) tok = parsed.tokenizer;
  else if (tokBytes) tok = Tokenizer.fromLlama2c(tokBytes.bytes, parsed.tensors.config.vocabSize, tokBytes.name);
  else {
    throw new Error(
      source.kind === 'hf'
        ? `${name}: no tokenizer.json: open the folder with its tokenizer.json (or choose a llama2.c tokenizer file too)`
        : `${name} is a llama2.c checkpoint: open its tokenizer file too (e.g. tokenizer.bin / tok512.bin)`,
    );
  }
  return { parsed, name, fileBytes, ref, blobs, source, bundled: source.kind === 'demo', tok, fingerprint };
}

let checkedTok: TextTokenizer | null = null;

/** Reads and checks a model source (nothing loaded changes); loadModel({ checked: true }) loads it. */
export async function checkModel(source: ModelSource): Promise<CheckedModel> {
  const c = await readSource(source);
  eng.checked = c;
  checkedTok = c.tok;
  return { name: c.name, format: c.parsed.format, fileBytes: c.fileBytes, config: c.parsed.tensors.config };
}

/** Frees the run, the opened adapters, the data and the model (their GPU buffers). */
export function dropModel(): void {
  eng.tuner?.destroy();
  eng.tuner = null;
  for (const o of eng.opened.values()) o.lora.destroy();
  eng.opened.clear();
  eng.primaryOpened = null;
  eng.data = null;
  eng.loaded?.model.destroy();
  eng.loaded = null;
  eng.interrupted = undefined;
}

/** Loads a model source, or the one checkModel read last (`null`), replacing the loaded one. */
export async function loadModel(source: ModelSource | null): Promise<ModelInfo> {
  notWhileTraining('loading a model');
  const g = await ensureGpu();
  let c: Checked;
  let tok: TextTokenizer;
  if (source) ({ tok, ...c } = await readSource(source));
  else {
    if (!eng.checked || !checkedTok) throw new Error('no model file was checked: choose one first');
    c = eng.checked;
    tok = checkedTok;
  }
  eng.checked = null;
  checkedTok = null;
  dropModel();
  const before = g.ledger.report().current.weights ?? 0;
  const model = await Model.load(g, c.parsed.tensors);
  const report = g.ledger.report();
  const info: ModelInfo = {
    name: c.name,
    format: c.parsed.format,
    bundled: c.bundled,
    config: model.config,
    params: countParams(model),
    fileBytes: c.fileBytes,
    gpuBytes: (report.current.weights ?? 0) - before,
    memory: report,
  };
  eng.loaded = { model, tok, info, ref: c.ref, blobs: c.blobs, source: c.source, fingerprint: c.fingerprint };
  return info;
}

/** Frees everything the engine holds on the device (model, adapters, run); the ledger after it. */
export function unload() {
  notWhileTraining('unloading the model');
  dropModel();
  return eng.gpu ? eng.gpu.ledger.report() : { current: {}, peak: {}, peakTotal: 0 };
}

/** The loaded model's ref and blobs, for a session record. */
export function modelRecord(): { ref: ModelRef; blobs: StoredModel | null } {
  const { ref, blobs } = needModel();
  return { ref: ref.kind === 'files' || ref.kind === 'hf' ? { ...ref, stored: !!blobs } : ref, blobs };
}
