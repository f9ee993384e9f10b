import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { StreamDecoder, Tokenizer } from '../src/formats/tokenizer';
import { assetPath } from './assets';

const SOURCE = 'tok512.bin';

/** run.c `encode`, ported line by line (O(n^2) scans); the fast encoder must agree with it. */
function encodeRunC(tok: Tokenizer, text: string, bos: boolean, eos: boolean): number[] {
  const vocab = tok.pieces.map((p) => String.fromCharCode(...p));
  const sorted = new Map<string, number>();
  vocab.forEach((s, i) => sorted.has(s) || sorted.set(s, i));
  const strLookup = (s: string) => sorted.get(s) ?? -1;
  const bytes = new TextEncoder().encode(text);
  const tokens: number[] = [];
  if (bos) tokens.push(1);
  if (bytes.length > 0) tokens.push(strLookup(' '));
  let buf: number[] = [];
  for (let c = 0; c < bytes.length; c++) {
    if ((bytes[c] & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[c]);
    if (c + 1 < bytes.length && (bytes[c + 1] & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = strLookup(String.fromCharCode(...buf));
    if (id !== -1) tokens.push(id);
    else for (const b of buf) tokens.push(b + 3);
    buf = [];
  }
  for (;;) {
    let bestScore = Math.fround(-1e10);
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = strLookup(vocab[tokens[i]] + vocab[tokens[i + 1]]);
      if (id !== -1 && tok.scores[id] > bestScore) {
        bestScore = tok.scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens[bestIdx] = bestId;
    tokens.splice(bestIdx + 1, 1);
  }
  if (eos) tokens.push(2);
  return tokens;
}

/** Seeded strings over an alphabet with ASCII, white space, 2-, 3- and 4-byte UTF-8 and NUL. */
function randomStrings(count: number, seed: number): string[] {
  const alphabet = [...'abcdefghijklmnopqrstuvwxyz     ', 'Once', ' upon', ' the', 'ing', '.', ',', '"', "'", '\n', '\t', 'é', 'ü', 'ß', '中', '文', '😀', '🦙', '\u0000', 'A', 'Z', '0', '9'];
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) / (1 << 24);
  return Array.from({ length: count }, () => {
    const n = Math.floor(rnd() * 40);
    return Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
  });
}

describe('llama2.c tokenizer', () => {
  const bytes = new Uint8Array(readFileSync(assetPath('models', 'tok512.bin')));
  const tok = Tokenizer.fromLlama2c(bytes, 512, SOURCE);

  it('reads tok512.bin: 512 pieces, BOS 1, EOS 2, byte pieces at 3..258', () => {
    assert.equal(tok.vocabSize, 512);
    assert.equal(tok.bosId, 1);
    assert.equal(tok.eosId, 2);
    assert.equal(tok.maxTokenLength, 7);
    assert.equal(new TextDecoder().decode(tok.pieces[1]), '\n<s>\n');
    assert.equal(new TextDecoder().decode(tok.pieces[2]), '\n</s>\n');
    assert.equal(tok.pieceId('<0x00>'), 3);
    assert.equal(tok.pieceId('<0x0A>'), 13);
    assert.equal(tok.pieceId('<0xFF>'), 258);
    assert.equal(tok.pieceId(' t'), 259);
  });

  it('encodes "Once upon a time" into tokens that decode to the text', () => {
    const ids = tok.encode('Once upon a time', { bos: true, eos: false });
    assert.deepEqual(ids, encodeRunC(tok, 'Once upon a time', true, false));
    assert.equal(ids[0], 1);
    assert.ok(ids.length < 8, `merged into few tokens: ${ids}`);
    assert.equal(tok.decode(ids), 'Once upon a time');
  });

  it('honours the bos and eos flags, and adds the dummy prefix only to non-empty text', () => {
    assert.deepEqual(tok.encode('', { bos: false, eos: false }), []);
    assert.deepEqual(tok.encode('', { bos: true, eos: false }), [1]);
    assert.deepEqual(tok.encode('', { bos: true, eos: true }), [1, 2]);
    const plain = tok.encode('Lily', { bos: false, eos: false });
    assert.deepEqual(tok.encode('Lily', { bos: true, eos: true }), [1, ...plain, 2]);
    assert.deepEqual(tok.encode('Lily', { bos: false, eos: true }), [...plain, 2]);
    // Without BOS before it, the dummy-prefix space is kept by decode.
    assert.equal(tok.decode(plain), ' Lily');
    assert.equal(tok.decode([1, ...plain, 2]), 'Lily');
  });

  it('round-trips text with non-ASCII characters, newlines and NUL', () => {
    const texts = [
      'Once upon a time, there was a little girl named Lily.',
      'Line one.\nLine two!\n\n  indented\ttab',
      ' leading space',
      'trailing space ',
      '\nstarts with a newline',
      'Café, naïve, Straße, 中文, 🦙 emoji 😀.',
      '"Quotes" and \'apostrophes\' — dashes…',
      'nul\u0000byte',
      ' ',
    ];
    for (const t of texts) {
      const ids = tok.encode(t, { bos: true, eos: false });
      assert.ok(ids.every((i) => Number.isInteger(i) && i >= 0 && i < 512), `ids in range for ${JSON.stringify(t)}`);
      assert.equal(tok.decode(ids), t);
    }
    // Characters outside the vocab fall back to one token per UTF-8 byte (byte + 3).
    const llama = tok.encode('🦙', { bos: false, eos: false });
    assert.deepEqual(llama.slice(-4), [0xf0 + 3, 0x9f + 3, 0xa6 + 3, 0x99 + 3]);
  });

  it('agrees with a line-by-line port of run.c encode on random and real text', () => {
    for (const t of randomStrings(300, 7)) {
      for (const [bos, eos] of [[true, false], [false, true]]) {
        assert.deepEqual(tok.encode(t, { bos, eos }), encodeRunC(tok, t, bos, eos), JSON.stringify(t));
      }
    }
    const stories = readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8');
    for (let i = 0; i < 40; i++) {
      const t = stories.slice(i * 9973, i * 9973 + 400);
      assert.deepEqual(tok.encode(t, { bos: true, eos: false }), encodeRunC(tok, t, true, false));
    }
  });

  it('encodes 2 MiB of stories quickly and decodes them back', function () {
    const stories = readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8');
    const t0 = performance.now();
    const ids = tok.encode(stories, { bos: true, eos: false });
    const ms = performance.now() - t0;
    assert.ok(ms < 10000, `encode took ${ms.toFixed(0)} ms`);
    assert.ok(ids.length < stories.length * 0.6, `${ids.length} tokens for ${stories.length} chars`);
    assert.equal(tok.decode(ids), stories);
  });

  it('decodes the first tokens of llama2.c known output', () => {
    // The first 10 tokens of the greedy run from BOS (see reference.spec.ts).
    const ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376];
    const text = tok.decode(ids);
    assert.ok(text.startsWith('Once upon a time, there was a'), JSON.stringify(text));
    // decodeBytes: the leading space of the first piece is dropped after BOS only.
    const first = new TextDecoder().decode(tok.decodeBytes(1, 403));
    assert.equal(first, 'Once');
    assert.equal(new TextDecoder().decode(tok.decodeBytes(407, 261)), ' a');
    assert.equal(new TextDecoder().decode(tok.decodeBytes(1, 261)), 'a');
    // Byte pieces decode to the raw byte.
    assert.deepEqual(tok.decodeBytes(5, 13), Uint8Array.of(0x0a));
    assert.deepEqual(tok.decodeBytes(5, 258), Uint8Array.of(0xff));
  });

  it('streams text as tokens come, holding back split code points', () => {
    const text = 'Hi 中文 and 🦙!\nBye.';
    const ids = tok.encode(text, { bos: true, eos: true });
    const stream = new StreamDecoder(tok);
    const parts = ids.map((t) => stream.push(t));
    parts.push(stream.flush());
    assert.equal(parts.join(''), text);
    // The three byte tokens of '中' give '', '', '中'.
    const zhong = tok.encode('中', { bos: false, eos: false }).slice(-3);
    const s2 = new StreamDecoder(tok, 1);
    assert.deepEqual(zhong.map((t) => s2.push(t)), ['', '', '中']);
  });

  it('rejects a vocab size that disagrees with the file, naming both sizes', () => {
    const check = (n: number, problem: RegExp) =>
      assert.throws(
        () => Tokenizer.fromLlama2c(bytes, n, SOURCE),
        (e: unknown) => e instanceof Error && e.message.startsWith(`${SOURCE}: `) && problem.test(e.message),
      );
    check(511, /has 11 bytes left over after 511 tokens: it holds 512 tokens, the model's vocab size is 511$/);
    check(500, /has 115 bytes left over after 500 tokens: it holds 512 tokens, the model's vocab size is 500$/);
    check(513, /ends early: it holds 512 whole tokens \(6227 bytes\), the model's vocab size is 513/);
    check(32000, /ends early: it holds 512 whole tokens \(6227 bytes\), the model's vocab size is 32000/);
    check(0, /vocab size 0 is not a positive integer/);
  });

  it('rejects stray bytes after the last token', () => {
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    assert.throws(
      () => Tokenizer.fromLlama2c(longer, 512, SOURCE),
      /^Error: tok512\.bin: tokenizer file has 3 bytes left over after 512 tokens: it holds 512 whole tokens then 3 stray bytes, the model's vocab size is 512$/,
    );
  });

  it('breaks score ties leftmost and re-merges after merges, exactly as run.c (synthetic vocab)', () => {
    // Pieces over 'a', 'b', ' ' with many equal scores, so the order of merges matters.
    const extra: [string, number][] = [
      [' ', -1], ['a', -1], ['b', -1], ['aa', 0], ['ab', 0], ['ba', 0], ['bb', -2], [' a', 0], ['aaa', -1],
      ['aab', -1], ['aba', 0], ['abab', 0], ['baab', 2], [' ab', 1], ['bbb', -1], ['aaaa', 0], ['bab', 0],
    ];
    const pieces: [string, number][] = [['<unk>', 0], ['\n<s>\n', 0], ['\n</s>\n', 0]];
    for (let b = 0; b < 256; b++) pieces.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0]);
    pieces.push(...extra);
    const enc = new TextEncoder();
    const chunks: number[] = [];
    const i32 = (x: number) => chunks.push(...new Uint8Array(Int32Array.of(x).buffer));
    i32(4);
    for (const [p, score] of pieces) {
      chunks.push(...new Uint8Array(Float32Array.of(score).buffer));
      const b = enc.encode(p);
      i32(b.length);
      chunks.push(...b);
    }
    const synth = Tokenizer.fromLlama2c(Uint8Array.from(chunks), pieces.length, 'synthetic.bin');
    let seed = 11;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / (1 << 24);
    for (let k = 0; k < 2000; k++) {
      const t = Array.from({ length: Math.floor(rnd() * 24) }, () => 'ab '[Math.floor(rnd() * 3)]).join('');
      assert.deepEqual(synth.encode(t, { bos: true, eos: false }), encodeRunC(synth, t, true, false), JSON.stringify(t));
      assert.equal(synth.decode(synth.encode(t, { bos: true, eos: false })), t);
    }
  });

  it('rejects truncated and empty files', () => {
    for (const n of [0, 3]) {
      assert.throws(() => Tokenizer.fromLlama2c(bytes.subarray(0, n), 512, 'tok.bin'), /^Error: tok\.bin: file is \d bytes, shorter than the 4-byte llama2.c tokenizer header$/);
    }
    for (const n of [4, 100, 3000, bytes.length - 1]) {
      assert.throws(() => Tokenizer.fromLlama2c(bytes.subarray(0, n), 512, 'tok.bin'), /^Error: tok\.bin: tokenizer file ends early: it holds \d+ whole tokens \(\d+ bytes\), the model's vocab size is 512$/);
    }
  });
});
