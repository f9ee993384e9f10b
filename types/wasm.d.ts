// The compiled kernels (wasm/build/mobizo.wasm): their bytes, through esbuild's binary loader in
// the bundles and the loader hook (scripts/wgsl-hooks.mjs) in Node.
declare module '*.wasm' {
  const bytes: Uint8Array;
  export default bytes;
}
