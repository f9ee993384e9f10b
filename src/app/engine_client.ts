// The page's side of the engine worker: typed calls (a promise per command) and typed events.
import type { CommandName, Commands, EventMessage, EventName, Events, Reply } from '../worker/protocol';

/** An engine error, with a hint for the known cases (no WebGPU, model too big, out of memory),
 * and for a refused option its FineTuneOptions key. */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly option?: string,
  ) {
    super(message);
  }
}

export class EngineClient {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<EventName, Set<(d: never) => void>>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (ev: MessageEvent) => {
      const msg = ev.data as Reply | EventMessage;
      if ('event' in msg) {
        for (const fn of this.listeners.get(msg.event) ?? []) (fn as (d: unknown) => void)(msg.data);
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new EngineError(msg.error, msg.hint, msg.option));
    };
    worker.onerror = (ev: ErrorEvent) => {
      const err = new EngineError(`the engine worker failed: ${ev.message || 'could not start (is dist/worker.js built?)'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  call<K extends CommandName>(cmd: K, args: Commands[K]['args']): Promise<Commands[K]['result']> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, cmd, args });
    });
  }

  on<E extends EventName>(event: E, fn: (d: Events[E]) => void): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as (d: never) => void);
  }
}
