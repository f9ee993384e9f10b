// Types for scripts/device_pack.mjs (imported by test/device_script.spec.ts).
import type { BuildOptions } from 'esbuild';

export interface PackInput {
  path: string; // inside the archive
  from?: string; // a file here
  text?: string; // or the file's contents
  role: string;
}
export interface PackFile {
  path: string;
  role: string;
  bytes: number;
  sha256: string;
}
export interface PackManifest {
  format: string;
  builtAt: string;
  git: { commit: string; dirty: boolean };
  node: string;
  platform: string;
  archive: { file: string; bytes: number; sha256: string; unpackedBytes: number };
  files: PackFile[];
  size: { pack: number; tracked: number; total: number; limit: number };
}

export const repoRoot: string;
export const PACK_FORMAT: string;
export const PACK_DIR: string;
export const ARCHIVE: string;
export const LIMIT_BYTES: number;
export const BUNDLES: Record<string, string>;
export function bundleOptions(outdir: string): BuildOptions;
export function bundle(outdir: string): Promise<{ file: string; bytes: number; inputs: string[] }[]>;
export function packInputs(): PackInput[];
export function stage(dir: string): Promise<PackFile[]>;
export function trackedBytes(): number;
export function checkManifest(m: PackManifest, dir?: string): string[];
export function buildPack(out?: string, log?: (s: string) => void): Promise<PackManifest>;
