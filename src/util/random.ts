// Small seeded host-side PRNG (weights of the toy model, A's init, shuffles). Not the Philox
// stream the GPU kernels draw Z from: that one is util/philox.ts, the twin of shaders/rng.wgsl.

/** mulberry32: a small seeded PRNG for reproducible weights and shuffles. Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
