// `mobizo eval`: mean token cross-entropy of a text data set, base model or base + adapter.
import type { Command } from 'commander';
import { LmDataset } from '../data/lm';
import { evaluateLm } from '../zo/evaluate';
import { openModel, parseIntOption, runAction } from './common';
import { readDocuments } from './finetune';

interface EvalFlags {
  model?: string;
  tokenizer?: string;
  data: string;
  seq: string;
  batch: string;
  adapter?: string;
  json?: boolean;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('mean token cross-entropy over every chunk of a text data set')
    .option('--model <file>', 'llama2.c checkpoint (.bin)')
    .option('--tokenizer <file>', 'llama2.c tokenizer (default: tokenizer.bin beside the model)')
    .requiredOption('--data <file>', 'text or JSONL {"text": ...}')
    .option('--seq <n>', 'tokens per chunk', '64')
    .option('--batch <n>', 'chunks per forward pass', '8')
    .option('--adapter <dir>', 'LoRA adapter directory (PEFT layout)')
    .option('--json', 'print {"loss", "tokens"} as JSON')
    .action((f: EvalFlags) =>
      runAction('eval', async () => {
        const seq = parseIntOption(f.seq, '--seq', 2);
        const batch = parseIntOption(f.batch, '--batch', 1);
        const docs = readDocuments(f.data, '--data');
        const { gpu, model, tokenizer, lora } = await openModel(f, (s) => process.stderr.write(`${s}\n`));
        const data = new LmDataset(docs, tokenizer, seq, { source: f.data });
        const r = await evaluateLm(model, lora ?? null, data, batch);
        if (f.json) process.stdout.write(JSON.stringify({ loss: r.loss, tokens: r.tokens }) + '\n');
        else process.stdout.write(`loss ${r.loss.toFixed(6)} over ${r.tokens} tokens (perplexity ${Math.exp(r.loss).toFixed(3)})\n`);
        gpu.device.destroy();
      }),
    );
}
