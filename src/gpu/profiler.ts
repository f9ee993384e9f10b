// Kernel profiler: runs a recorded program (or a list of programs / ops) with a GPU timestamp
// around every dispatch, and reports each dispatch's time, its counted FLOPs and bytes (from its
// params, by the kernel's own formula: see COSTS), and per-kernel aggregates with the kernel's static
// findings from wgsl_reflect's analyzePerformance.
//
// With `timestamp-query` each dispatch is encoded in a compute pass of its own whose
// timestampWrites bracket it; without it, each dispatch is submitted alone and timed on the host
// (queue.onSubmittedWorkDone), which includes the submit overhead (method: 'host').
// Profiling replays the ops: their side effects happen (a forward pass writes its activations, a
// ZO step updates B). Buffer copies between dispatches are replayed, not timed.
import { WgslReflect, analyzePerformance, buildShaderCostTree, type FunctionInfo } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { Gpu } from './device';
import { Dispatch, type Params } from './kernel';
import { costs as attentionCosts } from './kernels/attention';
import type { Cost, CostFn } from './kernels/cost';
import { costs as gatherCosts } from './kernels/gather';
import { costs as matmulCosts } from './kernels/matmul';
import { costs as matmulLoraCosts } from './kernels/matmul_lora';
import { costs as mploraCosts } from './kernels/mplora';
import { costs as multiLoraCosts } from './kernels/multi_lora';
import { SHADERS, preprocess, type EntryName } from './kernels/registry';
import { costs as rmsnormCosts } from './kernels/rmsnorm';
import { costs as rngFillCosts } from './kernels/rng_fill';
import { costs as ropeCosts } from './kernels/rope';
import { costs as swigluCosts } from './kernels/swiglu';
import { costs as xentCosts } from './kernels/xent';
import { costs as zoUpdateCosts } from './kernels/zo_update';
import { Program, type Op } from './program';

export type { Cost } from './kernels/cost';

export interface DispatchTiming {
  label: string; // the dispatch's label, e.g. `l0.q`
  kernel: string; // the kernel (entry point) name, e.g. `matmul_vec4`
  ns: number; // GPU time of this dispatch (median over repeats)
  workgroups: [number, number, number];
  flops: number; // counted float operations (the wrapper's formula, from the params)
  bytes: number; // compulsory bytes read + written
  gflops?: number; // flops / ns
  gbps?: number; // bytes / ns (GB/s)
}

export interface PerfNote {
  rule: string;
  severity: string;
  confidence: string;
  line: number; // in the shader file (after #include expansion)
  function: string;
  message: string;
}

export interface KernelSummary {
  kernel: string;
  file?: string; // shaders/<file>.wgsl
  dispatches: number;
  ns: number; // sum over its dispatches
  share: number; // ns / total ns of the profile, 0..1
  flops: number;
  bytes: number;
  gflops?: number;
  gbps?: number;
  staticCost?: number; // wgsl_reflect cost model: weighted ops per invocation (a model, not a measurement)
  findings: PerfNote[]; // wgsl_reflect analyzePerformance findings of the entry and the functions it calls
}

export interface ProfileResult {
  label: string;
  method: 'timestamp' | 'host';
  repeats: number;
  totalNs: number; // sum of the dispatches' times
  dispatches: DispatchTiming[]; // in program order
  kernels: KernelSummary[]; // largest share first
}

export interface ProfileOptions {
  label?: string;
  repeats?: number; // runs of the whole op list; each dispatch reports its median (default 1)
  findings?: boolean; // attach analyzePerformance findings (default true)
}

/**
 * Every kernel's FLOP and byte formula, by entry name. The formulas live with their wrappers
 * (src/gpu/kernels/<file>.ts, `costs`); the type makes the table name every entry of SHADERS.
 */
export const COSTS: Record<EntryName, CostFn> = {
  ...attentionCosts,
  ...gatherCosts,
  ...matmulCosts,
  ...matmulLoraCosts,
  ...mploraCosts,
  ...multiLoraCosts,
  ...rmsnormCosts,
  ...rngFillCosts,
  ...ropeCosts,
  ...swigluCosts,
  ...xentCosts,
  ...zoUpdateCosts,
};

/** The kernel's entry name without override values: `matmul(TILE=16)` -> `matmul`. */
export function entryName(kernel: string): string {
  return kernel.replace(/\(.*$/, '');
}

/** Counted FLOPs and bytes of a launch; a kernel without a formula, or a param it lacks, is an error. */
export function dispatchCost(kernel: string, params: Params | null | undefined): Cost {
  const entry = entryName(kernel);
  const f = Object.hasOwn(COSTS, entry) ? COSTS[entry as EntryName] : undefined;
  if (!f) throw new Error(`profile: kernel ${kernel} has no cost formula (add it to \`costs\` in its wrapper, src/gpu/kernels/)`);
  if (!params) throw new Error(`profile: kernel ${kernel} was dispatched without params to count its cost from`);
  try {
    return f(params);
  } catch (e) {
    throw new Error(`profile: cost of kernel ${kernel}: ${(e as Error).message}`);
  }
}

interface StaticInfo {
  file: string;
  findings: PerfNote[];
  staticCost?: number;
}

const staticCache = new Map<string, StaticInfo | null>();

/** analyzePerformance findings and the cost model's estimate for one entry point of shaders/. */
export function staticAnalysis(kernel: string): StaticInfo | null {
  const entry = entryName(kernel);
  if (staticCache.has(entry)) return staticCache.get(entry)!;
  let info: StaticInfo | null = null;
  const hit = Object.entries(SHADERS).find(([, [, entries]]) => (entries as readonly string[]).includes(entry));
  if (hit) {
    const file = `shaders/${hit[0]}.wgsl`;
    try {
      const code = preprocess(file, hit[1][0]);
      const reflect = new WgslReflect(code);
      const fn = reflect.functions.find((f) => f.name === entry);
      const reach = new Set<string>();
      const visit = (f: FunctionInfo) => {
        if (reach.has(f.name)) return;
        reach.add(f.name);
        for (const c of f.calls) visit(c);
      };
      if (fn) visit(fn);
      const findings = analyzePerformance(code)
        .findings.filter((f) => reach.has(f.function))
        .map((f) => ({ rule: f.rule, severity: f.severity, confidence: f.confidence, line: f.line, function: f.function, message: f.message }));
      const cost = buildShaderCostTree(code).entries.find((e) => e.name === entry);
      info = { file, findings, staticCost: cost?.costPerInvocation };
    } catch (e) {
      // wgsl_reflect cannot parse every valid shader; the timing does not depend on it
      const message = `wgsl_reflect could not analyse ${file}: ${(e as Error).message.split('\n')[0]}`;
      info = { file, findings: [{ rule: 'analysis-failed', severity: 'info', confidence: 'low', line: 0, function: entry, message }] };
    }
  }
  staticCache.set(entry, info);
  return info;
}

function flatten(what: Program | readonly (Program | Op)[]): Op[] {
  const list = what instanceof Program ? [what] : what;
  return list.flatMap((x) => (x instanceof Program ? x.ops : [x]));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Most queries one query set may hold (WebGPU's limit); longer op lists are timed in chunks. */
const MAX_QUERIES = 4096;

export class Profiler {
  constructor(readonly gpu: Gpu) {}

  /** True when dispatches are timed on the GPU (timestamp-query); else on the host. */
  get hasTimestamps(): boolean {
    return this.gpu.features.has('timestamp-query');
  }

  /** Runs `what` (its dispatches and copies, in order) and times every dispatch. */
  async profile(what: Program | readonly (Program | Op)[], opts: ProfileOptions = {}): Promise<ProfileResult> {
    const ops = flatten(what);
    const dispatches = ops.filter((o): o is Dispatch => o instanceof Dispatch);
    if (!dispatches.length) throw new Error('profile: no dispatch to time');
    const repeats = Math.max(1, Math.floor(opts.repeats ?? 1));
    const samples: number[][] = dispatches.map(() => []);
    for (let r = 0; r < repeats; r++) {
      const ns = this.hasTimestamps ? await this.timeOnGpu(ops) : await this.timeOnHost(ops);
      ns.forEach((v, i) => samples[i].push(v));
    }
    this.gpu.throwIfFailed('profile');
    const rows: DispatchTiming[] = dispatches.map((d, i) => {
      const ns = median(samples[i]);
      const c = dispatchCost(d.kernel.name, d.params);
      const row: DispatchTiming = { label: d.label, kernel: d.kernel.name, ns, workgroups: [...d.workgroups], ...c };
      if (ns > 0) (row.gflops = c.flops / ns), (row.gbps = c.bytes / ns);
      return row;
    });
    return {
      label: opts.label ?? (what instanceof Program ? what.label : 'ops'),
      method: this.hasTimestamps ? 'timestamp' : 'host',
      repeats,
      totalNs: rows.reduce((s, r) => s + r.ns, 0),
      dispatches: rows,
      kernels: summarise(rows, opts.findings ?? true),
    };
  }

  /** One submit per chunk: every dispatch in a pass of its own, bracketed by two timestamps. */
  private async timeOnGpu(ops: Op[]): Promise<number[]> {
    const dev = this.gpu.device;
    const out: number[] = [];
    let i = 0;
    while (i < ops.length) {
      const chunk: Op[] = [];
      let n = 0;
      while (i < ops.length && (n + 1) * 2 <= MAX_QUERIES) {
        if (ops[i] instanceof Dispatch) n++;
        chunk.push(ops[i++]);
      }
      const querySet = dev.createQuerySet({ label: 'profiler', type: 'timestamp', count: 2 * n });
      const resolve = this.gpu.createBuffer('profiler.resolve', 16 * n, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'readback');
      const read = this.gpu.createBuffer('profiler.read', 16 * n, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ, 'readback');
      try {
        const enc = dev.createCommandEncoder({ label: 'profiler' });
        let k = 0;
        for (const op of chunk) {
          if (op instanceof Dispatch) {
            const pass = enc.beginComputePass({
              label: op.label,
              timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * k, endOfPassWriteIndex: 2 * k + 1 },
            });
            op.encode(pass);
            pass.end();
            k++;
          } else op.encode(enc);
        }
        enc.resolveQuerySet(querySet, 0, 2 * n, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * n);
        dev.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        for (let j = 0; j < n; j++) {
          const d = t[2 * j + 1] - t[2 * j];
          out.push(d > 0n ? Number(d) : 0);
        }
      } finally {
        querySet.destroy();
        this.gpu.destroyBuffer(resolve);
        this.gpu.destroyBuffer(read);
      }
    }
    return out;
  }

  /** Fallback: each dispatch submitted alone and awaited; ns of host time (submit included). */
  private async timeOnHost(ops: Op[]): Promise<number[]> {
    const dev = this.gpu.device;
    const out: number[] = [];
    await dev.queue.onSubmittedWorkDone();
    for (const op of ops) {
      const enc = dev.createCommandEncoder({ label: 'profiler' });
      const t0 = performance.now();
      if (op instanceof Dispatch) {
        const pass = enc.beginComputePass({ label: op.label });
        op.encode(pass);
        pass.end();
      } else op.encode(enc);
      dev.queue.submit([enc.finish()]);
      await dev.queue.onSubmittedWorkDone();
      if (op instanceof Dispatch) out.push((performance.now() - t0) * 1e6);
    }
    return out;
  }
}

/** Per-kernel totals, largest time share first. */
export function summarise(rows: readonly DispatchTiming[], findings = true): KernelSummary[] {
  const total = rows.reduce((s, r) => s + r.ns, 0);
  const by = new Map<string, KernelSummary>();
  for (const r of rows) {
    let k = by.get(r.kernel);
    if (!k) {
      k = { kernel: r.kernel, dispatches: 0, ns: 0, share: 0, flops: 0, bytes: 0, findings: [] };
      by.set(r.kernel, k);
    }
    k.dispatches++;
    k.ns += r.ns;
    k.flops += r.flops;
    k.bytes += r.bytes;
  }
  return [...by.values()]
    .map((k) => {
      k.share = total > 0 ? k.ns / total : 0;
      if (k.ns > 0) (k.gflops = k.flops / k.ns), (k.gbps = k.bytes / k.ns);
      if (findings) {
        const s = staticAnalysis(k.kernel);
        if (s) (k.file = s.file), (k.findings = s.findings), (k.staticCost = s.staticCost);
      }
      return k;
    })
    .sort((a, b) => b.ns - a.ns);
}
