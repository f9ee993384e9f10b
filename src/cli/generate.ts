// `mobizo generate`: text from a prompt; stdout is exactly the text, diagnostics go to stderr.
// --adapter a,b,c: one batched pass per token serves every adapter; stdout has each one's text
// under a line `=== adapter <dir> ===`.
import type { Command } from 'commander';
import { generateBatch, generateText } from '../model/generate';
import { MultiAdapters } from '../adapter/multi';
import { modelOptions, openModel, parseFloatOption, parseIntOption, runAction } from './common';

interface GenerateFlags {
  model?: string;
  tokenizer?: string;
  adapter?: string;
  prompt: string;
  temperature: string;
  topP: string;
  steps: string;
  seed: string;
  quiet?: boolean;
}

export function registerGenerate(program: Command): void {
  modelOptions(program.command('generate'), { adapter: true, many: true })
    .description('generate text (greedy with --temperature 0); no --model runs the bundled stories260K')
    .option('--prompt <text>', 'prompt', '')
    .option('--temperature <t>', 'sampling temperature, 0 = greedy', '1.0')
    .option('--top-p <p>', 'nucleus sampling threshold in (0, 1); 0 or 1 turn it off', '0.9')
    .option('--steps <n>', 'positions in all, prompt included (capped at the context)', '256')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--quiet', 'no diagnostics on stderr')
    .action((f: GenerateFlags) =>
      runAction('generate', async () => {
        const log = (s: string) => f.quiet || process.stderr.write(`${s}\n`);
        const temperature = parseFloatOption(f.temperature, '--temperature');
        const topP = parseFloatOption(f.topP, '--top-p');
        const steps = parseIntOption(f.steps, '--steps', 1);
        const seed = parseIntOption(f.seed, '--seed', 0);
        const { gpu, model, tokenizer, lora, adapters } = await openModel(f, log, { many: true });
        if (adapters) {
          const N = adapters.dirs.length;
          const multi = MultiAdapters.create(gpu, model.config, adapters.tensors, N);
          multi.assign(adapters.dirs.map((_, i) => i));
          const rs = await generateBatch(model, tokenizer, { prompt: f.prompt, steps, temperature, topP, seed, lora: multi }, N);
          rs.forEach((r, i) => process.stdout.write(`${multiHeader(adapters.dirs[i])}\n${r.text}\n`));
          const ms = rs[0].ms;
          const positions = rs.reduce((n, r) => n + r.tokens.length - 1, 0);
          log(`${N} adapters in one batch: ${rs.map((r) => r.generatedTokens).join(', ')} tokens generated, ${((positions / ms) * 1000).toFixed(1)} tok/s in all`);
          multi.destroy();
          gpu.device.destroy();
          return;
        }
        const r = await generateText(model, tokenizer, {
          prompt: f.prompt,
          steps,
          temperature,
          topP,
          seed,
          lora,
          onToken: (s) => process.stdout.write(s),
        });
        process.stdout.write('\n');
        log(`${r.generatedTokens} tokens generated, ${r.tokensPerSecond.toFixed(1)} tok/s`);
        gpu.device.destroy();
      }),
    );
}

/** The line before each adapter's text in `generate --adapter a,b,c` output. */
export function multiHeader(dir: string): string {
  return `=== adapter ${dir} ===`;
}
