// Text generation with a KV cache: the prompt is processed in one pass (prefill), then one token
// per pass. Positions, stopping and printing follow llama2.c's generate(): `steps` counts
// positions including the prompt, and generation stops at BOS or EOS.
import type { LinearAdapters } from './targets';
import type { Model } from './model';
import { Sampler, type SamplerOptions } from './sampler';
import { StreamDecoder, type TextTokenizer } from '../formats/tokenizer';
import { ForwardPass, KvCache } from './forward';
import { isTokenizer, tokenizerOf } from './tokenizer_arg';

export interface GenerateOptions extends Partial<SamplerOptions> {
  prompt?: string;
  steps?: number; // positions in all, prompt included (capped at the model's context)
  onToken?: (text: string) => void; // streamed pieces of the output text
  lora?: LinearAdapters; // generate with a LoRA adapter
}

export interface GenerateResult {
  text: string; // the prompt followed by the continuation
  tokens: number[]; // every token fed or produced, BOS first
  promptTokens: number;
  generatedTokens: number;
  tokensPerSecond: number; // positions processed per second, as llama2.c reports
  ms: number;
}

/**
 * Continues `opts.prompt` (greedy with temperature 0), tokenized by the model's own tokenizer
 * (`model.tokenizer`, set by loadModel); `opts.lora` generates with an adapter.
 */
export async function generateText(model: Model, opts?: GenerateOptions): Promise<GenerateResult>;
/** The older form: a tokenizer before the options (still accepted). */
export async function generateText(model: Model, tok: TextTokenizer, opts?: GenerateOptions): Promise<GenerateResult>;
export async function generateText(model: Model, a?: TextTokenizer | GenerateOptions, b?: GenerateOptions): Promise<GenerateResult> {
  const tok = tokenizerOf(model, a);
  const opts: GenerateOptions = (isTokenizer(a) ? b : a) ?? {};
  const onToken = opts.onToken;
  const [r] = await generateBatch(model, tok, { ...opts, onToken: undefined, onTokenOf: onToken && ((_, s) => onToken(s)) }, 1);
  return r;
}

/**
 * `sequences` continuations of the same prompt, one batched pass per token (prefill, then one
 * token per sequence a pass). Each sequence has its own sampler of the same seed and stops on its
 * own, so each result is what generateText gives alone; with many adapters in one pass
 * (src/adapter/multi.ts, one assigned per sequence) sequence b continues with its adapter.
 */
export async function generateBatch(
  model: Model,
  tok: TextTokenizer,
  opts: GenerateOptions & { onTokenOf?: (sequence: number, text: string) => void },
  sequences: number,
): Promise<GenerateResult[]> {
  const c = model.config;
  if (tok.vocabSize !== c.vocabSize) {
    throw new Error(`tokenizer has ${tok.vocabSize} tokens but the model's vocabulary is ${c.vocabSize}`);
  }
  if (!Number.isInteger(sequences) || sequences < 1) throw new Error(`generate: sequences must be a positive integer, got ${sequences}`);
  const N = sequences;
  const prompt = tok.encode(opts.prompt ?? '', { bos: true, eos: false });
  if (prompt.length > c.seqLen) {
    throw new Error(`prompt is ${prompt.length} tokens, longer than the model's context of ${c.seqLen}`);
  }
  if (prompt.length === 0) throw new Error('the prompt is empty and the tokenizer adds no BOS (Qwen): give a prompt');
  const steps = Math.min(Math.max(opts.steps ?? 256, prompt.length), c.seqLen);
  const bos = tok.addBos ? 1 : 0; // the prompt's BOS is not printed
  const rows = Array.from({ length: N }, () => ({
    decoder: new StreamDecoder(tok, bos ? prompt[0] : -1),
    sampler: new Sampler({ temperature: opts.temperature ?? 1, topP: opts.topP ?? 0.9, seed: opts.seed ?? 0 }),
    text: '',
    tokens: [...prompt],
    done: false,
  }));
  const emit = (b: number, t: number) => {
    const piece = rows[b].decoder.push(t);
    rows[b].text += piece;
    if (piece) opts.onTokenOf?.(b, piece);
  };
  rows.forEach((_, b) => prompt.slice(bos).forEach((t) => emit(b, t)));

  const V = c.vocabSize;
  const P = prompt.length;
  const cache = new KvCache(model, N, steps);
  const lora = opts.lora;
  const prefill = new ForwardPass(model, { B: N, T: P, nSelect: N, cache, lora });
  const decode = new ForwardPass(model, { B: N, T: 1, nSelect: N, cache, lora });
  const all = rows.map((_, b) => b);
  const t0 = performance.now();
  try {
    let logits = await prefill.run(rows.flatMap(() => prompt), all.map((b) => b * P + P - 1), 0);
    for (let pos = P; ; pos++) {
      const fed = rows.map((row, b) => {
        if (row.done) return 0; // a finished sequence's slot idles (its cache is never read)
        const next = row.sampler.sample(logits.subarray(b * V, (b + 1) * V));
        if (next === tok.bosId || next === tok.eosId) return ((row.done = true), 0);
        row.tokens.push(next);
        emit(b, next);
        if (pos >= steps) row.done = true;
        return next;
      });
      if (rows.every((r) => r.done)) break;
      logits = await decode.run(fed, all, pos);
    }
  } finally {
    prefill.destroy();
    decode.destroy();
    cache.destroy();
  }
  for (const [b, row] of rows.entries()) {
    const tail = row.decoder.flush();
    row.text += tail;
    if (tail) opts.onTokenOf?.(b, tail);
  }
  const ms = performance.now() - t0;
  model.gpu.throwIfFailed('generate');
  return rows.map((row) => ({
    text: row.text,
    tokens: row.tokens,
    promptTokens: P,
    generatedTokens: row.tokens.length - P,
    tokensPerSecond: ((row.tokens.length - 1) / ms) * 1000,
    ms,
  }));
}
