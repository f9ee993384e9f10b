// Browser page for the autotune cache: `?phase=tune` times the matmul variants of one shape and
// stores the winner (IndexedDB); `?phase=read`, on a later page load with a new device, reads the
// table back without timing anything. Puts { key, entry, variants } on window.__result (or { error }).
import { autotune, IDB_NAME, loadTuned, type TuneResult } from '../../../src/gpu/autotune';
import { createGpu } from '../../../src/gpu/device';
import { Kernels } from '../../../src/gpu/kernels/registry';
import { matmul, matmulVariants, tuneKey } from '../../../src/gpu/kernels/matmul';
import { tensor } from '../../../src/gpu/tensor';

export interface AutotuneReport {
  phase: string;
  key: string;
  variants: string[];
  entry: TuneResult | null; // tune: what autotune chose; read: what the new device found cached
  launched: string[]; // variants timed in this page load
  dbNames: string[]; // IndexedDB databases of the origin
  error?: string;
}

const [M, N, K] = [20, 40, 24];

async function run(): Promise<AutotuneReport> {
  const phase = new URLSearchParams(location.search).get('phase') ?? 'tune';
  const gpu = await createGpu();
  const ks = await Kernels.load(gpu);
  const key = tuneKey(M, N, K, 'f32');
  const variants = matmulVariants(ks, K, 'f32');
  const launched: string[] = [];
  let entry: TuneResult | null = null;
  if (phase === 'tune') {
    const x = tensor(gpu, 'x', [M, K], 'scratch', { data: new Float32Array(M * K).fill(0.5) });
    const w = tensor(gpu, 'w', [N, K], 'scratch', { data: new Float32Array(N * K).fill(0.25) });
    const y = tensor(gpu, 'y', [M, N], 'scratch');
    entry = await autotune(gpu, key, variants, (name) => {
      launched.push(name);
      return matmul(ks, `autotune ${name}`, x, w, y, false, name);
    });
  } else {
    entry = (await loadTuned(gpu)).get(key) ?? null;
  }
  const dbNames = ((await indexedDB.databases?.()) ?? []).map((d) => d.name ?? '').filter((n) => n === IDB_NAME);
  return { phase, key, variants, entry, launched, dbNames };
}

run().then(
  (r) => ((window as any).__result = r),
  (e) => ((window as any).__result = { error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }),
);
