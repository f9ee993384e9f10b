// `mobizo fetch <name>`: download a known checkpoint from weights/manifest.json.
import type { Command } from 'commander';
import { fetchWeights, knownModels } from './download';
import { runAction } from './common';

export function registerFetch(program: Command): void {
  program
    .command('fetch')
    .description('download a known checkpoint (weights/manifest.json), verify its sha256')
    .argument('[name]', 'model name, e.g. stories260K (see --list)')
    .option('--out <dir>', 'output directory', 'weights/downloads')
    .option('--mirror <url>', 'fetch <url>/<mirrorPath> instead of the public URLs (env MOBIZO_WEIGHTS_MIRROR)')
    .option('--list', 'list the known models')
    .action((name: string | undefined, opts: { out: string; mirror?: string; list?: boolean }) =>
      runAction('fetch', async () => {
        if (opts.list) {
          for (const m of knownModels.models) {
            const mib = m.files.reduce((s, f) => s + f.bytes, 0) / 2 ** 20;
            process.stdout.write(`${m.name.padEnd(12)} ${mib.toFixed(1).padStart(7)} MiB  ${m.description}\n`);
          }
          return;
        }
        if (!name) throw new Error('missing model name (try --list)');
        const paths = await fetchWeights(name, { outDir: opts.out, mirror: opts.mirror });
        for (const p of paths) process.stdout.write(p + '\n');
      }),
    );
}
