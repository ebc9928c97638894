// Live charts (uPlot): returns against environment steps and wall time, and one small chart
// per loss part or diagnostic. PPO and GRPO share every chart.
import uPlot from '../vendor/uPlot.esm.js';

export const COLORS = { ppo: '#e8710a', grpo: '#1a73e8' };

/** Diagnostics drawn per update: metric name, title (saying which algorithm logs it when only one
 *  does), and a fixed y range where the metric has one. */
export const LOSS_METRICS = [
  ['policy_loss', 'policy loss'],
  ['value_loss', 'value loss (PPO)'],
  ['entropy', 'entropy'],
  ['kl', 'KL to reference, k3 (GRPO, β > 0)'],
  ['approx_kl', 'approx-KL to old policy'],
  ['clip_fraction', 'clip fraction'],
  ['clip_ratio_region_mean', 'active clip region, TRL (GRPO)', [0, 1]],
  ['grad_norm', 'grad norm (before clipping)'],
  ['explained_variance', 'explained variance (PPO)'],
  ['reward_std', 'group reward std (GRPO)'],
  ['zero_std_fraction', 'zero-std groups (GRPO)', [0, 1]],
  ['mean_valid_length', 'mean trajectory length (GRPO)'],
  ['learning_rate', 'learning rate'],
];

/** Tick labels with as few significant digits as write each tick exactly, to within a
 *  thousandth of the step between ticks (uPlot's default rounds a learning rate annealing
 *  from 1e-3 to three labels that all read 0.001). */
export function tickLabels(splits) {
  const step = Math.min(...splits.slice(1).map((v, i) => Math.abs(v - splits[i])));
  const tolerance = Number.isFinite(step) && step > 0 ? step * 1e-3 : Math.abs(splits[0] ?? 0) * 1e-9;
  for (let digits = 1; digits <= 15; digits++) {
    const values = splits.map((v) => Number(v.toPrecision(digits)));
    if (values.every((v, i) => Math.abs(v - splits[i]) <= tolerance)) return values.map(String);
  }
  return splits.map(String);
}

/** Room for the y axis's widest tick label (uPlot asks again whenever the labels change). */
function labelWidth(u, values) {
  const longest = Math.max(3, ...(values ?? []).map((v) => String(v).length));
  return 24 + 8 * longest;
}

/** Charts waiting to be resized, one per animation frame: when the page's width changes (a
 *  scrollbar appears), every chart redraws, and all of them in one frame is a long task. */
const resizes = new Set();
let resizeFrame = 0;

function resizeNext() {
  resizeFrame = 0;
  const [next] = resizes;
  if (!next) return;
  resizes.delete(next);
  next();
  if (resizes.size) resizeFrame = requestAnimationFrame(resizeNext);
}

/** Resize `plot()` to `el`'s width when that changes (a redraw; height changes, such as a legend
 *  line below, need none). */
function followWidth(el, plot, height) {
  let width = el.clientWidth;
  const resize = () => plot()?.setSize({ width: Math.max(200, el.clientWidth), height });
  new ResizeObserver(() => {
    if (el.clientWidth === width) return;
    width = el.clientWidth;
    resizes.add(resize);
    if (!resizeFrame) resizeFrame = requestAnimationFrame(resizeNext);
  }).observe(el);
}

/** The update the scrubber selects, each algorithm's metrics row of it (`null`: none marked):
 *  every single-seed chart draws it as a dashed line in the algorithm's colour. */
const mark = { ppo: null, grpo: null };
const X_KEYS = { 'env steps': 'env_steps', seconds: 'wall_s', update: 'update' };

/** Where `row` (a metrics row) stands on an axis of `xKey`, as `series` places it. */
const xOf = (row, xKey) => row[xKey] + (xKey === 'env_steps' ? (row.warm_start_env_steps ?? 0) : 0);

function drawMark(u, xKey) {
  const { ctx, bbox } = u;
  for (const algo of ['ppo', 'grpo']) {
    const row = mark[algo];
    if (!row) continue;
    const x = Math.round(u.valToPos(xOf(row, xKey), 'x', true));
    if (x < bbox.left || x > bbox.left + bbox.width) continue;
    ctx.save();
    ctx.strokeStyle = COLORS[algo];
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    ctx.restore();
  }
}

function chart(el, title, xLabel, height, legend = true, yRange = null) {
  const xKey = X_KEYS[xLabel];
  const opts = {
    hooks: { draw: [(u) => drawMark(u, xKey)] },
    title,
    width: Math.max(200, el.clientWidth),
    height,
    scales: { x: { time: false }, ...(yRange && { y: { range: yRange } }) },
    axes: [{ label: xLabel, size: 36, labelSize: 18 }, { size: labelWidth, values: (u, splits) => tickLabels(splits) }],
    series: [
      { label: xLabel },
      { label: 'PPO', stroke: COLORS.ppo, width: 1.6, spanGaps: true, points: { show: false } },
      { label: 'GRPO', stroke: COLORS.grpo, width: 1.6, spanGaps: true, points: { show: false } },
    ],
    legend: { show: legend, live: true },
  };
  const plot = new uPlot(opts, [[], [], []], el);
  followWidth(el, () => plot, height);
  return plot;
}

/** One algorithm's (x, y) points, without missing values. A GRPO run warm-started from PPO's
 *  policy (`grpo.warm_start_ppo_steps`) is drawn from the step where it took over. */
function series(history, xKey, yKey) {
  const xs = [];
  const ys = [];
  for (const m of history) {
    const y = m[yKey];
    if (y === null || y === undefined || !Number.isFinite(y)) continue;
    xs.push(xOf(m, xKey));
    ys.push(y);
  }
  return [xs, ys];
}

/** One run's curve `[xs, ys]` of `yKey` against `xKey`, from `(0, start)` when a start is given
 *  (a text task's base accuracy): what the statistics worker aggregates over seeds. */
export function curveOf(history, xKey, yKey, start = null) {
  return series(start === null ? history : [{ env_steps: 0, wall_s: 0, [yKey]: start }, ...history], xKey, yKey);
}

/** With alpha: `#rrggbb` + two hex digits. */
const faded = (color, alpha) => color + Math.round(alpha * 255).toString(16).padStart(2, '0');

/** A curve over seeds: each algorithm's aggregate (IQM from four seeds, else the mean) as a thick
 *  line in its 95% bootstrap band, and each seed as a thin line, all on the statistics worker's
 *  grid (`stats::band`). Drawn in place of the one-seed chart in the same box; a line under it
 *  says what is drawn. */
class BandChart {
  constructor(el, title, xLabel, height, yRange = null) {
    Object.assign(this, { el, title, xLabel, height, yRange, plot: null, shape: '' });
    this.legend = document.createElement('p');
    this.legend.className = 'band-legend';
  }

  /** A chart for `seeds` runs of each algorithm (with the base's line when `base`). */
  build(seeds, base) {
    this.plot?.destroy();
    const agg = seeds >= 4 ? 'IQM' : 'mean';
    const line = (algo) => [
      { label: `${algo.toUpperCase()} ${agg}`, stroke: COLORS[algo], width: 2.2, spanGaps: true, points: { show: false } },
      { label: `${algo.toUpperCase()} 95% CI low`, stroke: 'transparent', width: 0, spanGaps: true, points: { show: false } },
      { label: `${algo.toUpperCase()} 95% CI high`, stroke: 'transparent', width: 0, spanGaps: true, points: { show: false } },
    ];
    // Each seed's line is drawn straight onto the canvas (the draw hook below): 32 uPlot series
    // cost the main thread far more per redraw. Two invisible series, the lowest and highest of
    // any seed at each x, keep every seed inside the y scale.
    const hidden = (label) => ({ label, stroke: 'transparent', width: 0, spanGaps: true, points: { show: false } });
    const series = [
      { label: this.xLabel },
      ...line('ppo'),
      ...line('grpo'),
      hidden('lowest seed'),
      hidden('highest seed'),
      ...(base ? [{ label: 'base', stroke: '#80868b', dash: [4, 4], width: 1.2, points: { show: false } }] : []),
    ];
    const opts = {
      title: this.title,
      width: Math.max(200, this.el.clientWidth),
      height: this.height,
      scales: { x: { time: false }, ...(this.yRange && { y: { range: this.yRange } }) },
      axes: [{ label: this.xLabel, size: 36, labelSize: 18 }, { size: labelWidth, values: (u, splits) => tickLabels(splits) }],
      series,
      bands: [
        { series: [3, 2], fill: faded(COLORS.ppo, 0.2) },
        { series: [6, 5], fill: faded(COLORS.grpo, 0.2) },
      ],
      legend: { show: false },
      hooks: { drawAxes: [(u) => this.drawSeeds(u)] },
    };
    this.plot = new uPlot(opts, [[]], this.el);
    this.plot.root.classList.add('band-chart');
    this.el.append(this.legend);
    if (!this.following) this.following = followWidth(this.el, () => this.plot, this.height) ?? true;
    this.shape = `${seeds}/${base}`;
    this.bands = null;
    this.legend.textContent =
      `Thick: each algorithm's ${agg} over its ${seeds} seeds (the interquartile mean from 4 seeds on, else the mean); ` +
      'shaded: its 95% confidence band (a percentile bootstrap over the seeds at each point); thin: each seed.' +
      (base ? ' Dashed: the base model, where both start.' : '');
  }

  /** Build the chart for `seeds` runs ahead of its first data (at a reset, before any Run). */
  prepare(seeds, base) {
    if (this.shape !== `${seeds}/${base}`) this.build(seeds, base);
  }

  /** Every seed's thin line, under the aggregates (after the axes, before the series). */
  drawSeeds(u) {
    if (!this.bands) return;
    const { ctx } = u;
    const x = this.bands.ppo.x;
    ctx.save();
    ctx.lineWidth = 0.8 * devicePixelRatio;
    for (const algo of ['ppo', 'grpo']) {
      ctx.strokeStyle = faded(COLORS[algo], 0.45);
      for (const run of this.bands[algo].runs) {
        ctx.beginPath();
        let drawing = false;
        run.forEach((y, i) => {
          if (y === null) return void (drawing = false);
          const [px, py] = [u.valToPos(x[i], 'x', true), u.valToPos(y, 'y', true)];
          if (drawing) ctx.lineTo(px, py);
          else ctx.moveTo(px, py);
          drawing = true;
        });
        ctx.stroke();
      }
    }
    ctx.restore();
  }

  setData(bands, base = null) {
    this.prepare(bands.ppo.runs.length, base !== null);
    this.bands = bands;
    const runs = [...bands.ppo.runs, ...bands.grpo.runs];
    const extreme = (pick) => bands.ppo.x.map((_, i) => {
      const ys = runs.map((r) => r[i]).filter((y) => y !== null);
      return ys.length ? pick(...ys) : null;
    });
    const three = (b) => [b.centre, b.low, b.high];
    this.plot.setData([
      bands.ppo.x,
      ...three(bands.ppo),
      ...three(bands.grpo),
      extreme(Math.min),
      extreme(Math.max),
      ...(base === null ? [] : [bands.ppo.x.map(() => base)]),
    ]);
  }

  /** Show this chart, or the one-seed chart `plain` in its place. */
  show(on, plain) {
    plain.root.hidden = on;
    if (this.plot) this.plot.root.hidden = !on;
    this.legend.hidden = !on;
  }
}

/** Both algorithms on one x axis (points where only one has a value leave a gap to span). */
function joined(history, xKey, yKey) {
  const data = uPlot.join([series(history.ppo, xKey, yKey), series(history.grpo, xKey, yKey)]);
  return data.length === 3 ? data : [[], [], []];
}

/** Held-out accuracy of a text task (greedy, exact match) against environment steps: both
 *  algorithms from the base's, and the base as a flat line. */
function accuracyChart(el) {
  const plot = chart(el, 'held-out accuracy (greedy, exact match)', 'env steps', 240, true, [0, 1]);
  plot.addSeries({ label: 'base', stroke: '#80868b', dash: [4, 4], width: 1.2, points: { show: false } });
  return plot;
}

/** The accuracy chart's data: each algorithm's evaluations, from the base's at step 0. */
export function accuracy(history, startEval) {
  const start = { env_steps: 0, eval_mean_return: startEval };
  const [xs, ppo, grpo] = uPlot.join([
    series([start, ...history.ppo], 'env_steps', 'eval_mean_return'),
    series([start, ...history.grpo], 'env_steps', 'eval_mean_return'),
  ]);
  return [xs, ppo, grpo, xs.map(() => startEval)];
}

export class Charts {
  constructor(root = document) {
    this.steps = chart(root.getElementById('chart-steps'), 'return vs environment steps', 'env steps', 240);
    this.wall = chart(root.getElementById('chart-wall'), 'return vs wall time', 'seconds', 240);
    this.accuracy = accuracyChart(root.getElementById('chart-accuracy'));
    this.banded = {
      steps: new BandChart(root.getElementById('chart-steps'), 'return vs environment steps', 'env steps', 240),
      wall: new BandChart(root.getElementById('chart-wall'), 'return vs wall time', 'seconds', 240),
      accuracy: new BandChart(root.getElementById('chart-accuracy'), 'held-out accuracy (greedy, exact match)', 'env steps', 240, [0, 1]),
    };
    const grid = root.getElementById('loss-charts');
    this.losses = LOSS_METRICS.map(([key, title, yRange]) => {
      const cell = document.createElement('div');
      cell.className = 'chart small';
      grid.append(cell);
      return [key, chart(cell, title, 'update', 150, false, yRange)];
    });
  }

  /** Mark `rows` (`{ppo, grpo}`: each algorithm's metrics row of the selected update, or null
   *  to mark nothing) on every single-seed chart. */
  setMark(rows) {
    if (mark.ppo === (rows?.ppo ?? null) && mark.grpo === (rows?.grpo ?? null)) return;
    Object.assign(mark, { ppo: rows?.ppo ?? null, grpo: rows?.grpo ?? null });
    for (const plot of [this.steps, this.wall, this.accuracy, ...this.losses.map(([, p]) => p)]) plot.redraw(false);
  }

  /** Show band charts for `seeds` runs per algorithm in place of the one-seed charts, empty
   *  until the statistics worker answers (at a reset: the page's layout is settled before a Run). */
  prepareBands(seeds, text) {
    for (const name of ['steps', 'wall', 'accuracy']) {
      this.banded[name].prepare(seeds, name === 'accuracy' && text);
      this.banded[name].show(true, this[name]);
    }
  }

  /** Several seeds: curve `name`'s band from the statistics worker (none until it answers). */
  updateBand(name, bands, startEval = null) {
    // A band before any run has a point has no grid: nothing to draw yet.
    const b = bands?.[name]?.ppo.x.length ? bands[name] : null;
    if (b) this.banded[name].setData(b, name === 'accuracy' ? startEval : null);
    this.banded[name].show(true, this[name]);
  }

  /** One seed: curve `name` (`steps`, `wall` or `accuracy`) of both algorithms' histories. */
  updateCurve(name, history, startEval = null) {
    this.banded[name].show(false, this[name]);
    if (name === 'steps') this.steps.setData(joined(history, 'env_steps', 'mean_return'));
    else if (name === 'wall') this.wall.setData(joined(history, 'wall_s', 'mean_return'));
    else if (startEval !== null) this.accuracy.setData(accuracy(history, startEval));
  }

  /** Redraw the loss charts of chunk `index` of `chunks` (spread over animation frames). */
  updateLosses(history, index, chunks) {
    const size = Math.ceil(this.losses.length / chunks);
    for (const [key, plot] of this.losses.slice(index * size, (index + 1) * size)) {
      plot.setData(joined(history, 'update', key));
    }
  }
}
