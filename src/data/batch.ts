// What the data layer hands to training and evaluation. The data layer is a leaf: it imports
// nothing from the engine, so a tokenizer is anything with this encode.

/** A batch as the data pipeline gives it: right-padded rows, labels -100 where ignored. */
export interface TokenBatch {
  tokens: Int32Array; // [rows * T]
  labels: Int32Array; // [rows * T]
  /**
   * A classification over candidates (the classes loss): the positions scored (indices into
   * tokens), each one's label and the candidate sequence it scores (example * candidates + j, the
   * right one j = 0). Candidates may share a row (src/data/tasks.ts packCandidates), so a position
   * can be picked more than once; the loss reads these, not `labels`.
   */
  picks?: { at: Int32Array; label: Int32Array; seq: Int32Array };
}

/** The part of a tokenizer the data layer uses (formats/tokenizer.ts's TextTokenizer is one). */
export interface TokenEncoder {
  encode(text: string, opts: { bos: boolean; eos: boolean }): number[];
}
