// Node module hook: `import src from '../../shaders/x.wgsl'` gives the file's text, as esbuild's
// text loader does in the browser bundle. Used by the CLI launcher and the test runner.
import { register } from 'node:module';

register('./wgsl-hooks.mjs', import.meta.url);
