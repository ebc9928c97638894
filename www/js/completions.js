// A text task's completions, one row each: the prompt, then the sampled tokens tinted by their
// advantage, then (GRPO's) the padding up to the batch's T (hatched, as the mask leaves it out
// of the loss), then the row's reward and length. Hover a token for its advantage and, for GRPO, its
// ratio and KL to the reference, or, for PPO, the critic's value. Drawn on a canvas so that the
// figure exports as a PNG like the others.
import { colourScale, drawColourBar } from './heatmaps.js';

const CELL = 16;
const ROW = 18;
const FONT = '12px ui-monospace, SFMono-Regular, Menlo, monospace';
const PROMPT_BG = '#f1f3f4';
const INK = '#202124';
const MUTED = '#80868b';

/** How a token reads in a cell. */
export function glyph(token) {
  return { '<eos>': '⏎', '<pad>': '∅', '<bos>': '^' }[token] ?? token;
}

/** What hovering token `t` of `row` says. */
export function describeToken(row, t) {
  const parts = [`t=${t}`, `'${row.tokens[t]}'`, `advantage ${row.advantages[t].toFixed(3)}`];
  if (row.values) parts.push(`value ${row.values[t].toFixed(3)}`);
  if (row.ratios) parts.push(`ratio ${row.ratios[t].toFixed(4)}`);
  if (row.kl) parts.push(`KL ${row.kl[t].toExponential(2)}`);
  return parts.join(' · ');
}

function hatch(ctx, x, y, w, h) {
  ctx.fillStyle = '#e8eaed';
  ctx.fillRect(x, y, w, h);
  ctx.strokeStyle = '#9aa0a6';
  ctx.beginPath();
  for (let d = -h; d < w; d += 5) {
    ctx.moveTo(x + Math.max(0, d), y + Math.max(0, -d));
    ctx.lineTo(x + Math.min(w, d + h), y + Math.min(h, w - d));
  }
  ctx.stroke();
}

export class CompletionsView {
  /** `el`: the container; `tip`: a tooltip element positioned within the figure. */
  constructor(el, tip) {
    this.el = el;
    this.tip = tip;
  }

  /** `data`: `{steps, rows}` from the core's snapshot, or nothing yet. */
  render(data, emptyText = 'Step once to see them.') {
    if (!data || !data.rows.length) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = data ? 'No completion of this rollout ran from its first token to its last.' : emptyText;
      this.el.replaceChildren(p);
      return;
    }
    const { rows, steps } = data;
    const promptCells = Math.max(...rows.map((r) => [...r.prompt].length));
    const scale = colourScale('advantages', rows.flatMap((r) => r.advantages));
    const canvas = document.createElement('canvas');
    const x0 = promptCells * CELL + 6;
    const width = x0 + steps * CELL + 150;
    canvas.width = width;
    canvas.height = rows.length * ROW + 4;
    canvas.className = 'completions-canvas';
    const ctx = canvas.getContext('2d');
    ctx.font = FONT;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    rows.forEach((row, i) => {
      const y = i * ROW + 2;
      const chars = [...row.prompt];
      chars.forEach((c, k) => {
        const x = (promptCells - chars.length + k) * CELL;
        ctx.fillStyle = PROMPT_BG;
        ctx.fillRect(x, y, CELL - 1, ROW - 2);
        ctx.fillStyle = MUTED;
        ctx.fillText(c, x + CELL / 2, y + ROW / 2);
      });
      for (let t = 0; t < steps; t++) {
        const x = x0 + t * CELL;
        if (t >= row.tokens.length) {
          if (data.padded) hatch(ctx, x, y, CELL - 1, ROW - 2);
          continue;
        }
        const [r, g, b] = scale.colour(row.advantages[t]);
        ctx.fillStyle = `rgb(${r | 0}, ${g | 0}, ${b | 0})`;
        ctx.fillRect(x, y, CELL - 1, ROW - 2);
        ctx.fillStyle = INK;
        ctx.fillText(glyph(row.tokens[t]), x + CELL / 2, y + ROW / 2);
      }
      ctx.textAlign = 'left';
      ctx.fillStyle = row.reward > 0 ? '#137333' : MUTED;
      const end = row.truncated ? ', truncated' : '';
      ctx.fillText(`r ${row.reward.toFixed(2)} · len ${row.tokens.length}${end}`, x0 + steps * CELL + 6, y + ROW / 2);
      ctx.textAlign = 'center';
    });
    canvas.addEventListener('mousemove', (e) => {
      const rect = canvas.getBoundingClientRect();
      const px = ((e.clientX - rect.left) * canvas.width) / rect.width;
      const py = ((e.clientY - rect.top) * canvas.height) / rect.height;
      const i = Math.floor((py - 2) / ROW);
      const t = Math.floor((px - x0) / CELL);
      const row = rows[i];
      if (!row || t < 0 || t >= steps) {
        this.tip.hidden = true;
        return;
      }
      if (t >= row.tokens.length && !data.padded) {
        this.tip.hidden = true;
        return;
      }
      this.tip.textContent = t < row.tokens.length ? describeToken(row, t) : `t=${t} · padding (mask 0)`;
      const box = this.el.closest('figure').getBoundingClientRect();
      this.tip.style.left = `${e.clientX - box.left + 12}px`;
      this.tip.style.top = `${e.clientY - box.top + 12}px`;
      this.tip.hidden = false;
    });
    canvas.addEventListener('mouseleave', () => (this.tip.hidden = true));
    const legend = document.createElement('p');
    legend.className = 'legend';
    const bar = document.createElement('canvas');
    bar.width = 120;
    bar.height = 8;
    drawColourBar(bar, scale);
    legend.append(`advantage ${scale.lo.toFixed(2)} `, bar, ` ${scale.hi.toFixed(2)}`);
    this.el.replaceChildren(canvas, legend);
  }
}
