// Types for scripts/serve.mjs (imported by the TypeScript tests and bench).
import type { Server } from 'node:http';

export interface StaticServer {
  /** base URL with a trailing slash, e.g. http://127.0.0.1:41234/ */
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export function mimeType(file: string): string;
export function startServer(opts: {
  /** folder served at / */
  root: string;
  /** 0 (default): a free port */
  port?: number;
  host?: string;
  /** extra mounts: URL prefix -> folder, e.g. { '/assets/': '../shared/assets' } */
  routes?: Record<string, string>;
  /** single files: URL path -> file, e.g. { '/profile.js': 'dist/profile.js' } */
  files?: Record<string, string>;
  /** false: log 404s */
  quiet?: boolean;
}): Promise<StaticServer>;
/** The app's site as `npm start` serves it (root: index.html + profile.html; dist: buildApp's bundles; routes: extra mounts, merged in). */
export function appSite(root: string, dist?: string, routes?: Record<string, string>): { root: string; files: Record<string, string>; routes: Record<string, string> };
