// The embedding API of fine-tuning: a FineTuner runs the trainer (src/train/trainer.ts train()) on a
// task and reports progress as typed events; it can pause, stop and continue, keeps the last
// checkpoint in memory and hands every checkpoint to a CheckpointStore (IndexedDB in the app).
//
// Pause and Stop take effect at the next checkpoint (every `checkpointEvery` steps): the trainer
// has then drained its pipeline and saved the adapter, so stopping there loses nothing and a
// later run() continues with exactly the steps the uninterrupted run would have made.
// Runs in a page, a Web Worker, or Node (EventTarget and CustomEvent are globals in all three).
import type { Model } from '../model/model';
import type { TextTokenizer } from '../formats/tokenizer';
import { LoraState } from '../adapter/lora';
import { parseTargets, writeAdapter, type AdapterFiles } from '../adapter/peft';
import { OPTIMIZER_STATE_FILE } from './optimizer';
import { parseCheckpoint, train, type CheckpointFiles, type CheckpointStore, type EvalResult, type TrainConfig, type TrainData } from './trainer';
import { batchRows } from './scheduler';
import { defaultOptions, type FineTuneOptions } from './defaults';
import { validateRunOptions } from './options';
import { tokenizerArg, validateOptions, validateTaskSpec } from './validate';
import { fitRunOptions, type FitResult } from './memory_plan';
import { prepareTask, type PreparedTask, type TaskSpec } from './task_source';
import type { Divergence } from './divergence';
import { taskFingerprint, type RunFingerprint } from './checkpoint';

// 'diverged': the run stopped for divergence; its adapter is the last within the watch's limit (Divergence.kept)
export type FineTuneStatus = 'idle' | 'running' | 'pausing' | 'paused' | 'stopping' | 'done' | 'diverged' | 'failed';

export interface StepDetail {
  step: number; // 0-based index of the step that finished
  steps: number; // the run's total
  loss: number; // mean of the 2q slot losses
  slotLosses: number[];
  projGrad: number[];
  applied: boolean; // false: a loss was not finite, the update was skipped
  ms: number; // wall ms per step: the run's mean so far, evaluations and checkpoints excluded (pipelined steps' results arrive in bursts)
  rowsPerSecond: number; // forward rows (2q x batch per step) per second
  tokensPerSecond: number;
}

export type EvalDetail = EvalResult & { step: number };

export interface FineTunerEventMap {
  step: CustomEvent<StepDetail>;
  eval: CustomEvent<EvalDetail>;
  checkpoint: CustomEvent<{ step: number; files: CheckpointFiles }>;
  status: CustomEvent<{ status: FineTuneStatus; step: number; error?: string; diverged?: Divergence }>;
  diverge: CustomEvent<Divergence>; // the run diverged (it stops there unless onDiverge is 'warn')
}

export interface FineTunerInit {
  /** Receives every checkpoint (adapter files + trainer_state.json), e.g. an IndexedDB store. */
  store?: CheckpointStore;
  /** A saved checkpoint to continue from (its q, eps, lr, batch, seq, seed and adapter shape must match). */
  resumeFrom?: CheckpointFiles;
  /** Written as base_model_name_or_path in adapter_config.json. */
  baseModelName?: string;
  /**
   * What the run trains on, recorded in trainer_state.json; a resume with other inputs is refused.
   * Give `model` (fingerprintSource of the model file); data and task are computed from the TaskSpec
   * when not given.
   */
  fingerprint?: Partial<RunFingerprint>;
}

export interface FineTuneResult {
  status: 'done' | 'paused' | 'stopped' | 'diverged';
  step: number; // completed steps
  evalBefore: EvalResult | null;
  evalAfter: EvalResult | null;
  msPerStep: number;
  diverged: Divergence | null; // the run diverged (and stopped there by default)
}

/** Thrown through the trainer to stop it at a checkpoint. */
class Interrupt extends Error {}

export interface FineTuner {
  addEventListener<K extends keyof FineTunerEventMap>(type: K, listener: (ev: FineTunerEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof FineTunerEventMap>(type: K, listener: (ev: FineTunerEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

export class FineTuner extends EventTarget {
  readonly options: FineTuneOptions;
  readonly task: PreparedTask;
  status: FineTuneStatus = 'idle';
  /** Completed steps: of the running run, or of the adapter in `lora` when not running. */
  step = 0;
  /** The adapter (null until the first run starts; owned by the FineTuner). */
  lora: LoraState | null = null;
  /** The last checkpoint (null before the first). */
  checkpoint: CheckpointFiles | null = null;
  /** Training loss per completed step, and the evaluations (one per step, the latest kept). */
  history: { step: number; loss: number }[] = [];
  evals: EvalDetail[] = [];
  /** The divergence of the last run() (null: none seen). */
  diverged: Divergence | null = null;
  /** What options.maxMemoryMiB decided (null: no limit): the planned peak, and what was lowered (its note). */
  readonly memoryFit: FitResult | null;
  private readonly fingerprint: RunFingerprint;
  private want: 'pause' | 'stop' | null = null;
  private running = false;

  /** The tokenizer that prepares the data: the model's own (loadModel), or the one passed before the data. */
  readonly tokenizer: TextTokenizer;
  private readonly init: FineTunerInit;

  /** A fine-tuning run of `model` on `data`; the data is tokenized by `model.tokenizer`. */
  constructor(model: Model, data: TaskSpec | PreparedTask, options?: Partial<FineTuneOptions>, init?: FineTunerInit);
  /** The older form: a tokenizer before the data (still accepted). */
  constructor(model: Model, tokenizer: TextTokenizer, data: TaskSpec | PreparedTask, options?: Partial<FineTuneOptions>, init?: FineTunerInit);
  constructor(
    readonly model: Model,
    ...args: [TaskSpec | PreparedTask, Partial<FineTuneOptions>?, FineTunerInit?] | [TextTokenizer, TaskSpec | PreparedTask, Partial<FineTuneOptions>?, FineTunerInit?]
  ) {
    super();
    const { tokenizer, rest } = tokenizerArg(model, args);
    const [data, options = {}, init = {}] = rest as [TaskSpec | PreparedTask, Partial<FineTuneOptions>?, FineTunerInit?];
    validateTaskSpec(data); // an OptionError names the field: a plain string, labels as a string, an unknown field
    validateOptions(options); // unknown options, wrong types, ranges
    this.tokenizer = tokenizer;
    this.init = init;
    this.options = { ...defaultOptions(false, false), ...options };
    const o = this.options;
    validateRunOptions(o); // an OptionError names the option
    this.task = 'train' in data ? data : prepareTask({ evalSize: o.evalSize, trainSize: o.trainSize, ...data }, tokenizer, o.seq, o.seed);
    // what the run trains on (trainer_state.json): the TaskSpec's data and options, the caller's model fingerprint
    this.fingerprint = { ...('train' in data ? {} : taskFingerprint({ evalSize: o.evalSize, trainSize: o.trainSize, ...data })), ...init.fingerprint };
    if (this.task.train.seqLen !== o.seq) throw new Error(`the prepared data has rows of ${this.task.train.seqLen} tokens, seq is ${o.seq}`);
    if (o.seq > model.config.seqLen) throw new Error(`seq ${o.seq} exceeds the model's context of ${model.config.seqLen}`);
    // maxMemoryMiB: batch, then q, lowered until the planned peak fits (seq kept: the data is cut in chunks of it)
    this.memoryFit = fitRunOptions(model, o, { task: this.task.kind !== 'lm', candidates: this.task.train.candidates, rowsPerExample: this.task.train.rowsPerExample, labelsPerExample: this.task.train.labelsPerExample, seqFixed: true });
    if (this.memoryFit) Object.assign(o, { q: this.memoryFit.shape.q, batch: this.memoryFit.shape.batch });
    if (init.resumeFrom) {
      const cp = init.resumeFrom;
      const { adapter, state } = parseCheckpoint(
        { config: cp['adapter_config.json'], safetensors: cp['adapter_model.safetensors'], state: cp['trainer_state.json'], optimizer: cp[OPTIMIZER_STATE_FILE] },
        model,
        'checkpoint',
      );
      this.checkpoint = cp;
      this.step = state.step;
      this.history = state.history.slice();
      this.evals = dedupeEvals(state.evals);
      this.lora = LoraState.fromAdapter(model.gpu, model.config, adapter); // usable before run()
    }
  }

  /** The trainer's configuration of these options. */
  get trainConfig(): TrainConfig {
    const o = this.options;
    return {
      mode: o.mode,
      q: o.q,
      eps: o.eps,
      lr: o.lr,
      schedule: o.schedule,
      batch: o.batch,
      seq: o.seq,
      seed: o.seed,
      steps: o.steps,
      evalEvery: o.evalEvery,
      checkpointEvery: o.checkpointEvery,
      onDiverge: o.onDiverge,
      optimizer: o.optimizer,
      beta1: o.beta1,
      beta2: o.beta2,
      zoRank: o.zoRank,
      hessianSmooth: o.hessianSmooth,
      lossPerExample: this.task.lossPerExample,
      lora: { rank: o.rank, alpha: o.alpha, targets: parseTargets(o.targets) },
    };
  }

  /** Rows per evaluation pass: as many as a training pass holds (as the CLI). */
  private get evalRows(): number {
    return this.task.kind === 'lm' ? this.options.batch : 2 * this.options.q * this.options.batch;
  }

  /**
   * Trains from the last checkpoint (or from scratch) up to `options.steps`. Resolves when the run
   * is done, or paused / stopped at a checkpoint; rejects on an error (the last checkpoint stays).
   */
  async run(): Promise<FineTuneResult> {
    if (this.running) throw new Error('this FineTuner is already running');
    this.running = true;
    this.want = null;
    this.diverged = null;
    const cfg = this.trainConfig;
    const cp = this.checkpoint;
    const resume = cp
      ? parseCheckpoint({ config: cp['adapter_config.json'], safetensors: cp['adapter_model.safetensors'], state: cp['trainer_state.json'], optimizer: cp[OPTIMIZER_STATE_FILE] }, this.model, 'checkpoint')
      : undefined;
    this.lora?.destroy();
    this.lora = null;
    let lora: LoraState | null = null; // the trainer's adapter (handed to every evaluation)
    let boundary = resume?.state.step ?? 0; // the step of the last checkpoint
    const inner = this.task.train;
    const data: TrainData = {
      seqLen: inner.seqLen,
      candidates: inner.candidates,
      rowsPerExample: inner.rowsPerExample,
      labelsPerExample: inner.labelsPerExample,
      batchAt: (k, batch, seed) => {
        if (this.want && k === boundary) throw new Interrupt('interrupted at a checkpoint');
        return inner.batchAt(k, batch, seed);
      },
    };
    const store: CheckpointStore = {
      save: async (files) => {
        this.checkpoint = files;
        await this.init.store?.save(files);
      },
    };
    const rows = 2 * cfg.q * batchRows({ ...cfg, candidates: inner.candidates, rowsPerExample: inner.rowsPerExample }); // rows of one prge pass
    this.setStatus('running');
    try {
      const s = await train(this.model, data, cfg, {
        resume,
        store,
        baseModelName: this.init.baseModelName,
        fingerprint: this.fingerprint,
        evaluate: (l) => ((lora = l), this.task.evaluate(this.model, l, this.evalRows)),
        events: {
          onStep: (r) => {
            this.step = r.step + 1;
            this.history.push({ step: r.step, loss: r.loss });
            const perSecond = r.ms > 0 ? (rows * 1000) / r.ms : 0;
            this.emit('step', { ...r, steps: cfg.steps, rowsPerSecond: perSecond, tokensPerSecond: perSecond * cfg.seq });
          },
          onEval: (e) => this.addEval(e),
          onDiverge: (d) => {
            this.diverged = d;
            this.emit('diverge', d);
          },
          onCheckpoint: (step) => {
            boundary = step;
            this.emit('checkpoint', { step, files: this.checkpoint! });
          },
        },
      });
      this.lora = s.lora;
      this.step = s.steps;
      if (s.rolledBack) {
        // stopped for divergence: the run is its last checkpoint again (trainer.ts)
        this.history = this.history.filter((h) => h.step < s.steps);
        this.evals = dedupeEvals(s.state.evals);
        if (s.diverged) this.diverged = { ...s.diverged, rolledBackTo: s.rolledBack.to };
      }
      if (s.diverged?.kept) this.diverged = { ...this.diverged, ...s.diverged }; // stopped: what it kept
      const status = s.diverged?.kept ? 'diverged' : 'done';
      this.setStatus(status);
      return { status, step: s.steps, evalBefore: s.evalBefore, evalAfter: s.evalAfter, msPerStep: s.msPerStep, diverged: this.diverged };
    } catch (e) {
      if (!(e instanceof Interrupt)) {
        (lora as LoraState | null)?.destroy();
        this.setStatus('failed', e instanceof Error ? e.message : String(e));
        throw e;
      }
      // Nothing was in flight: the adapter is the checkpoint's (or the fresh one at step 0).
      this.lora = lora;
      this.step = boundary;
      this.history = this.history.filter((h) => h.step < boundary);
      if (this.want === 'stop') {
        const after = this.lora ? await this.task.evaluate(this.model, this.lora, this.evalRows) : null;
        if (after) this.addEval({ step: boundary, ...after });
        this.setStatus('done');
        return { status: 'stopped', step: boundary, evalBefore: null, evalAfter: after, msPerStep: 0, diverged: this.diverged };
      }
      this.setStatus('paused');
      return { status: 'paused', step: boundary, evalBefore: null, evalAfter: null, msPerStep: 0, diverged: this.diverged };
    } finally {
      this.running = false;
      this.want = null;
    }
  }

  /** Pauses at the next checkpoint; run() resolves with status 'paused' and a later run() continues. */
  pause(): void {
    if (!this.running) return;
    this.want = 'pause';
    this.setStatus('pausing');
  }

  /** Ends the run at the next checkpoint and evaluates the adapter there. */
  stop(): void {
    if (!this.running) return;
    this.want = 'stop';
    this.setStatus('stopping');
  }

  /** The adapter in the Hugging Face PEFT layout (adapter_config.json + adapter_model.safetensors). */
  async adapterFiles(): Promise<AdapterFiles> {
    if (this.running) throw new Error('the adapter is changing: pause or stop the run first');
    if (!this.lora) throw new Error('no adapter yet: run() first');
    return writeAdapter(await this.lora.toHost(), { baseModelName: this.init.baseModelName });
  }

  /** Frees the adapter's GPU buffers. */
  destroy(): void {
    this.lora?.destroy();
    this.lora = null;
  }

  private addEval(e: EvalDetail): void {
    this.evals = dedupeEvals([...this.evals, e]);
    this.emit('eval', e);
  }

  private setStatus(status: FineTuneStatus, error?: string): void {
    this.status = status;
    this.emit('status', { status, step: this.step, ...(error ? { error } : {}), ...(this.diverged ? { diverged: this.diverged } : {}) });
  }

  private emit<K extends keyof FineTunerEventMap>(type: K, detail: FineTunerEventMap[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** One evaluation per step (a resumed run evaluates its first step again): the latest wins. */
export function dedupeEvals(evals: EvalDetail[]): EvalDetail[] {
  const byStep = new Map<number, EvalDetail>();
  for (const e of evals) byStep.set(e.step, e);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** Progress callbacks of finetune(): the same details as the FineTuner's events. */
export interface FineTuneCallbacks {
  step?: (d: StepDetail) => void;
  eval?: (d: EvalDetail) => void;
  init?: FineTunerInit;
}

/** What finetune() resolves to: the run's result, the adapter (the caller's: destroy() it), its PEFT files, the history. */
export type FineTuneOutput = FineTuneResult & { lora: LoraState; files: AdapterFiles; history: FineTuner['history']; evals: EvalDetail[] };

/**
 * Fine-tunes in one call: `const { lora, files } = await finetune(model, { text }, { steps: 50 })`.
 * `on` receives the same details as the FineTuner's events. The returned adapter is the caller's
 * (destroy() it when done).
 */
export async function finetune(model: Model, data: TaskSpec | PreparedTask, options?: Partial<FineTuneOptions>, on?: FineTuneCallbacks): Promise<FineTuneOutput>;
/** The older form: a tokenizer before the data (still accepted). */
export async function finetune(model: Model, tokenizer: TextTokenizer, data: TaskSpec | PreparedTask, options?: Partial<FineTuneOptions>, on?: FineTuneCallbacks): Promise<FineTuneOutput>;
export async function finetune(model: Model, ...args: unknown[]): Promise<FineTuneOutput> {
  const { tokenizer, rest } = tokenizerArg(model, args);
  const [data, options = {}, on = {}] = rest as [TaskSpec | PreparedTask, Partial<FineTuneOptions>?, FineTuneCallbacks?];
  const ft = new FineTuner(model, tokenizer, data, options, on.init);
  if (on.step) ft.addEventListener('step', (e) => on.step!(e.detail));
  if (on.eval) ft.addEventListener('eval', (e) => on.eval!(e.detail));
  const r = await ft.run();
  const files = await ft.adapterFiles();
  return { ...r, lora: ft.lora!, files, history: ft.history, evals: ft.evals };
}
