// The engine worker: the GPU device, the model, the data and the FineTuner live here, off the page's
// main thread, so the page stays responsive while a step runs (WebGPU works in dedicated workers).
// It answers the commands of ./protocol.ts and streams events (progress, tokens). Every checkpoint
// goes to IndexedDB with the session (settings, data, model files), and `restore` rebuilds the
// session after a reload or a crash. Built to dist/worker.js by scripts/build.mjs.
import { dedupeEvals, FineTuner } from '../train/finetuner';
import { IndexedDbCheckpointStore, sessionStore, type ModelRef, type StoredAdapter, type StoredAdapters, type StoredModel } from '../train/session_store';
import { prepareTask, type PreparedTask, type TaskSpec } from '../train/task_source';
import type { FineTuneOptions } from '../train/defaults';
import { classifyItems } from '../data/tasks';
import { createGpu, type Gpu } from '../gpu/device';
import { generateBatch, generateText, type GenerateResult } from '../model/generate';
import type { ParsedModel } from '../formats/parse';
import { Model } from '../model/model';
import { Tokenizer, type TextTokenizer } from '../formats/tokenizer';
import { toyModel, toyTokenizerBytes } from '../model/toy';
import type { LlamaModelFile } from '../formats/config';
import { LoraState } from '../adapter/lora';
import { MultiAdapters } from '../adapter/multi';
import { readAdapter, writeAdapter, type AdapterTensors } from '../adapter/peft';
import { scoreItems, scoreItemsEach } from '../eval/score';
import type { CheckpointFiles } from '../train/trainer';
import { validateTrainConfig } from '../train/options';
import { explainError } from './errors';
import { readHfFolder } from '../model/hf_folder';
import { parseModelByContent } from '../model/model_format';
import {
  streamOf,
  TRAINED_ADAPTER,
  type AdapterEntry,
  type AdapterExport,
  type ClassifyInfo,
  type Commands,
  type DataInfo,
  type EventMessage,
  type Events,
  type GenerateBatchInfo,
  type GpuInfo,
  type ModelInfo,
  type ModelSource,
  type Reply,
  type Request,
  type Restored,
  type RunInfo,
} from './protocol';

interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((ev: MessageEvent) => void) | null;
}
const scope = self as unknown as WorkerScope;

function post<E extends keyof Events>(event: E, data: Events[E]): void {
  scope.postMessage({ event, data } as EventMessage);
}

// ---- state ---------------------------------------------------------------------------------
let gpu: Gpu | null = null;
let loaded: { model: Model; tok: TextTokenizer; info: ModelInfo; ref: ModelRef; blobs: StoredModel | null } | null = null;
let data: { spec: TaskSpec; seq: number; seed: number; task: PreparedTask } | null = null;
let tuner: FineTuner | null = null;
/** The adapters the user opened (PEFT files), by name, in the order opened; Try it compares them. */
const opened = new Map<string, { tensors: AdapterTensors; lora: LoraState; files: StoredAdapter }>();
let primaryOpened: string | null = null; // the opened adapter Predict and Download use (null: the run's)
let running = false;
let persisted = false; // the current session is in IndexedDB
const checkpoints = new IndexedDbCheckpointStore();

async function ensureGpu(): Promise<Gpu> {
  gpu ??= await createGpu();
  return gpu;
}

function needModel(): NonNullable<typeof loaded> {
  if (!loaded) throw new Error('load a model first');
  return loaded;
}

function notWhileTraining(what: string): void {
  if (running) throw new Error(`${what}: training is running; pause or stop it first`);
}

// ---- model ---------------------------------------------------------------------------------
function countParams(f: LlamaModelFile): number {
  const w = f.weights;
  let n = w.tokenEmbedding.length + w.finalNorm.length + (f.config.sharedClassifier ? 0 : w.classifier.length);
  for (const l of w.layers) for (const a of Object.values(l)) n += (a as Float32Array).length;
  return n;
}

function dropModel(): void {
  tuner?.destroy();
  tuner = null;
  for (const o of opened.values()) o.lora.destroy();
  opened.clear();
  primaryOpened = null;
  data = null;
  loaded?.model.destroy();
  loaded = null;
}

async function loadModel(source: ModelSource): Promise<ModelInfo> {
  notWhileTraining('loading a model');
  const g = await ensureGpu();
  let file: LlamaModelFile;
  let tok: TextTokenizer;
  let raw: ParsedModel['raw'];
  let name: string;
  let format: ModelInfo['format'];
  let fileBytes: number;
  let blobs: StoredModel | null = null; // what a saved session keeps of the model
  let ref: ModelRef;
  if (source.kind === 'demo') {
    file = toyModel();
    tok = Tokenizer.fromLlama2c(toyTokenizerBytes(), file.config.vocabSize, 'toy tokenizer');
    name = 'built-in demo model';
    format = 'demo';
    fileBytes = 0;
    ref = { kind: 'demo' };
  } else {
    let parsed: ParsedModel;
    if (source.kind === 'hf') {
      name = source.name;
      const folder = await readHfFolder(name, source.files);
      parsed = folder.parsed;
      fileBytes = folder.bytes;
      blobs = { files: folder.used, ...(source.tokenizer && !parsed.tokenizer ? { tokenizer: source.tokenizer } : {}) };
      ref = { kind: 'hf', name, size: fileBytes, files: folder.used.map((f) => f.name), tokenizerName: parsed.tokenizer ? undefined : source.tokenizerName, stored: false };
    } else {
      name = source.modelName;
      fileBytes = source.model.size;
      parsed = parseModelByContent(new Uint8Array(await source.model.arrayBuffer()), name);
      blobs = { model: source.model, ...(source.tokenizer ? { tokenizer: source.tokenizer } : {}) };
      ref = { kind: 'files', name, size: source.model.size, tokenizerName: source.tokenizerName, stored: false };
    }
    file = parsed.file;
    raw = parsed.raw;
    format = parsed.format;
    if (parsed.tokenizer) tok = parsed.tokenizer;
    else {
      if (!source.tokenizer) {
        throw new Error(
          source.kind === 'hf'
            ? `${name}: no tokenizer.json: open the folder with its tokenizer.json (or choose a llama2.c tokenizer file too)`
            : `${name} is a llama2.c checkpoint: open its tokenizer file too (e.g. tokenizer.bin / tok512.bin)`,
        );
      }
      tok = Tokenizer.fromLlama2c(new Uint8Array(await source.tokenizer.arrayBuffer()), file.config.vocabSize, source.tokenizerName ?? 'tokenizer');
    }
  }
  dropModel();
  const before = g.ledger.report().current.weights ?? 0;
  const model = await Model.load(g, file, raw);
  const report = g.ledger.report();
  const info: ModelInfo = {
    name,
    format,
    config: file.config,
    params: countParams(file),
    fileBytes,
    gpuBytes: (report.current.weights ?? 0) - before,
    memory: report,
  };
  loaded = { model, tok, info, ref, blobs };
  return info;
}

// ---- data ----------------------------------------------------------------------------------
function dataInfo(task: PreparedTask, batch: number, seed: number): DataInfo {
  const { tok } = needModel();
  return {
    kind: task.kind,
    describe: task.describe,
    trainCount: task.trainCount,
    evalCount: task.evalCount,
    evalIsTrain: task.evalIsTrain,
    preview: task.preview(tok, 6, batch, seed),
    ...(task.classify ? { classify: { ...task.classify } } : {}),
  };
}

function prepare(spec: TaskSpec, seq: number, seed: number): PreparedTask {
  const { tok, model } = needModel();
  if (seq > model.config.seqLen) throw new Error(`sequence length ${seq} exceeds the model's context of ${model.config.seqLen}`);
  const task = prepareTask(spec, tok, seq, seed);
  data = { spec, seq, seed, task };
  return task;
}

/** The prepared data for these options (prepared again when seq, seed or the sizes changed). */
function taskFor(o: FineTuneOptions): PreparedTask {
  if (!data) throw new Error('choose the training data first');
  const s = data.spec;
  if (data.seq === o.seq && data.seed === o.seed && s.trainSize === o.trainSize && s.evalSize === o.evalSize) return data.task;
  return prepare({ ...s, trainSize: o.trainSize, evalSize: o.evalSize }, o.seq, o.seed);
}

// ---- training ------------------------------------------------------------------------------
/** Checks a run's options with the trainer's rules (an OptionError names the option) before
 * anything is replaced: a refused Start keeps the saved session. */
function checkOptions(task: PreparedTask, options: FineTuneOptions): void {
  const { model, tok } = needModel();
  validateTrainConfig(new FineTuner(model, tok, task, { ...options }).trainConfig);
}

/**
 * The task with its evaluations announced as phases (the page shows what a run is doing before
 * its first step: the first evaluation, then compiling and running the first step).
 */
function withPhases(task: PreparedTask, run: { stepped: boolean; tuner?: FineTuner }): PreparedTask {
  const what = `${task.evalCount} ${task.kind === 'lm' ? 'held-out text chunks' : 'held-out examples'}${task.evalIsTrain ? ' (the training data)' : ''}`;
  const t = Object.create(task) as PreparedTask; // keeps the task's lazy getters
  t.evaluate = async (model, lora, rows) => {
    const step = run.tuner?.step ?? 0;
    post('phase', { text: step === 0 && !run.stepped ? `evaluating the base model on ${what}` : `evaluating the adapter at step ${step} on ${what}` });
    try {
      return await task.evaluate(model, lora, rows);
    } finally {
      post('phase', { text: run.stepped ? '' : 'compiling the training step and running the first one' });
    }
  };
  return t;
}

function makeTuner(task: PreparedTask, options: FineTuneOptions, resumeFrom?: CheckpointFiles): FineTuner {
  const { model, tok, info } = needModel();
  const run: { stepped: boolean; tuner?: FineTuner } = { stepped: false };
  const t = new FineTuner(model, tok, withPhases(task, run), { ...options }, { store: persisted ? checkpoints : undefined, resumeFrom, baseModelName: info.name });
  run.tuner = t;
  if (t.memoryFit?.note) post('log', { message: `Max GPU memory: ${t.memoryFit.note}` });
  t.addEventListener('step', (e) => {
    if (!run.stepped) (run.stepped = true), post('phase', { text: '' });
    post('step', { ...e.detail, memory: model.gpu.ledger.report() });
  });
  t.addEventListener('eval', (e) => post('eval', e.detail));
  t.addEventListener('checkpoint', (e) => post('checkpoint', { step: e.detail.step, persisted }));
  t.addEventListener('diverge', (e) => post('diverge', e.detail));
  t.addEventListener('status', (e) => {
    const s = e.detail.status;
    if (s === 'running') run.stepped = false;
    if (s !== 'running' && s !== 'pausing' && s !== 'stopping') post('phase', { text: '' });
    post('status', e.detail);
    if (persisted && t === tuner) void sessionStore.update({ status: s, error: e.detail.diverged?.message ?? e.detail.error }).catch(() => {});
  });
  return t;
}

function runInfo(): RunInfo {
  const t = tuner;
  return {
    status: t?.status ?? 'idle',
    step: t?.step ?? 0,
    steps: t?.options.steps ?? 0,
    history: t?.history ?? [],
    evals: t?.evals ?? [],
    hasAdapter: !!t?.lora,
    persisted,
    diverged: t?.diverged ?? null,
  };
}

async function runTuner(): Promise<RunInfo> {
  const t = tuner!;
  running = true;
  try {
    await t.run();
  } catch (e) {
    if (persisted) await sessionStore.update({ status: 'failed', error: (e as Error).message }).catch(() => {});
    throw e;
  } finally {
    running = false;
  }
  if (persisted) await sessionStore.update({ status: t.status, step: t.step, evals: t.evals, options: t.options }).catch(() => {});
  return runInfo();
}

async function start(options: FineTuneOptions): Promise<RunInfo> {
  notWhileTraining('start');
  const { ref, blobs } = needModel();
  const task = taskFor(options);
  checkOptions(task, options);
  tuner?.destroy();
  tuner = null;
  primaryOpened = null; // the new run's adapter is the one Predict and Download use
  persisted = false;
  try {
    await sessionStore.create(
      { created: Date.now(), updated: Date.now(), model: ref.kind === 'demo' ? ref : { ...ref, stored: !!blobs }, data: data!.spec, options, status: 'running', step: 0, evals: [] },
      blobs,
      openedToStore(),
    );
    persisted = true;
  } catch (e) {
    post('log', { message: `this run is not saved in the browser (${(e as Error).message}); download the adapter to keep it` });
  }
  post('session', { persisted });
  tuner = makeTuner(task, options);
  return runTuner();
}

const CHANGEABLE: (keyof FineTuneOptions)[] = ['steps', 'mode', 'evalEvery', 'checkpointEvery'];

async function resume(options: FineTuneOptions): Promise<RunInfo> {
  notWhileTraining('resume');
  if (!tuner) throw new Error('there is no run to resume: press Start');
  const o = tuner.options;
  for (const k of Object.keys(o) as (keyof FineTuneOptions)[]) {
    if (!CHANGEABLE.includes(k) && o[k] !== options[k]) throw new Error(`${k} was ${o[k]} in this run (now ${options[k]}): start a new run to change it`);
  }
  checkOptions(tuner.task, { ...o, ...Object.fromEntries(CHANGEABLE.map((k) => [k, options[k]])) });
  for (const k of CHANGEABLE) (o as unknown as Record<string, unknown>)[k] = options[k];
  if (tuner.step >= o.steps) throw new Error(`the run already has ${tuner.step} steps: raise Steps to train more`);
  primaryOpened = null;
  if (persisted) await Promise.all([sessionStore.update({ options: { ...o }, status: 'running' }), sessionStore.saveAdapters(openedToStore())]).catch(() => {});
  return runTuner();
}

// ---- adapters ------------------------------------------------------------------------------
/** The adapter Predict and Download use: the opened one chosen last, else the run's, else the last opened. */
function primaryName(): string | null {
  if (primaryOpened && opened.has(primaryOpened)) return primaryOpened;
  if (tuner?.lora) return TRAINED_ADAPTER;
  return [...opened.keys()].pop() ?? null;
}

/** An adapter of the list by name: its GPU state, and its host tensors for a multi-adapter pass. */
function adapterNamed(name: string): { lora: LoraState; host: () => Promise<AdapterTensors> } {
  const lora = name === TRAINED_ADAPTER ? tuner?.lora : opened.get(name)?.lora;
  if (!lora) {
    const have = listAdapters().map((a) => JSON.stringify(a.name));
    throw new Error(`no adapter named ${JSON.stringify(name)} (the adapters: ${have.join(', ') || 'none yet: train or open one'})`);
  }
  const o = opened.get(name);
  return { lora, host: o ? async () => o.tensors : () => lora.toHost() };
}

function listAdapters(): AdapterEntry[] {
  const primary = primaryName();
  const entry = (name: string, kind: AdapterEntry['kind'], l: LoraState): AdapterEntry => {
    const c = l.config;
    return { name, kind, rank: c.rank, alpha: c.alpha, targets: [...c.targets], primary: name === primary };
  };
  return [...(tuner?.lora ? [entry(TRAINED_ADAPTER, 'trained', tuner.lora)] : []), ...[...opened].map(([n, o]) => entry(n, 'opened', o.lora))];
}

/** The name an opened adapter gets: the one given, else its file's stem, else "adapter N" (the first free N). */
function adapterName(a: Commands['importAdapter']['args']): string {
  const given = a.name.trim();
  if (given) {
    if (given === TRAINED_ADAPTER) throw new Error(`"${TRAINED_ADAPTER}" names the trained run's adapter: give the opened one another name`);
    return given;
  }
  const stem = [a.file.replace(/\.safetensors$/i, ''), a.configFile.replace(/\.json$/i, '')].find((n) => n && !/^adapter_(model|config)$/.test(n) && n !== TRAINED_ADAPTER);
  if (stem) return stem;
  let n = 1;
  while (opened.has(`adapter ${n}`)) n++;
  return `adapter ${n}`;
}

/** Reads a PEFT adapter against the loaded model and adds it to `opened` (the same name replaces). */
function openAdapter(files: StoredAdapter): boolean {
  const { model } = needModel();
  const tensors = readAdapter({ config: files.config, safetensors: files.safetensors }, model.config, files.file);
  const lora = LoraState.fromAdapter(model.gpu, model.config, tensors);
  const old = opened.get(files.name);
  old?.lora.destroy();
  opened.delete(files.name); // a replaced adapter moves to the end, as newly opened
  opened.set(files.name, { tensors, lora, files });
  return !!old;
}

/** The opened adapters as the session keeps them. */
function openedToStore(): StoredAdapters {
  return { list: [...opened.values()].map((o) => o.files), primary: primaryOpened };
}

/** Keeps the opened adapters with the saved session, so a reload opens them again. */
async function persistOpened(): Promise<void> {
  if (!persisted) return;
  await sessionStore.saveAdapters(openedToStore()).catch((e: unknown) => post('log', { message: `the opened adapters are not saved in the browser (${(e as Error).message}); open them again after a reload` }));
}

async function importAdapter(a: Commands['importAdapter']['args']) {
  notWhileTraining('opening an adapter');
  const name = adapterName(a);
  const replaced = openAdapter({ name, config: a.config, safetensors: a.safetensors, file: a.file, configFile: a.configFile });
  primaryOpened = name;
  await persistOpened();
  const adapters = listAdapters();
  return { entry: adapters.find((e) => e.name === name)!, replaced, adapters };
}

async function removeAdapter(name: string): Promise<AdapterEntry[]> {
  notWhileTraining('removing an adapter');
  const o = opened.get(name);
  if (!o) throw new Error(name === TRAINED_ADAPTER ? 'the trained run\'s adapter goes with its run: press "New run" to discard it' : `no opened adapter named ${JSON.stringify(name)}`);
  o.lora.destroy();
  opened.delete(name);
  if (primaryOpened === name) primaryOpened = null;
  await persistOpened();
  return listAdapters();
}

// ---- try it --------------------------------------------------------------------------------
/**
 * The base model (when asked) and every named adapter, a row each of one batched pass per token
 * (a MultiAdapters assigns each row its adapter; the base row has none): each row's text is what it
 * generates alone. One row alone takes the single-adapter path.
 */
async function generate(a: Commands['generate']['args']): Promise<GenerateBatchInfo> {
  notWhileTraining('generate');
  const { model, tok } = needModel();
  const names = [...new Set(a.adapters)];
  const rows: (string | null)[] = [...(a.base ? [null] : []), ...names];
  if (!rows.length) throw new Error('generate: nothing to generate: tick the base model or an adapter');
  const adapters = names.map(adapterNamed);
  const opts = { prompt: a.prompt, steps: a.steps, temperature: a.temperature, seed: a.seed };
  const streams = rows.map(streamOf);
  let rs: GenerateResult[];
  if (rows.length === 1) {
    rs = [await generateText(model, tok, { ...opts, lora: adapters[0]?.lora, onToken: (text) => post('token', { stream: streams[0], text }) })];
  } else {
    const multi = MultiAdapters.create(model.gpu, model.config, await Promise.all(adapters.map((x) => x.host())), rows.length);
    try {
      multi.assign(rows.map((r) => (r === null ? -1 : names.indexOf(r))));
      rs = await generateBatch(model, tok, { ...opts, lora: multi, onTokenOf: (b, text) => post('token', { stream: streams[b], text }) }, rows.length);
    } finally {
      multi.destroy();
    }
  }
  const ms = rs[0].ms;
  const positions = rs.reduce((n, r) => n + r.tokens.length - 1, 0);
  return {
    rows: rs.map((r, i) => ({ stream: streams[i], adapter: rows[i], text: r.text, tokensPerSecond: r.tokensPerSecond, generatedTokens: r.generatedTokens })),
    sequences: rows.length,
    ms,
    tokensPerSecond: ms > 0 ? (positions / ms) * 1000 : 0,
  };
}

function softmax(xs: number[]): number[] {
  const m = xs.reduce((a, b) => Math.max(a, b), -Infinity);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/**
 * The class probabilities of a text with the base model and with the primary adapter (and the
 * other `names`): the adapters' rows go through one pass together (a MultiAdapters copy each).
 */
async function classify(text: string, names: string[]): Promise<ClassifyInfo> {
  notWhileTraining('classify');
  const { model, tok } = needModel();
  const c = data?.task.classify;
  if (!c) throw new Error('the data is not a classification task');
  const item = classifyItems(tok, [{ text, label: c.classes[0] }], c, data!.seq, 'your text')[0];
  const rows = item.candidates.length;
  const base = (await scoreItems(model, null, [item], rows))[0];
  const primary = primaryName();
  const compared = [...new Set([...(primary === null ? [] : [primary]), ...names])];
  const adapters = compared.map(adapterNamed);
  let scores: number[][] = [];
  if (adapters.length === 1) scores = [(await scoreItems(model, adapters[0].lora, [item], rows))[0]];
  else if (adapters.length > 1) {
    const multi = MultiAdapters.create(model.gpu, model.config, await Promise.all(adapters.map((x) => x.host())), adapters.length * rows);
    try {
      scores = (await scoreItemsEach(model, multi, [item], rows)).map((s) => s[0]);
    } finally {
      multi.destroy();
    }
  }
  return {
    classes: c.classes,
    labelWords: c.labelWords,
    prompt: c.template.replace('{text}', text),
    base: softmax(base),
    adapters: compared.map((name, i) => ({ name, primary: name === primary, probs: softmax(scores[i]) })),
  };
}

// ---- keep the work -------------------------------------------------------------------------
async function exportAdapter(): Promise<AdapterExport> {
  notWhileTraining('download');
  const { info } = needModel();
  const name = primaryName();
  if (name === null) throw new Error('no adapter yet: train or open one');
  const o = opened.get(name);
  if (o) return writeAdapter(o.tensors, { baseModelName: info.name });
  const cp = tuner?.checkpoint;
  if (tuner && cp && (JSON.parse(cp['trainer_state.json']) as { step: number }).step === tuner.step) return { ...cp };
  return writeAdapter(await adapterNamed(name).host(), { baseModelName: info.name });
}

// ---- restore -------------------------------------------------------------------------------
async function restore(): Promise<Restored | null> {
  const saved = await sessionStore.load();
  if (!saved) return null;
  const { session, checkpoint, model: blobs, adapters } = saved;
  const out: Restored = {
    model: null,
    modelRef: session.model,
    data: null,
    spec: session.data,
    options: session.options,
    run: { status: session.status, step: session.step, steps: session.options.steps, history: [], evals: session.evals, hasAdapter: false, persisted: true, diverged: null },
  };
  try {
    const m = session.model;
    if (m.kind === 'demo') out.model = await loadModel({ kind: 'demo' });
    else if (blobs) {
      const { tokenizer } = blobs;
      out.model = await loadModel(
        'files' in blobs
          ? { kind: 'hf', name: m.name, files: blobs.files, tokenizer, tokenizerName: m.tokenizerName }
          : { kind: 'files', model: blobs.model, modelName: m.name, tokenizer, tokenizerName: m.tokenizerName },
      );
      loaded!.ref = m;
      loaded!.blobs = blobs;
    } else throw new Error(`the model ${m.name} was not saved in this browser: open it again`);
    const o = session.options;
    const task = prepare({ ...session.data, trainSize: o.trainSize, evalSize: o.evalSize }, o.seq, o.seed);
    out.data = dataInfo(task, o.batch, o.seed);
    persisted = true;
    tuner = makeTuner(task, o, checkpoint ?? undefined);
    tuner.evals = dedupeEvals([...tuner.evals, ...session.evals]);
    // A run that was going when the page went away continues from its last checkpoint on Resume.
    tuner.status = tuner.step >= o.steps ? 'done' : tuner.step > 0 || session.status !== 'running' ? 'paused' : 'idle';
    if (session.status === 'running' && tuner.step < o.steps) out.error = `Training stopped when the page closed; its last checkpoint is step ${tuner.step}: press Resume to continue.`;
    out.run = runInfo();
    if (session.status === 'done' && session.error) out.error = `The run ended early: ${session.error}.`;
    // the adapters opened beside the run, in the order opened; one that no longer opens is named, the rest open
    const failed: string[] = [];
    for (const a of adapters.list) {
      try {
        openAdapter(a);
      } catch (e) {
        failed.push(`${a.name}: ${(e as Error).message}`);
      }
    }
    primaryOpened = adapters.primary && opened.has(adapters.primary) ? adapters.primary : null;
    out.openedAdapters = opened.size;
    if (failed.length) out.error = [out.error, `Could not open the saved adapter ${failed.join('; ')}.`].filter(Boolean).join(' ');
  } catch (e) {
    out.error = (e as Error).message;
  }
  return out;
}

async function forget(): Promise<void> {
  notWhileTraining('forget');
  tuner?.destroy();
  tuner = null;
  persisted = false;
  await sessionStore.clear();
}

// ---- dispatch ------------------------------------------------------------------------------
const handlers: { [K in keyof Commands]: (args: Commands[K]['args']) => Promise<Commands[K]['result']> | Commands[K]['result'] } = {
  init: async (): Promise<GpuInfo> => {
    const g = await ensureGpu();
    const l = g.limits;
    return { adapterInfo: g.adapterInfo, limits: { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize }, features: [...g.features] };
  },
  restore: () => restore(),
  loadModel: (a) => loadModel(a.source),
  prepareData: (a) => {
    notWhileTraining('changing the data');
    return dataInfo(prepare(a.spec, a.seq, a.seed), a.batch, a.seed);
  },
  start: (a) => start(a.options),
  resume: (a) => resume(a.options),
  pause: () => tuner?.pause(),
  stop: () => tuner?.stop(),
  generate: (a) => generate(a),
  classify: (a) => classify(a.text, a.adapters),
  exportAdapter: () => exportAdapter(),
  importAdapter: (a) => importAdapter(a),
  adapters: () => listAdapters(),
  removeAdapter: (a) => removeAdapter(a.name),
  memory: () => (gpu ? gpu.ledger.report() : { current: {}, peak: {}, peakTotal: 0 }),
  forget: () => forget(),
};

// Commands that use the GPU run one at a time, in order; pause, stop, memory and adapters answer at once.
const IMMEDIATE = new Set<keyof Commands>(['pause', 'stop', 'memory', 'adapters']);
let queue: Promise<unknown> = Promise.resolve();

scope.onmessage = (ev: MessageEvent) => {
  const req = ev.data as Request;
  const run = () => Promise.resolve().then(() => (handlers[req.cmd] as (a: unknown) => unknown)(req.args));
  // start/resume hold the queue for the whole run; the page disables what would wait behind them
  const p = IMMEDIATE.has(req.cmd)
    ? run()
    : running
      ? Promise.reject(new Error(`${req.cmd}: training is running; pause or stop it first`))
      : (queue = queue.then(run, run));
  p.then(
    (value) => scope.postMessage({ id: req.id, ok: true, value } satisfies Reply),
    (err: unknown) => {
      const { message, hint, option } = explainError(err);
      scope.postMessage({ id: req.id, ok: false, error: message, ...(hint ? { hint } : {}), ...(option ? { option } : {}) } satisfies Reply);
    },
  );
};
