// What the data layer hands to training and evaluation. The data layer is a leaf: it imports
// nothing from the engine, so a tokenizer is anything with this encode.

/** A batch as the data pipeline gives it: right-padded rows, labels -100 where ignored. */
export interface TokenBatch {
  tokens: Int32Array; // [Bsz * T]
  labels: Int32Array; // [Bsz * T]
}

/** The part of a tokenizer the data layer uses (formats/tokenizer.ts's TextTokenizer is one). */
export interface TokenEncoder {
  encode(text: string, opts: { bos: boolean; eos: boolean }): number[];
}
