// "Ask the model": a reader's prompt of a text task, completed by the shipped base and by PPO's
// and GRPO's policies side by side (the core's `src/ask.rs`): each model's greedy answer and the
// distinct completions of a few samples with their probabilities, marked right or wrong against
// the task's answer. No DOM outside its figure: a bad prompt is said there, and nothing else on
// the page changes.
import { glyph } from './completions.js';
import { download } from './export.js';

const $ = (id) => document.getElementById(id);
const NAMES = { base: 'base (shipped)', ppo: 'PPO', grpo: 'GRPO' };

/** A completion as it reads: its tokens, EOS as ⏎. */
const shown = (c) => c.tokens.map(glyph).join('') || '∅';

function completionLine(c, sampled) {
  const li = document.createElement('li');
  li.className = c.right ? 'right' : 'wrong';
  const text = document.createElement('code');
  text.textContent = shown(c);
  const mark = c.right ? '✓ right' : c.ended ? '✗ wrong' : '✗ no EOS';
  li.append(text, ` ${mark} · p = ${c.probability < 1e-4 ? c.probability.toExponential(1) : c.probability.toFixed(4)}${sampled ? ` · ×${c.count}` : ''}`);
  return li;
}

/** Draw `answers` (`{prompt, answer, temperature, samples, models}`) into `el`. */
export function renderAnswers(el, answers) {
  const head = document.createElement('p');
  head.className = 'ask-head';
  head.textContent = `${answers.prompt}  →  the task's answer: ${answers.answer}⏎  (samples: ${answers.samples} at temperature ${answers.temperature})`;
  const grid = document.createElement('div');
  grid.className = 'ask-grid';
  for (const m of answers.models) {
    const col = document.createElement('section');
    col.dataset.model = m.model;
    const h = document.createElement('h4');
    h.textContent = NAMES[m.model] ?? m.model;
    const greedy = document.createElement('ul');
    greedy.className = 'ask-greedy';
    greedy.append(completionLine(m.greedy, false));
    const label = document.createElement('p');
    label.className = 'ask-label';
    label.textContent = `sampled: ${m.samples.length} distinct, most probable first`;
    const samples = document.createElement('ul');
    samples.className = 'ask-samples';
    samples.append(...m.samples.map((c) => completionLine(c, true)));
    col.append(h, greedy, label, samples);
    grid.append(col);
  }
  el.replaceChildren(head, grid);
}

export class AskBox {
  /** `ask(prompt)`: a promise of the answers; `adapters()`: `{bytes, name}` of the runs' adapters;
   *  `check(bytes)`: the experiment of a loaded file, or throws why it cannot be read. */
  constructor({ ask, adapters, check }) {
    this.loaded = null; // {bytes, name, fragment}: asked instead of the runs
    this.askRuns = ask;
    $('ask-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.ask($('ask-prompt').value).catch(() => {});
    });
    $('btn-adapters-download').addEventListener('click', async () => {
      try {
        const { bytes, name } = await adapters();
        download(name, 'application/octet-stream', bytes);
      } catch (e) {
        this.error(`Could not download the adapters: ${e.message}`);
      }
    });
    $('adapters-file').addEventListener('change', async (e) => {
      const file = e.target.files?.[0];
      e.target.value = '';
      if (!file) return;
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        this.loaded = { bytes, name: file.name, fragment: await check(bytes) };
        this.error(null);
      } catch (err) {
        this.error(`${file.name}: ${err.message}`);
      }
      this.showSource();
    });
    $('btn-adapters-clear').addEventListener('click', () => {
      this.loaded = null;
      this.showSource();
    });
    this.showSource();
  }

  showSource() {
    $('ask-source').textContent = this.loaded
      ? `Asking the models of ${this.loaded.name} (the run #${this.loaded.fragment}), not the runs on the page.`
      : "Asking the shown seed's runs as they are now.";
    $('btn-adapters-clear').hidden = !this.loaded;
  }

  error(message) {
    $('ask-error').textContent = message ?? '';
    $('ask-error').hidden = !message;
  }

  /** Ask `prompt`, show the answers (or what is wrong), and return them. */
  async ask(prompt) {
    try {
      const answers = await this.askRuns(prompt, this.loaded?.bytes ?? null);
      this.error(null);
      renderAnswers($('ask-answers'), answers);
      return answers;
    } catch (e) {
      this.error(e.message);
      throw e;
    }
  }
}
