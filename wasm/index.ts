// The one WebAssembly module of the CPU backend (src/gpu/cpu/): every twin of shaders/, exported
// under its WGSL entry name. Built by scripts/build-wasm.mjs.
export * from './attention';
export * from './gather';
export * from './gather_quant';
export * from './matmul';
export * from './matmul_lora';
export * from './matmul_quant';
export * from './mplora';
export * from './multi_lora';
export * from './rmsnorm';
export * from './rng_fill';
export * from './rope';
export * from './swiglu';
export * from './xent';
export * from './zo_update';
export { setScratch } from './common';

/** First byte after the module's static data: the host's heap starts above it. */
export function heapBase(): usize {
  return __heap_base;
}
