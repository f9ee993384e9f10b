import assert from 'node:assert/strict';
import type { LlamaConfig } from '../src/formats/config';
import { parseSafetensors, tensorToFloat32, writeSafetensors, f16BitsToFloat } from '../src/formats/safetensors';
import { TOY_CONFIG } from '../src/model/toy';
import { mulberry32 } from '../src/util/random';
import { TARGETS, targetShape, type Target } from '../src/model/targets';
import {
  HF_TARGET_NAMES,
  parseTargets,
  loraTensorName,
  permuteQkRows,
  baseModelOf,
  writeAdapter,
  readAdapter,
  type AdapterTensors,
} from '../src/adapter/peft';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A safetensors file from a header (object or raw text) and a data section, built by hand. */
function craft(header: object | string, data: Uint8Array = new Uint8Array(0), headerLen?: number): Uint8Array {
  const json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen ?? json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Little-endian bytes of 16-bit patterns. */
function u16le(bits: number[]): Uint8Array {
  const out = new Uint8Array(bits.length * 2);
  const view = new DataView(out.buffer);
  bits.forEach((b, i) => view.setUint16(i * 2, b, true));
  return out;
}

function f32le(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

/** The header of a safetensors file, parsed independently of the module under test. */
function rawHeader(bytes: Uint8Array): { len: number; text: string; json: Record<string, any> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(view.getBigUint64(0, true));
  const text = dec.decode(bytes.subarray(8, 8 + len));
  return { len, text, json: JSON.parse(text) };
}

function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Asserts that fn throws a one-line error whose message contains every fragment. */
function throwsWith(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, 'not an Error');
    assert.ok(!e.message.includes('\n'), `multi-line error: ${e.message}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" lacks "${f}"`);
    return true;
  });
}

const SRC = 'test.safetensors';

describe('safetensors', () => {
  describe('writer', () => {
    // Expected bytes are those of the reference implementation's own serialization tests.
    it('writes an empty file as {} padded with spaces to 8 bytes', () => {
      const out = writeSafetensors([]);
      assert.deepEqual([...out], [8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
    });

    it('writes __metadata__ first and pads the header to a multiple of 8', () => {
      const out = writeSafetensors([], { framework: 'pt' });
      const h = rawHeader(out);
      assert.equal(h.len, 40);
      assert.equal(h.text, '{"__metadata__":{"framework":"pt"}}     ');
      assert.equal(out.length, 48);
    });

    it('writes a tensor entry exactly as the reference does (no padding needed)', () => {
      const out = writeSafetensors([{ name: 'attn.0', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]);
      const h = rawHeader(out);
      assert.equal(h.len, 64);
      assert.equal(h.text, '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
      assert.deepEqual([...out.subarray(72)], [...f32le([0, 1, 2, 3, 4, 5])]);
    });

    it('writes a tensor entry exactly as the reference does (7 bytes of padding)', () => {
      const out = writeSafetensors([{ name: 'attn0', shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]);
      const h = rawHeader(out);
      assert.equal(h.len, 72);
      assert.equal(h.text, '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ');
      assert.equal(out.length, 8 + 72 + 24);
    });

    it('lays tensors out in name order with contiguous offsets, metadata keys sorted', () => {
      const out = writeSafetensors(
        [
          { name: 'b', shape: [2], data: new Float32Array([3, 4]) },
          { name: 'a.z', shape: [1, 3], data: new Float32Array([0, 1, 2]) },
          { name: 'a', shape: [], data: new Float32Array([9]) },
        ],
        { zeta: '1', alpha: '2' },
      );
      const h = rawHeader(out);
      assert.deepEqual(Object.keys(h.json), ['__metadata__', 'a', 'a.z', 'b']);
      assert.deepEqual(Object.keys(h.json.__metadata__), ['alpha', 'zeta']);
      assert.deepEqual(h.json.a, { dtype: 'F32', shape: [], data_offsets: [0, 4] });
      assert.deepEqual(h.json['a.z'].data_offsets, [4, 16]);
      assert.deepEqual(h.json.b.data_offsets, [16, 24]);
      assert.equal(h.len % 8, 0);
      assert.match(h.text, /} *$/);
      assert.deepEqual([...out.subarray(8 + h.len)], [...f32le([9, 0, 1, 2, 3, 4])]);
    });

    it('rejects a shape that does not match the data, and duplicate names', () => {
      throwsWith(() => writeSafetensors([{ name: 'w', shape: [2, 2], data: new Float32Array(3) }]), '"w"', '[2, 2]', '3 values');
      throwsWith(
        () =>
          writeSafetensors([
            { name: 'w', shape: [1], data: new Float32Array(1) },
            { name: 'w', shape: [1], data: new Float32Array(1) },
          ]),
        '"w"',
        'twice',
      );
    });
  });

  describe('reader', () => {
    it('round-trips float32 bit-exactly (NaN payloads, -0, subnormals, infinities)', () => {
      const rng = mulberry32(7);
      const big = new Float32Array(1000).map(() => (rng() - 0.5) * 1e3);
      const special = new Float32Array(8);
      const sb = bitsOf(special);
      sb.set([0x7fc00001, 0xff800000, 0x7f800000, 0x80000000, 0x00000001, 0x807fffff, 0x3f800000, 0xffffffff]);
      const bytes = writeSafetensors(
        [
          { name: 'big', shape: [10, 100], data: big },
          { name: 'special', shape: [2, 4], data: special },
          { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
        ],
        { format: 'pt' },
      );
      const f = parseSafetensors(bytes, SRC);
      assert.deepEqual(f.metadata, { format: 'pt' });
      assert.deepEqual([...f.tensors.keys()].sort(), ['big', 'empty', 'special']);
      assert.deepEqual(f.tensors.get('big')!.shape, [10, 100]);
      assert.equal(f.tensors.get('big')!.dtype, 'F32');
      assert.deepEqual(bitsOf(tensorToFloat32(f.tensors.get('big')!, 'big', SRC)), bitsOf(big));
      assert.deepEqual(bitsOf(tensorToFloat32(f.tensors.get('special')!, 'special', SRC)), sb);
      assert.equal(tensorToFloat32(f.tensors.get('empty')!, 'empty', SRC).length, 0);
    });

    it('decodes hand-made F16 bytes exactly', () => {
      const bits = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x3555, 0x7e00];
      const want = [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, 0.333251953125, NaN];
      const bytes = craft({ h: { dtype: 'F16', shape: [11], data_offsets: [0, 22] } }, u16le(bits));
      const got = tensorToFloat32(parseSafetensors(bytes, SRC).tensors.get('h')!, 'h', SRC);
      assert.deepEqual([...got], want); // deepEqual uses Object.is: -0 and NaN are checked
      for (let h = 0; h < 65536; h += 97) {
        const v = f16BitsToFloat(h);
        if (!Number.isNaN(v)) assert.equal(Math.fround(v), v, `f16 ${h} is not exact in float32`);
      }
    });

    it('decodes hand-made BF16 bytes exactly', () => {
      const bits = [0x3f80, 0xc040, 0x4049, 0x0001, 0x8000, 0x7f80, 0xff80, 0x7fc1];
      const bytes = craft({ b: { dtype: 'BF16', shape: [2, 4], data_offsets: [0, 16] } }, u16le(bits));
      const got = tensorToFloat32(parseSafetensors(bytes, SRC).tensors.get('b')!, 'b', SRC);
      assert.deepEqual([...got.slice(0, 3)], [1, -3, 3.140625]);
      assert.equal(got[3], 2 ** -133);
      assert.ok(Object.is(got[4], -0));
      assert.deepEqual([got[5], got[6]], [Infinity, -Infinity]);
      assert.deepEqual([...bitsOf(got)], bits.map((b) => (b << 16) >>> 0)); // NaN payload kept
    });

    it('reads a mixed-dtype file with unaligned data, keeping other dtypes as raw bytes', () => {
      const data = new Uint8Array([...u16le([0x3c00]), ...f32le([2.5]), 7, ...u16le([0x4000])]);
      const header = {
        __metadata__: { note: 'hand-made' },
        half: { dtype: 'F16', shape: [1], data_offsets: [0, 2] },
        single: { dtype: 'F32', shape: [1], data_offsets: [2, 6] },
        byte: { dtype: 'U8', shape: [1], data_offsets: [6, 7] },
        brain: { dtype: 'BF16', shape: [1], data_offsets: [7, 9] },
      };
      const f = parseSafetensors(craft(header, data), SRC); // header of odd length: data unaligned
      assert.deepEqual(f.metadata, { note: 'hand-made' });
      assert.deepEqual([...tensorToFloat32(f.tensors.get('half')!, 'half', SRC)], [1]);
      assert.deepEqual([...tensorToFloat32(f.tensors.get('single')!, 'single', SRC)], [2.5]);
      assert.deepEqual([...tensorToFloat32(f.tensors.get('brain')!, 'brain', SRC)], [2]);
      assert.deepEqual([...f.tensors.get('byte')!.data], [7]);
      throwsWith(() => tensorToFloat32(f.tensors.get('byte')!, 'byte', SRC), SRC, '"byte"', 'U8');
    });

    it('rejects a file shorter than 8 bytes', () => {
      throwsWith(() => parseSafetensors(new Uint8Array(5), SRC), SRC, '5 bytes', 'shorter than');
    });

    it('rejects a header length past the end of the file', () => {
      throwsWith(() => parseSafetensors(craft('{}', new Uint8Array(0), 1000), SRC), SRC, 'header length 1000', 'past the end');
      const huge = new Uint8Array(16);
      new DataView(huge.buffer).setUint32(4, 0xffffffff, true);
      throwsWith(() => parseSafetensors(huge, SRC), SRC, 'past the end');
    });

    it('rejects a header that is not JSON, not UTF-8, or not an object', () => {
      throwsWith(() => parseSafetensors(craft('{"a": '), SRC), SRC, 'not JSON');
      throwsWith(() => parseSafetensors(craft('[1,2]'), SRC), SRC, 'not a JSON object');
      const bad = craft('{}');
      bad[8] = 0xff;
      throwsWith(() => parseSafetensors(bad, SRC), SRC, 'UTF-8');
      throwsWith(() => parseSafetensors(craft({ __metadata__: { n: 3 } }), SRC), SRC, '__metadata__', '"n"');
    });

    it('rejects data_offsets out of range', () => {
      throwsWith(
        () => parseSafetensors(craft({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)), SRC),
        SRC,
        '"w"',
        'data_offsets [0, 16] out of range',
        '8 bytes',
      );
      throwsWith(
        () => parseSafetensors(craft({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(8)), SRC),
        '"w"',
        'out of range',
      );
      throwsWith(
        () => parseSafetensors(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, new Uint8Array(8)), SRC),
        '"w"',
        'data_offsets',
      );
    });

    it('rejects a truncated file, naming the tensor that runs off the end', () => {
      const bytes = writeSafetensors([
        { name: 'first', shape: [4], data: new Float32Array(4) },
        { name: 'second', shape: [4], data: new Float32Array(4) },
      ]);
      throwsWith(() => parseSafetensors(bytes.subarray(0, bytes.length - 3), SRC), SRC, '"second"', 'out of range');
      throwsWith(() => parseSafetensors(bytes.subarray(0, 30), SRC), SRC, 'past the end');
    });

    it('rejects data_offsets that do not match dtype x shape', () => {
      throwsWith(
        () => parseSafetensors(craft({ w: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 8] } }, new Uint8Array(16)), SRC),
        SRC,
        '"w"',
        'hold 8 bytes',
        'F16 x [2, 3] needs 12',
      );
    });

    it('rejects overlapping tensors', () => {
      const header = {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      };
      throwsWith(() => parseSafetensors(craft(header, new Uint8Array(12)), SRC), SRC, '"b"', '"a"', 'overlap');
    });

    it('rejects an unknown dtype, naming it', () => {
      throwsWith(
        () => parseSafetensors(craft({ w: { dtype: 'F12', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)), SRC),
        SRC,
        '"w"',
        'unknown dtype "F12"',
      );
    });

    it('rejects malformed shapes and entries', () => {
      throwsWith(() => parseSafetensors(craft({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }), SRC), '"w"', 'shape');
      throwsWith(() => parseSafetensors(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }), SRC), '"w"', 'data_offsets');
      throwsWith(() => parseSafetensors(craft({ w: 5 }), SRC), '"w"', 'not an object');
    });
  });
});

// A config with grouped-query attention and an FFN width that is not a multiple of anything.
const GQA: LlamaConfig = { ...TOY_CONFIG }; // dim 64, hidden 172, 2 layers, 4 heads, 2 kv heads, headDim 16
const HALF: LlamaConfig = { ...TOY_CONFIG, ropeStyle: 'halfsplit' };

function randomAdapter(config: LlamaConfig, targets: Target[], rank: number, seed: number, alpha = 16): AdapterTensors {
  const rng = mulberry32(seed);
  const fill = (n: number) => new Float32Array(n).map(() => (rng() - 0.5) * 2);
  const layers = Array.from({ length: config.nLayers }, () => {
    const layer: AdapterTensors['layers'][number] = {};
    for (const t of targets) {
      const s = targetShape(config, t);
      layer[t] = { A: fill(rank * s.in), B: fill(s.out * rank) };
    }
    return layer;
  });
  return { rank, alpha, targets, layers, baseModel: baseModelOf(config) };
}

function assertSameAdapter(got: AdapterTensors, want: AdapterTensors): void {
  assert.equal(got.rank, want.rank);
  assert.equal(got.alpha, want.alpha);
  assert.deepEqual(got.targets, want.targets);
  assert.equal(got.layers.length, want.layers.length);
  got.layers.forEach((layer, i) => {
    assert.deepEqual(Object.keys(layer).sort(), Object.keys(want.layers[i]).sort());
    for (const t of want.targets) {
      assert.deepEqual(bitsOf(layer[t]!.A), bitsOf(want.layers[i][t]!.A), `layer ${i} ${t} A`);
      assert.deepEqual(bitsOf(layer[t]!.B), bitsOf(want.layers[i][t]!.B), `layer ${i} ${t} B`);
    }
  });
}

/** Rebuilds an adapter's safetensors with tensors changed (each entry: name -> tensor or null to drop). */
function editTensors(bytes: Uint8Array, edits: Record<string, { shape: number[]; data: Float32Array } | null>): Uint8Array {
  const f = parseSafetensors(bytes, 'edit');
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const [name, t] of f.tensors) {
    if (name in edits) continue;
    out.push({ name, shape: t.shape, data: tensorToFloat32(t, name, 'edit') });
  }
  for (const [name, t] of Object.entries(edits)) if (t) out.push({ name, ...t });
  return writeSafetensors(out, f.metadata);
}

function editConfig(text: string, edit: (c: Record<string, any>) => void): string {
  const c = JSON.parse(text);
  edit(c);
  return JSON.stringify(c);
}

describe('PEFT LoRA adapters', () => {
  describe('targets', () => {
    it('maps our names to Hugging Face module names', () => {
      assert.deepEqual([...TARGETS], ['q', 'k', 'v', 'o', 'gate', 'up', 'down']);
      assert.deepEqual(
        TARGETS.map((t) => HF_TARGET_NAMES[t]),
        ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      );
    });

    it('parses target lists: spaces, duplicates, HF names, canonical order', () => {
      assert.deepEqual(parseTargets('q,v'), ['q', 'v']);
      assert.deepEqual(parseTargets(' v , q,q '), ['q', 'v']);
      assert.deepEqual(parseTargets('down,q_proj,GATE'), ['q', 'gate', 'down']);
      assert.deepEqual(parseTargets('q,k,v,o,gate,up,down'), [...TARGETS]);
    });

    it('rejects an empty list and an unknown target, listing the valid ones', () => {
      throwsWith(() => parseTargets(''), 'no LoRA targets', 'q,k,v,o,gate,up,down');
      throwsWith(() => parseTargets(' , ,'), 'no LoRA targets');
      throwsWith(() => parseTargets('q,wq'), 'unknown LoRA target "wq"', 'valid: q,k,v,o,gate,up,down');
    });

    it('gives each target its [out, in] widths (GQA)', () => {
      assert.deepEqual(targetShape(GQA, 'q'), { in: 64, out: 64 });
      assert.deepEqual(targetShape(GQA, 'k'), { in: 64, out: 32 });
      assert.deepEqual(targetShape(GQA, 'v'), { in: 64, out: 32 });
      assert.deepEqual(targetShape(GQA, 'o'), { in: 64, out: 64 });
      assert.deepEqual(targetShape(GQA, 'gate'), { in: 64, out: 172 });
      assert.deepEqual(targetShape(GQA, 'up'), { in: 64, out: 172 });
      assert.deepEqual(targetShape(GQA, 'down'), { in: 172, out: 64 });
    });
  });

  describe('write and read', () => {
    it('round-trips every target bit-exactly (adjacent and halfsplit RoPE)', () => {
      for (const config of [GQA, HALF]) {
        const a = randomAdapter(config, [...TARGETS], 4, 11, 8);
        const files = writeAdapter(a, { baseModelName: 'toy/base' });
        const b = readAdapter({ config: files['adapter_config.json'], safetensors: files['adapter_model.safetensors'] }, config, 'out/adapter');
        assertSameAdapter(b, a);
        assert.equal(b.baseModel.name, 'toy/base');
        assert.deepEqual({ ...b.baseModel, name: undefined }, { ...baseModelOf(config), name: undefined });
      }
    });

    it('writes PEFT tensor names, F32, in a header laid out like the reference library', () => {
      const a = randomAdapter(GQA, ['q', 'v', 'down'], 2, 3);
      const bytes = writeAdapter(a)['adapter_model.safetensors'];
      const h = rawHeader(bytes);
      assert.equal(h.len % 8, 0);
      const keys = Object.keys(h.json);
      assert.equal(keys[0], '__metadata__');
      assert.deepEqual(h.json.__metadata__, { format: 'pt' });
      const names = keys.slice(1);
      assert.deepEqual(names, [...names].sort());
      const want: string[] = [];
      for (let i = 0; i < 2; i++) {
        for (const ab of ['A', 'B']) {
          want.push(`base_model.model.model.layers.${i}.self_attn.q_proj.lora_${ab}.weight`);
          want.push(`base_model.model.model.layers.${i}.self_attn.v_proj.lora_${ab}.weight`);
          want.push(`base_model.model.model.layers.${i}.mlp.down_proj.lora_${ab}.weight`);
        }
      }
      assert.deepEqual(names, want.sort());
      assert.equal(loraTensorName(1, 'gate', 'B'), 'base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight');
      let offset = 0;
      for (const n of names) {
        assert.equal(h.json[n].dtype, 'F32');
        assert.deepEqual(h.json[n].data_offsets[0], offset);
        offset = h.json[n].data_offsets[1];
      }
      assert.equal(bytes.length, 8 + h.len + offset);
      const L0 = 'base_model.model.model.layers.0.';
      assert.deepEqual(h.json[L0 + 'self_attn.q_proj.lora_A.weight'].shape, [2, 64]);
      assert.deepEqual(h.json[L0 + 'self_attn.q_proj.lora_B.weight'].shape, [64, 2]);
      assert.deepEqual(h.json[L0 + 'self_attn.v_proj.lora_B.weight'].shape, [32, 2]);
      assert.deepEqual(h.json[L0 + 'mlp.down_proj.lora_A.weight'].shape, [2, 172]);
      assert.deepEqual(h.json[L0 + 'mlp.down_proj.lora_B.weight'].shape, [64, 2]);
      // The data of an A matrix is the adapter's A, row-major.
      const [b0] = h.json[L0 + 'mlp.down_proj.lora_A.weight'].data_offsets;
      const stored = new Float32Array(bytes.slice(8 + h.len + b0, 8 + h.len + b0 + 2 * 172 * 4).buffer);
      assert.deepEqual(bitsOf(stored), bitsOf(a.layers[0].down!.A));
    });

    it('writes the adapter_config.json fields PEFT and llama.cpp read', () => {
      const a = randomAdapter(GQA, ['q', 'v'], 8, 5, 16);
      const text = writeAdapter(a, { baseModelName: 'karpathy/tinyllamas' })['adapter_config.json'];
      const c = JSON.parse(text);
      assert.equal(c.peft_type, 'LORA');
      assert.equal(c.task_type, 'CAUSAL_LM');
      assert.equal(c.r, 8);
      assert.equal(c.lora_alpha, 16);
      assert.deepEqual(c.target_modules, ['q_proj', 'v_proj']);
      assert.equal(c.lora_dropout, 0);
      assert.equal(c.bias, 'none');
      assert.equal(c.fan_in_fan_out, false);
      assert.equal(c.inference_mode, true);
      assert.equal(c.base_model_name_or_path, 'karpathy/tinyllamas');
      assert.deepEqual(c.mobizo, {
        format: 1,
        method: 'lora-fa',
        dim: 64,
        layers: 2,
        heads: 4,
        kvHeads: 2,
        headDim: 16,
        hidden: 172,
        vocab: GQA.vocabSize,
        qkRowOrder: 'hf',
      });
      assert.deepEqual(Object.keys(c), [...Object.keys(c)].sort()); // sort_keys, as PEFT writes
      assert.ok(text.startsWith('{\n  "base_model_name_or_path"'));
      assert.equal(JSON.parse(writeAdapter(a)['adapter_config.json']).base_model_name_or_path, null);
      assert.equal(JSON.parse(writeAdapter({ ...a, baseModel: { ...a.baseModel, name: 'x/y' } })['adapter_config.json']).base_model_name_or_path, 'x/y');
    });

    it('stores q and k rows of an adjacent-RoPE model in Hugging Face order', () => {
      const r = 3;
      const a = randomAdapter(GQA, ['q', 'k', 'v'], r, 9);
      const f = parseSafetensors(writeAdapter(a)['adapter_model.safetensors'], 'x');
      const stored = (t: Target) => tensorToFloat32(f.tensors.get(loraTensorName(1, t, 'B'))!, t, 'x');
      const row = (m: Float32Array, i: number) => [...m.subarray(i * r, (i + 1) * r)];
      const hd = 16;
      for (const [t, heads] of [['q', 4], ['k', 2]] as const) {
        const B = a.layers[1][t]!.B;
        const S = stored(t);
        for (let h = 0; h < heads; h++) {
          for (let i = 0; i < hd / 2; i++) {
            assert.deepEqual(row(S, h * hd + i), row(B, h * hd + 2 * i), `${t} head ${h} pair ${i} first`);
            assert.deepEqual(row(S, h * hd + hd / 2 + i), row(B, h * hd + 2 * i + 1), `${t} head ${h} pair ${i} second`);
          }
        }
      }
      assert.deepEqual(bitsOf(stored('v')), bitsOf(a.layers[1].v!.B));
      // A halfsplit (HF-layout) model stores every B as it is.
      const h = randomAdapter(HALF, ['q', 'k'], r, 9);
      const fh = parseSafetensors(writeAdapter(h)['adapter_model.safetensors'], 'x');
      assert.deepEqual(bitsOf(tensorToFloat32(fh.tensors.get(loraTensorName(0, 'q', 'B'))!, 'q', 'x')), bitsOf(h.layers[0].q!.B));
      // The permutation and its inverse undo each other.
      const m = new Float32Array(4 * 16 * 3).map((_, i) => i);
      assert.deepEqual(permuteQkRows(permuteQkRows(m, 4, 16, 3, true), 4, 16, 3, false), m);
    });

    it('loads an adapter written for an adjacent model into a halfsplit model of the same weights', () => {
      const a = randomAdapter(GQA, ['q'], 2, 4);
      const files = writeAdapter(a);
      const b = readAdapter({ config: files['adapter_config.json'], safetensors: files['adapter_model.safetensors'] }, HALF, 'x');
      assert.deepEqual(bitsOf(b.layers[0].q!.B), bitsOf(permuteQkRows(a.layers[0].q!.B, 4, 16, 2, true)));
      assert.deepEqual(bitsOf(b.layers[0].q!.A), bitsOf(a.layers[0].q!.A));
    });

    it('reads an adapter from other tooling: BF16/F16 tensors, no mobizo record, "all-linear" or a regex', () => {
      const config = HALF;
      const r = 2;
      const tensors: Record<string, any> = { __metadata__: { format: 'pt' } };
      const chunks: Uint8Array[] = [];
      let offset = 0;
      const want = new Map<string, Float32Array>();
      let seed = 1;
      for (let i = 0; i < config.nLayers; i++) {
        for (const t of TARGETS) {
          const s = targetShape(config, t);
          for (const [ab, shape] of [['A', [r, s.in]], ['B', [s.out, r]]] as const) {
            const name = loraTensorName(i, t, ab);
            const n = shape[0] * shape[1];
            const dtype = (i + ab.length + t.length) % 2 ? 'BF16' : 'F16';
            const bits = Array.from({ length: n }, (_, k) => (dtype === 'BF16' ? 0x3f80 : 0x3c00) + ((k * 31 + seed) % 200) * (k % 2 ? 1 : -1) + 0);
            seed++;
            const bytes = u16le(bits.map((b) => b & 0xffff));
            tensors[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
            offset += bytes.length;
            chunks.push(bytes);
            want.set(
              name,
              new Float32Array(bits.map((b) => (dtype === 'BF16' ? new Float32Array(new Uint32Array([(b & 0xffff) << 16]).buffer)[0] : f16BitsToFloat(b & 0xffff)))),
            );
          }
        }
      }
      const data = new Uint8Array(offset);
      let p = 0;
      for (const c of chunks) {
        data.set(c, p);
        p += c.length;
      }
      const st = craft(tensors, data);
      for (const target_modules of ['all-linear', '.*\\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)', ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']]) {
        const cfg = JSON.stringify({ peft_type: 'LORA', r, lora_alpha: 4, target_modules, base_model_name_or_path: 'org/model', lora_dropout: 0.05 });
        const a = readAdapter({ config: cfg, safetensors: st }, config, 'hub');
        assert.deepEqual(a.targets, [...TARGETS]);
        assert.equal(a.alpha, 4);
        assert.equal(a.baseModel.name, 'org/model');
        for (let i = 0; i < config.nLayers; i++) {
          for (const t of TARGETS) {
            assert.deepEqual([...a.layers[i][t]!.A], [...want.get(loraTensorName(i, t, 'A'))!]);
            assert.deepEqual([...a.layers[i][t]!.B], [...want.get(loraTensorName(i, t, 'B'))!]);
          }
        }
      }
    });
  });

  describe('errors', () => {
    const a = randomAdapter(GQA, ['q', 'v', 'gate'], 4, 21);
    const files = writeAdapter(a);
    const cfgText = files['adapter_config.json'];
    const st = files['adapter_model.safetensors'];
    const read = (config: string, safetensors: Uint8Array, model: LlamaConfig = GQA) => readAdapter({ config, safetensors }, model, 'ad');

    it('accepts the unmodified files', () => {
      assertSameAdapter(read(cfgText, st), a);
    });

    it('rejects peft_type other than LORA', () => {
      throwsWith(() => read(editConfig(cfgText, (c) => (c.peft_type = 'PREFIX_TUNING')), st), 'ad/adapter_config.json', 'peft_type is "PREFIX_TUNING"', '"LORA"');
      throwsWith(() => read(editConfig(cfgText, (c) => delete c.peft_type), st), 'peft_type is missing');
      throwsWith(() => read('{"peft_type": "LORA",', st), 'ad/adapter_config.json', 'not JSON');
    });

    it('rejects r and lora_alpha missing or non-positive', () => {
      throwsWith(() => read(editConfig(cfgText, (c) => delete c.r), st), 'r is missing');
      throwsWith(() => read(editConfig(cfgText, (c) => (c.r = 0)), st), 'r is 0');
      throwsWith(() => read(editConfig(cfgText, (c) => (c.r = 2.5)), st), 'r is 2.5');
      throwsWith(() => read(editConfig(cfgText, (c) => delete c.lora_alpha), st), 'lora_alpha is missing');
      throwsWith(() => read(editConfig(cfgText, (c) => (c.lora_alpha = -1)), st), 'lora_alpha is -1');
    });

    it('rejects options that change what the tensors mean', () => {
      throwsWith(() => read(editConfig(cfgText, (c) => (c.use_dora = true)), st), 'use_dora');
      throwsWith(() => read(editConfig(cfgText, (c) => (c.use_rslora = true)), st), 'use_rslora');
      throwsWith(() => read(editConfig(cfgText, (c) => (c.bias = 'all')), st), 'bias = "all"');
      throwsWith(() => read(editConfig(cfgText, (c) => (c.layers_to_transform = [0])), st), 'layers_to_transform');
      throwsWith(() => read(editConfig(cfgText, (c) => (c.rank_pattern = { q_proj: 2 })), st), 'rank_pattern');
      throwsWith(() => read(editConfig(cfgText, (c) => (c.modules_to_save = ['lm_head'])), st), 'modules_to_save');
      // PEFT's defaults and empty values are fine.
      const ok = editConfig(cfgText, (c) => Object.assign(c, { use_dora: false, rank_pattern: {}, modules_to_save: null, layers_to_transform: null }));
      assertSameAdapter(read(ok, st), a);
    });

    it('rejects unsupported target modules', () => {
      throwsWith(
        () => read(editConfig(cfgText, (c) => c.target_modules.push('lm_head')), st),
        'unsupported target module "lm_head"',
        'q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj',
      );
      throwsWith(() => read(editConfig(cfgText, (c) => delete c.target_modules), st), 'target_modules is missing');
    });

    it('rejects an adapter built for a different model (recorded base shape)', () => {
      const other: LlamaConfig = { ...GQA, dim: 128, headDim: 32, nLayers: 3 };
      throwsWith(() => read(cfgText, st, other), 'ad/adapter_config.json', 'different base model', 'dim 64 vs 128', 'layers 2 vs 3', 'headDim 16 vs 32');
      throwsWith(() => read(cfgText, st, { ...GQA, vocabSize: 32000 }), `vocab ${GQA.vocabSize} vs 32000`);
    });

    it('rejects a tensor whose shape disagrees with the model, naming it (no recorded shape)', () => {
      const noRecord = editConfig(cfgText, (c) => delete c.mobizo);
      const wider: LlamaConfig = { ...GQA, hiddenDim: 256 };
      throwsWith(
        () => read(noRecord, st, wider),
        'ad/adapter_model.safetensors',
        'base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight',
        'shape [172, 4]',
        'expected [256, 4]',
        'different model',
      );
      // A rank that disagrees with r.
      throwsWith(
        () => read(editConfig(noRecord, (c) => (c.r = 8)), st),
        'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
        'shape [4, 64]',
        'expected [8, 64]',
      );
      // A tensor replaced by one of the wrong shape.
      const name = loraTensorName(1, 'v', 'A');
      throwsWith(() => read(cfgText, editTensors(st, { [name]: { shape: [4, 32], data: new Float32Array(128) } })), name, 'shape [4, 32]', 'expected [4, 64]');
    });

    it('rejects a missing tensor, naming it', () => {
      const name = loraTensorName(1, 'gate', 'B');
      throwsWith(() => read(cfgText, editTensors(st, { [name]: null })), 'ad/adapter_model.safetensors', `missing tensor ${name}`, 'layer 1', 'gate_proj');
    });

    it('rejects tensors beyond the model (more layers, other modules)', () => {
      const noRecord = editConfig(cfgText, (c) => delete c.mobizo);
      const extra = loraTensorName(2, 'q', 'A');
      throwsWith(() => read(noRecord, editTensors(st, { [extra]: { shape: [4, 64], data: new Float32Array(256) } })), `unexpected tensor ${extra}`);
      const k = loraTensorName(0, 'k', 'A');
      throwsWith(() => read(noRecord, editTensors(st, { [k]: { shape: [4, 64], data: new Float32Array(256) } })), `unexpected tensor ${k}`);
    });

    it('passes safetensors errors through with the file named', () => {
      throwsWith(() => read(cfgText, st.subarray(0, st.length - 10)), 'ad/adapter_model.safetensors', 'out of range');
      throwsWith(() => read(cfgText, st.subarray(0, 4)), 'ad/adapter_model.safetensors', 'shorter than');
    });

    it('writeAdapter rejects tensors that do not fit the base model', () => {
      const bad = randomAdapter(GQA, ['q'], 4, 1);
      bad.layers[1].q!.A = new Float32Array(5);
      throwsWith(() => writeAdapter(bad), 'layer 1 target q', 'A has 5 values', 'expected [4, 64]');
      const short = randomAdapter(GQA, ['q'], 4, 1);
      short.layers.pop();
      throwsWith(() => writeAdapter(short), '1 adapter layers', '2 layers');
      const stray = randomAdapter(GQA, ['q', 'v'], 4, 1);
      throwsWith(() => writeAdapter({ ...stray, targets: ['q'] }), 'layer 0', '"v"');
      throwsWith(() => writeAdapter({ ...stray, rank: 0 }), 'rank 0');
      throwsWith(() => writeAdapter({ ...stray, targets: ['q', 'x' as Target] }), 'unknown target "x"');
    });
  });
});
