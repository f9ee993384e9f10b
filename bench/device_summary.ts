// summary.md of the GPU run (bench/device.sh): the machine and the driver it used, each stage's
// outcome, and the tables of the issue from the stages' JSON files in one folder: kernel specs,
// matmul GFLOP/s with the fraction of fp32 peak, forward / decode tokens/s, mezo / outer / prge per q
// with the ZO overhead, the real-size rows, and PyTorch's times on the same GPU beside ours.
// Ratios "ours / torch" are time ratios: above 1, ours is slower.
import fs from 'node:fs';
import path from 'node:path';
import type { MatmulStage } from './device_matmul';
import type { SpecsReport } from './device_specs';
import type { DeviceBench, ProbeResult, RealSizeStage } from './device';

/** What bench/torch_peer.py writes. */
export interface TorchPeer {
  torch: string;
  device: string;
  cuda: boolean;
  dtype: string;
  tf32: boolean;
  threads: number;
  check?: { ok: boolean; slotIsolationRelErr: number; centralAsymmetry: number; minPlusMinusGap: number };
  presets: { preset: string; forward?: { B: number; T: number; ms: number; tokensPerSec: number }; zo: { q: number; rows?: number; prgeMs?: number; forwardMs?: number; skipped?: string }[]; error?: string }[];
  matmul: { preset: string; names: string[]; M: number; N: number; K: number; ms: number; gflops: number }[];
  notRun: string[];
  wallMs: number;
}

export interface StageLine {
  name: string;
  status: string; // ok | failed (exit N) | timed out after N s | skipped: why
  seconds: number;
}

const read = <T>(dir: string, f: string): T | null => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as T;
  } catch {
    return null;
  }
};

const f1 = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
/** GFLOP/s: 3 significant digits (SwiftShader's 0.9 and an H100's 41200 alike). */
const gf = (x: number) => (x >= 1000 ? x.toFixed(0) : x.toPrecision(3));
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(a / b).toFixed(2)}` : '-');
const table = (head: string[], rows: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/** The stages file device.sh appends to: `name<TAB>status<TAB>seconds` per line. */
export function readStages(file: string): StageLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, status, seconds] = l.split('\t');
      return { name, status, seconds: Number(seconds) };
    });
}

export function summaryMarkdown(dir: string, stages: StageLine[]): string {
  const probe = read<ProbeResult>(dir, 'probe.json');
  const specs = read<SpecsReport>(dir, 'specs.json');
  const mm = read<MatmulStage>(dir, 'matmul.json');
  const bench = read<DeviceBench>(dir, 'bench.json');
  const real = read<RealSizeStage>(dir, 'real_size.json');
  const torch = read<TorchPeer>(dir, 'torch.json');
  const out: string[] = ['# mobizo-webgpu on the device (bench/device.sh)', ''];

  out.push('## Machine and driver', '');
  const d = probe?.driver;
  out.push(`- GPU (nvidia-smi): ${probe?.nvidiaSmi ?? 'not available'}`);
  out.push(`- Vulkan ICD: ${d?.icd ?? 'none'}${d?.icdFrom ? ` (${d.icdFrom})` : ''}; its library: ${d?.icdLibrary ?? '-'}`);
  out.push(`- Vulkan loader: ${d?.loader ?? '-'}`);
  if (probe?.adapter) {
    const has = (f: string) => (probe.features?.includes(f) ? 'yes' : 'no');
    out.push(`- Dawn adapter: ${probe.adapter.info}${probe.adapter.cpu ? ' (a CPU driver: a rehearsal, not GPU numbers)' : ''}`);
    out.push(`- features: shader-f16 ${has('shader-f16')}, subgroups ${has('subgroups')}, timestamp-query ${has('timestamp-query')}`);
    const l = probe.limits ?? {};
    out.push(`- limits: maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, maxBufferSize ${l.maxBufferSize}, maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}, maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}, subgroup sizes ${probe.adapter.subgroupSizes ?? '-'}`);
    out.push(`- fp32 peak: ${probe.peak ? `${(probe.peak.gflops / 1000).toFixed(1)} TFLOP/s (${probe.peak.source})` : 'unknown'}`);
  } else out.push(`- Dawn adapter: none${probe?.why ? ` (${probe.why})` : ''}`);
  if (torch) {
    const c = torch.check;
    const check = c ? `; self-check ${c.ok ? 'ok' : 'FAILED'} (slots isolated to ${c.slotIsolationRelErr.toExponential(1)}, +-eps asymmetry ${c.centralAsymmetry.toExponential(1)})` : '';
    out.push(`- PyTorch peer: torch ${torch.torch} on ${torch.device}, ${torch.dtype}, TF32 ${torch.tf32 ? 'on' : 'off'}${check}`);
  }
  out.push('');

  out.push('## Stages', '');
  out.push(table(['stage', 'outcome', 's'], stages.map((s) => [s.name, s.status, f1(s.seconds, 0)])), '');

  out.push('## Kernel specs on this adapter (float64 references)', '');
  if (!specs) out.push('not run');
  else {
    out.push(`${specs.passes} passing, ${specs.failures} failing, ${specs.pending} pending${specs.done ? '' : ' (cut short by its time limit)'}; ${(specs.wallMs / 1000).toFixed(0)} s; specs: ${specs.specs.join(', ')}`);
    for (const t of specs.tests.filter((x) => x.state === 'failed')) out.push(`- FAILED ${t.file}: ${t.title}: ${(t.error ?? '').split('\n')[0]}`);
  }
  out.push('');

  out.push(`## Matmul (GPU time of one dispatch${mm?.timing === 'host' ? ', host-timed: no timestamp-query' : ''}; % of fp32 peak)`, '');
  if (!mm) out.push('not run');
  else {
    const pct = (g?: number) => (g !== undefined && mm.peak ? ` (${((100 * g) / mm.peak.gflops).toFixed(1)}%)` : '');
    const rows = mm.rows.map((r) => {
      const best = r.fastest ? r.variants[r.fastest] : undefined;
      const f32 = Object.entries(r.variants).filter(([k]) => !k.startsWith('f16 ')).sort((a, b) => b[1].gflops - a[1].gflops)[0];
      const t = torch?.matmul.find((x) => x.preset === r.preset && x.M === r.M && x.N === r.N && x.K === r.K);
      const wrong = Object.entries(r.variants).filter(([, v]) => !v.ok).map(([k]) => k);
      return [
        `${r.preset} ${r.names.join('/')}`,
        `${r.M}x${r.K} . ${r.N}x${r.K}`,
        f32 ? `${f32[0]} ${gf(f32[1].gflops)}${pct(f32[1].gflops)}` : '-',
        best ? `${r.fastest} ${gf(best.gflops)}${pct(best.gflops)}` : '-',
        t ? `${gf(t.gflops)}${pct(t.gflops)}` : '-',
        t && f32 ? ratio(t.gflops, f32[1].gflops) : '-',
        wrong.length ? `WRONG: ${wrong.join(', ')}` : 'all ok',
      ];
    });
    out.push(table(['shape', 'M x K . N x K', 'best f32 kernel GFLOP/s', 'fastest (f16 incl.)', 'torch fp32 GFLOP/s', 'f32 time ours / torch', 'check'], rows));
    if (mm.notRun.length) out.push('', `not run (time limit): ${mm.notRun.join('; ')}`);
  }
  out.push('');

  out.push('## Forward, decode and ZO steps (ms; ours / torch = time ratio)', '');
  if (!bench) out.push('not run');
  for (const p of bench?.presets ?? []) {
    const tp = torch?.presets.find((x) => x.preset === p.preset);
    out.push(`### ${p.preset} (${p.weights} weights, ${(p.params / 1e6).toFixed(1)}M parameters)`, '');
    if (p.skipped) {
      out.push(`skipped: ${p.skipped}`, '');
      continue;
    }
    for (const [s, e] of Object.entries(p.errors)) out.push(`- ${s}: ${e}`);
    if (p.forward) {
      const tf = tp?.forward;
      out.push(`- forward [${p.forward.B}x${p.forward.T}], all logits read back: ${f1(p.forward.ours.tokensPerSec, 0)} tokens/s (${f1(p.forward.ours.ms)} ms)${tf ? `; torch ${f1(tf.tokensPerSec, 0)} tokens/s (${f1(tf.ms)} ms); ours / torch ${ratio(p.forward.ours.ms, tf.ms)}` : ''}`);
    }
    if (p.decode) out.push(`- decode (batch 1, KV cache): ${f1(p.decode.tokensPerSec)} tokens/s${p.decode.agrees ? '' : ' (DISAGREES with the uncached pass)'}`);
    if (tp?.error) out.push(`- torch: ${tp.error}`);
    const zo = p.zo?.rows ?? [];
    if (zo.length) {
      out.push('');
      const rows = zo.map((z) => {
        const t = tp?.zo.find((x) => x.q === z.q);
        if (z.skipped) return [String(z.q), `skipped: ${z.skipped}`, '', '', '', '', '', '', '', '', ''];
        const m = z.modes!;
        return [String(z.q), f1(m.mezo.ms), f1(m.outer.ms), f1(m.prge.ms), f1(z.forward?.ms), f1(z.speedup?.prge, 2), f1(z.overhead, 2), f1(t?.prgeMs), f1(t?.forwardMs), ratio(m.prge.ms, t?.prgeMs), ratio(z.forward?.ms, t?.forwardMs)];
      });
      out.push(table(['q', 'mezo', 'outer', 'prge', 'forward + loss head', 'prge speedup vs mezo', 'ZO overhead', 'torch prge', 'torch forward', 'prge ours / torch', 'forward ours / torch'], rows));
    }
    out.push('');
  }

  const profiles = Object.entries(bench?.profiles ?? {});
  if (profiles.length) {
    out.push('## One prge step, dispatch by dispatch (kernels by time share)', '');
    for (const [preset, pr] of profiles) {
      if ('skipped' in pr) {
        out.push(`- ${preset}: ${pr.skipped}`, '');
        continue;
      }
      out.push(`${preset}, q ${pr.q}, Bsz ${pr.batch}, T ${pr.seq}: ${f1(pr.totalMs, 2)} ms of kernels (${pr.method}) in ${pr.dispatches} dispatches; the step ${f1(pr.wallMs)} ms wall`, '');
      out.push(table(['kernel', 'dispatches', 'ms', 'share', 'GFLOP/s', 'GB/s'], pr.kernels.slice(0, 10).map((k) => [k.kernel, String(k.dispatches), f1(k.ms, 3), `${f1(100 * k.share)}%`, k.gflops === undefined ? '-' : gf(k.gflops), k.gbps === undefined ? '-' : gf(k.gbps)])), '');
    }
  }

  out.push('## Real size (random weights, published shapes; prge q 2, Bsz 1, T 64)', '');
  if (!real) out.push('not run');
  else {
    out.push(table(['model', 'layout', 'GPU weights MiB', 'prge s/step', 'prge tokens/s', 'ledger peak MiB', 'decode tokens/s'], real.rows.map((r) => [r.model, r.layout, f1(r.gpuWeightsMiB), f1((r.prgeMsPerStep ?? NaN) / 1000, 3), f1(r.prgeTokensPerS), f1(r.ledgerPeakMiB), f1(r.decodeTokensPerS)])));
    for (const f of real.failed) out.push(`- ${f.model}: FAILED: ${f.error}`);
    if (real.notRun.length) out.push(`- not run (time limit): ${real.notRun.join(', ')}`);
  }
  out.push('');
  out.push('Where these numbers go: the README\'s section on the GPU run says which table takes each.');
  return `${out.join('\n')}\n`;
}

/** Writes DIR/summary.md from DIR's stage files and STAGES (device.sh's stage log). */
export function writeSummary(dir: string, stagesFile = path.join(dir, 'stages.tsv')): void {
  const md = summaryMarkdown(dir, readStages(stagesFile));
  fs.writeFileSync(path.join(dir, 'summary.md'), md);
  process.stdout.write(md);
}
