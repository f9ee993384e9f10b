// Models by Hugging Face reference against a local mock hub (test/mock_hub.ts: resolve URLs, LFS
// redirects with X-Linked-Etag, git-blob ETags, Range): downloaded with progress, resumed, checked
// against the hub's hashes, cached in a folder; the second load runs with the server stopped.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatHubRef, hubFiles, parseHubRef } from '../src/model/hub';
import { loadModel, resolveModel } from '../src/model/load';
import type { DownloadProgress } from '../src/model/transfer';
import { createGpu } from '../src/gpu/device';
import { generateText } from '../src/model/generate';
import { assetPath } from './assets';
import { hfDirContents, hfStories260K } from './hf_fixture';
import { MockHub } from './mock_hub';

const gguf = new Uint8Array(fs.readFileSync(assetPath('models', 'stories260K.gguf')));

function repos() {
  const { bin, tokenizerJson } = hfStories260K();
  return {
    'test/stories-GGUF': { files: { 'stories260K.gguf': gguf, 'README.md': '# a test repo\n' } },
    'test/stories-hf': { files: { ...hfDirContents(bin, tokenizerJson, 'sharded') } },
    'test/gated-GGUF': { files: { 'stories260K.gguf': gguf }, gated: true, token: 'hf_secret' },
    'test/ggufs-only': { files: { 'stories260K.gguf': gguf } },
  };
}

describe('hub references', function () {
  this.timeout(300_000);
  let hub: MockHub;
  let cache: string;
  let progress: DownloadProgress[];
  const opts = (extra: object = {}) => ({ endpoint: hub.url, cache, onProgress: (p: DownloadProgress) => progress.push(p), ...extra });

  beforeEach(async () => {
    hub = await new MockHub(repos()).start();
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-hub-'));
    progress = [];
  });
  afterEach(async () => {
    await hub.stop().catch(() => {});
    fs.rmSync(cache, { recursive: true, force: true });
  });

  it('parses references: hf:owner/repo[@rev][/file], bare owner/repo; paths and URLs are not references', () => {
    assert.deepEqual(parseHubRef('hf:a/b'), { repo: 'a/b', revision: 'main' });
    assert.deepEqual(parseHubRef('hf:a/b.c-D@v1.0/sub/x.gguf'), { repo: 'a/b.c-D', revision: 'v1.0', file: 'sub/x.gguf' });
    assert.deepEqual(parseHubRef('HuggingFaceTB/SmolLM2-135M-Instruct'), { repo: 'HuggingFaceTB/SmolLM2-135M-Instruct', revision: 'main' });
    for (const s of ['models/x.gguf', 'a/b/c.gguf', './a/b', '/a/b', 'a', 'https://x.org/a/b', 'hf:a', 'hf:a/../b', 'hf:a/b/../c']) assert.equal(parseHubRef(s), null, s);
    assert.equal(formatHubRef({ repo: 'a/b', revision: 'dev', file: 'x.gguf' }), 'hf:a/b@dev/x.gguf');
  });

  it('a GGUF file by reference: LFS redirect, sha256 from X-Linked-Etag, progress; again from the cache with the hub stopped', async () => {
    const ref = 'hf:test/stories-GGUF/stories260K.gguf';
    const first = await resolveModel(ref, opts());
    assert.equal(first.parsed.format, 'gguf');
    assert.equal(first.tokenizer?.vocabSize, 512);
    assert.deepEqual(first.tokenizer?.encode('Once upon a time', { bos: true, eos: false }).slice(0, 1), [1]);
    assert.deepEqual(hub.seen.map((s) => [s.path.replace(/[0-9a-f]{64}/, 'SHA'), s.status]), [
      ['/test/stories-GGUF/resolve/main/stories260K.gguf', 302], // the probe (Range 0-0, redirect: manual): X-Linked-Etag, X-Linked-Size
      ['/cdn/SHA', 200], // the download from the address it redirects to
    ]);
    assert.equal(progress.at(-1)?.loaded, gguf.length);
    assert.equal(progress.at(-1)?.total, gguf.length);
    const cached = path.join(cache, 'hub', 'test', 'stories-GGUF', 'main', 'stories260K.gguf');
    assert.deepEqual(new Uint8Array(fs.readFileSync(cached)), gguf);

    await hub.stop();
    progress = [];
    const again = await resolveModel(ref, opts());
    assert.equal(again.tokenizer?.vocabSize, 512);
    assert.deepEqual(progress, [{ file: 'stories260K.gguf', loaded: gguf.length, total: gguf.length, cached: true }]);
  });

  it('an HF model repository: config.json, index, both shards, tokenizer.json (git-sha1 checked); the file list is cached too', async () => {
    const files = await hubFiles(parseHubRef('hf:test/stories-hf')!, opts());
    assert.deepEqual(files.map((f) => f.name).sort(), ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer.json']);
    assert.ok(hub.seen.some((s) => s.path.endsWith('/tokenizer_config.json') && s.status === 404), 'the optional tokenizer_config.json was asked for');
    await hub.stop();
    const opened = await resolveModel('test/stories-hf', opts()); // bare owner/repo
    assert.equal(opened.parsed.format, 'hf');
    assert.equal(opened.name, 'hf:test/stories-hf');
    assert.equal(opened.tokenizer?.vocabSize, 512);
    assert.equal(opened.parsed.tensors.config.nLayers, 5);
  });

  it('resumes a cut download with a Range request', async () => {
    hub.cutAfter = { file: /stories260K\.gguf/, bytes: 300_000 };
    let at = 0;
    await assert.rejects(resolveModel('hf:test/stories-GGUF/stories260K.gguf', opts()), (e: Error) => {
      at = Number(/interrupted at byte (\d+): .*\(try again to resume\)$/.exec(e.message)?.[1]);
      return at > 0 && at <= 300_000;
    });
    const part = path.join(cache, 'hub', 'test', 'stories-GGUF', 'main', 'stories260K.gguf.part');
    assert.equal(fs.statSync(part).size, at, 'the part holds every byte received');
    hub.seen = [];
    const r = await resolveModel('hf:test/stories-GGUF/stories260K.gguf', opts());
    assert.equal(r.tokenizer?.vocabSize, 512);
    const resumed = hub.seen.find((s) => s.range === `bytes=${at}-`);
    assert.equal(resumed?.status, 206);
    assert.ok(!fs.existsSync(part));
  });

  it('an aborted download (AbortSignal) keeps its bytes too, and the next load resumes after them', async () => {
    hub.stallAfter = { file: /stories260K\.gguf/, bytes: 400_000 };
    const abort = new AbortController();
    const onProgress = (p: DownloadProgress) => p.loaded >= 400_000 && abort.abort(new Error('enough'));
    await assert.rejects(resolveModel('hf:test/stories-GGUF/stories260K.gguf', opts({ onProgress, signal: abort.signal })), /interrupted at byte 400000: .*\(try again to resume\)$/);
    hub.seen = [];
    assert.equal((await resolveModel('hf:test/stories-GGUF/stories260K.gguf', opts())).tokenizer?.vocabSize, 512);
    assert.equal(hub.seen.find((s) => s.path.startsWith('/cdn/'))?.range, 'bytes=400000-');
  });

  it('refuses bytes whose sha256 is not the hub\'s, and keeps nothing', async () => {
    hub.corrupt = /stories260K\.gguf/;
    await assert.rejects(resolveModel('hf:test/stories-GGUF/stories260K.gguf', opts()), /stories260K\.gguf: sha256 mismatch .*expected [0-9a-f]{64}, got [0-9a-f]{64}/);
    assert.deepEqual(fs.readdirSync(path.join(cache, 'hub', 'test', 'stories-GGUF', 'main')), []);
    hub.corrupt = /tokenizer\.json/;
    await assert.rejects(hubFiles(parseHubRef('hf:test/stories-hf')!, opts()), /tokenizer\.json: git blob sha1 mismatch/);
  });

  it('names a missing file, a GGUF repository named without its file, a gated repository (and sends the token to the hub only)', async () => {
    await assert.rejects(resolveModel('hf:test/stories-GGUF/nope.gguf', opts()), /hf:test\/stories-GGUF\/nope\.gguf: the repository has no file nope\.gguf at revision main \(HTTP 404/);
    await assert.rejects(resolveModel('hf:test/ggufs-only', opts()), /hf:test\/ggufs-only: the repository has no file config\.json.*/);
    await assert.rejects(resolveModel('hf:test/gated-GGUF/stories260K.gguf', opts()), /HTTP 401 .*gated or private/);
    hub.seen = [];
    const r = await resolveModel('hf:test/gated-GGUF/stories260K.gguf', opts({ token: 'hf_secret' }));
    assert.equal(r.tokenizer?.vocabSize, 512);
    assert.ok(hub.seen.filter((s) => s.path.includes('/resolve/')).every((s) => s.auth === 'Bearer hf_secret'));
    assert.ok(hub.seen.filter((s) => s.path.startsWith('/cdn/')).every((s) => s.auth === undefined), 'no token to the CDN');
  });

  it('loadModel by reference: on the GPU, with the file\'s tokenizer; the second load from the cache with the hub stopped', async () => {
    const gpu = await createGpu();
    try {
      const m1 = await loadModel(gpu, 'hf:test/stories-GGUF/stories260K.gguf', opts());
      const t1 = await generateText(m1, { prompt: 'Once upon a time', steps: 24, temperature: 0 });
      m1.destroy();
      await hub.stop();
      const m2 = await loadModel(gpu, 'hf:test/stories-GGUF/stories260K.gguf', opts());
      const t2 = await generateText(m2, { prompt: 'Once upon a time', steps: 24, temperature: 0 });
      m2.destroy();
      assert.ok(t1.text.startsWith('Once upon a time') && t1.generatedTokens > 0, t1.text);
      assert.equal(t2.text, t1.text);
    } finally {
      gpu.device.destroy();
    }
  });
});
