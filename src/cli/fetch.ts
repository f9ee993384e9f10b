// `mobizo fetch <name | reference>`: a known checkpoint by URL (weights/manifest.json) into --out, or a
// Hugging Face reference (hf:owner/repo/file.gguf, hf:owner/repo, a known name of one) into the
// model cache; prints the paths. `--list` names the known models.
import type { Command } from 'commander';
import { knownModel, knownModels } from '../model/known_models';
import { fetchHub, fetchWeights } from './download';
import { runAction } from './common';

interface FetchFlags {
  out: string;
  mirror?: string;
  list?: boolean;
  cacheDir?: string;
  endpoint?: string;
}

export function registerFetch(program: Command): void {
  program
    .command('fetch')
    .description('download a known model or a Hugging Face reference (hf:owner/repo/file.gguf, hf:owner/repo), checked against its sha256; --list: the known models')
    .argument('[name]', 'a known model (see --list) or a Hugging Face reference')
    .option('--out <dir>', 'output directory of a checkpoint by URL (the TinyStories models)', 'weights/downloads')
    .option('--mirror <url>', 'fetch <url>/<mirrorPath> instead of the public URLs (env MOBIZO_WEIGHTS_MIRROR)')
    .option('--cache-dir <dir>', 'model cache of hub downloads (default: env MOBIZO_CACHE, else ~/.cache/mobizo)')
    .option('--endpoint <url>', 'the hub (default: env HF_ENDPOINT, else https://huggingface.co); a token for gated models: env HF_TOKEN')
    .option('--list', 'list the known models')
    .action((name: string | undefined, opts: FetchFlags) =>
      runAction('fetch', async () => {
        if (opts.list) {
          for (const m of knownModels.models) {
            const size = m.files ? `${(m.files.reduce((s, f) => s + f.bytes, 0) / 2 ** 20).toFixed(1).padStart(7)} MiB` : '    hub    ';
            process.stdout.write(`${m.name.padEnd(29)} ${size}  ${(m.family ?? '').padEnd(8)} ${m.hub ? `${m.hub}  ` : ''}${m.description}\n`);
          }
          return;
        }
        if (!name) throw new Error('missing model name (try --list)');
        if (knownModel(name)?.files) {
          for (const p of await fetchWeights(name, { outDir: opts.out, mirror: opts.mirror })) process.stdout.write(`${p}\n`);
          return;
        }
        for (const f of await fetchHub(name, { cacheDir: opts.cacheDir, endpoint: opts.endpoint })) process.stdout.write(`${f.path}\n`);
      }),
    );
}
