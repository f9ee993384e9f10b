// Assertions shared by specs.
import assert from 'node:assert/strict';

/**
 * `f` throws a one-line error that starts with `source:` (or, for a directory source with
 * `inside`, with `source/file:`) and matches `problem`.
 */
export function throwsNaming(f: () => unknown, source: string, problem: RegExp, opts: { inside?: boolean } = {}): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof Error);
    const named = e.message.startsWith(`${source}:`) || (!!opts.inside && e.message.startsWith(`${source}/`));
    assert.ok(named, `message should name the source: ${e.message}`);
    assert.match(e.message, problem);
    assert.ok(!e.message.includes('\n'), `message should be one line: ${e.message}`);
    return true;
  });
}
