// Builds bench pages with the project's browser build (scripts/build.mjs) into a temporary
// folder and serves it on 127.0.0.1 (scripts/serve.mjs): the shared assets at /assets/, gpu.js's
// browser bundle at /vendor/. Used by bench/cli.ts and test/browser/profile.spec.ts.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { repoRoot } from '../scripts/build.mjs';
import { assetsDir, serveBuilt, type ServedPage } from '../test/browser/harness.ts';

export type ServedBench = ServedPage;

/** gpu.js's dist folder (gpu-browser.min.js), or null when gpu.js is not installed. */
export function gpujsDist(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('gpu.js')), '..', 'dist');
    return fs.existsSync(path.join(dir, 'gpu-browser.min.js')) ? dir : null;
  } catch {
    return null;
  }
}

/**
 * Bundles `entries` (name -> TS module relative to the repo root) and writes `files`
 * (name -> contents, e.g. HTML pages) into one folder, then serves it.
 */
export async function serveBench(entries: Record<string, string>, files: Record<string, string>): Promise<ServedBench> {
  const routes: Record<string, string> = {};
  if (fs.existsSync(assetsDir)) routes['/assets/'] = assetsDir;
  const vendor = gpujsDist();
  if (vendor) routes['/vendor/'] = vendor;
  return serveBuilt({ entries, files, routes });
}

/** The HTML of the bench page: gpu.js's bundle first (window.GPU), then the bench script. */
export function benchPageHtml(): string {
  const vendor = gpujsDist() ? '<script src="/vendor/gpu-browser.min.js"></script>\n' : '';
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>mobizo bench</title></head>\n<body><p>mobizo bench running; see the console.</p>\n${vendor}<script type="module" src="./bench_page.js"></script></body></html>\n`;
}

/** profile.html from the repo root (it loads ./profile.js). */
export function profilePageHtml(): string {
  return fs.readFileSync(path.join(repoRoot, 'profile.html'), 'utf8');
}
