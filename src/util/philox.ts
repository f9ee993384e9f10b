// The counter-based perturbation RNG on the host: the bit-exact twin of shaders/rng.wgsl.
// Philox4x32-10 (Salmon et al., SC11; Random123's philox4x32_R(10, ...)) gives the raw words;
// zoNormal / zoNormals turn them into the standard normals Z of the ZO step, in float64, from
// the same 24-bit uniforms as the GPU. See shaders/rng.wgsl for the definition of an element.

export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

const M0_LO = PHILOX_M0 & 0xffff;
const M0_HI = PHILOX_M0 >>> 16;
const M1_LO = PHILOX_M1 & 0xffff;
const M1_HI = PHILOX_M1 >>> 16;

/** High 32 bits of the 64-bit product (mHi 2^16 + mLo) b, through 16-bit limbs (all exact). */
function mulhi(mLo: number, mHi: number, b: number): number {
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = mLo * b0;
  const p01 = mLo * b1;
  const p10 = mHi * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (mHi * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/** Philox4x32-10 of (c0, c1, c2, c3) under (k0, k1), written into out[at .. at + 3]. */
function philoxInto(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array, at: number): void {
  for (let i = 0; i < 10; i++) {
    const hi0 = mulhi(M0_LO, M0_HI, c0);
    const lo0 = Math.imul(PHILOX_M0, c0);
    const hi1 = mulhi(M1_LO, M1_HI, c2);
    const lo1 = Math.imul(PHILOX_M1, c2);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 = (k0 + PHILOX_W0) | 0;
    k1 = (k1 + PHILOX_W1) | 0;
  }
  out[at] = c0;
  out[at + 1] = c1;
  out[at + 2] = c2;
  out[at + 3] = c3;
}

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`philox: ${name} = ${v} is not a u32`);
  return v;
}

/** Philox4x32-10: four u32 words of counter `ctr` under the two-word key `key`. */
export function philox4x32(ctr: readonly [number, number, number, number] | Uint32Array, key: readonly [number, number] | Uint32Array): Uint32Array {
  if (ctr.length !== 4 || key.length !== 2) throw new Error(`philox4x32: counter needs 4 words and key 2, got ${ctr.length} and ${key.length}`);
  const c = Array.from(ctr, (v, i) => u32(`ctr[${i}]`, v));
  const k = Array.from(key, (v, i) => u32(`key[${i}]`, v));
  const out = new Uint32Array(4);
  philoxInto(c[0], c[1], c[2], c[3], k[0], k[1], out, 0);
  return out;
}

/** u(a) = ((a >> 8) + 0.5) / 2^24: a uniform in (0, 1) from the top 24 bits of a Philox word. */
export function uniform24(a: number): number {
  return ((a >>> 8) + 0.5) / 16777216;
}

/** Lane `lane` (0..3) of the Box-Muller transform of one Philox block (float64). */
function boxMuller(x: Uint32Array, at: number, lane: number): number {
  const p = at + (lane & 2);
  const r = Math.sqrt(-2 * Math.log(uniform24(x[p])));
  const theta = 2 * Math.PI * uniform24(x[p + 1]);
  return r * ((lane & 1) === 0 ? Math.cos(theta) : Math.sin(theta));
}

function checkKey(seed: number, tensor: number, query: number): void {
  u32('seed', seed);
  u32('tensor', tensor);
  u32('query', query);
}

const scratch = new Uint32Array(4);

/**
 * Element `element` of perturbation `query` of B-tensor `tensor` at step seed `seed`: a standard
 * normal, the float64 value of what zo_normal in shaders/rng.wgsl computes in f32.
 */
export function zoNormal(seed: number, tensor: number, query: number, element: number): number {
  checkKey(seed, tensor, query);
  u32('element', element);
  philoxInto(element >>> 2, query, 0, 0, seed, tensor, scratch, 0);
  return boxMuller(scratch, 0, element & 3);
}

/**
 * Elements first .. first + n - 1 (indices mod 2^32) of perturbation `query` of B-tensor
 * `tensor` at step seed `seed`; each Philox block serves its four lanes.
 */
export function zoNormals(seed: number, tensor: number, query: number, n: number, first = 0): Float64Array {
  checkKey(seed, tensor, query);
  u32('first', first);
  if (!Number.isInteger(n) || n < 0) throw new Error(`zoNormals: n = ${n} is not a count`);
  const out = new Float64Array(n);
  const x = new Uint32Array(4);
  let block = -1;
  for (let i = 0; i < n; i++) {
    const e = (first + i) >>> 0;
    if (e >>> 2 !== block) {
      block = e >>> 2;
      philoxInto(block, query, 0, 0, seed, tensor, x, 0);
    }
    out[i] = boxMuller(x, 0, e & 3);
  }
  return out;
}
