// The tokenizer of a call that takes the model alone or, in the older form, the model and a
// tokenizer (generateText, FineTuner, finetune): the one passed, else the model's own.
import type { TextTokenizer } from '../formats/tokenizer';

/** A tokenizer object (encode + decodeBytes), as opposed to an options or data object. */
export function isTokenizer(v: unknown): v is TextTokenizer {
  return v !== null && typeof v === 'object' && typeof (v as TextTokenizer).encode === 'function' && typeof (v as TextTokenizer).decodeBytes === 'function';
}

/** What to say when a model has no tokenizer and none was passed. */
export const NO_TOKENIZER =
  'this model has no tokenizer (a llama2.c checkpoint loaded without one): pass loadModel(gpu, source, { tokenizer }) its tokenizer file, or a tokenizer as the second argument';

/** `passed` when it is a tokenizer, else the model's; throws when there is none. */
export function tokenizerOf(model: { tokenizer?: TextTokenizer }, passed: unknown): TextTokenizer {
  if (isTokenizer(passed)) return passed;
  if (!model.tokenizer) throw new Error(NO_TOKENIZER);
  return model.tokenizer;
}
