// Checkpoints on disk are complete or absent (src/cli/checkpoint_dir.ts): a run crashed before
// EVERY file-system operation of its checkpoints (adam, a checkpoint every 2 steps), then resumed
// from what the crash left, ends with the adapter and the optimizer state of an uninterrupted run,
// byte for byte. The crash is injected through the store's fault hook (the operation never
// starts, as when the process is killed there; a real SIGKILL through the CLI: checkpoint_cli.spec).
// Disk full stops the run with the last checkpoint intact. Manifests catch damaged files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { demoDocuments } from '../src/data/demo';
import { LmDataset } from '../src/data/lm';
import { Model } from '../src/model/model';
import { Tokenizer } from '../src/formats/tokenizer';
import { toyModel, toyTokenizerBytes } from '../src/model/toy';
import { evaluateLm } from '../src/eval/evaluate';
import type { LoraState } from '../src/adapter/lora';
import { train, type TrainConfig } from '../src/train/trainer';
import { OPTIMIZER_STATE_FILE } from '../src/train/optimizer';
import { checkpointFolders, directoryStore, lastCheckpoint, type StoreFault } from '../src/cli/checkpoint_dir';
import { gpuFixture } from './gpu';

/** The crash: thrown by the fault hook before an operation (the store has no cleanup for it). */
class Crash extends Error {}

describe('checkpoints on disk (adam, every 2 steps)', function () {
  this.timeout(600_000);
  let model: Model;
  let data: ReturnType<LmDataset['split']>;
  let tmp: string;
  const cfg: TrainConfig = {
    mode: 'prge', q: 2, eps: 1e-2, lr: 0.02, batch: 2, seq: 16, seed: 7, steps: 6, evalEvery: 0, checkpointEvery: 2, onDiverge: 'warn',
    optimizer: 'adam', beta1: 0.9, beta2: 0.999,
    lora: { rank: 4, alpha: 8, targets: ['q', 'v'] },
  };
  const evaluate = (lora: LoraState) => evaluateLm(model, lora, data.eval, 4);
  const quiet = () => {};
  /** A run into `dir` (optionally resumed from what `dir` holds), with the store's fault hook. */
  const run = async (dir: string, fault?: StoreFault, resume = false) => {
    const from = resume ? lastCheckpoint(dir, model, quiet) ?? undefined : undefined;
    const s = await train(model, data.train, cfg, { evaluate, store: directoryStore(dir, { fault }), resume: from });
    s.lora.destroy();
    return { steps: s.steps, from: from?.state.step ?? 0 };
  };
  /** What a finished run leaves: the adapter at the top of OUT, the last checkpoint's moments and losses. */
  const result = (dir: string) => {
    const last = checkpointFolders(dir)[0];
    return {
      adapter: fs.readFileSync(path.join(dir, 'adapter_model.safetensors')),
      config: fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'),
      optimizer: fs.readFileSync(path.join(last.dir, OPTIMIZER_STATE_FILE)),
      history: JSON.parse(fs.readFileSync(path.join(last.dir, 'trainer_state.json'), 'utf8')).history,
      step: last.step,
    };
  };
  let want: ReturnType<typeof result>;
  let ops: string[];

  before(async () => {
    const { gpu } = await gpuFixture('wasm'); // the CPU backend: the same bytes, a fraction of SwiftShader's time
    const file = toyModel();
    model = await Model.load(gpu, file);
    const tok = Tokenizer.fromLlama2c(toyTokenizerBytes(), file.config.vocabSize, 'toy');
    data = new LmDataset(demoDocuments(60), tok, 16).split(0.03, 0); // 2 held-out chunks: one evaluation pass
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-ckpt-'));
    ops = [];
    await run(path.join(tmp, 'straight'), (_, op) => void ops.push(op));
    want = result(path.join(tmp, 'straight'));
  });
  after(() => {
    model?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('an uninterrupted run leaves OUT/checkpoint-6 only, beside the adapter at the top, and no temporary files', () => {
    const dir = path.join(tmp, 'straight');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'checkpoint-6']);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoint-6')).sort(), ['adapter_config.json', 'adapter_model.safetensors', OPTIMIZER_STATE_FILE, 'trainer_state.json']);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'checkpoint-6', 'adapter_model.safetensors')), want.adapter);
    // three checkpoints (steps 2, 4 and the end): the operations the crash test goes through
    assert.equal(ops.filter((o) => o.startsWith('rename') && o.includes('.checkpoint-')).length, 3, ops.join('\n'));
  });

  it('a crash before each checkpoint operation, then --resume: the same adapter and optimizer state, byte for byte', async () => {
    const resumedFrom = new Map<number, number>();
    for (let n = 1; n <= ops.length; n++) {
      const dir = path.join(tmp, `crash-${n}`);
      await assert.rejects(run(dir, (k) => {
        if (k === n) throw new Crash(`crash before operation ${n} (${ops[n - 1]})`);
      }), Crash);
      assert.ok(!fs.existsSync(path.join(dir, '.mobizo.lock')));
      const r = await run(dir, undefined, true);
      assert.equal(r.steps, 6);
      const got = result(dir);
      const where = `crash before operation ${n}: ${ops[n - 1]} (resumed from step ${r.from})`;
      assert.deepEqual(got.adapter, want.adapter, where);
      assert.equal(got.config, want.config, where);
      assert.deepEqual(got.optimizer, want.optimizer, where);
      assert.deepEqual(got.history, want.history, where);
      assert.equal(got.step, 6, where);
      resumedFrom.set(r.from, (resumedFrom.get(r.from) ?? 0) + 1);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // every crash point was tried, and the resumes started from each checkpoint there was
    console.log(`      ${ops.length} crash points; resumed from step: ${[...resumedFrom].map(([s, c]) => `${s} (${c}x)`).join(', ')}`);
    assert.deepEqual([...resumedFrom.keys()].sort(), [0, 2, 4, 6]);
  });

  it('disk full at a checkpoint: the run stops naming the space needed; the previous checkpoint is intact and resumes to the same result', async () => {
    const dir = path.join(tmp, 'full');
    // ENOSPC while writing the moments of the second checkpoint (step 4)
    let writes = 0;
    const enospc: StoreFault = (_, op) => {
      if (op === `write ${OPTIMIZER_STATE_FILE}` && ++writes === 2) throw Object.assign(new Error(`ENOSPC: no space left on device, ${op}`), { code: 'ENOSPC' });
    };
    await assert.rejects(run(dir, enospc), (e: Error) => {
      assert.match(e.message, /^disk full writing the checkpoint of step 4 to .*full: it needs [\d.]+ MiB \(\d+ bytes\)(, [\d.]+ MiB are free)?; the checkpoint of step 2 is intact in .*checkpoint-2; free some space and continue with --resume$/);
      return true;
    });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'checkpoint-2'], 'no half-written folder left');
    const r = await run(dir, undefined, true);
    assert.equal(r.from, 2);
    const got = result(dir);
    assert.deepEqual([got.adapter, got.optimizer], [want.adapter, want.optimizer]);
  });

  it('a damaged or mixed checkpoint is skipped by --resume, naming the file (the run then starts from step 0)', async () => {
    const dir = path.join(tmp, 'damaged');
    await assert.rejects(run(dir, (_, op) => {
      if (op.startsWith('remove')) throw new Crash('crash after the step-4 checkpoint was switched in'); // checkpoint-2 and checkpoint-4 both stay
    }), Crash);
    assert.deepEqual(checkpointFolders(dir).map((c) => c.step), [4, 2]);
    // a bit flipped in the newest (a torn write that fsync would have caught): the older one is taken
    const f4 = path.join(dir, 'checkpoint-4', 'adapter_model.safetensors');
    const b = fs.readFileSync(f4);
    b[b.length - 1] ^= 1;
    fs.writeFileSync(f4, b);
    // moments of another step (a mix): refused too
    fs.copyFileSync(path.join(dir, 'checkpoint-4', OPTIMIZER_STATE_FILE), path.join(dir, 'checkpoint-2', OPTIMIZER_STATE_FILE));
    const notes: string[] = [];
    assert.equal(lastCheckpoint(dir, model, (s) => notes.push(s)), null);
    assert.match(notes[0], /skipping .*checkpoint-4: adapter_model\.safetensors has sha256 [0-9a-f]{12}\.\.\., trainer_state\.json lists [0-9a-f]{12}\.\.\.: a damaged or mixed checkpoint/);
    assert.match(notes[1], /skipping .*checkpoint-2: optimizer_state\.safetensors has sha256/);
    const r = await run(dir, undefined, true);
    assert.equal(r.from, 0);
    assert.deepEqual(result(dir).adapter, want.adapter);
  });
});
