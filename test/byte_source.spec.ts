// Model files read through a ByteSource (contract 6): the header first, then each tensor when it is
// uploaded, so a file of any size loads with about one tensor in host memory (readFileSync stops at
// 2 GiB). Each format (GGUF, llama2.c, an HF folder) loads to the same logits as from bytes in
// memory, through a file source (the CLI) and a Blob source (the browser); no read is larger than
// the largest tensor or the first 256 KiB of header; a sparse 2.14 GiB GGUF opens in the CLI.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blobSource, bytesSource, type ByteSource } from '../src/formats/byte_source';
import { parseModel, parseModelSource } from '../src/formats/parse';
import { hfSourceModel, parseHfModel } from '../src/formats/hf';
import { writeGguf, type GgufTensorIn } from '../src/formats/gguf_writer';
import { parseGguf } from '../src/formats/gguf';
import { Model } from '../src/model/model';
import { ForwardPass } from '../src/model/forward';
import { createGpu, type Gpu } from '../src/gpu/device';
import type { ModelTensors } from '../src/formats/model_tensors';
import type { LlamaModelFile } from '../src/formats/config';
import { openModelFile } from '../src/cli/model_file';
import { spawnSync } from 'node:child_process';
import { assetPath } from './assets';
import { writeSparseGguf } from './sparse_gguf';
import { randoms } from './gpu';

const root = path.resolve(import.meta.dirname, '..');

/** A source that records the length of every read. */
function counting(src: ByteSource): ByteSource & { reads: number[] } {
  const reads: number[] = [];
  return { name: src.name, size: src.size, reads, read: (o, n) => (reads.push(n), src.read(o, n)) };
}

/** A random llama GGUF of a few MiB: F32 and Q8_0 matrices, so per-tensor reads are well below the file size. */
function randomGguf(): Uint8Array {
  const [dim, hidden, layers, vocab] = [128, 384, 3, 512];
  const t = (name: string, shape: number[], type: 'F32' | 'Q8_0' = 'F32', scale = 0.05): GgufTensorIn => ({ name, shape, type, data: randoms(shape.reduce((a, b) => a * b, 1), name.length * 7919 + shape[0], scale) });
  const tensors: GgufTensorIn[] = [t('token_embd.weight', [vocab, dim]), t('output_norm.weight', [dim], 'F32', 1), t('output.weight', [vocab, dim], 'Q8_0')];
  for (let l = 0; l < layers; l++) {
    tensors.push(t(`blk.${l}.attn_norm.weight`, [dim], 'F32', 1), t(`blk.${l}.ffn_norm.weight`, [dim], 'F32', 1));
    for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_output']) tensors.push(t(`blk.${l}.${n}.weight`, [dim, dim], l % 2 ? 'Q8_0' : 'F32'));
    tensors.push(t(`blk.${l}.ffn_gate.weight`, [hidden, dim], 'Q8_0'), t(`blk.${l}.ffn_up.weight`, [hidden, dim]), t(`blk.${l}.ffn_down.weight`, [dim, hidden]));
  }
  const u32 = (value: number) => ({ type: 'UINT32' as const, value });
  // stories260K's tokenizer (512 tokens), for the file to be complete
  const tok = parseGguf(new Uint8Array(fs.readFileSync(assetPath('models', 'stories260K.gguf'))), 'stories260K.gguf').metadata;
  return writeGguf({
    metadata: {
      ...Object.fromEntries([...tok].filter(([k]) => k.startsWith('tokenizer.'))),
      'general.architecture': { type: 'STRING', value: 'llama' },
      'llama.block_count': u32(layers),
      'llama.context_length': u32(256),
      'llama.embedding_length': u32(dim),
      'llama.feed_forward_length': u32(hidden),
      'llama.attention.head_count': u32(4),
    },
    tensors,
  });
}

describe('model files read per tensor through a ByteSource', function () {
  this.timeout(300_000);
  let gpu: Gpu;
  let tmp: string;
  before(async () => {
    gpu = await createGpu();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-src-'));
  });
  after(() => {
    gpu?.device.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Logits of 12 tokens, loaded from `file`; the ledger back to where it was after. */
  const logits = async (file: LlamaModelFile | ModelTensors, raw?: Parameters<typeof Model.load>[2]) => {
    const m = await Model.load(gpu, file, raw);
    const c = m.config;
    const pass = new ForwardPass(m, { B: 1, T: 12, nSelect: 12 });
    try {
      return await pass.run(Array.from({ length: 12 }, (_, i) => (i * 37 + 3) % c.vocabSize), Array.from({ length: 12 }, (_, i) => i));
    } finally {
      pass.destroy();
      m.destroy();
    }
  };

  it('a GGUF file: the same logits from a file source, a Blob source and bytes; no read past one tensor or the first 256 KiB', async () => {
    const bytes = randomGguf();
    const file = path.join(tmp, 'random.gguf');
    fs.writeFileSync(file, bytes);
    const p = parseModel(bytes, 'random.gguf');
    const want = await logits(p.file, p.raw);
    let cli: (ByteSource & { reads: number[] }) | null = null;
    const opened = await openModelFile(file, (s) => (cli = counting(s)));
    assert.equal(opened.format, 'gguf');
    assert.deepEqual(await logits(opened.tensors), want);
    const largest = Math.max(...[...p.raw!.values()].map((t) => t.bytes.length));
    const reads = cli!.reads;
    assert.ok(Math.max(...reads) <= Math.max(256 << 10, largest), `largest read ${Math.max(...reads)}, largest tensor ${largest}`);
    assert.ok(Math.max(...reads) < bytes.length / 2, `largest read ${Math.max(...reads)} of a ${bytes.length}-byte file`);
    console.log(`      ${bytes.length}-byte GGUF: ${reads.length} reads, the largest ${Math.max(...reads)} bytes (largest tensor ${largest})`);
    const blob = await parseModelSource(blobSource(new Blob([bytes as BlobPart]), 'random.gguf'));
    assert.deepEqual(await logits(blob.tensors), want);
  });

  it('a llama2.c checkpoint (stories260K): the same logits from its file, read tensor by tensor', async () => {
    const file = assetPath('models', 'stories260K.bin');
    const bytes = new Uint8Array(fs.readFileSync(file));
    const want = await logits(parseModel(bytes, 'stories260K.bin').file);
    let cli: (ByteSource & { reads: number[] }) | null = null;
    const opened = await openModelFile(file, (s) => (cli = counting(s)));
    assert.equal(opened.format, 'llama2c');
    assert.deepEqual(await logits(opened.tensors), want);
    assert.ok(Math.max(...cli!.reads) <= 512 * 64 * 4, `largest read ${Math.max(...cli!.reads)}: the embedding is the largest tensor`);
  });

  it('a Hugging Face folder (gemma3, qwen3): the same logits from its safetensors read per tensor', async () => {
    for (const family of ['gemma3', 'qwen3']) {
      const dir = path.join(root, 'test', 'fixtures', 'families', family);
      const config = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
      const st = new Uint8Array(fs.readFileSync(path.join(dir, 'model.safetensors')));
      const p = parseHfModel({ config, safetensors: [{ name: 'model.safetensors', bytes: st }] }, family);
      const want = await logits(p.file, p.raw);
      const src = counting(bytesSource(st, 'model.safetensors'));
      const hf = await hfSourceModel({ config, safetensors: [src] }, family);
      assert.deepEqual(await logits(hf.tensors), want, family);
      assert.ok(Math.max(...src.reads) < st.length / 2, `${family}: largest read ${Math.max(...src.reads)} of ${st.length}`);
    }
  });

  it('a GGUF of 2.14 GiB (sparse: no disk) opens in the CLI, past readFileSync\'s 2 GiB (needs ~2.5 GB of free memory: the weights go to the device)', function () {
    if (os.freemem() < 4 * 2 ** 30) this.skip(); // the CPU backend holds the 2.14 GiB of weights in host memory
    const big = path.join(tmp, 'big.gguf');
    const size = writeSparseGguf(big);
    assert.ok(size > 2 ** 31, `${size} bytes`);
    assert.throws(() => fs.readFileSync(big), /greater than 2 GiB/);
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), 'logits', '--model', big, '--tokens', '1,2,3'], { encoding: 'utf8', timeout: 240_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { logits: number[][] };
    assert.equal(out.logits.length, 3);
    assert.equal(out.logits[0].length, 512);
    console.log(`      ${(size / 2 ** 30).toFixed(2)} GiB GGUF: logits in ${((performance.now() - t0) / 1000).toFixed(1)} s through the CLI`);
    fs.rmSync(big);
  });

  it('hostile counts stay bounded through a source too: a safetensors header length past the file is refused before it is read', async () => {
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(0, 0xffffff00, true);
    new DataView(bad.buffer).setUint32(4, 0x7fff, true);
    const src = counting(bytesSource(bad, 'model.safetensors'));
    await assert.rejects(hfSourceModel({ config: '{}', safetensors: [src] }, 'hostile'), /header length \d+ runs past the end of the file \(16 bytes\)/);
    assert.deepEqual(src.reads, [8]);
  });
});
