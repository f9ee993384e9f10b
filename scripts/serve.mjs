#!/usr/bin/env node
// Local static server. `npm start` (node scripts/serve.mjs [--port 8080] [--host 127.0.0.1]
// [--assets DIR]) builds the app and serves the repo's index.html + dist/ at http://HOST:PORT/,
// and profile.html with its script (dist/profile.js at /profile.js, see appSite()).
// startServer() is reused by the headless-Chrome tests and the bench.
//
// WebGPU needs a secure context: http://127.0.0.1 and http://localhost count as secure, a LAN
// address does not. Pages are served cross-origin isolated (COOP/COEP) so SharedArrayBuffer and
// full-resolution timers are available to them.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp, repoRoot } from './build.mjs';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wgsl': 'text/wgsl; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.bin': 'application/octet-stream',
  '.gguf': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};

export function mimeType(file) {
  return MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Maps a URL path to a file under `dir`, or null when it would escape `dir`. */
function resolveUnder(dir, urlPath) {
  const file = path.resolve(dir, '.' + path.posix.normalize('/' + urlPath));
  return file === dir || file.startsWith(dir + path.sep) ? file : null;
}

/**
 * Starts a static file server.
 * @param {{ root: string, port?: number, host?: string, routes?: Record<string, string>, files?: Record<string, string>, quiet?: boolean }} opts
 *   root: folder served at `/` (a folder request serves its index.html);
 *   port: 0 (default) picks a free one; routes: extra mounts, URL prefix -> folder,
 *   e.g. `{ '/assets/': '../shared/assets' }` (the longest matching prefix wins);
 *   files: single files, URL path -> file (before the mounts).
 * @returns {Promise<{ url: string, port: number, server: http.Server, close: () => Promise<void> }>}
 */
export async function startServer({ root, port = 0, host = '127.0.0.1', routes = {}, files = {}, quiet = true }) {
  const mounts = Object.entries({ ...routes, '/': root })
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : prefix + '/', path.resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length);

  const server = http.createServer((req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(400, 'bad request\n');
    }
    let file = Object.hasOwn(files, urlPath) ? path.resolve(files[urlPath]) : null;
    if (!file) {
      const mount = mounts.find(([prefix]) => urlPath === prefix.slice(0, -1) || urlPath.startsWith(prefix));
      if (!mount) return send(404, 'not found\n');
      file = resolveUnder(mount[1], urlPath.slice(mount[0].length - 1));
      if (!file) return send(403, 'forbidden\n');
    }
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        file = path.join(file, 'index.html');
        st = fs.existsSync(file) ? fs.statSync(file) : undefined;
      }
      if (err || !st || !st.isFile()) {
        if (!quiet) console.log(`404 ${urlPath}`);
        return send(404, `not found: ${urlPath}\n`);
      }
      res.writeHead(200, {
        'Content-Type': mimeType(file),
        'Content-Length': st.size,
        'Cache-Control': 'no-store',
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'same-origin',
      });
      if (req.method === 'HEAD') return res.end();
      const stream = fs.createReadStream(file);
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(undefined); });
  });
  const actual = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${actual}/`,
    port: actual,
    server,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * The app's site as `npm start` serves it: `root` holds index.html and profile.html, `dist` the
 * bundles of buildApp(). index.html loads ./dist/app.js, whose worker fetches the bundled
 * stories260K from ../weights/ (the repo's weights/ folder, mounted when `root` is elsewhere);
 * profile.html loads ./profile.js (as the bench's served folder has it, bench/serve_pages.ts),
 * which is dist/profile.js here, and times /assets/models/stories260K.bin: without an `/assets/`
 * mount (`--assets DIR`), that is the bundled copy in weights/.
 * @param {string} root
 * @param {string} [dist]
 * @param {Record<string, string>} [routes] extra mounts (e.g. `{ '/assets/': DIR }`), merged in
 */
export function appSite(root, dist = path.join(root, 'dist'), routes = {}) {
  const weights = path.join(repoRoot, 'weights');
  const mounts = {
    ...(path.resolve(root) === repoRoot ? {} : { '/weights/': weights }),
    ...(routes['/assets/'] ? {} : { '/assets/models/': weights }),
    ...routes,
  };
  return { root, files: { '/profile.js': path.join(dist, 'profile.js'), '/profile.js.map': path.join(dist, 'profile.js.map') }, routes: mounts };
}

function parseArgs(argv) {
  const opts = { port: 8080, host: '127.0.0.1', assets: undefined };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--port' || flag === '-p') opts.port = Number(value());
    else if (flag === '--host') opts.host = value();
    else if (flag === '--assets') opts.assets = value();
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--assets DIR (served at /assets/)]');
      process.exit(0);
    } else throw new Error(`unknown option ${argv[i]} (try --help)`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error(`bad --port ${opts.port}`);
  return opts;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    await buildApp();
    const routes = opts.assets ? { '/assets/': path.resolve(opts.assets) } : {};
    const { url } = await startServer({ ...appSite(repoRoot, undefined, routes), port: opts.port, host: opts.host, quiet: false });
    console.log(`mobizo-webgpu: serving ${url}  (Ctrl-C to stop); the kernel profile of one step: ${url}profile.html`);
  } catch (err) {
    console.error(`serve: ${err.message}`);
    process.exit(1);
  }
}
