// A local server that answers like the Hugging Face hub, for tests (nothing reaches the real hub):
//   GET <url>/<owner>/<repo>/resolve/<revision>/<path>
//     an LFS file (binary)  -> 302 to <url>/cdn/<sha256> with X-Linked-Etag "<sha256>", X-Linked-Size,
//                              X-Repo-Commit (the hub's answer for LFS files)
//     a plain git file      -> 200 with ETag "<git blob sha1>", X-Repo-Commit
//     no such file          -> 404 with X-Error-Code: EntryNotFound;  a gated repo without a token -> 401
//   GET <url>/cdn/<sha256>  -> the bytes, ETag "<sha256>", Range requests (206 + Content-Range)
// CORS headers as the hub sends them, so pages on another port can read the headers. Faults for
// tests: `cutAfter` closes the connection after that many body bytes (once), `corrupt` flips a byte.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface HubRepo {
  files: Record<string, string | Uint8Array>;
  gated?: boolean; // 401 unless Authorization: Bearer <token> is sent
  token?: string;
}

export interface SeenRequest {
  path: string;
  range?: string;
  status: number;
  auth?: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const isLfs = (name: string) => /\.(gguf|safetensors|bin)$/.test(name);

export class MockHub {
  url = '';
  seen: SeenRequest[] = [];
  /** Close the connection after this many bytes of the next body of a file whose name matches. */
  cutAfter: { file: RegExp; bytes: number } | null = null;
  /** Send this many bytes of the next body of a matching file, then nothing more (the connection stays open until stop()). */
  stallAfter: { file: RegExp; bytes: number } | null = null;
  /** Serve these files with one byte flipped (the hub's hashes stay the true ones). */
  corrupt: RegExp | null = null;
  private server: Server;
  private blobs = new Map<string, Uint8Array>(); // sha256 -> bytes
  private readonly commit = 'a'.repeat(40);

  constructor(private readonly repos: Record<string, HubRepo>) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((ok) => this.server.listen(port, '127.0.0.1', ok));
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no server address');
    this.url = `http://127.0.0.1:${addr.port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((ok) => this.server.close(ok));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const cors = {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Expose-Headers': 'ETag, Content-Range, Content-Length, Accept-Ranges, X-Linked-Etag, X-Linked-Size, X-Repo-Commit, X-Error-Code, Location',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'Access-Control-Allow-Headers': 'Range, Authorization', 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
      return;
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const seen: SeenRequest = { path, ...(req.headers.range ? { range: req.headers.range } : {}), ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), status: 0 };
    this.seen.push(seen);
    const reply = (status: number, headers: Record<string, string | number>, body?: Uint8Array | string) => {
      seen.status = status;
      res.writeHead(status, { ...cors, ...headers }).end(body);
    };
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      const bytes = this.blobs.get(cdn[1]);
      if (!bytes) {
        reply(404, { 'content-type': 'text/plain' }, 'no such object');
        return;
      }
      this.send(req, res, seen, bytes, { ...cors, ETag: `"${cdn[1]}"` }, '');
      return;
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repo = m && this.repos[m[1]];
    if (!m || !repo) {
      reply(401, { 'content-type': 'application/json', 'X-Error-Code': 'RepoNotFound' }, '{"error":"Repository not found"}');
      return;
    }
    if (repo.gated && req.headers.authorization !== `Bearer ${repo.token}`) {
      reply(401, { 'content-type': 'application/json', 'X-Error-Code': 'GatedRepo' }, '{"error":"Access to this model is restricted"}');
      return;
    }
    const file = repo.files[m[3]];
    if (file === undefined) {
      reply(404, { 'content-type': 'application/json', 'X-Error-Code': 'EntryNotFound' }, '{"error":"Entry not found"}');
      return;
    }
    const bytes = typeof file === 'string' ? new TextEncoder().encode(file) : file;
    if (isLfs(m[3])) {
      const sha = sha256(bytes);
      this.blobs.set(sha, bytes);
      reply(302, { Location: `/cdn/${sha}?name=${encodeURIComponent(m[3])}`, 'X-Linked-Etag': `"${sha}"`, 'X-Linked-Size': bytes.length, 'X-Repo-Commit': this.commit, ETag: `"${gitSha1(bytes)}"` });
      return;
    }
    this.send(req, res, seen, bytes, { ...cors, ETag: `W/"${gitSha1(bytes)}"`, 'X-Repo-Commit': this.commit }, m[3]);
  }

  /** The bytes, honouring a Range request, with the faults asked for. */
  private send(req: IncomingMessage, res: ServerResponse, seen: SeenRequest, bytes: Uint8Array, headers: Record<string, string>, name: string): void {
    const fileName = name || new URL(req.url ?? '/', 'http://x').searchParams.get('name') || '';
    let body = bytes;
    if (this.corrupt?.test(fileName)) {
      body = bytes.slice();
      body[Math.floor(body.length / 2)] ^= 0xff;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let status = 200;
    const h: Record<string, string | number> = { ...headers, 'Accept-Ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      if (start >= body.length) {
        seen.status = 416;
        res.writeHead(416, { ...h, 'Content-Range': `bytes */${body.length}` }).end();
        return;
      }
      h['Content-Range'] = `bytes ${start}-${end}/${body.length}`;
      body = body.subarray(start, end + 1);
      status = 206;
    }
    h['Content-Length'] = body.length;
    seen.status = status;
    const cut = this.cutAfter;
    if (cut?.file.test(fileName) && body.length > cut.bytes) {
      this.cutAfter = null;
      res.writeHead(status, h);
      res.write(body.subarray(0, cut.bytes), () => res.destroy());
      return;
    }
    const stall = this.stallAfter;
    if (stall?.file.test(fileName) && body.length > stall.bytes) {
      this.stallAfter = null;
      res.writeHead(status, h);
      res.write(body.subarray(0, stall.bytes));
      return;
    }
    res.writeHead(status, h).end(body);
  }
}

export { gitSha1, sha256 };
