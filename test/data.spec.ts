import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { detectFormat, readTextDocuments } from '../src/data/readers';
import { IGNORE_LABEL, LmChunkSet, LmDataset, PAD_TOKEN, epochSeed, shuffledIndices, type LmBatch } from '../src/data/lm';
import { Tokenizer } from '../src/formats/tokenizer';
import { assetPath } from './assets';

const tok = Tokenizer.fromLlama2c(readFileSync(assetPath('models', 'tok512.bin')), 512, 'tok512.bin');

/** A stream 0..n-1 shifted by 10 (so no value collides with the pad token or the label -100). */
function ramp(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i + 10);
}

function rowsOf(b: LmBatch, T: number): number[][] {
  return Array.from({ length: b.chunkIds.length }, (_, r) => Array.from(b.tokens.subarray(r * T, (r + 1) * T)));
}

describe('data: readers', () => {
  it('splits plain text on <|endoftext|>, trims, skips empty documents', () => {
    const text = 'One day.\n\nThe end.\n<|endoftext|>\nSecond story.\n<|endoftext|>\n  \n<|endoftext|>Third<|endoftext|>\n';
    assert.deepEqual(readTextDocuments(text, 'a.txt'), ['One day.\n\nThe end.', 'Second story.', 'Third']);
    assert.deepEqual(readTextDocuments(text, 'a.txt', 'text'), ['One day.\n\nThe end.', 'Second story.', 'Third']);
  });

  it('keeps a text without separators as one document, paragraphs inside', () => {
    const text = '\uFEFFFirst paragraph.\n\nSecond paragraph.\n\n\nThird.\n';
    assert.deepEqual(readTextDocuments(text, 'b.txt'), ['First paragraph.\n\nSecond paragraph.\n\n\nThird.']);
  });

  it('reads JSONL (auto-detected and explicit), skipping blank lines, CRLF allowed', () => {
    const text = '\n{"text": "first doc"}\r\n\r\n{"text": "second\\n\\ndoc", "id": 2}\n  \n{"text":"  "}\n{"text": " third "}\n';
    assert.equal(detectFormat(text), 'jsonl');
    const want = ['first doc', 'second\n\ndoc', ' third '];
    assert.deepEqual(readTextDocuments(text, 'c.jsonl'), want);
    assert.deepEqual(readTextDocuments(text, 'c.jsonl', 'jsonl'), want);
  });

  it('detects plain text that merely starts with "{"', () => {
    assert.equal(detectFormat('{curly} prose, not JSON\nmore'), 'text');
    assert.equal(detectFormat('[1, 2]\n'), 'text');
    assert.equal(detectFormat('"just a string"'), 'text');
    assert.deepEqual(readTextDocuments('{curly} prose', 'd.txt'), ['{curly} prose']);
    // Forced to text, JSONL lines are just text.
    assert.deepEqual(readTextDocuments('{"text": "x"}', 'e.txt', 'text'), ['{"text": "x"}']);
  });

  it('names the line of bad JSONL', () => {
    const bad = (text: string, re: RegExp) => assert.throws(() => readTextDocuments(text, 'f.jsonl', 'jsonl'), re);
    bad('{"text": "ok"}\n\n{"text": "broken"\n', /^Error: f\.jsonl:3: invalid JSON/);
    bad('{"text": "ok"}\n{"body": "no text"}\n', /^Error: f\.jsonl:2: the object has no "text" field \(fields: "body"\)/);
    bad('{"text": "ok"}\n{"text": 42}\n', /^Error: f\.jsonl:2: the "text" field is a number, not a string/);
    bad('{"text": "ok"}\n{"text": null}\n', /f\.jsonl:2: the "text" field is null/);
    bad('{"text": "ok"}\n["text"]\n', /f\.jsonl:2: expected a JSON object with a "text" field, got an array/);
    // Auto-detected JSONL reports its bad lines too.
    assert.throws(() => readTextDocuments('{"text": "a"}\nnot json\n', 'g.jsonl'), /^Error: g\.jsonl:2: invalid JSON/);
  });

  it('rejects empty input and input with no documents, naming the source', () => {
    assert.throws(() => readTextDocuments('', 'empty.txt'), /^Error: empty\.txt: the data is empty/);
    assert.throws(() => readTextDocuments(' \n\n\t', 'blank.txt'), /^Error: blank\.txt: the data is empty/);
    assert.throws(() => readTextDocuments('<|endoftext|>\n<|endoftext|>\n', 'sep.txt'), /^Error: sep\.txt: no documents/);
    assert.throws(() => readTextDocuments('{"text": ""}\n{"text": " "}\n', 'e.jsonl'), /^Error: e\.jsonl: no documents/);
    assert.throws(() => readTextDocuments('x', 'h.txt', 'csv' as never), /h\.txt: unknown data format 'csv'/);
  });
});

describe('data: LmDataset chunking (tok512)', () => {
  const docs = [
    'Once upon a time, there was a little girl named Lily.',
    'She liked to play in the park with her dog.',
    'The sun was warm.\n\nThey were happy.',
  ];

  it('encodes each document with BOS, concatenated in order', () => {
    const T = 16;
    const ds = new LmDataset(docs, tok, T, { source: 'docs' });
    const stream = docs.flatMap((d) => tok.encode(d, { bos: true, eos: false }));
    assert.equal(ds.tokenCount, stream.length);
    assert.equal(ds.documents, 3);
    assert.equal(ds.chunks, Math.ceil((stream.length - 1) / T));
    assert.equal(ds.labelCount, stream.length - 1);
    // Every chunk: inputs are stream[c*T ..], labels the inputs shifted by one.
    for (let c = 0; c < ds.chunks; c++) {
      const { tokens, labels } = ds.chunk(c);
      assert.equal(tokens.length, T);
      assert.equal(labels.length, T);
      for (let j = 0; j < T; j++) {
        const s = c * T + j;
        if (s + 1 < stream.length) {
          assert.equal(tokens[j], stream[s], `chunk ${c} input ${j}`);
          assert.equal(labels[j], stream[s + 1], `chunk ${c} label ${j}`);
          if (j + 1 < T && s + 2 < stream.length) assert.equal(labels[j], tokens[j + 1]);
        } else {
          assert.equal(tokens[j], PAD_TOKEN, `chunk ${c} pad input ${j}`);
          assert.equal(labels[j], IGNORE_LABEL, `chunk ${c} pad label ${j}`);
        }
      }
      // The last label of a full chunk is the first input of the next one.
      if (c + 1 < ds.chunks) assert.equal(labels[T - 1], ds.chunk(c + 1).tokens[0]);
    }
    // BOS at each document start, nowhere else; decoding gives the documents back.
    const bos = stream.flatMap((t, i) => (t === tok.bosId ? [i] : []));
    let at = 0;
    const starts = docs.map((d) => {
      const s = at;
      at += tok.encode(d, { bos: true, eos: false }).length;
      return s;
    });
    assert.deepEqual(bos, starts);
    const all = Array.from({ length: ds.chunks }, (_, c) => Array.from(ds.chunk(c).tokens.subarray(0, Math.min(T, stream.length - 1 - c * T))));
    const flat = [...all.flat(), stream[stream.length - 1]];
    assert.deepEqual(flat, stream);
    assert.equal(tok.decode(stream.slice(starts[1], starts[2])), docs[1]);
  });

  it('appends EOS with eos: true', () => {
    const ds = new LmDataset(docs, tok, 8, { eos: true });
    const stream = docs.flatMap((d) => tok.encode(d, { bos: true, eos: true }));
    assert.equal(ds.tokenCount, stream.length);
    assert.equal(stream.filter((t) => t === tok.eosId).length, 3);
    assert.equal(stream[stream.length - 1], tok.eosId);
  });

  it('pads the final partial chunk when it has >= 2 tokens, else drops it', () => {
    const T = 4;
    // 9 tokens: chunks [0..4], [4..8], and nothing left (token 8 is chunk 1's last label).
    let s = new LmChunkSet(ramp(9), T);
    assert.equal(s.chunks, 2);
    assert.deepEqual(Array.from(s.chunk(1).tokens), [14, 15, 16, 17]);
    assert.deepEqual(Array.from(s.chunk(1).labels), [15, 16, 17, 18]);
    // 10 tokens: a third chunk with 2 tokens -> 1 input, 1 label, then padding.
    s = new LmChunkSet(ramp(10), T);
    assert.equal(s.chunks, 3);
    assert.deepEqual(Array.from(s.chunk(2).tokens), [18, PAD_TOKEN, PAD_TOKEN, PAD_TOKEN]);
    assert.deepEqual(Array.from(s.chunk(2).labels), [19, IGNORE_LABEL, IGNORE_LABEL, IGNORE_LABEL]);
    assert.equal(s.labelCount, 9);
    // 12 tokens: 3 inputs in the last chunk.
    s = new LmChunkSet(ramp(12), T);
    assert.deepEqual(Array.from(s.chunk(2).tokens), [18, 19, 20, PAD_TOKEN]);
    assert.deepEqual(Array.from(s.chunk(2).labels), [19, 20, 21, IGNORE_LABEL]);
    // Exactly T+1 tokens: one chunk, no padding.
    s = new LmChunkSet(ramp(5), T);
    assert.equal(s.chunks, 1);
    assert.deepEqual(Array.from(s.chunk(0).labels), [11, 12, 13, 14]);
  });

  it('errors clearly when the data is shorter than one chunk', () => {
    assert.throws(
      () => new LmChunkSet(ramp(4), 4, 'tiny'),
      /^Error: tiny: data has 4 tokens, fewer than the 5 needed for one chunk of 4/,
    );
    const n = tok.encode('Hi.', { bos: true, eos: false }).length;
    assert.throws(
      () => new LmDataset(['Hi.'], tok, 64, { source: 'hi.txt' }),
      new RegExp(`^Error: hi\\.txt: data has ${n} tokens, fewer than the 65 needed for one chunk of 64`),
    );
    assert.throws(() => new LmDataset([], tok, 8, { source: 'none' }), /none: no documents/);
    assert.throws(() => new LmDataset(docs, tok, 0), /seqLen must be an integer >= 1, got 0/);
    assert.throws(() => new LmDataset(docs, tok, 2.5), /seqLen must be an integer >= 1/);
    const ds = new LmDataset(docs, tok, 8);
    assert.throws(() => ds.chunk(ds.chunks), /chunk \d+ is out of range/);
    assert.throws(() => ds.batchAt(0, 0, 1), /batchSize must be an integer >= 1/);
    assert.throws(() => ds.batchAt(-1, 2, 1), /step must be an integer >= 0/);
    assert.throws(() => ds.batchAt(0, 2, 0.5), /seed must be an integer/);
  });
});

describe('data: LmDataset order (split, batches, batchAt)', () => {
  const T = 4;
  const set = new LmChunkSet(ramp(4 * 37 + 3), T, 'ramp'); // 37 full chunks + 1 padded = 38

  it('shuffles deterministically by seed (mulberry32 Fisher-Yates)', () => {
    const a = shuffledIndices(50, 7);
    assert.deepEqual(a, shuffledIndices(50, 7));
    assert.notDeepEqual(a, shuffledIndices(50, 8));
    assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
    assert.notEqual(epochSeed(1, 0), epochSeed(1, 1));
    assert.notEqual(epochSeed(1, 0), epochSeed(2, 0));
  });

  it('gives full batches with rows of real chunks, same order for the same seed, another for another seed', () => {
    assert.equal(set.chunks, 38);
    const B = 5;
    const e0 = [...set.batches(B, 42, 0)];
    assert.deepEqual(e0, [...set.batches(B, 42, 0)]);
    const other = [...set.batches(B, 43, 0)];
    assert.notDeepEqual(e0.map((b) => Array.from(b.chunkIds)), other.map((b) => Array.from(b.chunkIds)));
    const e1 = [...set.batches(B, 42, 1)];
    assert.notDeepEqual(e0[1].chunkIds, e1[1].chunkIds); // each epoch has its own shuffle
    for (const b of [...e0, ...e1]) {
      assert.equal(b.rows, B);
      assert.equal(b.tokens.length, B * T);
      assert.equal(b.labels.length, B * T);
      for (let r = 0; r < B; r++) {
        const c = set.chunk(b.chunkIds[r]);
        assert.deepEqual(b.tokens.subarray(r * T, (r + 1) * T), c.tokens);
        assert.deepEqual(b.labels.subarray(r * T, (r + 1) * T), c.labels);
      }
    }
    // Epoch 0: ceil(38/5) = 8 batches, the last wrapping 2 rows into epoch 1; epoch 1 starts after them.
    assert.equal(e0.length, 8);
    assert.deepEqual(set.stepRange(B, 0), { start: 0, end: 8 });
    assert.deepEqual(set.stepRange(B, 1), { start: 8, end: 16 });
    // Rows 0..37 of the sequence are each chunk once; so are rows 38..75.
    const seq = [...e0, ...e1, ...set.batches(B, 42, 2)].flatMap((b) => Array.from(b.chunkIds));
    const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
    const all = Array.from({ length: 38 }, (_, i) => i);
    assert.deepEqual(sorted(seq.slice(0, 38)), all);
    assert.deepEqual(sorted(seq.slice(38, 76)), all);
    assert.notDeepEqual(seq.slice(0, 38), seq.slice(38, 76));
  });

  it('batchAt(k) is the k-th batch of the epoch iterators, across epochs', () => {
    for (const B of [1, 3, 5, 38, 50]) {
      const seq: LmBatch[] = [];
      for (let e = 0; e < 4; e++) seq.push(...set.batches(B, 9, e));
      for (let k = 0; k < seq.length; k++) {
        assert.deepEqual(set.batchAt(k, B, 9), seq[k], `B=${B} step ${k}`);
        assert.equal(seq[k].step, k);
        assert.equal(seq[k].epoch, Math.floor((k * B) / 38));
      }
      // A "resumed" dataset (fresh object, no cache) gives the same batch.
      const k = seq.length - 1;
      assert.deepEqual(new LmChunkSet(ramp(4 * 37 + 3), T, 'ramp').batchAt(k, B, 9), seq[k]);
    }
    // Bsz > chunks: rows wrap through several epochs; every batch is still full.
    const big = set.batchAt(3, 100, 1);
    assert.equal(big.rows, 100);
    assert.equal(big.epoch, Math.floor(300 / 38));
  });

  it('splits eval from train: disjoint, covering, stable by seed', () => {
    const { train, eval: ev } = set.split(0.2, 5);
    assert.equal(ev.chunks, Math.round(0.2 * 38));
    assert.equal(train.chunks + ev.chunks, 38);
    const ids = (s: LmChunkSet) => Array.from({ length: s.chunks }, (_, i) => s.chunkId(i));
    const tr = ids(train);
    const evIds = ids(ev);
    assert.equal(new Set([...tr, ...evIds]).size, 38);
    assert.deepEqual(ids(set.split(0.2, 5).eval), evIds);
    assert.notDeepEqual(ids(set.split(0.2, 6).eval), evIds);
    assert.equal(train.labelCount + ev.labelCount, set.labelCount);
    assert.equal(train.tokenCount, set.tokenCount);
    // Chunks of a split are the same chunks.
    assert.deepEqual(ev.chunk(0), set.chunk(evIds[0]));
    // Training batches never touch eval chunks.
    const evSet = new Set(evIds);
    for (let k = 0; k < 20; k++) for (const c of train.batchAt(k, 4, 3).chunkIds) assert.ok(!evSet.has(c));
    // evalFraction 0: everything trains.
    const none = set.split(0, 5);
    assert.equal(none.eval.chunks, 0);
    assert.equal(none.train.chunks, 38);
    assert.throws(() => none.eval.batchAt(0, 1, 1), /no chunks/);
    // A tiny fraction still gives one eval chunk; no fraction may leave nothing to train on.
    assert.equal(set.split(0.001, 1).eval.chunks, 1);
    assert.throws(() => set.split(1, 1), /evalFraction must be in \[0, 1\)/);
    assert.throws(() => set.split(-0.1, 1), /evalFraction must be in \[0, 1\)/);
    assert.throws(() => new LmChunkSet(ramp(5), 4, 'one').split(0.5, 1), /one: 1 chunk of 4 tokens cannot be split/);
  });

  it('gives every chunk once in sequential batches, the last one padded', () => {
    const { eval: ev } = set.split(0.2, 5); // 8 chunks
    const bs = [...ev.sequentialBatches(3)];
    assert.deepEqual(bs.map((b) => b.rows), [3, 3, 2]);
    const last = bs[2];
    assert.equal(last.chunkIds[2], -1);
    assert.ok(last.tokens.subarray(2 * T).every((t) => t === PAD_TOKEN));
    assert.ok(last.labels.subarray(2 * T).every((t) => t === IGNORE_LABEL));
    const seen = bs.flatMap((b) => Array.from(b.chunkIds.subarray(0, b.rows)));
    assert.deepEqual(seen, Array.from({ length: ev.chunks }, (_, i) => ev.chunkId(i)));
    assert.deepEqual(rowsOf(bs[0], T)[1], Array.from(ev.chunk(1).tokens));
  });
});

describe('data: TinyStories (first ~200 KB, tok512)', () => {
  it('reads, encodes and batches a realistic corpus', function () {
    const full = readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8');
    const cut = full.indexOf('<|endoftext|>', 200_000);
    const text = full.slice(0, cut + '<|endoftext|>'.length);
    const t0 = performance.now();
    const docs = readTextDocuments(text, 'tinystories-head');
    assert.ok(docs.length > 150, `${docs.length} documents`);
    assert.ok(docs.every((d) => d.length > 0 && d === d.trim() && !d.includes('<|endoftext|>')));
    assert.ok(docs[0].startsWith('One day, a little girl named Lily found a needle'));
    const T = 256;
    const ds = new LmDataset(docs, tok, T, { source: 'tinystories-head' });
    const ms = performance.now() - t0;
    // tok512 (a 512-piece vocabulary) packs about 2 bytes per token on this text.
    assert.ok(ds.tokenCount > text.length / 3 && ds.tokenCount < text.length / 1.5, `${ds.tokenCount} tokens`);
    assert.equal(ds.chunks, Math.ceil((ds.tokenCount - 1) / T));
    assert.equal(ds.labelCount, ds.tokenCount - 1);
    // BOS count = documents.
    let bos = 0;
    for (let c = 0; c < ds.chunks; c++) bos += ds.chunk(c).tokens.filter((t) => t === tok.bosId).length;
    assert.equal(bos, docs.length);
    assert.equal(tok.decode(Array.from(ds.chunk(0).tokens)).slice(0, 40), docs[0].slice(0, 40));

    const { train, eval: ev } = ds.split(0.05, 1234);
    assert.equal(ev.chunks, Math.round(0.05 * ds.chunks));
    const B = 8;
    const steps = train.stepRange(B, 0).end;
    const epoch0 = [...train.batches(B, 1, 0)];
    assert.equal(epoch0.length, steps);
    for (const k of [0, 7, steps - 1]) assert.deepEqual(train.batchAt(k, B, 1), epoch0[k]);
    for (const b of epoch0) {
      assert.equal(b.tokens.length, B * T);
      assert.ok(b.tokens.every((t) => t >= 0 && t < 512));
      assert.ok(b.labels.every((t) => t === IGNORE_LABEL || (t >= 0 && t < 512)));
    }
    const sequential = [...ev.sequentialBatches(B)];
    assert.equal(
      sequential.reduce((a, b) => a + b.rows, 0),
      ev.chunks,
    );
    console.log(`      ${docs.length} docs, ${ds.tokenCount} tokens, ${ds.chunks} chunks of ${T}; read+encode ${ms.toFixed(0)} ms`);
  });
});
