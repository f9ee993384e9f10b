// The layer rule (.dependency-cruiser.cjs, DESIGN.md section 3) holds on src/ and bites on a
// fixture tree with reversed imports.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function cruise(dir: string): Violation[] {
  let out: string;
  try {
    out = execFileSync('node', ['node_modules/dependency-cruiser/bin/dependency-cruise.mjs', dir, '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (e) {
    out = (e as { stdout: string }).stdout; // exit code != 0 when there are violations
  }
  return (JSON.parse(out) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('layers (dependency rule)', () => {
  it('src/ imports point one way', () => {
    const v = cruise('src');
    assert.deepEqual(v.map((x) => `${x.rule.name}: ${x.from} -> ${x.to}`), []);
  });

  it('refuses reversed imports, the data leaf importing the engine, and the app going around the protocol', () => {
    const got = cruise('test/fixtures/layers/src')
      .map((x) => `${x.rule.name}: ${x.from.replace(/^.*src\//, '')} -> ${x.to.replace(/^.*src\//, '')}`)
      .sort();
    assert.deepEqual(got, [
      'app-through-protocol: app/page.ts -> train/step.ts',
      'layer-data: data/lm.ts -> model/forward.ts',
      'layer-model: model/forward.ts -> train/step.ts',
    ]);
  });
});
