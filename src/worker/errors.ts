// Turns engine errors into what a person can act on: the message, plus a hint for the known
// cases (no WebGPU, a model beyond the adapter's limits, out of GPU memory, a lost device), and
// for a bad option the option's name, so the page shows the message beside its field.

import { OptionError } from '../train/options';
import { SessionBusyError, SessionStaleError, SessionTakenError } from '../train/session_store';

export interface Explained {
  message: string;
  hint?: string;
  option?: string; // an OptionError's option (the page's form field)
  code?: 'session-busy' | 'session-taken' | 'session-stale'; // what a page may act on
}

export function explainError(err: unknown): Explained {
  if (err instanceof OptionError) return { message: err.message, option: err.option };
  if (err instanceof SessionBusyError) {
    return { message: err.message, code: 'session-busy', hint: 'One tab trains a saved session at a time, so two runs never mix their checkpoints. This tab can train once that run ends (pause or stop it there).' };
  }
  if (err instanceof SessionTakenError) return { message: err.message, code: 'session-taken', hint: 'Download the adapter to keep this run.' };
  if (err instanceof SessionStaleError) return { message: err.message, code: 'session-stale' };
  const message = err instanceof Error ? err.message || err.name : String(err);
  if (/WebGPU is not available|no WebGPU adapter/i.test(message)) {
    return {
      message,
      hint: 'This browser gives the page no WebGPU GPU. Use a current Chrome or Edge (113 or newer) on a device with a supported GPU; on Linux start Chrome with --enable-unsafe-webgpu; check chrome://gpu for "WebGPU: Hardware accelerated".',
    };
  }
  if (/maxStorageBufferBindingSize|maxBufferSize/.test(message)) {
    return {
      message,
      hint: "The model does not fit this GPU adapter's limits: one of its tensors is larger than the largest buffer the adapter allows. Use a smaller model (e.g. stories15M instead of stories110M), or a browser and GPU with larger limits (Chrome/Edge on a discrete GPU).",
    };
  }
  if (/out of memory|OutOfMemory|allocation/i.test(message)) {
    return {
      message,
      hint: 'The GPU ran out of memory. Close other GPU-heavy tabs, or lower batch, seq or q (a step holds 2q x batch x seq rows), or use a smaller model.',
    };
  }
  if (/device lost|GPU device lost/i.test(message)) {
    return {
      message,
      hint: 'The GPU device was lost (a driver reset, or the system reclaimed memory). The engine makes a new device and loads the model again with the next command; a run goes back to its last checkpoint and Resume continues it.',
    };
  }
  return { message };
}
