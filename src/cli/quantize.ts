// `mobizo quantize`: writes a GGUF whose weight matrices are Q8_0 or Q4_0 (readable by this
// engine and by llama.cpp). Input: a GGUF, or a llama2.c checkpoint + tokenizer.
import fs from 'node:fs';
import type { Command } from 'commander';
import { parseGguf } from '../formats/gguf';
import { llama2cTokenizerMetadata, quantizeModelGguf } from '../formats/gguf_writer';
import { isGguf, parseModel } from '../formats/parse';
import { parseHfModel } from '../formats/hf';
import { hfTokenizerMetadata } from '../formats/hf_tokenizer';
import { Tokenizer } from '../formats/tokenizer';
import { isHfDir, readHfDir } from './hf_dir';
import { readUserFile, runAction } from './common';

interface QuantizeFlags {
  model: string;
  tokenizer?: string;
  type: string;
  out: string;
}

export function registerQuantize(program: Command): void {
  program
    .command('quantize')
    .description('write a Q8_0 / Q4_0 GGUF of a model (GGUF, Hugging Face directory, or llama2.c .bin + tokenizer)')
    .requiredOption('--model <file>', 'GGUF, Hugging Face directory (config.json + safetensors + tokenizer.json) or llama2.c checkpoint')
    .option('--tokenizer <file>', 'llama2.c tokenizer (llama2.c input; default: tokenizer.bin beside the model)')
    .requiredOption('--type <t>', 'q8_0 | q4_0')
    .requiredOption('--out <file>', 'output .gguf')
    .action((f: QuantizeFlags) =>
      runAction('quantize', async () => {
        const type = f.type.toUpperCase();
        if (type !== 'Q8_0' && type !== 'Q4_0') throw new Error(`--type must be q8_0 or q4_0, got ${f.type}`);
        let out: Uint8Array;
        if (isHfDir(f.model)) {
          const files = readHfDir(f.model);
          const model = parseHfModel(files, f.model).file;
          if (!files.tokenizerJson) throw new Error(`${f.model}: no tokenizer.json to carry into the GGUF`);
          const meta = hfTokenizerMetadata(files.tokenizerJson, `${f.model}/tokenizer.json`, { tokenizerConfig: files.tokenizerConfig, vocabSize: model.config.vocabSize }).metadata;
          out = quantizeModelGguf({ model, metadata: meta }, type);
          fs.writeFileSync(f.out, out);
          process.stderr.write(`wrote ${f.out}: ${type}, ${(out.length / 2 ** 20).toFixed(2)} MiB\n`);
          return;
        }
        const bytes = readUserFile(f.model, 'model');
        if (isGguf(bytes)) {
          out = quantizeModelGguf({ gguf: parseGguf(bytes, f.model), bytes, source: f.model }, type);
        } else {
          const model = parseModel(bytes, f.model).file;
          const tokPath = f.tokenizer ?? `${f.model.replace(/[^/\\]*$/, '')}tokenizer.bin`;
          const tok = Tokenizer.fromLlama2c(readUserFile(tokPath, 'tokenizer'), model.config.vocabSize, tokPath);
          out = quantizeModelGguf({ model, metadata: llama2cTokenizerMetadata(tok) }, type);
        }
        fs.writeFileSync(f.out, out);
        process.stderr.write(`wrote ${f.out}: ${type}, ${(out.length / 2 ** 20).toFixed(2)} MiB (input ${(bytes.length / 2 ** 20).toFixed(2)} MiB)\n`);
      }),
    );
}
