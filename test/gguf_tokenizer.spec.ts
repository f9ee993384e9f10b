// Tokenizers from GGUF metadata against llama.cpp's own tokenizer test suite (test-tokenizer-0:
// .inp strings, .out token ids without BOS), and stories260K.gguf's tokenizer against tok512.bin.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseGguf } from '../src/formats/gguf';
import { GgufTokenizer, TokenType, type TextTokenizer } from '../src/formats/gguf_tokenizer';
import { Tokenizer } from '../src/formats/tokenizer';
import { assetPath } from './assets';
import { throwsNaming } from './expect';

/** The cases of a llama.cpp vocab test: strings separated by "\n__ggml_vocab_test__\n" (the piece after the last separator is not a case). */
function vocabCases(name: string): { text: string; ids: number[] }[] {
  const texts = readFileSync(assetPath('vocab', `${name}.inp`), 'utf8').split('\n__ggml_vocab_test__\n');
  texts.pop();
  const lines = readFileSync(assetPath('vocab', `${name}.out`), 'utf8').split('\n');
  assert.equal(lines.length, texts.length + 1, `${name}: one .out line per .inp string`);
  return texts.map((text, i) => ({ text, ids: lines[i].trim() === '' ? [] : lines[i].trim().split(/\s+/).map(Number) }));
}

function tokenizerOf(dir: string, name: string): GgufTokenizer {
  return GgufTokenizer.fromGguf(parseGguf(new Uint8Array(readFileSync(assetPath(dir, name))), name), name);
}

// Cases that cannot match, with the reason. Empty: every case matches.
const KNOWN_FAILURES: Record<string, Record<number, string>> = {
  'ggml-vocab-llama-spm.gguf': {},
  'ggml-vocab-gpt-2.gguf': {},
};

for (const [name, model, vocab] of [['ggml-vocab-llama-spm.gguf', 'llama', 32000], ['ggml-vocab-gpt-2.gguf', 'gpt2', 50257]] as const) {
  describe(`GGUF tokenizer: ${name} (llama.cpp test-tokenizer-0)`, () => {
    const tok = tokenizerOf('vocab', name);
    const cases = vocabCases(name);

    it(`reads the vocabulary: ${model}, ${vocab} tokens`, () => {
      assert.equal(cases.length, 46);
      assert.equal(tok.model, model);
      assert.equal(tok.vocabSize, vocab);
      if (model === 'llama') {
        assert.deepEqual([tok.bosId, tok.eosId, tok.unkId, tok.addBos, tok.addSpacePrefix], [1, 2, 0, true, true]);
        assert.equal(tok.pieceId('▁Hello'), 15043);
        assert.equal(tok.pieceId('<0x0A>'), 13);
      } else {
        assert.deepEqual([tok.bosId, tok.eosId, tok.addBos, tok.types[50256]], [50256, 50256, false, TokenType.control]);
        assert.equal(tok.pieceId('Ġworld'), 995);
      }
    });

    it('encodes every test string to the ids llama.cpp produces', () => {
      const known = KNOWN_FAILURES[name];
      const failures: string[] = [];
      let matched = 0;
      cases.forEach(({ text, ids }, i) => {
        const got = tok.encode(text, { bos: false, eos: false });
        const same = got.length === ids.length && got.every((t, k) => t === ids[k]);
        if (same) matched++;
        else if (!(i in known)) failures.push(`#${i} ${JSON.stringify(text)}: got [${got}], llama.cpp [${ids}]`);
      });
      console.log(`      ${name}: ${matched}/${cases.length}`);
      assert.deepEqual(failures, []);
      assert.equal(matched, cases.length - Object.keys(known).length);
    });

    it('decodes every test string back to the text (SPM: after BOS, whose following space is dropped)', () => {
      for (const { text } of cases) {
        const ids = tok.encode(text, { bos: model === 'llama', eos: false });
        assert.equal(tok.decode(ids), text, JSON.stringify(text));
      }
    });

    it('adds BOS when the vocabulary adds one (SPM: yes, GPT-2: no) and EOS on request; matches control tokens in the text only with special: true', () => {
      const ids = tok.encode('Hello world', { bos: true, eos: true });
      assert.equal(tok.addBos, model === 'llama');
      assert.deepEqual(ids, [...(model === 'llama' ? [tok.bosId] : []), ...tok.encode('Hello world', { bos: false, eos: false }), tok.eosId]);
      assert.equal(tok.decode(ids), 'Hello world');
      const marker = model === 'llama' ? '</s>' : '<|endoftext|>';
      const plain = tok.encode(`a${marker}b`, { bos: false, eos: false });
      const special = tok.encode(`a${marker}b`, { bos: false, eos: false, special: true });
      assert.ok(!plain.includes(tok.eosId), `${plain}`);
      // SPM (llama.cpp): the text after a special token gets the '▁' prefix again, as at the start
      assert.deepEqual(special, [...tok.encode('a', { bos: false, eos: false }), tok.eosId, ...tok.encode('b', { bos: false, eos: false })]);
      assert.equal(tok.decode(special), model === 'llama' ? ' a b' : 'ab'); // control tokens print nothing
    });
  });
}

describe("GGUF tokenizer: stories260K.gguf's embedded vocabulary vs tok512.bin", () => {
  const gguf = tokenizerOf('models', 'stories260K.gguf');
  const bin = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(assetPath('models', 'tok512.bin'))), 512, 'tok512.bin');
  const stories = readFileSync(assetPath('data', 'tinystories', 'tinystories-head-2MiB.txt'), 'utf8').slice(0, 20000).split('<|endoftext|>');
  const samples = [
    '', ' ', 'Once upon a time', 'Once upon a time, there was a little girl named Lily.', '  two  spaces\n\nand\ttabs ',
    'Ünïcödé: café, naïve, 中文, 😀🦙 and the byte fallback', 'Lily\'s mom said, "Let\'s go!"', '\n', 'a\u200ab', ...stories,
  ];

  it('both implement TextTokenizer (a type test) with the same sizes and ids', () => {
    const texts: TextTokenizer[] = [bin, gguf]; // compiles only if Tokenizer satisfies the interface
    assert.equal(texts.length, 2);
    assert.deepEqual([gguf.vocabSize, gguf.bosId, gguf.eosId], [bin.vocabSize, bin.bosId, bin.eosId]);
  });

  it(`encodes ${samples.length} texts (with and without BOS / EOS) to tok512's tokens`, () => {
    for (const s of samples) {
      for (const [bos, eos] of [[true, false], [false, false], [true, true]]) {
        assert.deepEqual(gguf.encode(s, { bos, eos }), bin.encode(s, { bos, eos }), JSON.stringify(s.slice(0, 60)));
      }
    }
  });

  it('decodes like tok512: decode() of every sample, decodeBytes of every non-control token after every previous one', () => {
    for (const s of samples) {
      const ids = bin.encode(s, { bos: true, eos: true });
      assert.equal(gguf.decode(ids), bin.decode(ids));
      assert.equal(gguf.decode(ids), s);
    }
    for (const prev of [-1, 0, 1, 2, 259, 300]) {
      for (let t = 3; t < 512; t++) assert.deepEqual(gguf.decodeBytes(prev, t), bin.decodeBytes(prev, t), `decodeBytes(${prev}, ${t})`);
    }
  });
});

describe('GGUF tokenizer: metadata that would change the ids and is not implemented', () => {
  it('add_eos_token / add_sep_token true and unknown tokenizer.ggml keys are named errors; *_token_id keys are not', () => {
    const meta = parseGguf(new Uint8Array(readFileSync(assetPath('vocab', 'ggml-vocab-llama-spm.gguf'))), 'spm').metadata;
    const withKey = (key: string, value: boolean) => new Map([...meta, [key, { type: 'BOOL', value } as const]]);
    assert.equal(GgufTokenizer.fromMetadata(withKey('tokenizer.ggml.add_eos_token', false), 'v.gguf').addEos, false);
    throwsNaming(() => GgufTokenizer.fromMetadata(withKey('tokenizer.ggml.add_eos_token', true), 'v.gguf'), 'v.gguf', /tokenizer\.ggml\.add_eos_token true is not supported/);
    throwsNaming(() => GgufTokenizer.fromMetadata(withKey('tokenizer.ggml.add_sep_token', true), 'v.gguf'), 'v.gguf', /tokenizer\.ggml\.add_sep_token true is not supported/);
    throwsNaming(() => GgufTokenizer.fromMetadata(withKey('tokenizer.ggml.lowercase', true), 'v.gguf'), 'v.gguf', /"tokenizer\.ggml\.lowercase" is not supported/);
    const eot = new Map([...meta, ['tokenizer.ggml.eot_token_id', { type: 'UINT32', value: 2 } as const]]);
    assert.equal(GgufTokenizer.fromMetadata(eot, 'v.gguf').vocabSize, 32000);
  });
});
