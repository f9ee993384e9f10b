// The layer rule of DESIGN.md section 3: imports point one way. A folder of src/ may import only
// the folders listed for it (its own included); `npm test` runs this through `npm run lint`, and
// test/layers.spec.ts proves on a fixture that a reversed import fails.
const BELOW = {
  util: [],
  data: ['util'],
  gpu: ['util'],
  formats: ['util'],
  model: ['util', 'gpu', 'formats'],
  adapter: ['util', 'gpu', 'formats', 'model'],
  eval: ['util', 'gpu', 'formats', 'model', 'adapter', 'data'],
  train: ['util', 'gpu', 'formats', 'model', 'adapter', 'data', 'eval'],
  cli: ['util', 'gpu', 'formats', 'model', 'adapter', 'data', 'eval', 'train'],
  worker: ['util', 'gpu', 'formats', 'model', 'adapter', 'data', 'eval', 'train'],
};
const LAYERS = [...Object.keys(BELOW), 'app'];
const folder = (name) => `(^|/)src/${name}/`;

const forbidden = Object.entries(BELOW).map(([layer, allowed]) => ({
  name: `layer-${layer}`,
  comment: `src/${layer}/ may import only ${allowed.length ? allowed.map((a) => `src/${a}/`).join(', ') : 'nothing else in src/'} (DESIGN.md section 3)`,
  severity: 'error',
  from: { path: folder(layer) },
  to: { path: `(^|/)src/`, pathNot: [folder(layer), ...allowed.map(folder)] },
}));
forbidden.push({
  name: 'app-through-protocol',
  comment: 'the app talks to the engine only through src/worker/protocol.ts and its client, src/worker/client.ts (the worker boundary)',
  severity: 'error',
  from: { path: folder('app') },
  to: { path: '(^|/)src/', pathNot: [folder('app'), '(^|/)src/worker/(protocol|client)\\.ts$'] },
});
forbidden.push({
  name: 'no-cycles',
  comment: 'modules import each other in one direction only',
  severity: 'error',
  from: { path: '(^|/)src/' },
  to: { circular: true, viaOnly: { pathNot: '\\.wgsl$' } },
});
forbidden.push({
  name: 'known-layer',
  comment: `every folder of src/ is a layer of the rule (${LAYERS.join(', ')}); add a new one to .dependency-cruiser.cjs`,
  severity: 'error',
  from: { path: '(^|/)src/[^/]+/', pathNot: LAYERS.map(folder) },
  to: {},
});

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.wgsl$|\\.css$|\\.json$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
