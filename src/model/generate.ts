// Text generation with a KV cache: the prompt is processed in one pass (prefill), then one token
// per pass. Positions, stopping and printing follow llama2.c's generate(): `steps` counts
// positions including the prompt, and generation stops at BOS or EOS.
import type { LinearAdapters } from './targets';
import type { Model } from './model';
import { Sampler, type SamplerOptions } from './sampler';
import { StreamDecoder, type TextTokenizer } from '../formats/tokenizer';
import { ForwardPass, KvCache } from './forward';

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

export async function generateText(model: Model, tok: TextTokenizer, opts: GenerateOptions = {}): Promise<GenerateResult> {
  const c = model.config;
  if (tok.vocabSize !== c.vocabSize) {
    throw new Error(`tokenizer has ${tok.vocabSize} tokens but the model's vocabulary is ${c.vocabSize}`);
  }
  const sampler = new Sampler({ temperature: opts.temperature ?? 1, topP: opts.topP ?? 0.9, seed: opts.seed ?? 0 });
  const prompt = tok.encode(opts.prompt ?? '', { bos: true, eos: false });
  if (prompt.length > c.seqLen) {
    throw new Error(`prompt is ${prompt.length} tokens, longer than the model's context of ${c.seqLen}`);
  }
  if (prompt.length === 0) throw new Error('the prompt is empty and the tokenizer adds no BOS (Qwen): give a prompt');
  const steps = Math.min(Math.max(opts.steps ?? 256, prompt.length), c.seqLen);
  const bos = tok.addBos ? 1 : 0; // the prompt's BOS is not printed
  const decoder = new StreamDecoder(tok, bos ? prompt[0] : -1);
  let text = '';
  const emit = (t: number) => {
    const piece = decoder.push(t);
    text += piece;
    if (piece) opts.onToken?.(piece);
  };
  prompt.slice(bos).forEach(emit);

  const cache = new KvCache(model, 1, steps);
  const lora = opts.lora;
  const prefill = new ForwardPass(model, { B: 1, T: prompt.length, nSelect: 1, cache, lora });
  const decode = new ForwardPass(model, { B: 1, T: 1, nSelect: 1, cache, lora });
  const tokens = [...prompt];
  const t0 = performance.now();
  try {
    let logits = await prefill.run(prompt, [prompt.length - 1], 0);
    for (let pos = prompt.length; ; pos++) {
      const next = sampler.sample(logits);
      if (next === tok.bosId || next === tok.eosId) break;
      tokens.push(next);
      emit(next);
      if (pos >= steps) break;
      logits = await decode.run([next], [0], pos);
    }
  } finally {
    prefill.destroy();
    decode.destroy();
    cache.destroy();
  }
  const tail = decoder.flush();
  text += tail;
  if (tail) opts.onToken?.(tail);
  const ms = performance.now() - t0;
  model.gpu.throwIfFailed('generate');
  const generatedTokens = tokens.length - prompt.length;
  return { text, tokens, promptTokens: prompt.length, generatedTokens, tokensPerSecond: ((tokens.length - 1) / ms) * 1000, ms };
}
