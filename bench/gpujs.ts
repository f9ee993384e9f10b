// The gpu.js baseline: the library's surface we use (gpu.js 2.24: `webgpu` mode compiles JS
// kernels to WGSL compute shaders, `webgl2` to fragment shaders), GPU-resident uploads and the
// matmul kernel of the matmul scenario. Kernels are written the way gpu.js documents them (one
// thread per output element, sizes as constants); weights stay on the GPU as pipeline handles,
// so a call uploads nothing but its own small arguments and reads its result back.
//
// gpu.js parses each kernel function's source text, so kernel functions here stay plain
// JavaScript: no TypeScript-only syntax that survives compilation, no closures over module
// variables, sizes only through `this.constants`.

/** A compiled gpu.js kernel: call it (a Promise on webgpu), or resize its output. */
export interface GpuJsKernel {
  (...args: unknown[]): unknown;
  setOutput(output: number[]): GpuJsKernel;
  destroy?(removeCanvasReferences?: boolean): void;
}

export interface GpuJsInstance {
  createKernel(fn: (...args: any[]) => number, settings?: Record<string, unknown>): GpuJsKernel;
  destroy(): Promise<void> | void;
}

/** The gpu.js module: `window.GPU` of gpu-browser.min.js, or require('gpu.js') in Node. */
export interface GpuJsModule {
  GPU: { new (settings: { mode: string }): GpuJsInstance; isWebGPUAvailable?(): Promise<boolean>; isWebGL2Supported?: boolean };
  input(value: Float32Array, size: number[]): unknown;
}

export type GpuJsMode = 'webgpu' | 'webgl2';

/** A GPU-resident 2-D array (a WebGPU buffer handle or a WebGL texture) plus its shape. */
export interface Resident {
  handle: unknown;
  rows: number;
  cols: number;
}

/**
 * One gpu.js instance in one mode, with an upload kernel that turns a host array into a
 * GPU-resident handle (pipeline mode, immutable: each upload gets its own buffer / texture).
 */
export class GpuJs {
  readonly gpu: GpuJsInstance;
  private readonly up2: GpuJsKernel;
  private readonly up1: GpuJsKernel;
  private readonly handles: unknown[] = [];
  private readonly uploaders: GpuJsKernel[] = [];

  constructor(
    readonly mod: GpuJsModule,
    readonly mode: GpuJsMode,
  ) {
    this.gpu = new mod.GPU({ mode });
    const settings = { pipeline: true, immutable: true, dynamicOutput: true, dynamicArguments: true, ...this.precision() };
    this.up2 = this.gpu.createKernel(function (this: any, a: any) {
      return a[this.thread.y][this.thread.x];
    }, settings);
    this.up1 = this.gpu.createKernel(function (this: any, a: any) {
      return a[this.thread.x];
    }, settings);
  }

  /**
   * Uploads a row-major [rows, cols] array; gpu.js indexes it as h[row][col]. On WebGL a kernel
   * resized between calls keeps stale input sizes (wrong values, or a throw), so each upload
   * there gets a kernel of its own.
   */
  async upload2d(data: Float32Array, rows: number, cols: number): Promise<Resident> {
    if (data.length !== rows * cols) throw new Error(`gpu.js upload: ${data.length} values are not ${rows} x ${cols}`);
    let up = this.up2;
    if (this.mode !== 'webgpu') {
      up = this.gpu.createKernel(function (this: any, a: any) {
        return a[this.thread.y][this.thread.x];
      }, { pipeline: true, immutable: true, ...this.precision() });
      this.uploaders.push(up);
    }
    up.setOutput([cols, rows]);
    const handle = await up(this.mod.input(data, [cols, rows]));
    this.handles.push(handle);
    return { handle, rows, cols };
  }

  async upload1d(data: Float32Array): Promise<Resident> {
    this.up1.setOutput([data.length]);
    const handle = await this.up1(data);
    this.handles.push(handle);
    return { handle, rows: 1, cols: data.length };
  }

  /** A kernel in this instance's mode (settings as gpu.js takes them). */
  kernel(fn: (...args: any[]) => number, settings: Record<string, unknown>): GpuJsKernel {
    return this.gpu.createKernel(fn, { ...this.precision(), ...settings });
  }

  /** WebGL: full-precision floats (highp), so results compare with the others'. */
  private precision(): Record<string, unknown> {
    return this.mode === 'webgpu' ? {} : { tactic: 'precision', precision: 'single' };
  }

  /** y [M, N] = x [M, K] W^T, W stored [N, K] (the engine's layout); read back as rows. */
  matmulKernel(M: number, N: number, K: number, pipeline = false): GpuJsKernel {
    return this.kernel(
      function (this: any, x: any, w: any) {
        let s = 0;
        for (let k = 0; k < this.constants.K; k++) {
          s += x[this.thread.y][k] * w[this.thread.x][k];
        }
        return s;
      },
      { output: [N, M], constants: { K }, pipeline },
    );
  }

  async destroy(): Promise<void> {
    for (const h of this.handles) (h as { delete?: () => void }).delete?.();
    for (const k of this.uploaders) k.destroy?.();
    await this.gpu.destroy();
  }
}

/** Flattens what a 2-D gpu.js kernel returns (an array of row arrays) into one Float32Array. */
export function flatRows(result: unknown, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const rs = result as ArrayLike<number>[];
  if (!rs || rs.length !== rows) throw new Error(`gpu.js returned ${rs?.length} rows, expected ${rows}`);
  for (let r = 0; r < rows; r++) {
    const row = rs[r];
    if (row.length < cols) throw new Error(`gpu.js row ${r} has ${row.length} values, expected ${cols}`);
    for (let c = 0; c < cols; c++) out[r * cols + c] = row[c];
  }
  return out;
}
