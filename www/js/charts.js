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

function chart(el, title, xLabel, height, legend = true, yRange = null) {
  const opts = {
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
  new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height })).observe(el);
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
    xs.push(m[xKey] + (xKey === 'env_steps' ? (m.warm_start_env_steps ?? 0) : 0));
    ys.push(y);
  }
  return [xs, ys];
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
    const grid = root.getElementById('loss-charts');
    this.losses = LOSS_METRICS.map(([key, title, yRange]) => {
      const cell = document.createElement('div');
      cell.className = 'chart small';
      grid.append(cell);
      return [key, chart(cell, title, 'update', 150, false, yRange)];
    });
  }

  updateCurves(history, startEval = null) {
    this.steps.setData(joined(history, 'env_steps', 'mean_return'));
    this.wall.setData(joined(history, 'wall_s', 'mean_return'));
    if (startEval !== null) this.accuracy.setData(accuracy(history, startEval));
  }

  /** Redraw the loss charts of chunk `index` of `chunks` (spread over animation frames). */
  updateLosses(history, index, chunks) {
    const size = Math.ceil(this.losses.length / chunks);
    for (const [key, plot] of this.losses.slice(index * size, (index + 1) * size)) {
      plot.setData(joined(history, 'update', key));
    }
  }
}
