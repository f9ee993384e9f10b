// The `mobizo` command. Started through bin/mobizo.js, which sets up the GPU environment.
import { Command } from 'commander';
import { registerEval } from './cli/eval';
import { registerFetch } from './cli/fetch';
import { registerFinetune } from './cli/finetune';
import { registerGenerate } from './cli/generate';
import { registerLogits } from './cli/logits';
import { registerQuantize } from './cli/quantize';

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
