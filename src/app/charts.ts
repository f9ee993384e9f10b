// Live line charts (uPlot): the training loss per step (raw and smoothed) and the evaluation
// metric. The container's data-points attribute says how many x values the chart holds.
import type uPlot from 'uplot';

let uPlotClass: typeof uPlot | null = null;

/**
 * Loads uPlot. It builds an Intl.NumberFormat of navigator.language when it loads, which throws
 * for the locale Chrome reports under LANG=C on Linux ("en-US@posix"): such a locale is replaced
 * by en-US first, so the page works there too.
 */
export async function loadCharts(): Promise<void> {
  try {
    new Intl.NumberFormat(navigator.language);
  } catch {
    Object.defineProperty(navigator, 'language', { value: 'en-US', configurable: true });
  }
  uPlotClass = (await import('uplot')).default;
}

export interface SeriesSpec {
  label: string;
  color: string;
  width?: number;
  points?: boolean; // draw markers (sparse series)
}

export class LineChart {
  private readonly plot: uPlot;
  private xs: number[] = [];
  private ys: (number | null)[][];
  private pending = false;
  private xMax = 0; // the x axis reaches at least this far (the run's steps)

  constructor(
    private readonly el: HTMLElement,
    opts: { series: SeriesSpec[]; yLabel: string; yFormat?: (v: number) => string; height?: number },
  ) {
    const dark = typeof matchMedia !== 'undefined' && matchMedia('(prefers-color-scheme: dark)').matches;
    const axis = { stroke: dark ? '#bbb' : '#444', grid: { stroke: dark ? '#ffffff18' : '#00000012', width: 1 }, ticks: { stroke: dark ? '#ffffff30' : '#00000030', width: 1 } };
    this.ys = opts.series.map(() => []);
    const fmt = opts.yFormat ?? ((v: number) => v.toPrecision(3));
    if (!uPlotClass) throw new Error('loadCharts() first');
    this.plot = new uPlotClass(
      {
        width: Math.max(200, el.clientWidth),
        height: opts.height ?? 220,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false, auto: false, range: (_u, min, max) => [min, max] } }, // set in redraw()
        axes: [
          { ...axis, label: 'step', labelSize: 18, size: 36 },
          { ...axis, ...(opts.yLabel ? { label: opts.yLabel, labelSize: 18 } : {}), size: 56, values: (_u, vals) => vals.map((v) => (v == null ? '' : fmt(v))) },
        ],
        series: [
          { label: 'step' },
          ...opts.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.width ?? 1.5,
            spanGaps: true,
            points: { show: s.points ?? false, size: 6, fill: s.color },
            value: (_u: uPlot, v: number | null) => (v == null ? '-' : fmt(v)),
          })),
        ],
      },
      [[], ...this.ys] as uPlot.AlignedData,
      el,
    );
    if (typeof ResizeObserver !== 'undefined') {
      new ResizeObserver(() => this.plot.setSize({ width: Math.max(200, el.clientWidth), height: this.plot.height })).observe(el);
    }
    this.el.dataset.points = '0';
  }

  /** Number of x values held. */
  get points(): number {
    return this.xs.length;
  }

  /** Makes the x axis reach `x` (e.g. the run's total steps). */
  setXMax(x: number): void {
    if (x === this.xMax) return;
    this.xMax = x;
    this.redraw();
  }

  /** Replaces the data. */
  set(xs: number[], ys: (number | null)[][]): void {
    this.xs = xs.slice();
    this.ys = ys.map((y) => y.slice());
    this.redraw();
  }

  /** Appends one x value (with a value per series). */
  push(x: number, values: (number | null)[]): void {
    this.xs.push(x);
    values.forEach((v, i) => this.ys[i].push(v));
    this.redraw();
  }

  clear(): void {
    this.set([], this.ys.map(() => []));
  }

  /** Redraws once per animation frame, however many points arrive. */
  private redraw(): void {
    this.el.dataset.points = String(this.xs.length);
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.plot.setData([this.xs, ...this.ys] as uPlot.AlignedData);
      // the x axis runs from 0 to the run's last step, however few points there are yet
      this.plot.setScale('x', { min: 0, max: Math.max(1, this.xMax, ...this.xs.slice(-1)) });
    });
  }
}
