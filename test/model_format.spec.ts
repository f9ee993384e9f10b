// The app's model file check (src/worker/model_format.ts): a file is recognised by its bytes, not
// its name, and each format the app cannot open alone gets its own one-line message.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describeStart, parseModelByContent, sniffFormat } from '../src/model/model_format';
import { assetsDir } from './browser/harness.ts';

const random = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24);
const ascii = (s: string) => new TextEncoder().encode(s);

function safetensors(): Uint8Array {
  const header = ascii(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
  const out = new Uint8Array(8 + header.length + 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  return out;
}

describe('model file format by content (app)', function () {
  it('describes the first bytes as hex and text', function () {
    assert.equal(describeStart(ascii('GGUF\x03\x00\x00\x00rest')), 'starts with 47 47 55 46 03 00 00 00 ("GGUF....")');
    assert.equal(describeStart(new Uint8Array(0)), 'the file is empty');
  });

  it('sniffs GGUF, safetensors, PyTorch zip / pickle and old GGML by their first bytes', function () {
    assert.equal(sniffFormat(ascii('GGUF\x03\x00\x00\x00')), 'gguf');
    assert.equal(sniffFormat(safetensors()), 'safetensors');
    assert.equal(sniffFormat(Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0])), 'zip');
    assert.equal(sniffFormat(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc])), 'pickle');
    assert.equal(sniffFormat(ascii('tjgg\x01\x00\x00\x00')), 'ggml');
    assert.equal(sniffFormat(random(64)), 'other');
    // a llama2.c header with dim 640 starts 80 02 00 00: not a pickle
    assert.equal(sniffFormat(Uint8Array.from([0x80, 0x02, 0, 0, 0x00, 0x07, 0, 0])), 'other');
  });

  it('random bytes named .gguf: "not a GGUF file", with what they start with', function () {
    assert.throws(() => parseModelByContent(random(4096), 'x.gguf'), /^Error: x\.gguf: not a GGUF file \(starts with 00 9e 3c da 78 17 b5 53 \(".\.<\.x\.\.S"\); a GGUF file starts with "GGUF"\), nor a llama2\.c checkpoint \(not a llama2\.c checkpoint: header field/);
  });

  it('random bytes with another name: none of the formats, each named', function () {
    assert.throws(() => parseModelByContent(random(4096), 'x.bin'), /^Error: x\.bin: not a model file this engine reads \(starts with 00 9e .*\): not GGUF \(no "GGUF" magic\), not safetensors, and not a llama2\.c checkpoint \(/);
  });

  it('a safetensors file, a PyTorch checkpoint, an old GGML file: what they are and what to do', function () {
    assert.throws(() => parseModelByContent(safetensors(), 'model.bin'), /^Error: model\.bin: a safetensors file \(Hugging Face weights\): it needs its config\.json and tokenizer\.json/);
    const zip = new Uint8Array(64);
    zip.set([0x50, 0x4b, 0x03, 0x04]);
    assert.throws(() => parseModelByContent(zip, 'pytorch_model.bin'), /^Error: pytorch_model\.bin: a PyTorch checkpoint \(a zip archive, starts with 50 4b 03 04/);
    const ggjt = new Uint8Array(64);
    ggjt.set(ascii('tjgg'));
    assert.throws(() => parseModelByContent(ggjt, 'old.bin'), /^Error: old\.bin: an old GGML \/ GGJT file .*convert it to GGUF/);
  });

  it('opens a llama2.c checkpoint and a GGUF file by content, whatever their names', function () {
    const bin = path.join(assetsDir, 'models', 'stories260K.bin');
    const gguf = path.join(assetsDir, 'models', 'stories260K.gguf');
    if (!fs.existsSync(bin) || !fs.existsSync(gguf)) this.skip();
    const a = parseModelByContent(new Uint8Array(fs.readFileSync(bin)), 'renamed.gguf');
    assert.equal(a.format, 'llama2c');
    assert.equal(a.file.config.dim, 64);
    const b = parseModelByContent(new Uint8Array(fs.readFileSync(gguf)), 'renamed.bin');
    assert.equal(b.format, 'gguf');
    assert.equal(b.file.config.vocabSize, 512);
  });
});
