// `mobizo generate`: text from a prompt; stdout is exactly the text, diagnostics go to stderr.
import type { Command } from 'commander';
import { generateText } from '../model/generate';
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
  modelOptions(program.command('generate'), { adapter: true })
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
        const { gpu, model, tokenizer, lora } = await openModel(f, log);
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
