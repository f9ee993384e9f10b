// `mobizo logits`: the logits of every position of a prompt, as JSON on stdout.
import type { Command } from 'commander';
import { ForwardPass } from '../model/forward';
import { modelOptions, openModel, runAction } from './common';

interface LogitsFlags {
  model?: string;
  tokenizer?: string;
  adapter?: string;
  tokens?: string;
  prompt?: string;
}

export function registerLogits(program: Command): void {
  modelOptions(program.command('logits'), { adapter: true })
    .description('print {"tokens": [...], "logits": [[vocab floats] per position]} as JSON')
    .option('--tokens <ids>', 'comma-separated token ids, e.g. 1,403,407')
    .option('--prompt <text>', 'text, encoded with BOS first')
    .action((f: LogitsFlags) =>
      runAction('logits', async () => {
        if ((f.tokens === undefined) === (f.prompt === undefined)) throw new Error('give exactly one of --tokens and --prompt');
        let ids: number[] | null = null;
        if (f.tokens !== undefined) {
          ids = f.tokens.split(',').map((s) => {
            const n = Number(s.trim());
            if (s.trim() === '' || !Number.isInteger(n) || n < 0) throw new Error(`--tokens: ${JSON.stringify(s)} is not a token id`);
            return n;
          });
        }
        const { gpu, model, tokenizer, lora } = await openModel(f, (s) => process.stderr.write(`${s}\n`));
        const tokens = ids ?? tokenizer.encode(f.prompt!, { bos: true, eos: false });
        const c = model.config;
        if (tokens.length === 0) throw new Error('no tokens');
        if (tokens.length > c.seqLen) throw new Error(`${tokens.length} tokens exceed the model's context of ${c.seqLen}`);
        const pass = new ForwardPass(model, { B: 1, T: tokens.length, nSelect: tokens.length, lora });
        const logits = await pass.run(tokens, tokens.map((_, i) => i));
        const rows: number[][] = [];
        for (let i = 0; i < tokens.length; i++) rows.push(Array.from(logits.subarray(i * c.vocabSize, (i + 1) * c.vocabSize)));
        process.stdout.write(JSON.stringify({ tokens, logits: rows }) + '\n');
        gpu.device.destroy();
      }),
    );
}
