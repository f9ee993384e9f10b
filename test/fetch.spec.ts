// mobizo fetch against a local HTTP server serving ../shared/assets (with Range support), and
// Hugging Face references against a mock hub (test/mock_hub.ts).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { Command } from 'commander';
import { fetchHub, fetchWeights, knownModels, type WeightsManifest } from '../src/cli/download';
import { parseHubRef } from '../src/model/hub';
import { assetPath } from './assets';
import { MockHub } from './mock_hub';
import { registerFetch } from '../src/cli/fetch';

const assets = dirname(assetPath('README.md')); // ../shared/assets, or MOBIZO_ASSETS
const TOK512_SHA = '037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312';

interface Seen { path: string; range?: string; status: number }

/** Static server over `assets`; `/corrupt/<path>` serves the file with one byte flipped. */
class AssetServer {
  seen: Seen[] = [];
  ignoreRange = false;
  url = '';
  private server: Server = createServer((req, res) => {
    void this.handle(req.url ?? '/', req.headers.range).then(({ status, headers, body }) => {
      this.seen.push({ path: req.url ?? '', range: req.headers.range, status });
      res.writeHead(status, headers).end(body);
    });
  });

  async start() {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no server address');
    this.url = `http://127.0.0.1:${addr.port}`;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((ok) => this.server.close(ok));
  }

  private async handle(url: string, range: string | undefined) {
    const path = decodeURIComponent(new URL(url, 'http://host').pathname);
    const corrupt = path.startsWith('/corrupt/');
    const file = resolve(assets, '.' + (corrupt ? path.slice('/corrupt'.length) : path));
    let data: Buffer;
    try {
      if (!file.startsWith(assets + sep)) throw new Error('outside the assets');
      data = await readFile(file);
    } catch {
      return { status: 404, headers: {}, body: 'not found' };
    }
    if (corrupt) data[100] ^= 0xff;
    const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    if (!m || this.ignoreRange) return { status: 200, headers: { 'content-length': data.length }, body: data };
    const start = Number(m[1]);
    const end = m[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
    if (start >= data.length) return { status: 416, headers: { 'content-range': `bytes */${data.length}` }, body: '' };
    const headers = { 'content-range': `bytes ${start}-${end}/${data.length}`, 'content-length': end - start + 1 };
    return { status: 206, headers, body: data.subarray(start, end + 1) };
  }
}

/** A one-model manifest whose single file is tok512.bin served from `mirrorPath`. */
function tok512Manifest(mirrorPath: string, sha256: string | null = TOK512_SHA): WeightsManifest {
  return {
    models: [{
      name: 'tok', description: 'test',
      files: [{ file: 'tok512.bin', url: 'http://127.0.0.1:9/unused', mirrorPath, bytes: 6227, sha256 }],
    }],
  };
}

const asset = (name: string) => readFile(join(assets, 'models', name));

describe('mobizo fetch', () => {
  const server = new AssetServer();
  let out = '';
  let logs: string[] = [];
  const opts = () => ({ outDir: out, mirror: server.url, progress: false, log: (s: string) => logs.push(s) });

  before(() => server.start());
  after(() => server.stop());
  beforeEach(async () => {
    out = await mkdtemp(join(tmpdir(), 'mobizo-fetch-'));
    logs = [];
    server.seen = [];
    server.ignoreRange = false;
  });
  afterEach(() => rm(out, { recursive: true, force: true }));

  it('fetches stories260K end to end, sha256 verified', async () => {
    const paths = await fetchWeights('stories260K', opts());
    assert.deepEqual(paths, [join(out, 'stories260K.bin'), join(out, 'tok512.bin')]);
    assert.deepEqual(await readFile(paths[0]), await asset('stories260K.bin'));
    assert.deepEqual(await readFile(paths[1]), await asset('tok512.bin'));
    assert.deepEqual((await readdir(out)).sort(), ['stories260K.bin', 'tok512.bin']);
    assert.deepEqual(server.seen.map((s) => [s.path, s.range]), [
      ['/models/stories260K.bin', undefined], ['/models/tok512.bin', undefined],
    ]);
    assert.ok(logs.some((l) => /stories260K\.bin: 100%/.test(l)), logs.join('\n'));
  });

  it('resumes a partial .part with a Range request', async () => {
    const model = await asset('stories260K.bin');
    await writeFile(join(out, 'stories260K.bin.part'), model.subarray(0, 400_000));
    await fetchWeights('stories260K', opts());
    const req = server.seen.find((s) => s.path === '/models/stories260K.bin');
    assert.equal(req?.range, 'bytes=400000-');
    assert.equal(req?.status, 206);
    assert.deepEqual(await readFile(join(out, 'stories260K.bin')), model);
  });

  it('restarts from zero when the server answers 200 to a Range request', async () => {
    server.ignoreRange = true;
    const model = await asset('stories260K.bin');
    await writeFile(join(out, 'stories260K.bin.part'), model.subarray(0, 123_457));
    await fetchWeights('stories260K', opts());
    const req = server.seen.find((s) => s.path === '/models/stories260K.bin');
    assert.equal(req?.range, 'bytes=123457-');
    assert.equal(req?.status, 200);
    assert.deepEqual(await readFile(join(out, 'stories260K.bin')), model);
    assert.ok(logs.some((l) => l.includes('ignored the range request')));
  });

  it('rejects a sha256 mismatch and deletes the .part', async () => {
    const manifest = tok512Manifest('corrupt/models/tok512.bin');
    await assert.rejects(fetchWeights('tok', { ...opts(), manifest }),
      new RegExp(`tok512\\.bin: sha256 mismatch .*expected ${TOK512_SHA}, got [0-9a-f]{64}`));
    assert.deepEqual(await readdir(out), []);
  });

  it('names the known models for an unknown name', async () => {
    await assert.rejects(fetchWeights('nope', opts()),
      /unknown model "nope"; known models: stories260K, stories15M, stories42M, stories110M/);
    assert.equal(server.seen.length, 0);
  });

  it('names the URL and status of an HTTP error', async () => {
    const manifest = tok512Manifest('models/missing.bin');
    await assert.rejects(fetchWeights('tok', { ...opts(), manifest }), (e: Error) => {
      assert.match(e.message, /HTTP 404/);
      assert.ok(e.message.includes(`${server.url}/models/missing.bin`), e.message);
      return true;
    });
  });

  it('skips files already present with the right sha256, without a request', async () => {
    for (const f of ['stories260K.bin', 'tok512.bin']) await copyFile(join(assets, 'models', f), join(out, f));
    const paths = await fetchWeights('stories260K', opts());
    assert.equal(paths.length, 2);
    assert.equal(server.seen.length, 0);
    assert.equal(logs.filter((l) => l.includes('already present')).length, 2);
  });

  it('warns when the manifest has no sha256 for a file', async () => {
    const manifest = tok512Manifest('models/tok512.bin', null);
    await fetchWeights('tok', { ...opts(), manifest });
    assert.deepEqual(await readFile(join(out, 'tok512.bin')), await asset('tok512.bin'));
    assert.ok(logs.some((l) => l.includes('warning: tok512.bin is not verified')), logs.join('\n'));
  });

  it('uses the public url without a mirror, and MOBIZO_WEIGHTS_MIRROR when set', async () => {
    const saved = process.env.MOBIZO_WEIGHTS_MIRROR;
    try {
      delete process.env.MOBIZO_WEIGHTS_MIRROR;
      const manifest = tok512Manifest('unused');
      manifest.models[0].files![0].url = `${server.url}/models/tok512.bin`;
      await fetchWeights('tok', { ...opts(), mirror: undefined, manifest });
      assert.deepEqual(server.seen.map((s) => s.path), ['/models/tok512.bin']);
      await rm(join(out, 'tok512.bin'));
      process.env.MOBIZO_WEIGHTS_MIRROR = server.url + '/';
      await fetchWeights('tok', { ...opts(), mirror: undefined, manifest: tok512Manifest('models/tok512.bin?env') });
      assert.equal(server.seen.at(-1)?.path, '/models/tok512.bin?env');
    } finally {
      if (saved === undefined) delete process.env.MOBIZO_WEIGHTS_MIRROR;
      else process.env.MOBIZO_WEIGHTS_MIRROR = saved;
    }
  });

  describe('CLI', () => {
    /** Runs `mobizo fetch ...args`, capturing stdout, stderr and the exit code. */
    async function cli(...args: string[]) {
      const program = new Command('mobizo').exitOverride();
      registerFetch(program);
      const captured = { stdout: '', stderr: '', exitCode: 0 as number | string | undefined };
      const { write: outWrite } = process.stdout;
      const { write: errWrite } = process.stderr;
      process.stdout.write = ((s: string) => ((captured.stdout += s), true)) as typeof process.stdout.write;
      process.stderr.write = ((s: string) => ((captured.stderr += s), true)) as typeof process.stderr.write;
      try {
        await program.parseAsync(['node', 'mobizo', 'fetch', ...args]);
      } finally {
        process.stdout.write = outWrite;
        process.stderr.write = errWrite;
        captured.exitCode = process.exitCode;
        process.exitCode = undefined;
      }
      return captured;
    }

    it('--list prints names, sizes and descriptions', async () => {
      const r = await cli('--list');
      for (const name of ['stories260K', 'stories15M', 'stories42M', 'stories110M']) assert.match(r.stdout, new RegExp(`^${name} .* MiB `, 'm'));
      assert.equal(r.exitCode, undefined);
    });

    it('fetches with --out and --mirror, printing the paths', async () => {
      const r = await cli('stories260K', '--out', out, '--mirror', server.url);
      assert.equal(r.stdout, `${join(out, 'stories260K.bin')}\n${join(out, 'tok512.bin')}\n`);
      assert.equal(r.exitCode, undefined);
    });

    it('prints "mobizo fetch: <message>" and sets exit code 1 on errors', async () => {
      const r = await cli('nope', '--out', out);
      assert.match(r.stderr, /^mobizo fetch: unknown model "nope"; known models: /);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.equal(r.exitCode, 1);
    });
  });
});

describe('mobizo fetch: Hugging Face references (mock hub)', () => {
  let hub: MockHub;
  let cache = '';
  const gguf = () => readFile(join(assets, 'models', 'stories260K.gguf'));

  before(async () => {
    hub = await new MockHub({ 'test/stories-GGUF': { files: { 'stories260K.gguf': new Uint8Array(await gguf()) } } }).start();
  });
  after(() => hub.stop());
  beforeEach(async () => (cache = await mkdtemp(join(tmpdir(), 'mobizo-fetch-hub-'))));
  afterEach(() => rm(cache, { recursive: true, force: true }));

  it('fetches a reference into the cache folder, and finds it there the second time', async () => {
    const logs: string[] = [];
    const [f] = await fetchHub('hf:test/stories-GGUF/stories260K.gguf', { cacheDir: cache, endpoint: hub.url, progress: false, log: (s) => logs.push(s) });
    assert.equal(f.path, join(cache, 'hub', 'test', 'stories-GGUF', 'main', 'stories260K.gguf'));
    assert.deepEqual(await readFile(f.path!), await gguf());
    assert.ok(logs.some((l) => /stories260K\.gguf: 100%/.test(l)), logs.join('\n'));
    hub.seen = [];
    const again = await fetchHub('hf:test/stories-GGUF/stories260K.gguf', { cacheDir: cache, endpoint: hub.url, progress: false, log: (s) => logs.push(s) });
    assert.equal(again[0].path, f.path);
    assert.equal(hub.seen.length, 0);
    assert.ok(logs.some((l) => /stories260K\.gguf: in the cache/.test(l)));
  });

  it('--list offers the families this engine runs, as hub references', async () => {
    const program = new Command('mobizo').exitOverride();
    registerFetch(program);
    let out = '';
    const { write } = process.stdout;
    process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
    try {
      await program.parseAsync(['node', 'mobizo', 'fetch', '--list']);
    } finally {
      process.stdout.write = write;
    }
    for (const family of ['SmolLM2-135M', 'SmolLM2-360M', 'Qwen2.5-0.5B', 'Qwen3-0.6B', 'Llama-3.2-1B', 'gemma-3-270m']) {
      assert.match(out, new RegExp(`^${family}\\S*-Q\\d\\S* +hub .* hf:\\S+\\.gguf `, 'm'), `a GGUF of ${family}`);
      assert.match(out, new RegExp(`^${family}\\S* +hub .* hf:[^/\\s]+/[^/\\s]+ `, 'm'), `an HF repository of ${family}`);
    }
    for (const m of knownModels.models.filter((x) => x.hub)) assert.ok(parseHubRef(m.hub!), m.hub);
  });
});
