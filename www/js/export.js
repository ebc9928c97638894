// Getting things out of the page: a link that replays the run, an iframe snippet for one
// figure, the metrics as CSV or JSON, and a figure as PNG.

const $ = (id) => document.getElementById(id);
/** An embedded figure's iframe size, by figure (the figures are the core's `share::FIGURES`). */
const SIZES = { curves: [720, 380], losses: [720, 760], tensors: [720, 720], completions: [720, 640], env: [640, 520] };

export function download(name, type, content) {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // no clipboard (insecure origin, iframe policy): the text is shown instead
  }
}

/** One row per update per algorithm; columns are the union of the metric names, then the
 * version and commit of the build that made them. */
export function toCsv(history, build) {
  const rows = [];
  const keys = new Set();
  for (const algo of ['ppo', 'grpo']) for (const m of history[algo]) Object.keys(m).forEach((k) => keys.add(k));
  const columns = ['algorithm', ...keys];
  rows.push([...columns, 'version', 'commit'].join(','));
  for (const algo of ['ppo', 'grpo']) {
    for (const m of history[algo]) {
      const cells = columns.map((c) => (c === 'algorithm' ? algo : (m[c] ?? '')));
      rows.push([...cells, build.version, build.commit].join(','));
    }
  }
  return rows.join('\n') + '\n';
}

/** All canvases of a figure, stacked, as one PNG. */
function figurePng(figure) {
  const canvases = [...figure.querySelectorAll('canvas')].filter((c) => c.width > 0 && c.offsetParent !== null);
  const width = Math.max(...canvases.map((c) => c.width), 1);
  const height = canvases.reduce((h, c) => h + c.height + 8, 8);
  const out = document.createElement('canvas');
  out.width = width + 16;
  out.height = height;
  const ctx = out.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, out.width, out.height);
  let y = 8;
  for (const c of canvases) {
    ctx.drawImage(c, 8, y);
    y += c.height + 8;
  }
  return new Promise((resolve) => out.toBlob(resolve, 'image/png'));
}

export function embedSnippet(shareUrl, figure) {
  const url = new URL(shareUrl);
  const params = new URLSearchParams(url.hash.slice(1));
  params.set('figure', figure);
  url.hash = params.toString();
  const [w, h] = SIZES[figure];
  return `<iframe src="${url.href.replaceAll('"', '%22')}" width="${w}" height="${h}" style="border:0;max-width:100%" loading="lazy" title="PPO vs GRPO: ${figure}"></iframe>`;
}

export function wire({ shareUrl, history, fragment, build, figures }) {
  const out = $('share-out');
  const show = (...nodes) => {
    out.replaceChildren(...nodes);
    out.hidden = false;
  };
  const textBox = (text) => {
    const t = document.createElement('textarea');
    t.readOnly = true;
    t.rows = 3;
    t.value = text;
    t.addEventListener('focus', () => t.select());
    return t;
  };

  $('btn-share').addEventListener('click', async () => {
    const url = shareUrl();
    const note = document.createElement('p');
    note.textContent = (await copy(url)) ? 'Link copied: it replays this run.' : 'Copy this link: it replays this run.';
    show(note, textBox(url));
  });

  $('btn-embed').addEventListener('click', () => {
    const select = document.createElement('select');
    for (const f of figures) {
      const o = document.createElement('option');
      o.value = o.textContent = f;
      select.append(o);
    }
    const box = textBox(embedSnippet(shareUrl(), select.value));
    select.addEventListener('change', () => (box.value = embedSnippet(shareUrl(), select.value)));
    const label = document.createElement('label');
    label.append('Embed figure ', select);
    show(label, box);
    copy(box.value);
  });

  $('btn-export-csv').addEventListener('click', () => download('metrics.csv', 'text/csv', toCsv(history(), build())));
  $('btn-export-json').addEventListener('click', () => {
    const { version, commit } = build();
    const json = JSON.stringify({ experiment: fragment(), version, commit, ...history() }, null, 1);
    download('metrics.json', 'application/json', json);
  });
  for (const button of document.querySelectorAll('button[data-png]')) {
    button.addEventListener('click', async () => {
      const figure = $(button.dataset.png);
      download(`${button.dataset.png}.png`, 'image/png', await figurePng(figure));
    });
  }
}
