// Types for scripts/build.mjs (imported by the TypeScript tests and bench).
import type { BuildOptions, Message } from 'esbuild';

export interface BrowserBuild {
  /** esbuild entry points; relative paths resolve against the repository root. */
  entryPoints: string[] | Record<string, string>;
  /** output folder (absolute, or relative to the repository root). */
  outdir: string;
  minify?: boolean;
  /** import specifier -> file, e.g. { 'mobizo-webgpu': '/tmp/x/index.js' } */
  alias?: Record<string, string>;
}

export const repoRoot: string;
export function browserBuildOptions(opts: BrowserBuild): BuildOptions;
export function buildBrowser(opts: BrowserBuild): Promise<{ outputs: string[]; warnings: Message[] }>;
export function buildApp(opts?: { outdir?: string; minify?: boolean }): Promise<{ outputs: string[]; warnings: Message[] }>;
export function buildLibrary(opts?: { outdir?: string; minify?: boolean; types?: boolean }): Promise<{ outputs: string[]; warnings: Message[] }>;
export function buildCli(opts?: { outdir?: string }): Promise<{ outputs: string[]; warnings: Message[] }>;
export function buildPackage(opts?: { outdir?: string }): Promise<{ outputs: string[]; warnings: Message[] }>;
export function ensureWasm(): void;
export function buildWorker(opts?: { outdir?: string; minify?: boolean }): Promise<{ outputs: string[]; warnings: Message[] }>;
