// The `mobizo` command, compiled into dist/cli.js (scripts/build.mjs --cli) and started by bin/mobizo.js.
import { Command } from 'commander';
import { registerEval } from './cli/eval';
import { registerFetch } from './cli/fetch';
import { registerFinetune } from './cli/finetune';
import { registerGenerate } from './cli/generate';
import { registerLogits } from './cli/logits';
import { registerQuantize } from './cli/quantize';

// a closed pipe (`mobizo fetch --list | head`) ends the command quietly
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const program = new Command();
program
  .name('mobizo')
  .description('On-device zeroth-order fine-tuning of Llama-family models with WebGPU (MobiZO)')
  .showHelpAfterError()
  .configureOutput({ outputError: (s, write) => write(`mobizo: ${s.replace(/^error: /, '')}`) });
registerGenerate(program);
registerLogits(program);
registerFinetune(program);
registerEval(program);
registerQuantize(program);
registerFetch(program);
await program.parseAsync(process.argv);
