// The worker engine's typed client (src/worker/client.ts) against a fake Worker, in Node: calls
// resolve and reject by id, events reach their listeners, and the engine's end is noticed however
// it comes (no answer to the heartbeat, an error event): every pending call rejects with an
// EngineStoppedError naming the cause, onStopped runs once, the worker is terminated; a worker
// that answers the heartbeat is never taken for dead; dispose() rejects what is pending.
import assert from 'node:assert/strict';
import { createWorkerEngine, EngineError, EngineStoppedError, type EngineStopped } from '../src/worker/client';
import type { Reply, Request } from '../src/worker/protocol';

/** A Worker stand-in: `answer` decides what each request gets back (undefined: no answer). */
class FakeWorker {
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  terminated = 0;
  sent: Request[] = [];
  constructor(private readonly answer: (r: Request) => Reply | undefined) {}
  postMessage(msg: Request): void {
    this.sent.push(msg);
    const reply = this.answer(msg);
    if (reply) setTimeout(() => this.onmessage?.({ data: reply } as MessageEvent), 5);
  }
  emit(data: unknown): void {
    this.onmessage?.({ data } as MessageEvent);
  }
  fail(message: string): void {
    this.onerror?.({ message, preventDefault() {} } as unknown as ErrorEvent);
  }
  terminate(): void {
    this.terminated++;
  }
}

const asWorker = (f: FakeWorker) => f as unknown as Worker;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('worker engine client (createWorkerEngine)', function () {
  it('resolves a call with its reply, rejects a refused one with the hint and option, and hands events to listeners', async function () {
    const w = new FakeWorker((r) => (r.cmd === 'memory' ? { id: r.id, ok: true, value: { current: { weights: 4 }, peak: {}, peakTotal: 4 } } : { id: r.id, ok: false, error: 'option lr must be in (0, 1], got 9', option: 'lr', hint: 'lower it' }));
    const e = createWorkerEngine(asWorker(w), { heartbeatMs: 1000, silenceMs: 5000 });
    try {
      assert.deepEqual((await e.call('memory', {})).current, { weights: 4 });
      await assert.rejects(e.call('start', { options: { lr: 9 } }), (err: unknown) => err instanceof EngineError && err.option === 'lr' && err.hint === 'lower it' && /option lr/.test(err.message));
      const seen: number[] = [];
      const off = e.on('checkpoint', (c) => seen.push(c.step));
      w.emit({ event: 'checkpoint', data: { step: 5, persisted: true } });
      off();
      w.emit({ event: 'checkpoint', data: { step: 10, persisted: true } });
      assert.deepEqual(seen, [5]);
    } finally {
      e.dispose();
    }
  });

  it('a worker that stops answering: pending calls reject with EngineStoppedError (unresponsive), onStopped runs once, the worker is terminated', async function () {
    const w = new FakeWorker(() => undefined);
    const e = createWorkerEngine(asWorker(w), { heartbeatMs: 40, silenceMs: 200 });
    const stops: EngineStopped[] = [];
    e.onStopped((s) => stops.push(s));
    const t0 = performance.now();
    await assert.rejects(e.call('start', { options: {} }), (err: unknown) => err instanceof EngineStoppedError && err.code === 'engine-stopped' && err.stopped.reason === 'unresponsive' && /has not answered for/.test(err.message));
    assert.ok(performance.now() - t0 >= 190, 'not before the silence limit');
    assert.ok(w.sent.some((r) => r.cmd === 'ping'), 'it sent heartbeats first');
    await sleep(100);
    assert.equal(stops.length, 1);
    assert.equal(w.terminated, 1);
    await assert.rejects(e.call('memory', {}), EngineStoppedError, 'later calls fail at once');
  });

  it('a worker that answers the heartbeat is alive, however long a call takes', async function () {
    const w = new FakeWorker((r) => (r.cmd === 'ping' ? { id: r.id, ok: true, value: 0 } : undefined));
    const e = createWorkerEngine(asWorker(w), { heartbeatMs: 30, silenceMs: 150 });
    let stopped = false;
    e.onStopped(() => (stopped = true));
    const pending = e.call('start', { options: {} });
    pending.catch(() => {});
    await sleep(600);
    assert.equal(stopped, false);
    e.dispose();
    await assert.rejects(pending, /the engine was disposed/);
    assert.equal(w.terminated, 1);
  });

  it('an error event ends the engine with its message', async function () {
    const w = new FakeWorker(() => undefined);
    const e = createWorkerEngine(asWorker(w), { heartbeatMs: 1000, silenceMs: 10_000 });
    const pending = e.call('loadModel', { source: { kind: 'demo' } });
    w.fail('Uncaught RangeError: Array buffer allocation failed');
    await assert.rejects(pending, (err: unknown) => err instanceof EngineStoppedError && err.stopped.reason === 'error' && /its worker failed \(Uncaught RangeError: Array buffer allocation failed\)/.test(err.message));
    assert.equal(w.terminated, 1);
  });
});
