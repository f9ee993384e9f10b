// Real sizes: random weights with the published shapes of SmolLM2-135M, Gemma-3-270M, Qwen2.5-0.5B
// and Llama-3.2-1B, written on the fly as GGUF files in F16 and in Q4_K_M layout (never committed),
// then loaded as a user's file would be. Per model and layout: load time, bytes on the GPU vs the
// file, the ledger's bytes for generation (a KV-cached decode), for inference at the rows of a prge
// step and for one prge ZO step (q 2, Bsz 1, T 64: 2q x Bsz x T = 256 rows), ms per decoded token
// and per step (each after an untimed warm-up: one token, one step at T 8), tokens/s.
// Each measurement goes to bench/results/real_size-<model>-<layout>.json; --table prints the
// markdown table of every such file (the README's).
//   node bin/with-gpu.js node --import tsx --import ./scripts/register-wgsl.mjs bench/real_size.ts \
//     [--model smollm2-135m,...] [--layout q4_k_m,f16] [--memory-only] [--table]
// --memory-only builds every stage (the bytes are fixed at construction) but runs none (minutes, not hours).
// Shapes: each model's config.json (hidden, intermediate, layers, heads, kv heads, vocab, tied).
// Qwen2.5's q/k/v biases are left out (the Llama layout): they are 0.1% of its bytes.
// Gemma-3-270M is a `gemma3` GGUF as llama.cpp's convert_hf_to_gguf.py Gemma3Model writes one: head
// dim 256 as attention.key_length / value_length, attention.sliding_window 512, rope.freq_base 1e6
// (the global layers); no sliding_window_pattern or rope.freq_base_swa key (llama.cpp's defaults, 6
// and 1e4, are the published 5 sliding : 1 full layer_types and local base: measure() checks the
// loaded config against them); q/k norms, post_attention_norm, post_ffw_norm; tied; norms stored as
// 1 + w (the converter adds the 1), so 1 here. query_pre_attn_scalar 256 = head_dim (no key holds it).
// Every context_length is 2048 (a real file's 32768 would add 2 x 30 MiB of RoPE tables for Gemma).
// Q4_K_M of rows that are no whole number of 256-value blocks (SmolLM2's 576, Gemma's 640 = 2.5 x
// 256) takes llama.cpp's fallbacks (q4kmType): for Gemma the embedding, attn_q/k/v and ffn_gate/up
// are Q8_0 / Q5_0; attn_output (K 1024) and ffn_down (K 2048) stay Q4_K / Q6_K.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LoraState } from '../src/adapter/lora';
import type { TokenBatch } from '../src/data/batch';
import type { LlamaConfig } from '../src/formats/config';
import { QUANT_BLOCKS, type GgmlQuantName } from '../src/formats/ggml_quants';
import { parseGguf, type GgufValue } from '../src/formats/gguf';
import { ggufToModelFile } from '../src/formats/gguf_model';
import { floatToF16Bits, writeGguf, type GgufTensorIn } from '../src/formats/gguf_writer';
import { createGpu, type Gpu } from '../src/gpu/device';
import { ForwardPass, KvCache } from '../src/model/forward';
import { Model } from '../src/model/model';
import { ZoScheduler } from '../src/train/scheduler';
import { mulberry32 } from '../src/util/random';

export interface Shape {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kv: number;
  vocab: number;
  theta: number;
  gemma?: { headDim: number; window: number }; // a gemma3 GGUF (else llama)
}

export const REAL_MODELS: Record<string, Shape> = {
  'smollm2-135m': { dim: 576, hidden: 1536, layers: 30, heads: 9, kv: 3, vocab: 49152, theta: 100000 },
  'gemma-3-270m': { dim: 640, hidden: 2048, layers: 18, heads: 4, kv: 1, vocab: 262144, theta: 1000000, gemma: { headDim: 256, window: 512 } },
  'qwen2.5-0.5b': { dim: 896, hidden: 4864, layers: 24, heads: 14, kv: 2, vocab: 151936, theta: 1000000 },
  'llama-3.2-1b': { dim: 2048, hidden: 8192, layers: 16, heads: 32, kv: 8, vocab: 128256, theta: 500000 },
};

export type Layout = 'f16' | 'q4_k_m';

/**
 * llama.cpp's Q4_K_M choice per tensor: Q6_K for the LM head / tied embedding and for attn_v and
 * ffn_down of every other layer (its use_more_bits), Q4_K elsewhere; where a row is not a whole
 * number of 256-value blocks, its fallbacks Q5_0 (for Q4_K) and Q8_0 (for Q6_K).
 */
function q4kmType(name: string, K: number, layers: number): string {
  const l = Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  const [eighth, sevenEighths] = [Math.floor(layers / 8), Math.floor((7 * layers) / 8)]; // C++ int division
  const moreBits = l >= 0 && (l < eighth || l >= sevenEighths || (l - eighth) % 3 === 2);
  const six = name === 'token_embd.weight' || name === 'output.weight' || (/attn_v|ffn_down/.test(name) && moreBits);
  if (K % 256 === 0) return six ? 'Q6_K' : 'Q4_K';
  return six ? 'Q8_0' : 'Q5_0';
}

/** Random bytes of `n` values of `type`: f16 values / block scales of about 0.01, random quants. */
function randomTensor(type: string, n: number, seed: number): Uint8Array {
  const r = mulberry32(seed);
  if (type === 'F16') {
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = floatToF16Bits((r() * 2 - 1) * 0.02);
    return new Uint8Array(out.buffer);
  }
  const blk = type === 'Q8_0' ? { elements: 32, bytes: 34 } : QUANT_BLOCKS[type as GgmlQuantName];
  const out = new Uint8Array((n / blk.elements) * blk.bytes);
  for (let i = 0; i < out.length; i += 4) {
    const v = (r() * 2 ** 32) >>> 0;
    out[i] = v & 255;
    out[i + 1] = (v >> 8) & 255;
    out[i + 2] = (v >> 16) & 255;
    out[i + 3] = v >>> 24;
  }
  const scaleAt: Record<string, number[]> = { Q4_K: [0, 2], Q6_K: [208], Q5_0: [0], Q8_0: [0] };
  const mag: Record<string, number> = { Q4_K: 2 ** -12, Q6_K: 2 ** -13, Q5_0: 2 ** -9, Q8_0: 2 ** -12 };
  for (let b = 0; b < out.length; b += blk.bytes) {
    for (const at of scaleAt[type]) {
      const h = floatToF16Bits(mag[type] * (0.5 + r()));
      out[b + at] = h & 255;
      out[b + at + 1] = h >> 8;
    }
  }
  return out;
}

/** The GGUF of `s` in `layout`; `extra` metadata is added (e.g. a tokenizer, which llama.cpp needs to load it). */
export function realSizeGguf(s: Shape, layout: Layout, extra?: ReadonlyMap<string, GgufValue>): Uint8Array {
  const hd = s.gemma?.headDim ?? s.dim / s.heads;
  const arch = s.gemma ? 'gemma3' : 'llama';
  const u = (value: number): GgufValue => ({ type: 'UINT32', value });
  const f = (value: number): GgufValue => ({ type: 'FLOAT32', value });
  const meta = new Map<string, GgufValue>([
    ['general.architecture', { type: 'STRING', value: arch }],
    [`${arch}.context_length`, u(2048)],
    [`${arch}.embedding_length`, u(s.dim)],
    [`${arch}.block_count`, u(s.layers)],
    [`${arch}.feed_forward_length`, u(s.hidden)],
    [`${arch}.attention.head_count`, u(s.heads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f(s.gemma ? 1e-6 : 1e-5)],
    ...(s.gemma ? ([[`${arch}.attention.key_length`, u(hd)], [`${arch}.attention.value_length`, u(hd)]] as const) : []),
    [`${arch}.rope.freq_base`, f(s.theta)],
    ...(s.gemma ? ([[`${arch}.attention.sliding_window`, u(s.gemma.window)]] as const) : []),
    [`${arch}.attention.head_count_kv`, u(s.kv)],
    ...(extra ?? []),
  ]);
  const tensors: GgufTensorIn[] = [];
  let seed = 1;
  const mat = (name: string, shape: [number, number]) => {
    const type = layout === 'f16' ? 'F16' : q4kmType(name, shape[1], s.layers);
    tensors.push({ name, shape, type, bytes: randomTensor(type, shape[0] * shape[1], seed++) });
  };
  const norm = (name: string, n = s.dim) => tensors.push({ name, shape: [n], type: 'F32', data: new Float32Array(n).fill(1) });
  mat('token_embd.weight', [s.vocab, s.dim]);
  for (let l = 0; l < s.layers; l++) {
    const b = `blk.${l}.`;
    norm(`${b}attn_norm.weight`);
    mat(`${b}attn_q.weight`, [s.heads * hd, s.dim]);
    mat(`${b}attn_k.weight`, [s.kv * hd, s.dim]);
    mat(`${b}attn_v.weight`, [s.kv * hd, s.dim]);
    mat(`${b}attn_output.weight`, [s.dim, s.heads * hd]);
    if (s.gemma) {
      norm(`${b}attn_q_norm.weight`, hd);
      norm(`${b}attn_k_norm.weight`, hd);
      norm(`${b}post_attention_norm.weight`);
    }
    norm(`${b}ffn_norm.weight`);
    mat(`${b}ffn_gate.weight`, [s.hidden, s.dim]);
    mat(`${b}ffn_up.weight`, [s.hidden, s.dim]);
    mat(`${b}ffn_down.weight`, [s.dim, s.hidden]);
    if (s.gemma) norm(`${b}post_ffw_norm.weight`);
  }
  norm('output_norm.weight');
  return writeGguf({ metadata: meta, tensors });
}

/** Throws unless the loaded config has the published Gemma 3 layer pattern (5 sliding : 1 full) and bases. */
function checkGemma(c: LlamaConfig, s: Shape, source: string): void {
  const want = Array.from({ length: s.layers }, (_, l) => l % 6 < 5);
  const got = c.slidingLayers ?? [];
  if (c.slidingWindow !== s.gemma?.window || want.some((w, l) => got[l] !== w) || c.localRope?.theta !== 10000 || c.ropeTheta !== s.theta || c.headDim !== s.gemma?.headDim) {
    throw new Error(`${source}: loaded as window ${c.slidingWindow}, sliding layers [${got.map(Number)}], local base ${c.localRope?.theta}, base ${c.ropeTheta}, head dim ${c.headDim}; expected ${s.gemma?.window}, 5 sliding : 1 full, 10000, ${s.theta}, ${s.gemma?.headDim}`);
  }
}

const MiB = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const RESULTS = path.join(import.meta.dirname, 'results');

export interface RealSizeRow {
  model: string;
  layout: Layout;
  date: string;
  fileMiB: number;
  gpuWeightsMiB: number;
  loadMs: number;
  splits: string[];
  generateMiB: number; // ledger bytes live during the decode (weights, KV cache, pass)
  decodeMsPerToken?: number;
  decodeTokensPerS?: number;
  inferenceRowsMiB: number; // a plain forward pass at the prge step's rows (2q Bsz x T), logits of every row
  adaptersMiB: number;
  prgeMiB: number; // ledger bytes live during the prge step
  prgeOverInferenceBytes: number; // prge - inference at the same rows - adapters: the O(q) scalars
  prgeMsPerStep?: number;
  prgeTokensPerS?: number; // trained tokens (Bsz x T) per second
  ledgerPeakMiB: number; // the ledger's peak over the whole run
  loss?: number;
}

/**
 * One row: `name`'s shape (or `opts.shape`, e.g. the device run's tiny rehearsal shape) on a fresh
 * device (`opts.createGpu`, default createGpu()).
 */
export async function measure(
  name: string,
  layout: Layout,
  opts: { memoryOnly?: boolean; decode?: number; shape?: Shape; createGpu?: () => Promise<Gpu> } = {},
): Promise<RealSizeRow> {
  const shape = opts.shape ?? REAL_MODELS[name];
  if (!shape) throw new Error(`real size: no shape for model ${name} (one of ${Object.keys(REAL_MODELS).join(', ')})`);
  const bytes = realSizeGguf(shape, layout);
  const gpu = await (opts.createGpu ?? createGpu)();
  const t0 = performance.now();
  const source = `${name}-${layout}.gguf`;
  const file = ggufToModelFile(parseGguf(bytes, source), bytes, source);
  if (shape.gemma) checkGemma(file.config, shape, source);
  const model = await Model.load(gpu, file, file.rawTensors);
  const loadMs = performance.now() - t0;
  const weights = gpu.ledger.report().current.weights ?? 0;
  const splits = gpu.ledger.splits().map((s) => `${s.label} x${s.parts}`);
  const live = () => gpu.ledger.totalBytes();
  const run = !opts.memoryOnly;

  // generation: a KV-cached decode of `decode` tokens after a one-token prompt (one more untimed first)
  const decode = opts.decode ?? 4;
  const cache = new KvCache(model, 1, 64);
  const pass = new ForwardPass(model, { B: 1, T: 1, nSelect: 1, cache });
  let generate = live();
  let decodeMs: number | undefined;
  if (run) {
    await pass.run([1], [0], 0);
    const tg0 = performance.now();
    for (let pos = 1; pos <= decode; pos++) await pass.run([(pos * 7919 + 1) % shape.vocab], [0], pos);
    decodeMs = (performance.now() - tg0) / decode;
    generate = Math.max(generate, live());
  }
  pass.destroy();
  cache.destroy();

  // inference at the prge step's rows: 2q x Bsz sequences of T, logits of every row (built, not run)
  const [q, T] = [2, 64];
  const infer = new ForwardPass(model, { B: 2 * q, T, nSelect: 2 * q * T });
  const inferenceRows = live();
  infer.destroy();

  // one prge step: q 2, Bsz 1, T 64, LoRA on q and v; the warm-up is one step at T 8 (the same kernels)
  const loraOpts = { rank: 8, alpha: 16, targets: ['q', 'v'] as ('q' | 'v')[] };
  const lora = LoraState.upload(gpu, file.config, loraOpts, LoraState.initHost(file.config, loraOpts, 1));
  const adapters = gpu.ledger.report().current.adapters ?? 0;
  const batchOf = (n: number): TokenBatch => ({
    tokens: Int32Array.from({ length: n }, (_, i) => (i * 104729 + 3) % shape.vocab),
    labels: Int32Array.from({ length: n }, (_, i) => (i < n - 1 ? ((i + 1) * 104729 + 3) % shape.vocab : -100)),
  });
  const zo = (seq: number) => new ZoScheduler(model, lora, { mode: 'prge', q, eps: 1e-3, lr: 1e-4, batch: 1, seq, seed: 1 });
  let stepMs: number | undefined;
  let loss: number | undefined;
  if (run) {
    const warm = zo(8);
    await warm.step(0, batchOf(8));
    warm.destroy();
  }
  const sched = zo(T);
  let prge = live();
  if (run) {
    const ts0 = performance.now();
    loss = (await sched.step(1, batchOf(T))).slotLosses[0];
    stepMs = performance.now() - ts0;
    prge = Math.max(prge, live());
  }
  const peak = gpu.ledger.report().peakTotal;
  sched.destroy();
  lora.destroy();
  model.destroy();
  gpu.device.destroy();
  const r1 = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);
  return {
    model: name,
    layout,
    date: new Date().toISOString(),
    fileMiB: MiB(bytes.length),
    gpuWeightsMiB: MiB(weights),
    loadMs: Math.round(loadMs),
    splits,
    generateMiB: MiB(generate),
    decodeMsPerToken: r1(decodeMs),
    decodeTokensPerS: decodeMs === undefined ? undefined : Math.round((1000 / decodeMs) * 1000) / 1000,
    inferenceRowsMiB: MiB(inferenceRows),
    adaptersMiB: MiB(adapters),
    prgeMiB: MiB(prge),
    prgeOverInferenceBytes: prge - inferenceRows - adapters,
    prgeMsPerStep: stepMs === undefined ? undefined : Math.round(stepMs),
    prgeTokensPerS: stepMs === undefined ? undefined : Math.round((T * 1000 * 1000) / stepMs) / 1000,
    ledgerPeakMiB: MiB(peak),
    loss,
  };
}

/** The README table of every bench/results/real_size-*.json (a timed row wins over a memory-only one). */
export function table(): string {
  const rows: RealSizeRow[] = readdirSync(RESULTS)
    .filter((f) => /^real_size-.*\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(path.join(RESULTS, f), 'utf8')) as RealSizeRow);
  const order = Object.keys(REAL_MODELS);
  rows.sort((a, b) => order.indexOf(a.model) - order.indexOf(b.model) || a.layout.localeCompare(b.layout));
  const s = (ms?: number) => (ms === undefined ? 'not run' : ms >= 10000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 1000).toFixed(1)} s`);
  const lines = [
    '| model | layout | file MiB | GPU weights MiB | load | generate MiB | decode s/token (tok/s) | inference at 256 rows MiB | prge step MiB (over inference + adapters) | prge s/step (tok/s) | peak within 2 GiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const over = r.prgeOverInferenceBytes;
    const fits = r.ledgerPeakMiB <= 2048 ? 'yes' : 'no';
    lines.push(
      `| ${r.model} | ${r.layout.toUpperCase()} | ${r.fileMiB} | ${r.gpuWeightsMiB} | ${s(r.loadMs)} | ${r.generateMiB} | ${s(r.decodeMsPerToken)}${r.decodeTokensPerS ? ` (${r.decodeTokensPerS})` : ''} | ${r.inferenceRowsMiB} | ${r.prgeMiB} (+${(over / 1024).toFixed(0)} KiB) | ${s(r.prgeMsPerStep)}${r.prgeTokensPerS ? ` (${r.prgeTokensPerS})` : ''} | ${fits} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const arg = (k: string, d: string) => {
    const i = process.argv.indexOf(`--${k}`);
    return i >= 0 ? process.argv[i + 1] : d;
  };
  if (process.argv.includes('--table')) {
    console.log(table());
    return;
  }
  const models = arg('model', 'smollm2-135m').split(',');
  const layouts = arg('layout', 'q4_k_m,f16').split(',') as Layout[];
  const memoryOnly = process.argv.includes('--memory-only');
  mkdirSync(RESULTS, { recursive: true });
  for (const m of models) {
    if (!REAL_MODELS[m]) throw new Error(`--model ${m}: not one of ${Object.keys(REAL_MODELS).join(', ')}`);
    for (const l of layouts) {
      if (l !== 'f16' && l !== 'q4_k_m') throw new Error(`--layout ${l}: not f16 or q4_k_m`);
      const r = await measure(m, l, { memoryOnly });
      console.log(JSON.stringify(r));
      const out = path.join(RESULTS, `real_size-${m}-${l}.json`);
      // a memory-only run does not overwrite a timed one
      let keep = false;
      try {
        keep = memoryOnly && (JSON.parse(readFileSync(out, 'utf8')) as RealSizeRow).prgeMsPerStep !== undefined;
      } catch {}
      if (!keep) writeFileSync(out, `${JSON.stringify(r, null, 2)}\n`);
    }
  }
}

if (process.argv[1]?.endsWith('real_size.ts')) main().catch((e) => {
  console.error(e);
  process.exit(1);
});
