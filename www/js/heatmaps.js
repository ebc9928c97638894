// The last update's tensors as heatmaps. Time runs left to right, one row per environment
// (PPO's N) or group member (GRPO's G). Padded cells are hatched, never coloured as values.

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

function formatValue(v) {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

/** Paint a matrix into `canvas` pixel by pixel (fast enough for a long rollout every update). */
function draw(canvas, map) {
  const { rows: T, cols: C, values, mask, categories, name } = map;
  const W = canvas.width;
  const H = canvas.height;
  const center = name === 'ratios' ? 1 : 0;
  let scale = 0;
  for (let i = 0; i < values.length; i++) {
    if (!mask || mask[i] > 0) scale = Math.max(scale, Math.abs(values[i] - center));
  }
  scale = scale || 1;
  // One colour per cell, then cells to pixels.
  const colours = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (mask && !(mask[i] > 0)) colours[i] = null;
    else if (categories) colours[i] = palette(name)[values[i]] ?? [0, 0, 0];
    else colours[i] = diverging((values[i] - center) / scale);
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
  return { scale, center };
}

export class Heatmaps {
  constructor(tip) {
    this.tip = tip;
  }

  /** Draw `maps` into `container`, reusing its canvases when the set of matrices is the same. */
  render(container, maps) {
    if (!maps || maps.length === 0) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = 'Step once to see them.';
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
    const canvas = document.createElement('canvas');
    canvas.addEventListener('mousemove', (e) => this.hover(e, canvas, canvas.map));
    canvas.addEventListener('mouseleave', () => (this.tip.hidden = true));
    box.append(title, canvas);
    container.append(box);
    return box;
  }

  fill(box, map) {
    const canvas = box.querySelector('canvas');
    const width = Math.min(960, Math.max(240, map.rows * 2));
    const height = Math.min(128, Math.max(32, map.cols * 12));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    canvas.dataset.name = map.name;
    canvas.map = map;
    const { scale, center } = draw(canvas, map);
    const range = map.categories
      ? map.categories.map((c, i) => `${i}=${c}`).join(', ')
      : `colour: ${formatValue(center - scale)} … ${formatValue(center + scale)}`;
    box.querySelector('.heatmap-title').textContent =
      `${map.name}  (T=${map.rows}, ${map.col_label.toUpperCase()}=${map.cols})  ${range}`;
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
    this.tip.textContent = `${map.name}[t=${t}, ${map.col_label}=${c}] = ${value}${padded ? '  (padding)' : ''}`;
    this.tip.hidden = false;
    const parent = this.tip.offsetParent?.getBoundingClientRect() ?? { left: 0, top: 0 };
    this.tip.style.left = `${e.clientX - parent.left + 12}px`;
    this.tip.style.top = `${e.clientY - parent.top + 12}px`;
  }
}
