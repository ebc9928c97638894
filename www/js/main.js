// The playground page: its rendering (the form, the charts, the summary table, the heatmaps,
// the completions and the env view) of the session (`session.js`: the runs in their workers and
// Step / Run / Pause), and `window.playground` (status, metrics, step, run, pause, reset) for
// tests and scripts.
import { AskBox } from './ask.js';
import { Bridge } from './bridge.js';
import { Charts, curveOf } from './charts.js';
import { CompletionsView } from './completions.js';
import { Controls } from './controls.js';
import { EnvView } from './envdraw.js';
import { renderExperiments } from './experiments.js';
import { Heatmaps, fits, sliceColumns } from './heatmaps.js';
import * as exporter from './export.js';
import * as session from './session.js';
import { ALGOS, state, runOf, transfers } from './session.js';

const $ = (id) => document.getElementById(id);

/** What the page shows beside the session's runs. */
const view = {
  snapshot: null, // the shown seed's tensors of the shown update (both algorithms' parts)
  at: null, // the update the scrubber shows; null: the latest, followed as runs advance
  group: null, // GRPO's group shown: a number, 'all', or null for the default
  scrubs: 0, // scrubber requests made: only the latest one's answer is shown
  summary: null, // the summary table over seeds (stats::Report), from the statistics worker
  bands: null, // the curves over seeds (stats::Band per curve and algorithm)
  webgpu: null, // {available, adapter, error}
  build: null, // {version, commit}: what made every figure on the page
  notice: null, // the opened link's version notice, if its code has changed since
  embed: null, // {figure, started} when the page is an embedded figure
};

let stats; // the statistics worker's Bridge (summary table, bands): it never trains
/** The session's first worker, for requests about the page rather than a run. */
const bridge = () => session.pageWorker();
let controls;
let charts;
let heatmaps;
let completions; // {ppo, grpo}: CompletionsView
let envView;
let askBox;

// ---------------------------------------------------------------- messages

function showProblems(title, problems) {
  const box = $('problems');
  box.replaceChildren();
  if (!problems.length) {
    box.hidden = true;
    return;
  }
  const h = document.createElement('strong');
  h.textContent = title;
  const list = document.createElement('ul');
  for (const p of problems) {
    const li = document.createElement('li');
    const key = document.createElement('code');
    key.textContent = p.key;
    const used = p.used === undefined ? '' : p.used === null ? ' — ignored' : ` — using ${p.used}`;
    li.append(key, document.createTextNode(`: ${p.message}${used}`));
    list.append(li);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'close';
  close.textContent = '×';
  close.title = 'Dismiss';
  close.addEventListener('click', () => (box.hidden = true));
  box.append(close, h, list);
  box.hidden = false;
}

/** One line above the figures, e.g. a link made with an older version of the page. */
function showNotice(text) {
  view.notice = text ?? null;
  $('notice').textContent = view.notice ?? '';
  $('notice').hidden = !view.notice;
}

function fail(message) {
  state.lastError = message;
  showProblems('Something went wrong', [{ key: 'error', message }]);
  render();
}

/** A device error in one line: burn's chain of causes without its repeats and backtrace
 *  ("device error: The device is poisoned: Destroyed: Device was destroyed."). */
function oneLine(error) {
  const parts = error.split('\n').map((l) => l.trim()).filter((l) => l && l !== 'Caused by:' && !/^(Backtrace:|No backtrace available)/.test(l));
  return parts.reduce((line, part) => (line.endsWith(part) ? line : `${line}: ${part}`));
}

/** Where `algo` learns now: the backend it started on, or the CPU once its GPU was lost. */
function backendOf(algo) {
  return state.deviceLost[algo] ? 'cpu' : state.createdBy?.[algo].backend ?? '';
}

function statusText() {
  if (!state.createdBy) return 'starting…';
  const on = ({ backend, adapter }) => (backend === 'webgpu' ? `WebGPU · ${adapter}` : `CPU · ${adapter}`);
  const { ppo, grpo } = state.createdBy;
  const lost = ALGOS.filter((a) => state.deviceLost[a]).map((a) => `${a.toUpperCase()} on the CPU since update ${state.deviceLost[a].update}`);
  const name =
    (ppo.backend === grpo.backend ? on(ppo) : `PPO on ${on(ppo)}, GRPO on ${on(grpo)}`) +
    (lost.length ? ` (device lost: ${lost.join(', ')})` : '');
  const where = state.running ? 'running' : state.done ? 'budget spent' : 'paused';
  const n = (a) => state.history[a].length;
  const runs = state.seeds > 1 ? ` — ${state.seeds} seeds × 2 algorithms in ${state.pool} worker${state.pool > 1 ? 's' : ''}; seed ${runOf('ppo')?.seed} shown:` : ' —';
  return `${name} — ${where}${runs} PPO ${n('ppo')} updates, GRPO ${n('grpo')} updates`;
}

// ---------------------------------------------------------------- rendering
//
// Rendering is split into parts drawn one per animation frame, and a figure scrolled out of
// view waits until it is back: no main-thread task comes near 50 ms while both algorithms train.

/** The loss charts, a few per frame. */
const LOSSES = ['losses:0', 'losses:1', 'losses:2', 'losses:3', 'losses:4'];
const PARTS = ['status', 'curves:steps', 'curves:wall', 'curves:accuracy', 'summary', 'flags', ...LOSSES, 'tensors', 'completions', 'env'];
const FIGURE_OF = {
  curves: 'fig-curves',
  summary: 'fig-curves',
  flags: 'fig-curves',
  losses: 'fig-losses',
  tensors: 'fig-tensors',
  completions: 'fig-completions',
  env: 'fig-env',
};
const dirty = new Set();
const visible = new Set();
let frame = 0;
let later = 0;
/** A part is redrawn at most this often (ms): with many runs, or fast updates, updates arrive
 *  far more often than a reader can follow, and every redraw costs the main thread layout and
 *  paint beside the workers. */
const REDRAW_MS = 250;
const drawnAt = new Map();

function invalidate(...parts) {
  for (const p of parts.length ? parts : PARTS) dirty.add(p);
  if (!frame && charts) frame = requestAnimationFrame(drawNext);
}

function drawNext() {
  frame = 0;
  const now = performance.now();
  const due = (p) => now - (drawnAt.get(p) ?? -Infinity) >= REDRAW_MS;
  const shown = (p) => p === 'status' || visible.has(FIGURE_OF[p.split(':')[0]]);
  const part = PARTS.find((p) => dirty.has(p) && shown(p) && due(p));
  if (!part) {
    // Parts waiting for their interval: come back when the first is due.
    const waiting = PARTS.filter((p) => dirty.has(p) && shown(p));
    if (waiting.length && !later) {
      const wait = Math.min(...waiting.map((p) => REDRAW_MS - (now - drawnAt.get(p))));
      later = setTimeout(() => {
        later = 0;
        invalidate(...dirty);
      }, Math.max(0, wait));
    }
    return;
  }
  dirty.delete(part);
  drawnAt.set(part, now);
  const [name, chunk] = part.split(':');
  if (name === 'status') {
    $('status').textContent = statusText();
    $('btn-run').textContent = state.running ? 'Pause' : 'Run';
    $('btn-run').disabled = (state.done && !state.running) || !!state.resetting;
    $('btn-step').disabled = state.running || state.done || !!state.resetting;
    renderTiming();
    renderScrubber();
  } else if (name === 'curves') {
    // One chart a frame: building a chart of 32 runs' lines is a task of its own.
    if (state.seeds > 1) charts.updateBand(chunk, view.bands, state.startEval);
    else charts.updateCurve(chunk, state.history, state.startEval);
  } else if (name === 'summary') renderSummary();
  else if (name === 'flags') renderFlags();
  else if (name === 'losses') charts.updateLosses(state.history, Number(chunk), LOSSES.length);
  else if (name === 'tensors') {
    heatmaps.render($('heatmaps-ppo'), view.snapshot?.ppo, notKept('ppo'));
    const group = groupColumns();
    const grpo = group ? view.snapshot.grpo.map((m) => sliceColumns(m, ...group)) : view.snapshot?.grpo;
    heatmaps.render($('heatmaps-grpo'), grpo, notKept('grpo'));
  } else if (name === 'completions') {
    completions.ppo.render(view.snapshot?.ppo_completions);
    const group = groupColumns();
    const rows = view.snapshot?.grpo_completions;
    completions.grpo.render(rows && group ? { ...rows, rows: rows.rows.slice(...group) } : rows);
  } else if (name === 'env') {
    envView.setTrajectories(view.snapshot?.trajectories ?? [], view.snapshot?.group_size ?? 0);
    const s = view.snapshot;
    if (s?.grpo_update && !s.grpo_tensors) $('traj-info').textContent = `Update ${s.grpo_update}'s trajectories were not kept: scrub to one whose tensors were.`;
  }
  frame = requestAnimationFrame(drawNext);
}

const CURVES = ['curves:steps', 'curves:wall', 'curves:accuracy'];

function render() {
  invalidate('status', ...CURVES, 'flags', ...LOSSES);
}

// ---------------------------------------------------------------- the scrubber and the groups
//
// A slider over the shown seed's updates selects the one the tensors, completions, groups and
// environment replay show (the latest unless scrubbed back); the curves mark it. Each run's
// worker keeps every update's completions and group summaries, and the full tensors of a bounded
// number of updates (`src/history.rs`).

/** The most updates of the shown seed's runs: the scrubber's end. */
const latestUpdate = () => Math.max(0, ...ALGOS.map((a) => runOf(a)?.history.length ?? 0));

/** Why a part of the shown update has no tensors (its history kept only its light part), else
 *  the usual empty text. */
function notKept(algo) {
  const s = view.snapshot;
  const n = s?.[`${algo}_update`];
  if (s && n && !s[`${algo}_tensors`]) {
    const { recent, spread } = state.createdBy[algo].kept;
    return `Update ${n}'s tensors were not kept: a run keeps every update's completions and group summaries, and the full tensors of its first update, its last ${recent} and ${spread} spread over it. Scrub to one of those, or share a link with at=${n}, which replays the run to it.`;
  }
  return undefined;
}

/** GRPO's groups in the shown snapshot: `[{prompt, mean, std, min, max, mean_length}]`. */
const groupsShown = () => view.snapshot?.groups ?? [];

/** The columns `[start, end)` of the GRPO group shown, or null for the whole batch: a batch
 *  with more rows than a heatmap fits (a text task's 16 prompts × 16 completions) is shown one
 *  group at a time, the last one unless the reader picked another. */
function groupColumns() {
  const groups = groupsShown().length;
  const G = view.snapshot?.group_size ?? 0;
  if (groups < 2 || !G) return null;
  const whole = fits(groups * G);
  if (typeof view.group === 'number' && view.group < groups) return [view.group * G, (view.group + 1) * G];
  return whole ? null : [(groups - 1) * G, groups * G];
}

function describeGroup(g, k) {
  const at = (x) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(3));
  const signal = g.std > 0 ? '' : ' · no signal';
  return `${k}${g.prompt ? ` · ${g.prompt}` : ''} · reward ${at(g.mean)} ± ${at(g.std)} · length ${g.mean_length.toFixed(1)}${signal}`;
}

function renderScrubber() {
  const max = latestUpdate();
  $('scrubber').hidden = max < 1;
  if (max < 1) return;
  const slider = $('update-slider');
  slider.max = String(max);
  const shown = Math.min(view.at ?? max, max);
  if (Number(slider.value) !== shown) slider.value = String(shown);
  const s = view.snapshot;
  const lacking = ALGOS.filter((a) => s?.[`${a}_update`] && !s[`${a}_tensors`]).map((a) => a.toUpperCase());
  const label = $('update-label');
  label.textContent = `${shown} of ${max}${view.at === null ? ' (latest)' : ''}${lacking.length ? ` — ${lacking.join(' and ')}: tensors not kept, completions and groups only` : ''}`;
  label.classList.toggle('not-kept', lacking.length > 0);
  $('btn-latest').disabled = view.at === null;
  charts.setMark(view.at === null ? null : Object.fromEntries(ALGOS.map((a) => [a, runOf(a)?.history[Math.min(view.at, runOf(a).history.length) - 1] ?? null])));
  renderGroups();
}

function renderGroups() {
  const groups = groupsShown();
  const picker = $('group-picker');
  picker.hidden = groups.length < 2;
  if (groups.length < 2) return;
  const select = $('group-select');
  const G = view.snapshot.group_size;
  const options = [...(fits(groups.length * G) ? [['all', `all ${groups.length} groups`]] : []), ...groups.map((g, k) => [String(k), describeGroup(g, k)])];
  const range = groupColumns();
  const same = select.options.length === options.length && options.every(([v, t], i) => select.options[i].value === v && select.options[i].textContent === t);
  if (!same) {
    select.replaceChildren(
      ...options.map(([v, t]) => {
        const o = document.createElement('option');
        o.value = v;
        o.textContent = t;
        return o;
      }),
    );
  }
  select.value = range ? String(range[0] / G) : 'all';
}

/** Show update `n` of the shown seed's runs (null: follow the latest). Each algorithm's part
 *  comes from its run's worker (the last update of a run that took fewer). */
async function scrubTo(n) {
  const max = latestUpdate();
  view.at = n === null || max < 1 ? null : Math.max(1, Math.min(Math.round(n), max));
  const token = ++view.scrubs;
  const [current, k, at] = [state.session, state.selected, view.at];
  if (charts) renderScrubber();
  const parts = await session.partsAt(at).catch((e) => (token === view.scrubs && fail(`Could not show update ${at}: ${e.message}`), []));
  if (token !== view.scrubs || current !== state.session || k !== state.selected) return;
  for (const part of parts) renderSnapshot(...part);
}

/** The shown seed's flags, both algorithms', by update: `[{algo, kind, update, message}]`. */
function shownFlags() {
  const flags = ALGOS.flatMap((algo) => (runOf(algo)?.flags ?? []).map((f) => ({ algo, ...f })));
  return flags.sort((a, b) => a.update - b.update || a.algo.localeCompare(b.algo));
}

/** One line per known failure mode where it started (the core's `flags.rs` finds them). */
function renderFlags() {
  const list = $('flags');
  const flags = shownFlags();
  list.hidden = !flags.length;
  list.replaceChildren(
    ...flags.map((f) => {
      const li = document.createElement('li');
      li.dataset.kind = f.kind;
      const where = document.createElement('b');
      where.textContent = `update ${f.update} · ${f.algo.toUpperCase()} · ${f.kind.replaceAll('_', ' ')}: `;
      li.append(where, f.message);
      return li;
    }),
  );
}

/** The summary table over seeds: per algorithm and metric, the aggregate and its interval. */
function renderSummary() {
  const table = $('summary');
  const body = table.querySelector('tbody');
  body.replaceChildren();
  const report = view.summary;
  table.hidden = !report;
  $('summary-legend').textContent = report ? `${report.legend}${state.seeds === 1 ? ' One seed is an anecdote: raise seeds for an interval.' : ''}` : '';
  if (!report) return;
  for (const row of report.rows) {
    const tr = document.createElement('tr');
    for (const text of [row.metric, row.ppo.text, row.grpo.text, row.ppo_better_text]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    body.append(tr);
  }
}

// ---------------------------------------------------------------- statistics over seeds
//
// The statistics worker aggregates the runs (the same Rust as `pvg report`): the summary table
// from every run's scores, and, with several seeds, each curve's aggregate and 95% band on a
// grid. One request at a time; updates that arrive meanwhile are taken by the next.

const BAND_POINTS = 80;
/** At most one aggregate this often (ms): the statistics worker shares the cores with the runs. */
const STATS_EVERY_MS = 500;
let statsBusy = false;
let statsDirty = false;

function scheduleStats() {
  statsDirty = true;
  if (statsBusy || !stats || !state.runs.length) return;
  statsBusy = true;
  statsDirty = false;
  const session = state.session;
  const request = statsRequest();
  stats
    .call('aggregate', request)
    .then((result) => {
      if (session !== state.session) return;
      view.summary = result.summary;
      view.bands = result.bands;
      invalidate(...CURVES, 'summary');
    })
    .catch(() => {})
    .finally(() => {
      statsBusy = false;
      if (statsDirty) setTimeout(scheduleStats, STATS_EVERY_MS);
    });
}

function statsRequest() {
  const byAlgo = (f) => Object.fromEntries(ALGOS.map((a) => [a, state.runs.filter((r) => r.algo === a).map(f)]));
  const request = {
    env: new URLSearchParams(state.createdBy.ppo.fragment).get('env'),
    scores: byAlgo((r) => r.scores ?? { seed: r.seed }),
    points: BAND_POINTS,
    curves: null,
  };
  if (state.seeds > 1) {
    const curve = (x, y, start = null) => byAlgo((r) => curveOf(r.history, x, y, start));
    request.curves = { steps: curve('env_steps', 'mean_return'), wall: curve('wall_s', 'mean_return') };
    if (state.startEval !== null) request.curves.accuracy = curve('env_steps', 'eval_mean_return', state.startEval);
  }
  return request;
}

/** `algo`'s worker's snapshot: its own part of the figures. */
function renderSnapshot(algo, snapshot) {
  const s = (view.snapshot ??= { ppo: [], grpo: [], trajectories: [], group_size: 0 });
  if (algo === 'ppo') {
    const { ppo, ppo_completions, ppo_update, ppo_tensors } = snapshot;
    Object.assign(s, { ppo, ppo_completions, ppo_update, ppo_tensors });
  } else {
    const { grpo, trajectories, group_size, grpo_completions, grpo_update, grpo_tensors, groups } = snapshot;
    Object.assign(s, { grpo, trajectories, group_size, grpo_completions, grpo_update, grpo_tensors, groups });
  }
  invalidate('tensors', 'completions', 'env', 'status');
}

function watchVisibility() {
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.isIntersecting) visible.add(e.target.id);
      else visible.delete(e.target.id);
    }
    invalidate(...[...dirty]);
  });
  for (const id of Object.values(FIGURE_OF)) io.observe($(id));
}

/** Seconds as milliseconds with `digits` decimals; below the last digit, "< 0.01" (not "0.00"). */
export function milliseconds(seconds, digits) {
  const ms = seconds * 1e3;
  const least = 10 ** -digits;
  return ms > 0 && ms < least ? `< ${least.toFixed(digits)}` : ms.toFixed(digits);
}

function renderTiming() {
  const body = document.querySelector('#timing tbody');
  body.replaceChildren();
  for (const algo of ALGOS) {
    const h = state.history[algo];
    const m = h[h.length - 1];
    if (!m) continue;
    const prev = h.length > 1 ? h[h.length - 2].env_steps : 0;
    const seconds = m.rollout_s + m.advantage_s + m.update_s;
    const cells = [
      algo.toUpperCase(),
      backendOf(algo),
      milliseconds(m.rollout_s, 1),
      milliseconds(m.advantage_s, 2),
      milliseconds(m.update_s, 1),
      ((m.env_steps - prev) / seconds).toFixed(0),
    ];
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.append(td);
    }
    body.append(tr);
  }
}

// ---------------------------------------------------------------- the session's events

/** A run took an update (recorded in `state` by the session): say what went wrong, if
 *  anything, and draw what changed. */
function updated(run, data, { lost, error }) {
  const { algo } = run;
  const name = algo.toUpperCase();
  const which = state.seeds > 1 ? `${name} (seed ${run.seed})` : name;
  if (lost) {
    const last = lost.update - 1;
    showProblems(`${which} lost its WebGPU device and carries on on the CPU`, [
      {
        key: algo,
        message:
          `${oneLine(lost.error)} during update ${lost.update}. ${name} took update ${lost.update} again on the CPU, from its state ` +
          `after update ${last} (weights, optimiser moments, environments, RNG), and carries on there: no update was lost ` +
          `(the failed attempt's ${lost.lost_s.toFixed(2)} s are not in its time). A shared link replays on WebGPU ` +
          `throughout, so its figures after update ${last} will differ in detail.`,
      },
    ]);
  }
  if (error) {
    state.lastError = `${which}: ${error}`;
    showProblems(`${which} stopped; its history is kept`, [{ key: algo, message: error }]);
  }
  // The slider's end moves with the runs at once (its label waits for the next redraw), so that
  // a key pressed meanwhile steps from the latest update, not from a stale end.
  if (run.k === state.selected) {
    const slider = $('update-slider');
    slider.max = String(latestUpdate());
    if (view.at === null) slider.value = slider.max;
  }
  // Following the latest, every update is shown; scrubbed back, only the update the scrubber
  // waits for (a link's `at` while its run replays).
  const shown = view.at === null || run.history.length === view.at;
  if (data.snapshot && run.k === state.selected && shown) renderSnapshot(algo, data.snapshot);
  render();
  scheduleStats();
}

function hookUp() {
  Object.assign(session.hooks, {
    changed: render,
    failed: fail,
    progress: (text) => ($('status').textContent = text),
    updated,
    crashed: (reason) => fail(`The training worker crashed and was restarted (${reason}). The curves so far are kept; press Reset to start again.`),
  });
}

// ---------------------------------------------------------------- actions

async function reset(fragment, options) {
  // Step and Run wait for a reset in progress, rather than advancing the runs it replaces.
  const done = resetNow(fragment, options);
  state.resetting = done;
  render();
  try {
    return await done;
  } finally {
    if (state.resetting === done) state.resetting = null;
    render();
  }
}

async function resetNow(fragment, { fromUrl = false } = {}) {
  await pause();
  const parsed = await bridge().call('parseUrl', { url: fragment });
  if (fromUrl) showNotice(parsed.notice);
  if (parsed.problems.length && !fromUrl) {
    // An edit that does not validate leaves the current runs untouched.
    controls.markProblems(parsed.problems);
    showProblems('Not applied: fix these settings first (the current runs are unchanged)', parsed.problems);
    return parsed;
  }
  // The new runs are created first: if they cannot be (a base model that fails to load), the
  // runs on the page stay as they were.
  $('status').textContent = `${statusText()} — starting the new experiment…`;
  let created;
  try {
    created = await session.createRuns(parsed.fragment);
  } catch (e) {
    const kept = state.session === null ? '' : ' The runs on the page are unchanged.';
    if (state.session === null) {
      controls.loadFragment(parsed.fragment);
      showEnv();
    }
    fail(`Could not start the experiment: ${e.message}.${kept}`);
    return parsed;
  }
  const { runs } = created;
  showProblems('This link had problems; the page used the values shown', parsed.problems);
  controls.loadFragment(parsed.fragment);
  controls.markProblems(parsed.problems);
  session.adopt(runs, created.choice, created.pool);
  Object.assign(view, { snapshot: null, summary: null, bands: null, at: null, group: null });
  view.scrubs++;
  showSeeds();
  if (state.seeds > 1) charts.prepareBands(state.seeds, state.startEval !== null);
  showChoice();
  const notes = [...new Set(runs.map((r) => r.created.note).filter(Boolean))];
  if (notes.length) showProblems('Backend', notes.map((message) => ({ key: 'backend', message })));
  showEnv();
  invalidate();
  scheduleStats();
  return parsed;
}

/** The seed selector: which seed's losses, tensors, completions and environment are shown. */
function showSeeds() {
  const select = $('seed-select');
  select.replaceChildren(
    ...Array.from({ length: state.seeds }, (_, k) => {
      const o = document.createElement('option');
      o.value = String(k);
      o.textContent = `seed ${runOf('ppo', k).seed}`;
      return o;
    }),
  );
  select.value = String(state.selected);
  $('seed-picker').hidden = state.seeds < 2;
}

/** Show seed index `k`: its metrics, and its runs' latest snapshots. */
async function selectSeed(k) {
  // A Run's workers send the snapshots they were asked for when it started: pause, then go on.
  const wasRunning = state.running;
  if (wasRunning) await pause();
  const current = state.session;
  view.snapshot = null;
  const snapshots = session.showSeed(k);
  invalidate();
  if (view.at === null) {
    for (const [algo, snapshot] of await snapshots) if (current === state.session && state.selected === k) renderSnapshot(algo, snapshot);
  } else await scrubTo(view.at);
  $('seed-select').value = String(k);
  invalidate();
  if (wasRunning && current === state.session) run();
}

/** An environment on the page (the form's unless named): its replay, or, for a text task, its
 *  completions and held-out accuracy instead. */
function showEnv(env = controls.value('env')) {
  envView.setEnv(env);
  document.body.classList.toggle('text-task', controls.isText(env));
}

function showChoice() {
  const c = state.choice;
  const ms = (x) => (x === null || x === undefined ? 'not measured' : `${x.toFixed(1)} ms`);
  const timed = c && (c.cpu_ms !== null || c.webgpu_ms !== null) ? ` Per update: CPU ${ms(c.cpu_ms)}, WebGPU ${ms(c.webgpu_ms)}.` : '';
  $('backend-choice').textContent = c ? `backend=auto chose ${c.reason}.${timed}` : '';
  $('backend-choice').hidden = !c;
}

const { step, run, pause } = session;
/** The link that replays the page's runs, opening at the update shown when it is not the latest. */
const shareUrl = () => session.shareUrl(controls.fragment()) + (view.at !== null && state.steps ? `&at=${view.at}` : '');

// ---------------------------------------------------------------- embed

/** Show one figure with minimal chrome (an `<iframe>` in someone's post). */
function enterEmbed(figure) {
  document.body.classList.add('embed');
  document.body.dataset.figure = figure;
  const bar = $('embed-bar');
  const link = document.createElement('a');
  const params = new URLSearchParams(location.hash.slice(1));
  params.delete('figure');
  link.href = `${location.origin}${location.pathname}#${params}`;
  link.target = '_blank';
  link.rel = 'noopener';
  link.textContent = 'open in playground ↗';
  bar.append($('btn-step'), $('btn-run'), link);
  bar.hidden = false;
}

/** Resolves once `el` is scrolled into view: an embed starts its run lazily. */
function whenVisible(el) {
  return new Promise((resolve) => {
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        io.disconnect();
        resolve();
      }
    });
    io.observe(el);
  });
}

/** `snapshot` with JSON-like values only (see `window.playground.snapshot`); as in JSON, a NaN
 *  or an infinity becomes null. */
function plain(snapshot) {
  return JSON.parse(
    JSON.stringify(snapshot, (key, value) => {
      if (ArrayBuffer.isView(value)) return Array.from(value);
      if (value && value.state_dim !== undefined && ArrayBuffer.isView(value.states)) {
        const { state_dim: d, states, ...rest } = value;
        return { ...rest, states: Array.from({ length: states.length / d }, (_, i) => Array.from(states.subarray(i * d, (i + 1) * d))) };
      }
      return value;
    }),
  );
}

/** Update `n` of the shown seed's runs (as `snapshot(n)` in `window.playground`). */
async function snapshotAt(n) {
  await started;
  if (!Number.isInteger(n) || n < 1 || n > latestUpdate()) throw new Error(`there is no update ${n}: the runs shown have taken ${latestUpdate()}`);
  const parts = Object.fromEntries(await session.partsAt(n, 'json'));
  const [ppo, grpo] = ALGOS.map((algo) => parts[algo] ?? {});
  return plain({ ...grpo, ppo_update: ppo.ppo_update ?? null, ppo_tensors: ppo.ppo_tensors ?? false, ppo: ppo.ppo ?? [], ppo_completions: ppo.ppo_completions ?? null });
}

// ---------------------------------------------------------------- asking the model

/** The answers to `prompt` of the base and the shown seed's PPO and GRPO policies (each from its
 *  run's worker), or of the models of a loaded adapters file (`bytes`). */
async function complete(prompt, bytes = null) {
  if (typeof prompt !== 'string') throw new Error('the prompt must be text, such as dcba=');
  if (bytes) return bridge().call('completeWith', { bytes, prompt });
  if (state.session === null) throw new Error('no experiment is loaded');
  const [ppo, grpo] = await session.eachRun('complete', { prompt });
  const model = (answers, name) => answers.models.find((m) => m.model === name);
  return { ...grpo, models: [model(grpo, 'base'), model(ppo, 'ppo'), model(grpo, 'grpo')] };
}

/** The shown seed's trained adapters, PPO's and GRPO's in one file: `{bytes, name}`. */
async function adaptersFile() {
  if (state.session === null) throw new Error('no experiment is loaded');
  const [a, b] = await session.eachRun('adapters');
  const bytes = await bridge().call('mergeAdapters', { a, b });
  const params = new URLSearchParams(state.createdBy.ppo.fragment);
  return { bytes, name: `${params.get('env')}-seed${runOf('ppo').seed}-update${latestUpdate()}.lora` };
}

async function memory() {
  const answers = await session.eachRun('held');
  return Object.fromEntries(ALGOS.map((algo, i) => [algo, { held: answers[i].held[algo], wasm_bytes: answers[i].wasm_bytes }]));
}

// ---------------------------------------------------------------- boot

async function boot() {
  const core = session.start(location.hash);
  hookUp();
  stats = new Bridge(core, () => {});
  const description = await bridge().call('describe');
  view.build = description.build;
  $('build-version').textContent = String(view.build.version);
  $('build-commit').textContent = view.build.commit;
  controls = new Controls($('config-form'), description, () => {
    $('status').textContent = `${statusText()} — settings edited: press Reset to apply`;
  });
  charts = new Charts();
  heatmaps = new Heatmaps($('heatmap-tip'));
  completions = {
    ppo: new CompletionsView($('completions-ppo'), $('completions-tip')),
    grpo: new CompletionsView($('completions-grpo'), $('completions-tip')),
  };
  envView = new EnvView($('env-canvas'), $('traj-select'), $('traj-slider'), $('btn-replay'), $('traj-info'));
  watchVisibility();
  askBox = new AskBox({ ask: complete, adapters: adaptersFile, check: (bytes) => bridge().call('adaptersFragment', { bytes }) });

  $('btn-step').addEventListener('click', () => step(1).catch(() => {}));
  $('btn-run').addEventListener('click', () => (state.running ? pause() : run()));
  $('btn-reset').addEventListener('click', () => reset(controls.fragment()));
  $('seed-select').addEventListener('change', (e) => selectSeed(Number(e.target.value)));
  // The slider's own keys step it (arrows, Page Up/Down, Home, End); its end follows the latest.
  $('update-slider').addEventListener('input', (e) => {
    const n = Number(e.target.value);
    scrubTo(n >= latestUpdate() ? null : n);
  });
  $('btn-latest').addEventListener('click', () => scrubTo(null));
  $('group-select').addEventListener('change', (e) => {
    view.group = e.target.value === 'all' ? 'all' : Number(e.target.value);
    invalidate('tensors', 'completions', 'status');
  });
  exporter.wire({
    shareUrl,
    history: session.exportedHistory,
    fragment: () => state.createdBy?.ppo.fragment ?? '',
    build: () => view.build,
    figures: description.figures,
  });

  const first = await bridge().call('parseUrl', { url: location.hash });
  showEnv(controls.env(new URLSearchParams(first.fragment).get('env')).id);
  if (first.figure) {
    view.embed = { figure: first.figure, started: false };
    enterEmbed(first.figure);
    await whenVisible($(`fig-${first.figure}`));
    view.embed.started = true;
  }
  view.webgpu = await bridge().call('probeWebGpu').catch((e) => ({ available: false, error: e.message }));
  renderExperiments($('experiments'), openLink);
  // A link pasted into the address bar (or Back to an earlier one) opens as on loading.
  window.addEventListener('hashchange', () => {
    if (!view.embed && new URLSearchParams(location.hash.slice(1)).has('env')) openLink(location.hash);
  });
  await openLink(location.hash);
}

/** Open a link's experiment (the page's own, or one of the experiments list): its runs replace
 *  the page's, replayed as it says (`run`), shown at its `at`. */
async function openLink(hash) {
  const parsed = await reset(hash, { fromUrl: true });
  // `at=N`: the page shows update N once its replay has taken it.
  view.at = parsed.at ?? null;
  const replay = parsed.replay;
  if (replay === 'all') run();
  else if (replay?.updates) await step(replay.updates).catch(() => {});
}

window.playground = {
  ready: null,
  status: () => ({
    backend: state.createdBy?.ppo.backend ?? null,
    /** Where each algorithm learns now (the CPU once its GPU was lost). */
    backends: { ppo: state.createdBy ? backendOf('ppo') : null, grpo: state.createdBy ? backendOf('grpo') : null },
    /** Where an algorithm's GPU was lost: {update, error, lost_s}, else null. */
    deviceLost: structuredClone(state.deviceLost),
    /** How `backend=auto` chose: {backend, cpu_ms, webgpu_ms, reason}, or null. */
    choice: state.choice && { ...state.choice },
    adapter: state.createdBy?.ppo.adapter ?? null,
    note: state.createdBy?.ppo.note ?? null,
    /** Helper workers that run shards of GRPO's updates beside its own worker (see `?helpers=N`). */
    helpers: state.createdBy?.grpo.helpers ?? 0,
    webgpu: view.webgpu,
    /** The build of the core the runs train in: 'full' (CPU and WebGPU) where the link may train on WebGPU, else 'cpu' (see `coreFor`). */
    core: session.coreKind(),
    updates: { ppo: session.firstSeed().ppo.length, grpo: session.firstSeed().grpo.length },
    /** Runs per algorithm (seeds seed, seed + 1, …), and the workers they train in. */
    seeds: state.seeds,
    pool: state.pool,
    steps: state.steps,
    running: state.running,
    done: state.done,
    errors: { ...state.errors },
    lastError: state.lastError,
    version: view.build?.version ?? null,
    commit: view.build?.commit ?? null,
    notice: view.notice,
    embed: view.embed && { ...view.embed },
  }),
  /** The first seed's metrics, `{ppo: [...], grpo: [...]}`. */
  metrics: () => structuredClone(session.firstSeed()),
  /** Every run's metrics, `{ppo: {"<seed>": [...]}, grpo: {...}}`. */
  runs: () => structuredClone(session.allRuns()),
  /** The summary table over seeds (as `pvg report` prints it), or null before the first figures. */
  summary: () => structuredClone(view.summary),
  /** The shown seed's flags (known failure modes), `[{algo, kind, update, message}]` by update. */
  flags: () => shownFlags(),
  /** Show seed index `k`'s losses, tensors, completions and environment. */
  selectSeed: async (k) => (await started, selectSeed(k)),
  /** The shown snapshot as plain values: typed arrays as arrays, a trajectory's flat states as one
   *  array per step. `snapshot(n)`: a promise of update `n`'s, as the shown seed's runs kept it
   *  (`ppo_tensors`/`grpo_tensors` false where only its completions and groups were kept), or an
   *  error saying there is no such update. */
  snapshot: (n) => (n === undefined ? plain(view.snapshot) : snapshotAt(n)),
  /** The update shown (null: the latest), and show update `n` (null: follow the latest). */
  at: () => view.at,
  scrubTo: async (n) => (await started, scrubTo(n)),
  /** What the shown seed's runs hold for the scrubber, per algorithm: `{held: {updates,
   *  full_updates, bytes}, wasm_bytes}` (`wasm_bytes`: its worker's whole WebAssembly memory). */
  memory: async () => (await started, memory()),
  /** A text task: `prompt` (e.g. `dcba=`) asked of the base, PPO's and GRPO's current policies
   *  (or of a loaded adapters file's), shown in "Ask the model" and returned: `{prompt, answer,
   *  temperature, samples, models: [{model, greedy, samples: [{text, tokens, ended, right,
   *  probability, count}]}]}`. A malformed prompt rejects with what is wrong, said in the box. */
  complete: async (prompt) => (await started, askBox.ask(prompt)),
  /** The shown seed's trained adapters as a file's bytes (what "Download adapters" saves). */
  adapters: async () => (await started, Array.from((await adaptersFile()).bytes)),
  /** The latest snapshots' transport times, `[{algo, transport, core_ms, total_ms}]`. */
  transfers: () => structuredClone(transfers),
  /** A text task's held-out accuracy of the base, where both algorithms start (else null). */
  startEval: () => state.startEval,
  // Calls made before the page has started wait for it, as a script author expects.
  step: async (n = 1) => (await started, step(n)),
  run: async () => (await started, run()),
  pause: async () => (await started, pause()),
  reset: async (fragment) => (await started, reset(fragment ?? controls.fragment())),
  shareUrl: () => shareUrl(),
  /** Test-only: destroy the WebGPU device of the worker of `algo`'s first seed, as a driver reset would. */
  loseDevice: async (algo) => (await started, session.workerOf(runOf(algo, 0)).send('loseDevice', {})),
  /** Test-only: the next update of `algo`'s first seed fails as a NaN would. */
  injectFault: async (algo) => (await started, session.workerOf(runOf(algo, 0)).call('injectFault', { session: runOf(algo, 0).id, algo })),
};
const started = boot().catch((e) => fail(`The page failed to start: ${e.message}`));
window.playground.ready = started;
