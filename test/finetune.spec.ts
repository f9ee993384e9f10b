// Fine-tuning end to end: exact resume, adapters that round-trip through eval --adapter to the
// float64 reference, the --json protocol, and clear errors for bad input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { demoDocuments } from '../src/data/demo';
import { LmDataset } from '../src/data/lm';
import { parseLlama2c } from '../src/formats/llama2c';
import { Model } from '../src/model/model';
import { Tokenizer } from '../src/formats/tokenizer';
import { toyModel, toyTokenizerBytes } from '../src/model/toy';
import { evaluateLm } from '../src/eval/evaluate';
import { LoraState } from '../src/adapter/lora';
import { readAdapter, writeAdapter } from '../src/adapter/peft';
import { parseGguf } from '../src/formats/gguf';
import { quantizeModelGguf } from '../src/formats/gguf_writer';
import { parseCheckpoint, train, validateTrainConfig, type CheckpointFiles, type TrainConfig } from '../src/train/trainer';
import { OptionError, validateRunOptions } from '../src/train/options';
import { assetPath } from './assets';
import { gpuFixture } from './gpu';
import { referenceLoss } from './reference/cpu_model';

const root = path.resolve(import.meta.dirname, '..');
function mobizo(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), ...args], { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fine-tuning', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-ft-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('--resume continues from a checkpoint and reproduces the uninterrupted run exactly', async () => {
    const { gpu } = await gpuFixture();
    const file = toyModel();
    const model = await Model.load(gpu, file);
    const tok = Tokenizer.fromLlama2c(toyTokenizerBytes(), file.config.vocabSize, 'toy');
    const data = new LmDataset(demoDocuments(60), tok, 16).split(0.1, 0);
    const cfg: TrainConfig = {
      mode: 'prge', q: 2, eps: 1e-2, lr: 0.05, batch: 2, seq: 16, seed: 4, steps: 6, evalEvery: 0, checkpointEvery: 3,
      lora: { rank: 4, alpha: 8, targets: ['q', 'v', 'down'] },
    };
    const saved: CheckpointFiles[] = [];
    const store = { save: async (f: CheckpointFiles) => void saved.push(f) };
    const evaluate = (lora: LoraState) => evaluateLm(model, lora, data.eval, 4);
    const full = await train(model, data.train, cfg, { store, evaluate });
    assert.equal(saved.length, 2, 'a checkpoint at step 3 and one at the end');
    const mid = saved[0];
    const resume = parseCheckpoint({ config: mid['adapter_config.json'], safetensors: mid['adapter_model.safetensors'], state: mid['trainer_state.json'] }, model, 'mem');
    assert.equal(resume.state.step, 3);
    const rest = await train(model, data.train, { ...cfg, mode: 'mezo' }, { resume, evaluate });
    assert.deepEqual(rest.state.history, full.state.history, 'same losses, step for step');
    const a = await full.lora.toHost();
    const b = await rest.lora.toHost();
    assert.deepEqual(b.layers, a.layers, 'the same adapter');
    assert.ok(full.evalAfter!.loss < full.evalBefore!.loss, `${full.evalAfter!.loss} < ${full.evalBefore!.loss}`);
    full.lora.destroy();
    rest.lora.destroy();
    model.destroy();
  });

  it('finetune --json writes a PEFT adapter; eval --adapter gives the float64 reference loss', () => {
    const model = assetPath('models', 'stories260K.bin');
    const tokenizer = assetPath('models', 'tok512.bin');
    const data = path.join(tmp, 'reviews.txt');
    const lines = fs.readFileSync(assetPath('data', 'rt-polarity', 'rt-polarity.pos'), 'utf8').split('\n').slice(0, 40);
    fs.writeFileSync(data, lines.join('\n<|endoftext|>\n'));
    const out = path.join(tmp, 'adapter');
    const args = ['--model', model, '--tokenizer', tokenizer, '--seq', '16'];
    const ft = mobizo('finetune', ...args, '--data', data, '--steps', '3', '--batch', '2', '--q', '2', '--lr', '0.05', '--targets', 'q,v,o', '--rank', '4', '--alpha', '8', '--out', out, '--json');
    assert.equal(ft.code, 0, ft.stderr);
    const lines2 = ft.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const steps = lines2.filter((l) => 'slotLosses' in l);
    assert.equal(steps.length, 3);
    for (const s of steps) {
      assert.deepEqual(Object.keys(s).sort(), ['loss', 'ms', 'projGrad', 'slotLosses', 'step']);
      assert.equal(s.slotLosses.length, 4);
      assert.equal(s.projGrad.length, 2);
    }
    const done = lines2.at(-1);
    assert.equal(done.done, true);
    assert.equal(done.steps, 3);
    assert.ok(Number.isFinite(done.evalLoss));
    assert.ok(done.memory.peak.adapters > 0 && done.memory.peak.weights > 0);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'checkpoint-3/trainer_state.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.peft_type, 'LORA');
    assert.deepEqual([...cfg.target_modules].sort(), ['o_proj', 'q_proj', 'v_proj']);

    const ev = mobizo('eval', ...args, '--data', data, '--adapter', out, '--json');
    assert.equal(ev.code, 0, ev.stderr);
    const got = JSON.parse(ev.stdout) as { loss: number; tokens: number };
    const file = parseLlama2c(new Uint8Array(fs.readFileSync(model)), 'm');
    const tok = Tokenizer.fromLlama2c(new Uint8Array(fs.readFileSync(tokenizer)), 512, 't');
    const ad = readAdapter({ config: fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'), safetensors: new Uint8Array(fs.readFileSync(path.join(out, 'adapter_model.safetensors'))) }, file.config, out);
    const ds = new LmDataset(fs.readFileSync(data, 'utf8').split('<|endoftext|>').map((s) => s.trim()).filter(Boolean), tok, 16);
    const batch = [...ds.sequentialBatches(1000)][0];
    const want = referenceLoss(file, batch.tokens, batch.labels, 16, { scale: ad.alpha / ad.rank, rank: ad.rank, layers: ad.layers });
    assert.equal(got.tokens, want.tokens);
    assert.ok(Math.abs(got.loss - want.loss) <= 1e-4 * want.loss, `eval ${got.loss} vs reference ${want.loss}`);
    const base = JSON.parse(mobizo('eval', ...args, '--data', data, '--json').stdout);
    assert.notEqual(base.loss, got.loss, 'the adapter changes the loss');
  });

  it('a lost GPU device mid-run: the error points to the checkpoint; --resume finishes the same run', () => {
    const args = ['--steps', '9', '--seq', '16', '--batch', '2', '--q', '2', '--checkpoint-every', '4', '--eval-fraction', '0', '--eval-size', '8', '--json', '--no-compare'];
    const full = path.join(tmp, 'full');
    const a = mobizo('finetune', ...args, '--out', full);
    assert.equal(a.code, 0, a.stderr);
    const steps = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'slotLosses' in l);
    const lost = path.join(tmp, 'lost');
    const env = { ...process.env, MOBIZO_FAULT_LOSE_DEVICE_AT_STEP: '5' };
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'mobizo.js'), 'finetune', ...args, '--out', lost], { encoding: 'utf8', env });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /device lost.*the checkpoint of step 4 is in .*lost: continue with --resume/);
    const b = mobizo('finetune', ...args, '--out', lost, '--resume');
    assert.equal(b.code, 0, b.stderr);
    const want = steps(a.stdout).slice(4).map((s) => [s.step, s.slotLosses]);
    assert.deepEqual(steps(b.stdout).map((s) => [s.step, s.slotLosses]), want);
    assert.deepEqual(fs.readFileSync(path.join(lost, 'adapter_model.safetensors')), fs.readFileSync(path.join(full, 'adapter_model.safetensors')));
  });

  it('an adapter fine-tuned on a Q8_0 base also improves the F32 base', () => {
    const q8 = path.join(tmp, 'q8.gguf');
    const gg = new Uint8Array(fs.readFileSync(assetPath('models', 'stories260K.gguf')));
    fs.writeFileSync(q8, quantizeModelGguf({ gguf: parseGguf(gg, 'stories260K.gguf'), bytes: gg, source: 'stories260K.gguf' }, 'Q8_0'));
    const lines = fs.readFileSync(assetPath('data', 'rt-polarity', 'rt-polarity.pos'), 'utf8').split('\n');
    const trainFile = path.join(tmp, 'q8-train.txt');
    const evalFile = path.join(tmp, 'q8-eval.txt');
    fs.writeFileSync(trainFile, lines.slice(0, 400).join('\n<|endoftext|>\n'));
    fs.writeFileSync(evalFile, lines.slice(400, 440).join('\n<|endoftext|>\n'));
    const out = path.join(tmp, 'q8-adapter');
    const ft = mobizo('finetune', '--model', q8, '--data', trainFile, '--eval-data', evalFile, '--steps', '20', '--seq', '32', '--batch', '4', '--q', '2', '--out', out, '--json');
    assert.equal(ft.code, 0, ft.stderr);
    const done = JSON.parse(ft.stdout.trim().split('\n').at(-1)!);
    assert.ok(done.evalLoss < done.evalLossBefore, `Q8_0 base: ${done.evalLossBefore} -> ${done.evalLoss}`);
    const f32 = ['--model', assetPath('models', 'stories260K.bin'), '--tokenizer', assetPath('models', 'tok512.bin'), '--data', evalFile, '--seq', '32', '--json'];
    const base = JSON.parse(mobizo('eval', ...f32).stdout);
    const tuned = JSON.parse(mobizo('eval', ...f32, '--adapter', out).stdout);
    console.log(`      Q8_0 base ${done.evalLossBefore.toFixed(4)} -> ${done.evalLoss.toFixed(4)}; F32 base ${base.loss.toFixed(4)} -> with the adapter ${tuned.loss.toFixed(4)}`);
    assert.ok(tuned.loss < base.loss - 0.01, `F32 base ${base.loss} vs with the Q8_0-trained adapter ${tuned.loss}`);
  });

  describe('bad input: one-line errors', () => {
    const model = () => ['--model', assetPath('models', 'stories260K.bin'), '--tokenizer', assetPath('models', 'tok512.bin')];
    function fails(r: ReturnType<typeof mobizo>, pattern: RegExp) {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    }
    it('eps <= 0, q < 1, an unknown target', () => {
      fails(mobizo('finetune', '--eps', '0'), /--eps must be > 0/);
      fails(mobizo('finetune', '--q', '0'), /--q must be an integer >= 1/);
      fails(mobizo('finetune', '--targets', 'q,attn'), /unknown.*attn/i);
    });
    it('empty data, data shorter than one chunk', () => {
      const empty = path.join(tmp, 'empty.txt');
      fs.writeFileSync(empty, '');
      fails(mobizo('finetune', ...model(), '--data', empty), /empty/);
      const short = path.join(tmp, 'short.txt');
      fs.writeFileSync(short, 'Hi.');
      fails(mobizo('finetune', ...model(), '--data', short, '--seq', '64'), /fewer than the 65 needed for one chunk/);
    });
    it('an adapter from another model', () => {
      // an adapter of the toy model (64 wide, 2 layers, vocab 354): stories260K must refuse it
      const out = path.join(tmp, 'toy-adapter');
      const files = writeAdapter(LoraState.initHost(toyModel().config, { rank: 16, alpha: 32, targets: ['q', 'v'] }, 0));
      fs.mkdirSync(out, { recursive: true });
      for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(out, name), body);
      fails(mobizo('generate', ...model(), '--adapter', out, '--steps', '5'), /adapter/);
    });
  });
});

describe('run options', () => {
  const refused = (f: () => void, option: string, problem: RegExp) =>
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof OptionError, String(e));
      assert.equal(e.option, option);
      assert.match(e.problem, problem);
      assert.doesNotMatch(e.message, /--/, 'the core names the option, not a CLI flag');
      return true;
    });

  it('are validated in the core: an OptionError names the option, and a range is given', () => {
    refused(() => validateRunOptions({ lr: 10 }), 'lr', /must be <= 1 \(the range is \[0, 1\]\), got 10/);
    refused(() => validateRunOptions({ lr: 1e9 }), 'lr', /\[0, 1\]/);
    refused(() => validateRunOptions({ eps: 0 }), 'eps', /must be > 0 \(the range is \(0, 1\]\), got 0/);
    refused(() => validateRunOptions({ lr: Number.NaN }), 'lr', /must be >= 0/);
    refused(() => validateRunOptions({ q: 0 }), 'q', /integer >= 1/);
    refused(() => validateRunOptions({ evalEvery: -1 }), 'evalEvery', /integer >= 0/);
    refused(() => validateRunOptions({ mode: 'fast' as never }), 'mode', /one of mezo, outer, prge/);
    refused(() => validateRunOptions({ onDiverge: 'ignore' as never }), 'onDiverge', /one of stop, warn/);
    const cfg: TrainConfig = { mode: 'prge', q: 2, eps: 1e-2, lr: 0.05, batch: 2, seq: 16, seed: 4, steps: 6, evalEvery: 0, checkpointEvery: 3, lora: { rank: 4, alpha: 8, targets: ['q'] } };
    validateTrainConfig(cfg);
    refused(() => validateTrainConfig({ ...cfg, checkpointEvery: 1.5 }), 'checkpointEvery', /integer >= 0/);
    refused(() => validateTrainConfig({ ...cfg, lora: { ...cfg.lora, rank: 0 } }), 'rank', /integer >= 1/);
    validateTrainConfig({ ...cfg, schedule: 'linear', steps: 0 }); // evaluate only: no step needs the schedule
    validateRunOptions({ lr: 1, eps: 1, q: 1 }); // the ends of the ranges are allowed
  });
});
