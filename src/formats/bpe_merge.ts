// The merge loop of the BPE tokenizers (gguf_tokenizer.ts) and the trie that finds added tokens in
// a text. Pure functions over strings; runs in browsers too.

/** A min-heap of candidate merges keyed by (priority, left position). */
class PairHeap {
  private items: { p: number; left: number; right: number; text: string }[] = [];
  get size(): number {
    return this.items.length;
  }
  private less(a: number, b: number): boolean {
    const x = this.items[a];
    const y = this.items[b];
    return x.p < y.p || (x.p === y.p && x.left < y.left);
  }
  push(p: number, left: number, right: number, text: string): void {
    const it = this.items;
    it.push({ p, left, right, text });
    for (let i = it.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      [it[i], it[parent]] = [it[parent], it[i]];
      i = parent;
    }
  }
  pop(): { left: number; right: number; text: string } {
    const it = this.items;
    const top = it[0];
    const last = it.pop()!;
    if (it.length > 0) {
      it[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        let m = i;
        if (l < it.length && this.less(l, m)) m = l;
        if (l + 1 < it.length && this.less(l + 1, m)) m = l + 1;
        if (m === i) break;
        [it[i], it[m]] = [it[m], it[i]];
        i = m;
      }
    }
    return top;
  }
}

/** The merge loop shared by SPM and BPE: repeatedly merge the adjacent pair of lowest priority
 * (leftmost on ties) while `priority` gives one. Returns the final symbols in order. */
export function mergeSymbols(symbols: string[], priority: (a: string, b: string) => number | undefined): string[] {
  const n = symbols.length;
  const sym = symbols.slice();
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
  const alive = new Uint8Array(n).fill(1);
  const heap = new PairHeap();
  const consider = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const p = priority(sym[left], sym[right]);
    if (p !== undefined) heap.push(p, left, right, sym[left] + sym[right]);
  };
  for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
  while (heap.size > 0) {
    const { left, right, text } = heap.pop();
    // Stale when either side was merged away or has grown since the pair was queued.
    if (!alive[left] || !alive[right] || next[left] !== right || sym[left].length + sym[right].length !== text.length) continue;
    sym[left] = text;
    alive[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    consider(prev[left], left);
    consider(left, next[left]);
  }
  const out: string[] = [];
  for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push(sym[i]);
  return out;
}

/** "left\0right" -> the rank of the pair's first merge. */
export function rankMap(merges: readonly (readonly [string, string])[]): Map<string, number> {
  const ranks = new Map<string, number>();
  for (let i = 0; i < merges.length; i++) {
    const key = `${merges[i][0]}\0${merges[i][1]}`;
    if (!ranks.has(key)) ranks.set(key, i);
  }
  return ranks;
}

/** A trie of added-token texts (UTF-16 code units), for the longest one starting at a position. */
export class AddedTrie {
  private readonly next: Map<number, number>[] = [new Map()]; // node -> code unit -> child node
  private readonly ids: number[] = [-1]; // node -> the token ending there, or -1

  add(text: string, id: number): void {
    if (text.length === 0) return;
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let child = this.next[node].get(c);
      if (child === undefined) {
        child = this.next.length;
        this.next.push(new Map());
        this.ids.push(-1);
        this.next[node].set(c, child);
      }
      node = child;
    }
    if (this.ids[node] < 0) this.ids[node] = id; // the first id of a duplicate text
  }

  longestAt(text: string, start: number): { id: number; length: number } | null {
    let node = 0;
    let best: { id: number; length: number } | null = null;
    for (let i = start; i < text.length; i++) {
      const child = this.next[node].get(text.charCodeAt(i));
      if (child === undefined) break;
      node = child;
      if (this.ids[node] >= 0) best = { id: this.ids[node], length: i + 1 - start };
    }
    return best;
  }
}
