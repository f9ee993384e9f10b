// Runs the README example (embed_example.js) and puts what it produced on window.__result.
const logs = [];
const log = console.log;
console.log = (...a) => (logs.push(a.join(' ')), log(...a));

import('./embed_example.js').then(
  ({ result, story, files, tuner }) => {
    window.__result = {
      result,
      story,
      logs,
      history: tuner.history,
      config: files['adapter_config.json'],
      safetensorsBytes: files['adapter_model.safetensors'].length,
    };
  },
  (e) => (window.__result = { error: e instanceof Error ? e.stack ?? e.message : String(e) }),
);
