// An update's tensors as heatmaps. Time runs left to right, one row per environment (PPO's N)
// or group member (GRPO's G). Padded cells are hatched, never coloured as values. A batch with
// more rows than fit is shown one group at a time (`sliceColumns`), so a row is never under
// `MIN_ROW_PX` pixels.

/** Colours of categorical matrices, by matrix name, indexed by value. */
const PALETTES = {
  dones: [[241, 243, 244], [217, 48, 37], [249, 171, 0]],
  mask: [[232, 234, 237], [30, 142, 62]],
};
const palette = (name) => PALETTES[name] ?? [[241, 243, 244], [95, 99, 104], [32, 33, 36]];
/** Padding: light gray with dark diagonal stripes. */
const HATCH_BG = [232, 234, 237];
const HATCH_LINE = [154, 160, 166];

/** Blue (negative) – white – red (positive), `x` in [-1, 1]. */
function diverging(x) {
  const t = Math.max(-1, Math.min(1, x));
  return t >= 0 ? [255, 255 - 200 * t, 255 - 210 * t] : [255 + 215 * t, 255 + 150 * t, 255];
}

/** Near-white to dark teal, `x` in [0, 1]: one-signed tensors, low to high. */
function sequential(x) {
  const t = Math.max(0, Math.min(1, x));
  return [247 - 240 * t, 252 - 148 * t, 245 - 150 * t];
}

/**
 * The colour scale of a tensor from its valid values: diverging, centred on zero (on 1 for
 * ratios), where they take both signs; sequential from their least to their largest where
 * they are one-signed (rewards, values, lengths), so that those do not read as one block.
 * Ratios are positive and multiplicative: their diverging scale is symmetric in log (1/2 and 2
 * equally strong), so its ends are `1/k … k`, never a ratio below zero.
 */
export function colourScale(name, values, mask) {
  const ratio = name === 'ratios';
  const center = ratio ? 1 : 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (mask && !(mask[i] > 0)) continue;
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  if (!(lo <= hi)) return { kind: 'sequential', lo: 0, hi: 0, colour: () => sequential(0) };
  // Both signs, or nothing but the centre (ratios of 1 before any step: white, "no change").
  if ((lo < center && hi > center) || (lo === center && hi === center)) {
    if (ratio && lo > 0) {
      const k = Math.max(-Math.log(lo), Math.log(hi)) || Math.log(2);
      return { kind: 'diverging', lo: Math.exp(-k), hi: Math.exp(k), log: true, colour: (v) => diverging(Math.log(Math.max(v, 1e-30)) / k) };
    }
    const scale = Math.max(center - lo, hi - center) || 1;
    return { kind: 'diverging', lo: center - scale, hi: center + scale, colour: (v) => diverging((v - center) / scale) };
  }
  const span = hi - lo;
  return { kind: 'sequential', lo, hi, colour: (v) => sequential(span > 0 ? (v - lo) / span : 0.5) };
}

/** A small horizontal bar of the scale, low to high. */
export function drawColourBar(canvas, scale) {
  const { width: W, height: H } = canvas;
  const ctx = canvas.getContext('2d');
  for (let x = 0; x < W; x++) {
    const f = x / Math.max(1, W - 1);
    const v = scale.log ? scale.lo * (scale.hi / scale.lo) ** f : scale.lo + (scale.hi - scale.lo) * f;
    const [r, g, b] = scale.colour(v);
    ctx.fillStyle = `rgb(${r | 0}, ${g | 0}, ${b | 0})`;
    ctx.fillRect(x, 0, 1, H);
  }
}

/** The tallest a heatmap is drawn, and the least a row may take: more rows than fit are shown a
 *  group at a time. */
export const MAX_HEIGHT = 128;
export const MIN_ROW_PX = 4;
/** Whether `cols` rows fit one heatmap. */
export const fits = (cols) => cols * MIN_ROW_PX <= MAX_HEIGHT;

/** Columns `start .. end` of a time-major `(T, C)` map (one group of GRPO's batch), its hover
 *  still naming each column's place in the batch. */
export function sliceColumns(map, start, end) {
  const { rows: T, cols: C } = map;
  const w = end - start;
  const pick = (a) => {
    const out = new a.constructor(T * w);
    for (let t = 0; t < T; t++) for (let c = 0; c < w; c++) out[t * w + c] = a[t * C + start + c];
    return out;
  };
  return { ...map, cols: w, values: pick(map.values), mask: map.mask && pick(map.mask), first_col: (map.first_col ?? 0) + start };
}

function formatValue(v) {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

/** Paint a matrix into `canvas` pixel by pixel (fast enough for a long rollout every update). */
function draw(canvas, map) {
  const { rows: T, cols: C, values, mask, categories, name } = map;
  const W = canvas.width;
  const H = canvas.height;
  const scale = categories ? null : colourScale(name, values, mask);
  // One colour per cell, then cells to pixels.
  const colours = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (mask && !(mask[i] > 0)) colours[i] = null;
    else if (categories) colours[i] = palette(name)[values[i]] ?? [0, 0, 0];
    else colours[i] = scale.colour(values[i]);
  }
  const image = new ImageData(W, H);
  const px = image.data;
  for (let y = 0; y < H; y++) {
    const c = Math.min(C - 1, Math.floor((y * C) / H));
    for (let x = 0; x < W; x++) {
      const t = Math.min(T - 1, Math.floor((x * T) / W));
      const rgb = colours[t * C + c] ?? ((x + y) % 6 === 0 ? HATCH_LINE : HATCH_BG);
      const o = (y * W + x) * 4;
      px[o] = rgb[0];
      px[o + 1] = rgb[1];
      px[o + 2] = rgb[2];
      px[o + 3] = 255;
    }
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
  return scale;
}

export class Heatmaps {
  constructor(tip) {
    this.tip = tip;
  }

  /** Draw `maps` into `container`, reusing its canvases when the set of matrices is the same. */
  render(container, maps, emptyText = 'Step once to see them.') {
    if (!maps || maps.length === 0) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = emptyText;
      container.replaceChildren(p);
      return;
    }
    let boxes = [...container.querySelectorAll('.heatmap')];
    if (boxes.length !== maps.length) {
      container.replaceChildren();
      boxes = maps.map(() => this.box(container));
    }
    maps.forEach((map, i) => this.fill(boxes[i], map));
  }

  box(container) {
    const box = document.createElement('div');
    box.className = 'heatmap';
    const title = document.createElement('div');
    title.className = 'heatmap-title';
    const bar = document.createElement('canvas');
    bar.className = 'colour-bar';
    bar.width = 64;
    bar.height = 8;
    const canvas = document.createElement('canvas');
    canvas.addEventListener('mousemove', (e) => this.hover(e, canvas, canvas.map));
    canvas.addEventListener('mouseleave', () => (this.tip.hidden = true));
    const label = document.createElement('span');
    label.className = 'heatmap-name';
    const range = document.createElement('span');
    range.className = 'heatmap-range';
    title.append(label, range);
    box.append(title, canvas);
    box.bar = bar;
    container.append(box);
    return box;
  }

  fill(box, map) {
    const canvas = box.querySelector(':scope > canvas');
    const width = Math.min(960, Math.max(240, map.rows * 2));
    const height = Math.min(MAX_HEIGHT, Math.max(32, map.cols * 12));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    canvas.dataset.name = map.name;
    canvas.map = map;
    const scale = draw(canvas, map);
    canvas.dataset.scale = scale?.kind ?? 'categorical';
    const cols = map.first_col === undefined ? `${map.cols}` : `${map.cols}: ${map.first_col}–${map.first_col + map.cols - 1}`;
    box.querySelector('.heatmap-name').textContent = `${map.name}  (T=${map.rows}, ${map.col_label.toUpperCase()}=${cols})  `;
    const range = box.querySelector('.heatmap-range');
    if (scale) {
      drawColourBar(box.bar, scale);
      const [lo, hi] = [scale.lo, scale.hi].map(formatValue);
      range.replaceChildren(`${lo} `, box.bar, ` ${hi}`);
      range.title = scale.log ? 'diverging scale in log, centred on 1' : scale.kind === 'diverging' ? 'diverging scale, centred' : 'sequential scale, least to largest';
    } else {
      range.replaceChildren(map.categories.map((c, i) => `${i}=${c}`).join(', '));
    }
  }

  hover(e, canvas, map) {
    const rect = canvas.getBoundingClientRect();
    const t = Math.floor(((e.clientX - rect.left) / rect.width) * map.rows);
    const c = Math.floor(((e.clientY - rect.top) / rect.height) * map.cols);
    if (t < 0 || c < 0 || t >= map.rows || c >= map.cols) return;
    const i = t * map.cols + c;
    const padded = map.mask && !(map.mask[i] > 0);
    const v = map.values[i];
    const value = map.categories ? (map.categories[v] ?? v) : formatValue(v);
    this.tip.textContent = `${map.name}[t=${t}, ${map.col_label}=${c + (map.first_col ?? 0)}] = ${value}${padded ? '  (padding)' : ''}`;
    this.tip.hidden = false;
    const parent = this.tip.offsetParent?.getBoundingClientRect() ?? { left: 0, top: 0 };
    this.tip.style.left = `${e.clientX - parent.left + 12}px`;
    this.tip.style.top = `${e.clientY - parent.top + 12}px`;
  }
}
