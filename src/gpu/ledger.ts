// Memory ledger: every GPU buffer the engine creates is recorded with a category, so a run can
// report what it holds (now and at peak) and prove what it does not hold (e.g. q copies of B).

export type MemoryCategory = 'weights' | 'adapters' | 'activations' | 'scratch' | 'readback' | 'uniforms';

export interface LedgerEntry {
  label: string;
  category: MemoryCategory;
  bytes: number;
}

/** A tensor larger than the device's buffer limits, held as `parts` buffers of its rows. */
export interface SplitEntry {
  label: string;
  parts: number;
  bytes: number;
}

export class MemoryLedger {
  private live = new Map<GPUBuffer, LedgerEntry>();
  private current = new Map<MemoryCategory, number>();
  private peak = new Map<MemoryCategory, number>();
  private peakTotal = 0;
  private splitTensors: SplitEntry[] = [];

  add(buffer: GPUBuffer, entry: LedgerEntry): void {
    this.live.set(buffer, entry);
    const now = (this.current.get(entry.category) ?? 0) + entry.bytes;
    this.current.set(entry.category, now);
    this.peak.set(entry.category, Math.max(this.peak.get(entry.category) ?? 0, now));
    this.peakTotal = Math.max(this.peakTotal, this.totalBytes());
  }

  remove(buffer: GPUBuffer): void {
    const e = this.live.get(buffer);
    if (!e) return;
    this.live.delete(buffer);
    this.current.set(e.category, (this.current.get(e.category) ?? 0) - e.bytes);
  }

  totalBytes(): number {
    let t = 0;
    for (const v of this.current.values()) t += v;
    return t;
  }

  /** Bytes per category now, at peak, and the peak of the total. */
  report(): { current: Record<string, number>; peak: Record<string, number>; peakTotal: number } {
    return {
      current: Object.fromEntries(this.current),
      peak: Object.fromEntries(this.peak),
      peakTotal: this.peakTotal,
    };
  }

  /** Restarts the peaks from what is live now, to measure one phase (e.g. a training step). */
  resetPeak(): void {
    this.peak = new Map(this.current);
    this.peakTotal = this.totalBytes();
  }

  /** Records that tensor `label` (`bytes` in all) was split across `parts` buffers. */
  noteSplit(label: string, parts: number, bytes: number): void {
    this.splitTensors.push({ label, parts, bytes });
  }

  /** Tensors split across buffers (the buffers themselves are entries, labelled `<label>.part<i>...`). */
  splits(): SplitEntry[] {
    const live = new Set([...this.live.values()].map((e) => e.label));
    return this.splitTensors.filter((s) => [...live].some((l) => l.startsWith(`${s.label}.part`)));
  }

  /** Live buffers, largest first (for "what holds memory" diagnostics and tests). */
  entries(): LedgerEntry[] {
    return [...this.live.values()].sort((a, b) => b.bytes - a.bytes);
  }
}
