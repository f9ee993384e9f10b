// The benches' inputs: the data sets of ../shared/assets and the stories260K checkpoint with its
// tok512 tokenizer, read from the copy that ships in the package (weights/, see bundledModel).
import path from 'node:path';
import { bundledModel, readUserFile } from '../src/cli/common';
import type { LlamaModelFile } from '../src/formats/config';
import { parseLlama2c } from '../src/formats/llama2c';
import { Tokenizer } from '../src/formats/tokenizer';

/** ../shared/assets beside the repo: the data sets the benches read (data/…, models/…). */
export const ASSETS = path.resolve(import.meta.dirname, '..', '..', 'shared', 'assets');

/** The stories260K checkpoint and its tok512 tokenizer, parsed; a missing file is an Error naming its path. */
export function stories260K(): { file: LlamaModelFile; tok: Tokenizer } {
  const paths = bundledModel();
  const file = parseLlama2c(readUserFile(paths.model, 'stories260K checkpoint'), 'stories260K.bin');
  const tok = Tokenizer.fromLlama2c(readUserFile(paths.tokenizer, 'tok512 tokenizer'), file.config.vocabSize, 'tok512.bin');
  return { file, tok };
}
