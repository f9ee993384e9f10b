// Trying the model: the base model and every adapter generated side by side (rows of one batched
// pass per token), the run's before / after sample on a prompt from the held-out text, and a
// classification task's class probabilities with and without the adapters.
import { classifyItems } from '../data/tasks';
import { generateBatch, generateText, type GenerateResult } from '../model/generate';
import { MultiAdapters } from '../adapter/multi';
import { scoreItems, scoreItemsEach } from '../eval/score';
import { adapterNamed, primaryName } from './engine_adapters';
import { eng, needModel, notWhileTraining, post } from './engine_state';
import { DEMO_PROMPT, streamOf, TRAINED_ADAPTER, type ClassifyInfo, type Commands, type GenerateBatchInfo, type SampleInfo } from './protocol';

/**
 * The base model (when asked) and every named adapter, a row each of one batched pass per token
 * (a MultiAdapters assigns each row its adapter; the base row has none): each row's text is what it
 * generates alone. One row alone takes the single-adapter path. `newTokens` are generated after the prompt.
 */
export async function generate(a: Commands['generate']['args']): Promise<GenerateBatchInfo> {
  notWhileTraining('generate');
  const { model, tok } = needModel();
  const names = [...new Set(a.adapters)];
  const rows: (string | null)[] = [...(a.base ? [null] : []), ...names];
  if (!rows.length) throw new Error('generate: nothing to generate: tick the base model or an adapter');
  if (!Number.isInteger(a.newTokens) || a.newTokens < 1) throw new Error(`generate: new tokens must be a positive integer, got ${a.newTokens}`);
  const adapters = names.map(adapterNamed);
  const promptTokens = tok.encode(a.prompt, { bos: true, eos: false }).length;
  const opts = { prompt: a.prompt, steps: promptTokens + a.newTokens, temperature: a.temperature, seed: a.seed };
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

/**
 * A prompt from the held-out text: the start of a held-out chunk, from its first whole word (a
 * line start when there is one early) to a word's end, about `chars` characters.
 */
function heldOutPrompt(chars = 28): string | null {
  const d = eng.data;
  const toks = d?.task.heldOutTokens?.(0);
  if (!d || !toks || d.task.evalIsTrain) return null;
  const { tok } = needModel();
  const utf8 = new TextDecoder();
  const pieces: string[] = [];
  let prev = -1;
  for (const id of toks) {
    if (id === 0 && pieces.length) break; // padding
    pieces.push(id === tok.bosId || id === tok.eosId ? '\n' : utf8.decode(tok.decodeBytes(prev, id)));
    prev = id;
  }
  const wordStart = (i: number) => i === 0 ? false : /^[\s]/.test(pieces[i]) || /\n$/.test(pieces[i - 1]);
  let start = pieces.findIndex((_p, i) => i > 0 && /\n$/.test(pieces[i - 1]) && i < pieces.length / 2);
  if (start < 0) start = pieces.findIndex((_, i) => wordStart(i));
  if (start < 0) return null;
  let text = '';
  for (let i = start; i < pieces.length; i++) {
    if (text.trim().length >= chars && wordStart(i)) break;
    text += pieces[i];
  }
  const t = text.replace(/^\s+/, '').replace(/\s+$/, '');
  return t.length >= 3 && !t.includes('\n') ? t : (t.split('\n')[0] || null);
}

/** The base model and the run's adapter, greedy, on a held-out prompt (the demo: the log's next day). */
export async function sample(a: Commands['sample']['args']): Promise<SampleInfo> {
  notWhileTraining('sample');
  if (!eng.tuner?.lora) throw new Error('no trained adapter yet: train first');
  const demo = !!eng.data?.spec.demo;
  const held = a.prompt ?? (demo ? DEMO_PROMPT : heldOutPrompt());
  const prompt = held ?? 'Once upon a time';
  const source = a.prompt ? 'your prompt' : demo ? "the log's next day (not in the training text)" : held ? 'the start of a held-out text chunk' : 'a fixed prompt (the text is too short to hold any out)';
  const r = await generate({ prompt, newTokens: a.newTokens, temperature: 0, seed: 0, base: true, adapters: [TRAINED_ADAPTER] });
  const cut = (t: string) => (t.startsWith(prompt) ? t.slice(prompt.length) : t);
  return { prompt, source, base: cut(r.rows[0].text), adapter: cut(r.rows[1].text) };
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
export async function classify(text: string, names: string[]): Promise<ClassifyInfo> {
  notWhileTraining('classify');
  const { model, tok } = needModel();
  const c = eng.data?.task.classify;
  if (!c) throw new Error('the data is not a classification task');
  const item = classifyItems(tok, [{ text, label: c.classes[0] }], c, eng.data!.seq, 'your text')[0];
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
