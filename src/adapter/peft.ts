// LoRA adapters in the Hugging Face PEFT layout: adapter_config.json + adapter_model.safetensors,
// loadable by PEFT (PeftModel.from_pretrained) and llama.cpp's convert_lora_to_gguf.py.
//
// Tensor names are PEFT's saved state-dict keys: the PeftModel / LoraModel wrappers add the
// prefix "base_model.model.", the Llama module path follows, and the adapter name ("default") is
// stripped on save:
//   base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight   [r, in]
//   base_model.model.model.layers.{i}.self_attn.q_proj.lora_B.weight   [out, r]
//   (mlp.gate_proj / mlp.up_proj / mlp.down_proj for the FFN)
// PEFT computes y = W x + (alpha / r) * B (A x), the same scale as ours (use_rslora false).
//
// Row order of q and k. Hugging Face Llama checkpoints pair RoPE dimensions (i, i + headDim/2)
// ('halfsplit'); Meta / llama2.c / GGUF pair (2i, 2i+1) ('adjacent'), and the conversion between
// them permutes the output rows of Wq and Wk within each head. The B of a q or k adapter has the
// same output rows, so the file always holds them in HF order: writeAdapter permutes them when
// the base model runs 'adjacent', readAdapter permutes them back for an 'adjacent' model. The
// file then means the same thing whichever loader produced the base weights.
//
// Browser-safe: no node: imports; strings and Uint8Array in and out.
import type { LlamaConfig } from '../formats/config';
import { TARGETS, targetShape, type Target } from '../model/targets';
import { parseSafetensors, tensorToFloat32, writeSafetensors, type Float32TensorIn } from '../formats/safetensors';


/** Hugging Face module name of each target (the name in target_modules). */
export const HF_TARGET_NAMES: Readonly<Record<Target, string>> = {
  q: 'q_proj',
  k: 'k_proj',
  v: 'v_proj',
  o: 'o_proj',
  gate: 'gate_proj',
  up: 'up_proj',
  down: 'down_proj',
};

/** Module path of each target inside a decoder layer. */
const HF_PARENT: Readonly<Record<Target, string>> = {
  q: 'self_attn',
  k: 'self_attn',
  v: 'self_attn',
  o: 'self_attn',
  gate: 'mlp',
  up: 'mlp',
  down: 'mlp',
};

const FROM_HF = new Map<string, Target>(TARGETS.map((t) => [HF_TARGET_NAMES[t], t]));


/** Identity of the base model an adapter belongs to. */
export interface BaseModelIdentity
  extends Pick<LlamaConfig, 'dim' | 'hiddenDim' | 'nLayers' | 'nHeads' | 'nKvHeads' | 'headDim' | 'vocabSize' | 'ropeStyle'> {
  /** Hugging Face id or path of the base model (base_model_name_or_path), when known. */
  name?: string;
}

export interface LoraPair {
  A: Float32Array; // [r, in], row-major
  B: Float32Array; // [out, r], row-major; q/k rows in the base model's own (ropeStyle) order
}

export type AdapterLayer = Partial<Record<Target, LoraPair>>;

export interface AdapterTensors {
  rank: number;
  alpha: number;
  targets: Target[];
  /** One entry per decoder layer; each holds a pair for every target. */
  layers: AdapterLayer[];
  baseModel: BaseModelIdentity;
}

export interface AdapterFiles {
  'adapter_config.json': string;
  'adapter_model.safetensors': Uint8Array;
}

/** Format version of the `mobizo` object in adapter_config.json. */
export const MOBIZO_ADAPTER_FORMAT = 1;

/** The identity fields of a config (for AdapterTensors.baseModel). */
export function baseModelOf(config: LlamaConfig, name?: string): BaseModelIdentity {
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize, ropeStyle } = config;
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize, ropeStyle, ...(name !== undefined ? { name } : {}) };
}

/**
 * Parses a comma-separated target list ("q,v", "q, k, v, o, gate,up,down"). Hugging Face names
 * (q_proj ...) are accepted too. Duplicates are dropped and the result is in canonical order
 * (TARGETS), so "v,q" and "q,v" describe the same adapter.
 */
export function parseTargets(s: string): Target[] {
  const valid = TARGETS.join(',');
  const names = s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  if (names.length === 0) throw new Error(`no LoRA targets given (valid: ${valid})`);
  const chosen = new Set<Target>();
  for (const name of names) {
    const lower = name.toLowerCase();
    const t = (TARGETS as readonly string[]).includes(lower) ? (lower as Target) : FROM_HF.get(lower);
    if (t === undefined) throw new Error(`unknown LoRA target "${name}" (valid: ${valid})`);
    chosen.add(t);
  }
  return TARGETS.filter((t) => chosen.has(t));
}


/** The PEFT state-dict key of a LoRA matrix. */
export function loraTensorName(layer: number, target: Target, which: 'A' | 'B'): string {
  return `base_model.model.model.layers.${layer}.${HF_PARENT[target]}.${HF_TARGET_NAMES[target]}.lora_${which}.weight`;
}

/**
 * Permutes the rows of a q or k projection's output between the 'adjacent' (Meta / llama2.c /
 * GGUF) order and the Hugging Face order, head by head: HF row h*hd + j*hd/2 + i holds adjacent
 * row h*hd + 2i + j (j in {0, 1}). This is the permutation of Hugging Face's
 * convert_llama_weights_to_hf.py; `toHf` false applies its inverse.
 */
export function permuteQkRows(m: Float32Array, nHeads: number, headDim: number, cols: number, toHf: boolean): Float32Array {
  if (m.length !== nHeads * headDim * cols || headDim % 2 !== 0) {
    throw new Error(`permuteQkRows: ${m.length} values do not form ${nHeads} heads x ${headDim} rows x ${cols} columns`);
  }
  const out = new Float32Array(m.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const adjacent = (h * headDim + 2 * i + j) * cols;
        const hf = (h * headDim + j * half + i) * cols;
        if (toHf) out.set(m.subarray(adjacent, adjacent + cols), hf);
        else out.set(m.subarray(hf, hf + cols), adjacent);
      }
    }
  }
  return out;
}

/** The heads a q or k B's rows are grouped in; null for targets whose rows are never permuted. */
function qkHeads(base: Pick<LlamaConfig, 'nHeads' | 'nKvHeads' | 'ropeStyle'>, target: Target): number | null {
  if (base.ropeStyle !== 'adjacent') return null;
  if (target === 'q') return base.nHeads;
  if (target === 'k') return base.nKvHeads;
  return null;
}

/** JSON with object keys sorted at every level and 2-space indents (Python's json.dumps(indent=2, sort_keys=True)). */
function sortedJson(value: unknown): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, sortKeys(o[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sortKeys(value), null, 2);
}

function isPositiveInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x > 0;
}

function checkIdentity(b: BaseModelIdentity, what: string): void {
  const fields = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'vocabSize'] as const;
  for (const f of fields) {
    if (!isPositiveInt(b[f])) throw new Error(`${what}: baseModel.${f} = ${b[f]} is not a positive integer`);
  }
  if (b.ropeStyle !== 'adjacent' && b.ropeStyle !== 'halfsplit') {
    throw new Error(`${what}: baseModel.ropeStyle = ${JSON.stringify(b.ropeStyle)} is not 'adjacent' or 'halfsplit'`);
  }
  if (b.headDim % 2 !== 0) throw new Error(`${what}: baseModel.headDim ${b.headDim} is odd`);
}

/** Serializes an adapter to the two files of a PEFT LoRA adapter directory. */
export function writeAdapter(a: AdapterTensors, opts: { baseModelName?: string } = {}): AdapterFiles {
  const what = 'writeAdapter';
  if (!isPositiveInt(a.rank)) throw new Error(`${what}: rank ${a.rank} is not a positive integer`);
  if (typeof a.alpha !== 'number' || !Number.isFinite(a.alpha) || a.alpha <= 0) {
    throw new Error(`${what}: alpha ${a.alpha} is not a positive number`);
  }
  const base = a.baseModel;
  checkIdentity(base, what);
  if (!Array.isArray(a.targets) || a.targets.length === 0) throw new Error(`${what}: no targets`);
  for (const t of a.targets) {
    if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`${what}: unknown target "${t}" (valid: ${TARGETS.join(',')})`);
  }
  if (new Set(a.targets).size !== a.targets.length) throw new Error(`${what}: targets ${a.targets.join(',')} repeat a target`);
  const targets = TARGETS.filter((t) => a.targets.includes(t));
  if (a.layers.length !== base.nLayers) {
    throw new Error(`${what}: ${a.layers.length} adapter layers for a base model of ${base.nLayers} layers`);
  }

  const r = a.rank;
  const tensors: Float32TensorIn[] = [];
  a.layers.forEach((layer, i) => {
    for (const key of Object.keys(layer)) {
      if (!targets.includes(key as Target)) {
        throw new Error(`${what}: layer ${i} holds tensors for "${key}", which is not among the targets ${targets.join(',')}`);
      }
    }
    for (const t of targets) {
      const pair = layer[t];
      if (!pair) throw new Error(`${what}: layer ${i} has no tensors for target ${t}`);
      const { in: nIn, out: nOut } = targetShape(base, t);
      if (!(pair.A instanceof Float32Array) || pair.A.length !== r * nIn) {
        throw new Error(`${what}: layer ${i} target ${t}: A has ${pair.A?.length} values, expected [${r}, ${nIn}] = ${r * nIn}`);
      }
      if (!(pair.B instanceof Float32Array) || pair.B.length !== nOut * r) {
        throw new Error(`${what}: layer ${i} target ${t}: B has ${pair.B?.length} values, expected [${nOut}, ${r}] = ${nOut * r}`);
      }
      const heads = qkHeads(base, t);
      const B = heads === null ? pair.B : permuteQkRows(pair.B, heads, base.headDim, r, true);
      tensors.push({ name: loraTensorName(i, t, 'A'), shape: [r, nIn], data: pair.A });
      tensors.push({ name: loraTensorName(i, t, 'B'), shape: [nOut, r], data: B });
    }
  });

  const name = opts.baseModelName ?? base.name ?? null;
  const config = {
    base_model_name_or_path: name,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    lora_alpha: a.alpha,
    lora_dropout: 0,
    peft_type: 'LORA',
    r,
    target_modules: targets.map((t) => HF_TARGET_NAMES[t]),
    task_type: 'CAUSAL_LM',
    // Ours; PEFT drops keys it does not know (with a warning), llama.cpp ignores it.
    mobizo: {
      format: MOBIZO_ADAPTER_FORMAT,
      method: 'lora-fa',
      dim: base.dim,
      layers: base.nLayers,
      heads: base.nHeads,
      kvHeads: base.nKvHeads,
      headDim: base.headDim,
      hidden: base.hiddenDim,
      vocab: base.vocabSize,
      qkRowOrder: 'hf',
    },
  };
  return {
    'adapter_config.json': sortedJson(config) + '\n',
    'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
  };
}

/** PEFT options that change what the tensors mean, with the value under which we can load them. */
function checkUnsupported(cfg: Record<string, unknown>, what: string): void {
  const falsy = ['use_dora', 'use_rslora', 'fan_in_fan_out', 'lora_bias'];
  for (const k of falsy) {
    if (cfg[k] !== undefined && cfg[k] !== null && cfg[k] !== false) {
      throw new Error(`${what}: ${k} = ${JSON.stringify(cfg[k])} is not supported (mobizo loads plain LoRA only)`);
    }
  }
  if (cfg.bias !== undefined && cfg.bias !== null && cfg.bias !== 'none') {
    throw new Error(`${what}: bias = ${JSON.stringify(cfg.bias)} is not supported (only "none")`);
  }
  const empty = (v: unknown) =>
    v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);
  for (const k of ['layers_to_transform', 'rank_pattern', 'alpha_pattern', 'modules_to_save', 'layer_replication']) {
    if (!empty(cfg[k])) throw new Error(`${what}: ${k} = ${JSON.stringify(cfg[k])} is not supported`);
  }
}

/** The targets named by target_modules (a list, "all-linear", or a regex resolved by the tensors present). */
function readTargets(cfg: Record<string, unknown>, tensorNames: Iterable<string>, what: string): Target[] {
  const supported = TARGETS.map((t) => HF_TARGET_NAMES[t]).join(', ');
  const tm = cfg.target_modules;
  let names: string[];
  if (Array.isArray(tm)) {
    if (!tm.every((x) => typeof x === 'string')) throw new Error(`${what}: target_modules ${JSON.stringify(tm)} is not a list of names`);
    // PEFT matches a list entry against a module's full name or its dotted suffix.
    names = tm.map((x) => x.split('.').pop()!);
  } else if (tm === 'all-linear') {
    names = TARGETS.map((t) => HF_TARGET_NAMES[t]);
  } else if (typeof tm === 'string') {
    // A regular expression: take the modules it matched from the tensors that were saved.
    const found = new Set<string>();
    for (const n of tensorNames) {
      const m = /\.([A-Za-z0-9_]+)\.lora_[AB]\.weight$/.exec(n);
      if (m) found.add(m[1]);
    }
    names = [...found];
  } else {
    throw new Error(`${what}: target_modules is ${tm === undefined ? 'missing' : JSON.stringify(tm)}`);
  }
  const chosen = new Set<Target>();
  for (const n of names) {
    const t = FROM_HF.get(n);
    if (t === undefined) throw new Error(`${what}: unsupported target module "${n}" (supported: ${supported})`);
    chosen.add(t);
  }
  if (chosen.size === 0) throw new Error(`${what}: target_modules names no modules`);
  return TARGETS.filter((t) => chosen.has(t));
}

/** Compares the base-model shape recorded by writeAdapter with the model being loaded. */
function checkRecordedBase(rec: unknown, config: LlamaConfig, what: string): void {
  if (rec === undefined) return; // an adapter from other tooling: tensor shapes are checked instead
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) throw new Error(`${what}: "mobizo" is not an object`);
  const m = rec as Record<string, unknown>;
  const pairs: [string, number][] = [
    ['dim', config.dim],
    ['layers', config.nLayers],
    ['heads', config.nHeads],
    ['kvHeads', config.nKvHeads],
    ['headDim', config.headDim],
    ['hidden', config.hiddenDim],
    ['vocab', config.vocabSize],
  ];
  const diffs: string[] = [];
  for (const [k, v] of pairs) {
    if (m[k] !== undefined && m[k] !== v) diffs.push(`${k} ${JSON.stringify(m[k])} vs ${v}`);
  }
  if (diffs.length > 0) {
    throw new Error(`${what}: adapter was made for a different base model (adapter vs this model: ${diffs.join(', ')})`);
  }
  if (m.qkRowOrder !== undefined && m.qkRowOrder !== 'hf') {
    throw new Error(`${what}: mobizo.qkRowOrder ${JSON.stringify(m.qkRowOrder)} is not supported`);
  }
}

/**
 * The name of one of an adapter's files for messages: `source` is the adapter's folder (or URL), or
 * already one of its files (a file picked alone): then its sibling, never `a.safetensors/b.json`.
 */
function adapterFile(source: string, name: string): string {
  const slash = source.lastIndexOf('/');
  const last = source.slice(slash + 1);
  if (last === name) return source;
  if (/\.(json|safetensors)$/i.test(last)) return `${source.slice(0, slash + 1)}${name}`;
  if (/\.zip$/i.test(last)) return `${source}: ${name}`;
  return `${source}/${name}`;
}

/**
 * Loads a PEFT LoRA adapter for `config`, checking that it fits: peft_type, r and lora_alpha,
 * options that change the tensors' meaning, target modules, the recorded base-model shape, and
 * the presence, shape and dtype (F32/F16/BF16) of every tensor; extra tensors are an error.
 * `source` names the adapter (a directory or URL) in errors.
 */
export function readAdapter(files: { config: string; safetensors: Uint8Array }, config: LlamaConfig, source: string): AdapterTensors {
  const what = adapterFile(source, 'adapter_config.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(files.config);
  } catch (e) {
    throw new Error(`${what}: not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${what}: not a JSON object`);
  const cfg = parsed as Record<string, unknown>;

  if (cfg.peft_type !== 'LORA') {
    throw new Error(`${what}: peft_type is ${cfg.peft_type === undefined ? 'missing' : JSON.stringify(cfg.peft_type)}; only "LORA" adapters are supported`);
  }
  if (!isPositiveInt(cfg.r)) throw new Error(`${what}: r is ${cfg.r === undefined ? 'missing' : JSON.stringify(cfg.r)}; it must be a positive integer`);
  const alpha = cfg.lora_alpha;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) {
    throw new Error(`${what}: lora_alpha is ${alpha === undefined ? 'missing' : JSON.stringify(alpha)}; it must be a positive number`);
  }
  checkUnsupported(cfg, what);
  checkRecordedBase(cfg.mobizo, config, what);

  const stSource = adapterFile(source, 'adapter_model.safetensors');
  const st = parseSafetensors(files.safetensors, stSource);
  const targets = readTargets(cfg, st.tensors.keys(), what);

  const r = cfg.r;
  const used = new Set<string>();
  const layers: AdapterLayer[] = [];
  for (let i = 0; i < config.nLayers; i++) {
    const layer: AdapterLayer = {};
    for (const t of targets) {
      const { in: nIn, out: nOut } = targetShape(config, t);
      const load = (which: 'A' | 'B', rows: number, cols: number, dims: string): Float32Array => {
        const name = loraTensorName(i, t, which);
        const tensor = st.tensors.get(name);
        if (!tensor) throw new Error(`${stSource}: missing tensor ${name} (layer ${i}, target ${HF_TARGET_NAMES[t]})`);
        const s = tensor.shape;
        // the model's side fits but not the rank: the config and the weights disagree (not another model)
        const rankOnly = s.length === 2 && (which === 'A' ? s[1] === cols && s[0] !== rows : s[0] === rows && s[1] !== cols);
        if (rankOnly) {
          throw new Error(`${stSource}: tensor ${name} has shape [${s.join(', ')}], expected [${rows}, ${cols}]: rank ${which === 'A' ? s[0] : s[1]}, but ${what} says r = ${r}: the config and the weights disagree`);
        }
        if (s.length !== 2 || s[0] !== rows || s[1] !== cols) {
          throw new Error(
            `${stSource}: tensor ${name} has shape [${s.join(', ')}], expected [${rows}, ${cols}] (${dims}) for this model: the adapter was made for a different model`,
          );
        }
        used.add(name);
        return tensorToFloat32(tensor, name, stSource);
      };
      const A = load('A', r, nIn, `r = ${r}, in = ${nIn}`);
      const Bfile = load('B', nOut, r, `out = ${nOut}, r = ${r}`);
      const heads = qkHeads(config, t);
      layer[t] = { A, B: heads === null ? Bfile : permuteQkRows(Bfile, heads, config.headDim, r, false) };
    }
    layers.push(layer);
  }
  for (const name of st.tensors.keys()) {
    if (!used.has(name)) {
      throw new Error(
        `${stSource}: unexpected tensor ${name}: not a LoRA matrix of ${targets.map((t) => HF_TARGET_NAMES[t]).join(', ')} in layers 0..${config.nLayers - 1} of this model`,
      );
    }
  }

  const name = typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : undefined;
  return { rank: r, alpha, targets, layers, baseModel: baseModelOf(config, name) };
}
