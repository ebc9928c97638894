// Experiments that show the seed's claims: each a link, one sentence of what to look for, and the
// seeds it was checked on, with where the figures come from. The README's "Experiments" section
// lists the same (a browser test checks that each link is there).

export const EXPERIMENTS = [
  {
    title: 'Sample efficiency: GRPO from scratch against PPO on CartPole',
    fragment: 'v=7&env=CartPole-v1&seed=1&seeds=5&run=all',
    look:
      "PPO's return band rises above GRPO's early and stays there: over seeds 1–5, PPO's training return passes 475 in every run within 100k steps, GRPO's in none (area under the curve 392.4 [382.0, 411.3] against 142.5 [119.2, 167.0]); the final greedy evaluation does not separate them (500.0 against 499.1 [440.5, 500.0]).",
    checked: 'seeds 1–5, pvg compare --env CartPole-v1 --seeds 1-5',
  },
  {
    title: 'A strong baseline: GRPO warm-started from PPO’s policy',
    fragment: 'v=7&env=CartPole-v1&seed=1&seeds=5&grpo.warm_start_ppo_steps=20000&run=all',
    look:
      "GRPO starts from the policy this run's PPO had after 19,968 steps: its groups then vary, and its mean group reward over its first five updates is 203.9–492.4 instead of 20.1–24.2 from scratch; its training area under the curve is 462.3 [364.1, 487.2] against 142.5 [119.2, 167.0] (every warm-started run above every run from scratch).",
    checked: 'seeds 1–5, pvg compare --env CartPole-v1 --seeds 1-5 with and without --set grpo.warm_start_ppo_steps=20000',
  },
  {
    title: 'Built for language models: G completions of one prompt',
    fragment: 'v=7&env=lm-reverse&seed=1&run=20',
    look:
      'Each group is 16 completions of one prompt, of different lengths: pick a group beside the update slider to see its rows padded to the batch’s T (hatched) and masked, each completion’s tokens carrying its group-normalised advantage; ask the model a prompt. Over the whole 500k-token budget (long in a tab), GRPO lifts held-out accuracy from the base’s 0.428 to 0.628 [0.618, 0.633] and PPO to 0.838 [0.727, 0.925].',
    checked: 'seeds 1–3, pvg compare --env lm-reverse --seeds 1-3 --eval-every 40',
  },
  {
    title: 'Loss types on ragged groups: grpo, dr_grpo, dapo',
    fragment: 'v=7&env=lm-reverse&seed=1&grpo.loss_type=grpo&run=100',
    alternatives: [
      ['dr_grpo', 'v=7&env=lm-reverse&seed=1&grpo.loss_type=dr_grpo&run=100'],
      ['dapo', 'v=7&env=lm-reverse&seed=1&grpo.loss_type=dapo&run=100'],
    ],
    look:
      "What differs is how tokens are weighed: grpo averages each completion's tokens before averaging over completions (a short completion's tokens weigh more, a long wrong one's less), dr_grpo and dapo weigh every token alike (divided by a constant or by the batch's valid tokens, a scale Adam nearly divides out). On lm-reverse's short completions (2–7 tokens) it hardly shows: over updates 81–100 grpo's mean completion length was the longest on each seed (4.59, 4.62, 4.49 tokens, against dr_grpo's 4.52, 4.55, 4.45 and dapo's 4.50, 4.56, 4.48), by 0.01–0.09 tokens: too small, on too few seeds, to call an effect; held-out accuracy after 100 updates 0.423–0.478, 0.447–0.487 and 0.452–0.493, inside each other's intervals (±0.04 per run).",
    checked:
      "seeds 1–3, 100 updates each: pvg train --url 'v=7&env=lm-reverse&grpo.loss_type=L' --algo grpo --seed S --updates 100 for L = grpo, dr_grpo, dapo",
  },
  {
    title: 'No signal: every group all-equal',
    fragment: 'v=7&env=MountainCar-v0&seed=1&run=3',
    look:
      "Every GRPO group times out at −200: all G returns equal, so every advantage is zero (the zero-std share is 1.0 and the flags say “no signal” at update 1) and GRPO does not learn in its 1M steps (−200.0 in each of seeds 1–5), where PPO, whose critic gives each step its own advantage, reaches −110.8 [−119.7, −106.8].",
    checked: 'seeds 1–5, pvg compare --env MountainCar-v0 --seeds 1-5',
  },
];

/** The list, as links, into `el`; `open(fragment)` opens one on the page. */
export function renderExperiments(el, open) {
  const item = ({ title, fragment, look, checked, alternatives }) => {
    const li = document.createElement('li');
    const link = (text, f) => {
      const a = document.createElement('a');
      a.href = `#${f}`;
      a.textContent = text;
      a.addEventListener('click', (e) => {
        e.preventDefault();
        history.pushState(null, '', `#${f}`);
        open(f);
      });
      return a;
    };
    const head = document.createElement('div');
    head.append(link(title, fragment));
    for (const [name, f] of alternatives ?? []) head.append(' · ', link(name, f));
    const text = document.createElement('p');
    text.textContent = look;
    const seeds = document.createElement('small');
    seeds.textContent = `Checked on ${checked}.`;
    li.append(head, text, seeds);
    return li;
  };
  el.replaceChildren(...EXPERIMENTS.map(item));
}

/** The README's table rows for the list (a test checks the README holds exactly these). */
export function readmeRows() {
  const cell = (text) => text.replaceAll('|', '\\|');
  return EXPERIMENTS.map(({ title, fragment, look, checked, alternatives }) => {
    const links = [fragment, ...(alternatives ?? []).map(([, f]) => f)].map((f) => `\`#${f}\``).join('<br>');
    return `| ${cell(title)} | ${links} | ${cell(look)} | ${cell(checked)} |`;
  }).join('\n');
}
