// The playground page: wires the worker, the form, the charts, the heatmaps and the env view,
// and exposes `window.playground` (status, metrics, step, run, pause, reset) for tests.
import { Bridge, compileCore } from './bridge.js';
import { Charts, curveOf } from './charts.js';
import { CompletionsView } from './completions.js';
import { Controls } from './controls.js';
import { EnvView } from './envdraw.js';
import { Heatmaps } from './heatmaps.js';
import * as exporter from './export.js';

const $ = (id) => document.getElementById(id);

/** Every run (an algorithm on one seed) trains in a worker of a pool, each worker its own wasm
 *  instance (and, on WebGPU, its own device): one run per core at most. */
const ALGOS = ['ppo', 'grpo'];
const PARAMS = new URLSearchParams(location.search);
/** `?pool=N` (a benchmark and test switch, not part of the experiment): at most N workers;
 *  `?workers=1`, as before, one. Default: one per core (`navigator.hardwareConcurrency`). A run's
 *  results do not depend on the pool's size, nor on which worker ran it. */
const POOL_ASKED = Number(PARAMS.get('pool') ?? (PARAMS.get('workers') === '1' ? 1 : 0)) || 0;
const MAX_POOL = 32;
/** The workers `runs` runs train in. */
export function poolSize(runs, asked = POOL_ASKED, cores = navigator.hardwareConcurrency || 2) {
  return Math.max(1, Math.min(runs, asked || cores, MAX_POOL));
}
/** How snapshots cross from the workers: their numeric arrays as transferred typed arrays
 *  (`typed`), or (benchmark switches, `?transport=`) `json` as before, or `typed-swb`. */
const TRANSPORT = PARAMS.get('transport') ?? 'typed';
/** Snapshot transport times of the latest updates (milliseconds from asking the core to the
 *  page's message handler): `{algo, transport, core_ms, total_ms}`. */
const transfers = [];

const state = {
  session: null, // the current experiment (a token: Step and Run notice a reset by it), null when none is live
  runs: [], // every run: {algo, k, seed, worker, id, created, history, scores, error, deviceLost, steps, done}
  seeds: 1, // runs per algorithm
  selected: 0, // the seed (index k) the losses, tensors, completions, env and timing show
  pool: 0, // workers the runs train in
  createdBy: null, // {ppo, grpo}: the first seed's runs' {backend, adapter, note, fragment}
  webgpu: null, // {available, adapter, error}
  history: { ppo: [], grpo: [] }, // the selected seed's runs' metrics
  errors: { ppo: null, grpo: null }, // the first error of each algorithm's runs
  deviceLost: { ppo: null, grpo: null }, // {update, error, lost_s}: where an algorithm's GPU was lost
  steps: 0, // experiment steps taken (one update of every run): the most of any run
  running: false,
  done: false,
  lastError: null,
  snapshot: null,
  summary: null, // the summary table over seeds (stats::Report), from the statistics worker
  bands: null, // the curves over seeds (stats::Band per curve and algorithm)
  choice: null, // how backend=auto chose, if it did
  startEval: null, // a text task's held-out accuracy of the base, where both algorithms start
  resetting: null, // a Promise while a reset creates the new runs: Step and Run wait for it
  timingCrashed: null, // why backend=auto no longer times (a worker crashed while timing)
  build: null, // {version, commit}: what made every figure on the page
  notice: null, // the opened link's version notice, if its code has changed since
  embed: null, // {figure, started} when the page is an embedded figure
};

let core; // the compiled core, shared by every worker
const pool = []; // Bridge per worker, grown as runs need them
let stats; // the statistics worker's Bridge (summary table, bands): it never trains
let bridge; // the first worker's, for requests about the page rather than a run
let controls;
let charts;
let heatmaps;
let completions; // {ppo, grpo}: CompletionsView
let envView;

/** `algo`'s run on seed index `k` (the selected one unless given). */
const runOf = (algo, k = state.selected) => state.runs.find((r) => r.algo === algo && r.k === k);

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
  state.notice = text ?? null;
  $('notice').textContent = state.notice ?? '';
  $('notice').hidden = !state.notice;
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
const PARTS = ['status', 'curves:steps', 'curves:wall', 'curves:accuracy', 'summary', ...LOSSES, 'tensors', 'completions', 'env'];
const FIGURE_OF = {
  curves: 'fig-curves',
  summary: 'fig-curves',
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
  } else if (name === 'curves') {
    // One chart a frame: building a chart of 32 runs' lines is a task of its own.
    if (state.seeds > 1) charts.updateBand(chunk, state.bands, state.startEval);
    else charts.updateCurve(chunk, state.history, state.startEval);
  } else if (name === 'summary') renderSummary();
  else if (name === 'losses') charts.updateLosses(state.history, Number(chunk), LOSSES.length);
  else if (name === 'tensors') {
    heatmaps.render($('heatmaps-ppo'), state.snapshot?.ppo);
    heatmaps.render($('heatmaps-grpo'), state.snapshot?.grpo);
  } else if (name === 'completions') {
    completions.ppo.render(state.snapshot?.ppo_completions);
    completions.grpo.render(state.snapshot?.grpo_completions);
  } else if (name === 'env') envView.setTrajectories(state.snapshot?.trajectories ?? [], state.snapshot?.group_size ?? 0);
  frame = requestAnimationFrame(drawNext);
}

const CURVES = ['curves:steps', 'curves:wall', 'curves:accuracy'];

function render() {
  invalidate('status', ...CURVES, ...LOSSES);
}

/** The summary table over seeds: per algorithm and metric, the aggregate and its interval. */
function renderSummary() {
  const table = $('summary');
  const body = table.querySelector('tbody');
  body.replaceChildren();
  const report = state.summary;
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
      state.summary = result.summary;
      state.bands = result.bands;
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
  const s = (state.snapshot ??= { ppo: [], grpo: [], trajectories: [], group_size: 0 });
  if (algo === 'ppo') Object.assign(s, { ppo: snapshot.ppo, ppo_completions: snapshot.ppo_completions });
  else {
    const { grpo, trajectories, group_size, grpo_completions } = snapshot;
    Object.assign(s, { grpo, trajectories, group_size, grpo_completions });
  }
  invalidate('tensors', 'completions', 'env');
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

// ---------------------------------------------------------------- worker events

/** The run behind an event of worker `w` about its session `id` (none once dropped). */
const runAt = (w, id) => state.runs.find((r) => r.worker === w && r.id === id);

/** An event from worker `w`. */
function onEvent(w, name, data) {
  if (name === 'update') {
    const run = runAt(w, data.session);
    if (!run) return;
    const { algo } = run;
    const r = data.report;
    run.steps += 1;
    state.steps = Math.max(...state.runs.map((x) => x.steps));
    if (r[algo]) run.history.push(r[algo]);
    run.scores = r.scores[algo] ?? run.scores;
    const name = algo.toUpperCase();
    const which = state.seeds > 1 ? `${name} (seed ${run.seed})` : name;
    const lost = r[`${algo}_device_lost`];
    if (lost) {
      run.deviceLost = lost;
      state.deviceLost[algo] ??= lost;
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
    const err = r[`${algo}_error`];
    if (err) {
      run.error = err;
      state.errors[algo] ??= err;
      state.lastError = `${which}: ${err}`;
      showProblems(`${which} stopped; its history is kept`, [{ key: algo, message: err }]);
    }
    run.done = r.done;
    state.done = state.runs.every((x) => x.done);
    if (data.snapshot && run.k === state.selected) {
      const received = performance.timeOrigin + performance.now();
      transfers.push({ algo, transport: TRANSPORT, core_ms: data.built - data.asked, total_ms: received - data.asked });
      if (transfers.length > 64) transfers.shift();
      renderSnapshot(algo, data.snapshot);
    }
    render();
    scheduleStats();
  } else if (name === 'restarted') {
    // The old worker's sessions are gone; the history on the page stays.
    // The other workers' sessions of the experiment go too.
    if (state.session) for (const run of state.runs) if (run.worker !== w) pool[run.worker].call('drop', { session: run.id }).catch(() => {});
    state.session = null;
    state.running = false;
    state.done = true;
    fail(`The training worker crashed and was restarted (${data.reason}). The curves so far are kept; press Reset to start again.`);
  }
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

/** The pool's first `n` workers, started as needed. */
function workersFor(n) {
  while (pool.length < n) {
    const w = pool.length;
    pool.push(new Bridge(core, (name, data) => onEvent(w, name, data)));
  }
  return pool.slice(0, n);
}

/** The runs of an experiment: each algorithm on seeds seed, seed + 1, …, in the order
 *  (seed, algorithm). PPO's runs go to the workers in turn from the first, GRPO's from the
 *  worker after PPO's last, so that a worker's runs mix both algorithms (their costs differ
 *  tenfold on CartPole): one run per worker when there are as many workers as runs, and with
 *  seeds = 1 PPO's in the first worker and GRPO's in the second, as before seeds. */
export function planRuns(fragment, workers) {
  const params = new URLSearchParams(fragment);
  const seed = Number(params.get('seed') ?? 1);
  const seeds = Number(params.get('seeds') ?? 1);
  const runs = [];
  for (let k = 0; k < seeds; k++) {
    params.set('seed', String(seed + k));
    ALGOS.forEach((algo, a) => runs.push({ algo, k, seed: seed + k, url: params.toString(), worker: (a * seeds + k) % workers }));
  }
  return runs;
}

async function resetNow(fragment, { fromUrl = false } = {}) {
  await pause();
  const parsed = await bridge.call('parseUrl', { url: fragment });
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
  let runs;
  let choice = null;
  try {
    const resolved = await resolveBackend(parsed.fragment);
    choice = resolved.choice;
    const seeds = Number(new URLSearchParams(resolved.url).get('seeds') ?? 1);
    const workers = workersFor(poolSize(2 * seeds));
    runs = planRuns(resolved.url, workers.length);
    const made = await Promise.allSettled(runs.map((r) => pool[r.worker].call('create', { url: r.url, algos: r.algo })));
    const failed = made.find((m) => m.status === 'rejected');
    if (failed) {
      made.forEach((m, i) => m.status === 'fulfilled' && pool[runs[i].worker].call('drop', { session: m.value.id }).catch(() => {}));
      throw failed.reason;
    }
    runs.forEach((r, i) => Object.assign(r, { id: made[i].value.id, created: made[i].value, history: [], scores: null, error: null, deviceLost: null, steps: 0, done: false }));
  } catch (e) {
    const kept = state.session === null ? '' : ' The runs on the page are unchanged.';
    if (state.session === null) {
      controls.loadFragment(parsed.fragment);
      showEnv();
    }
    fail(`Could not start the experiment: ${e.message}.${kept}`);
    return parsed;
  }
  showProblems('This link had problems; the page used the values shown', parsed.problems);
  controls.loadFragment(parsed.fragment);
  controls.markProblems(parsed.problems);
  if (state.session !== null) for (const r of state.runs) pool[r.worker].call('drop', { session: r.id }).catch(() => {});
  const first = (algo) => runs.find((r) => r.algo === algo && r.k === 0);
  Object.assign(state, {
    session: {},
    runs,
    seeds: runs.length / 2,
    selected: 0,
    pool: new Set(runs.map((r) => r.worker)).size,
    history: { ppo: first('ppo').history, grpo: first('grpo').history },
    errors: { ppo: null, grpo: null },
    deviceLost: { ppo: null, grpo: null },
    steps: 0,
    done: false,
    lastError: null,
    snapshot: null,
    summary: null,
    bands: null,
    choice,
    createdBy: { ppo: first('ppo').created, grpo: first('grpo').created },
    startEval: runs.map((r) => r.created.start_eval).find((v) => v !== null && v !== undefined) ?? null,
  });
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
  state.selected = k;
  state.history = { ppo: runOf('ppo').history, grpo: runOf('grpo').history };
  state.snapshot = null;
  const session = state.session;
  await Promise.all(
    ALGOS.map(async (algo) => {
      const run = runOf(algo);
      if (!run.history.length) return;
      const snapshot = await pool[run.worker].call('snapshot', { session: run.id, transport: TRANSPORT }).catch(() => null);
      if (snapshot && session === state.session && state.selected === k) renderSnapshot(algo, snapshot);
    }),
  );
  $('seed-select').value = String(k);
  invalidate();
  if (wasRunning && session === state.session) run();
}

/** An environment on the page (the form's unless named): its replay, or, for a text task, its
 *  completions and held-out accuracy instead. */
function showEnv(env = controls.value('env')) {
  envView.setEnv(env);
  document.body.classList.toggle('text-task', controls.isText(env));
}

/** Timing lanes of `backend=auto`: each algorithm in a worker of its own, or both in one. */
function timingLanes() {
  const workers = workersFor(poolSize(2));
  return workers.length > 1 ? [[workers[0], 'ppo'], [workers[1], 'grpo']] : [[workers[0], 'both']];
}

/** `backend=auto`: time a few updates of this experiment (its first seed) on the CPU and on
 *  WebGPU (each algorithm in its own worker where there are two; the CPU in both first, then
 *  WebGPU in both, so that neither figure is taken beside the other backend's work) and choose
 *  the faster; `{url, choice}`: the link with the backend resolved, which the runs and their
 *  shared URL then carry, and how it was chosen (null when the link named a backend). If timing
 *  fails, the CPU, saying why; after a worker crashed while timing, the page does not time again. */
async function resolveBackend(url) {
  if (!(await bridge.call('backendIsAuto', { url }))) return { url, choice: null };
  const resolve = async (timings, failed = null) => {
    const chosen = await bridge.call('chooseBackend', { url, timings, failed });
    return { url: chosen.fragment, choice: chosen.choice };
  };
  if (state.timingCrashed) return resolve([], state.timingCrashed);
  try {
    const lanes = timingLanes();
    const time = (backend, totals) =>
      Promise.all(lanes.map(([w, lane], i) => w.call('timeBackend', { url, algos: lane, backend, cpuTotalMs: totals?.[i] ?? 0 })));
    $('status').textContent = 'backend=auto: timing a few updates on the CPU…';
    const cpu = await time('cpu');
    $('status').textContent = 'backend=auto: timing a few updates on WebGPU…';
    const webgpu = await time('webgpu', cpu.map((t) => t.total_ms));
    return await resolve(cpu.map((c, i) => ({ cpu: c, webgpu: webgpu[i] })));
  } catch (e) {
    if (e.crashed) state.timingCrashed = `a worker crashed while timing: ${e.message}`;
    return resolve([], state.timingCrashed ?? e.message);
  }
}

function showChoice() {
  const c = state.choice;
  const ms = (x) => (x === null || x === undefined ? 'not measured' : `${x.toFixed(1)} ms`);
  $('backend-choice').textContent = c ? `backend=auto chose ${c.reason}. Per update: CPU ${ms(c.cpu_ms)}, WebGPU ${ms(c.webgpu_ms)}.` : '';
  $('backend-choice').hidden = !c;
}

/** The runs each worker holds: `[[bridge, runs]]`. */
function byWorker(runs) {
  const groups = new Map();
  for (const r of runs) groups.set(r.worker, [...(groups.get(r.worker) ?? []), r]);
  return [...groups].map(([w, rs]) => [pool[w], rs]);
}

/** A worker request for `runs`: their sessions, and which of them send snapshots (the shown seed's). */
const request = (runs) => ({
  sessions: runs.map((r) => r.id),
  snapshots: runs.filter((r) => r.k === state.selected).map((r) => r.id),
  transport: TRANSPORT,
});

async function step(n = 1) {
  if (state.resetting) await state.resetting;
  if (state.session === null) throw new Error('no experiment is loaded');
  const session = state.session;
  try {
    await Promise.all(byWorker(state.runs).map(([w, runs]) => w.call('step', { ...request(runs), n })));
  } catch (e) {
    if (session === state.session) fail(e.message);
    throw e;
  }
}

/** The run in progress: resolves once it has stopped (budget spent, paused or failed). */
let runStopped = Promise.resolve();

function run() {
  if (state.resetting) return state.resetting.then(() => run());
  if (state.running || state.session === null || state.done) return runStopped;
  state.running = true;
  render();
  const session = state.session;
  runStopped = Promise.all(byWorker(state.runs).map(([w, runs]) => w.call('run', request(runs))))
    .then(() => session === state.session && catchUp(session))
    .catch((e) => fail(e.message))
    .finally(() => {
      state.running = false;
      render();
    });
  return runStopped;
}

async function pause() {
  if (!state.running) return;
  await Promise.all(pool.map((w) => w.call('pause')));
  // The run requests resolve after the updates in flight.
  await runStopped;
}

/** The runs go side by side, each worker at its own pace; when a run stops, the runs behind
 *  catch up, so that the page holds as many updates of each (unless one has finished) and a
 *  shared link's `run=N` replays exactly what is on the page. */
function catchUp(session) {
  const target = Math.max(...state.runs.map((r) => r.steps));
  const behind = state.runs.filter((r) => !r.done && r.steps < target);
  return Promise.all(behind.map((r) => pool[r.worker].call('step', { ...request([r]), n: target - r.steps })));
}

function shareUrl() {
  const base = `${location.origin}${location.pathname}`;
  const fragment = state.createdBy?.ppo.fragment ?? controls.fragment();
  return `${base}#${fragment}&run=${state.steps}`;
}

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

// ---------------------------------------------------------------- boot

/** The first seed's histories (what `metrics()` returns, as before seeds). */
function firstSeed() {
  const h = (algo) => runOf(algo, 0)?.history ?? [];
  return { ppo: h('ppo'), grpo: h('grpo') };
}

/** What CSV and JSON export: every run's metrics, each row with its seed when there are several. */
function exportedHistory() {
  if (state.seeds < 2) return firstSeed();
  const rows = (algo) => state.runs.filter((r) => r.algo === algo).flatMap((r) => r.history.map((m) => ({ seed: r.seed, ...m })));
  return { ppo: rows('ppo'), grpo: rows('grpo') };
}

async function boot() {
  core = compileCore();
  bridge = workersFor(1)[0];
  stats = new Bridge(core, () => {});
  const description = await bridge.call('describe');
  state.build = description.build;
  $('build-version').textContent = String(state.build.version);
  $('build-commit').textContent = state.build.commit;
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

  $('btn-step').addEventListener('click', () => step(1).catch(() => {}));
  $('btn-run').addEventListener('click', () => (state.running ? pause() : run()));
  $('btn-reset').addEventListener('click', () => reset(controls.fragment()));
  $('seed-select').addEventListener('change', (e) => selectSeed(Number(e.target.value)));
  exporter.wire({
    shareUrl,
    history: exportedHistory,
    fragment: () => state.createdBy?.ppo.fragment ?? '',
    build: () => state.build,
    figures: description.figures,
  });

  const first = await bridge.call('parseUrl', { url: location.hash });
  showEnv(controls.env(new URLSearchParams(first.fragment).get('env')).id);
  if (first.figure) {
    state.embed = { figure: first.figure, started: false };
    enterEmbed(first.figure);
    await whenVisible($(`fig-${first.figure}`));
    state.embed.started = true;
  }
  state.webgpu = await bridge.call('probeWebGpu').catch((e) => ({ available: false, error: e.message }));
  const parsed = await reset(location.hash, { fromUrl: true });
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
    webgpu: state.webgpu,
    updates: { ppo: firstSeed().ppo.length, grpo: firstSeed().grpo.length },
    /** Runs per algorithm (seeds seed, seed + 1, …), and the workers they train in. */
    seeds: state.seeds,
    pool: state.pool,
    steps: state.steps,
    running: state.running,
    done: state.done,
    errors: { ...state.errors },
    lastError: state.lastError,
    version: state.build?.version ?? null,
    commit: state.build?.commit ?? null,
    notice: state.notice,
    embed: state.embed && { ...state.embed },
  }),
  /** The first seed's metrics, `{ppo: [...], grpo: [...]}`. */
  metrics: () => structuredClone(firstSeed()),
  /** Every run's metrics, `{ppo: {"<seed>": [...]}, grpo: {...}}`. */
  runs: () => structuredClone(Object.fromEntries(ALGOS.map((a) => [a, Object.fromEntries(state.runs.filter((r) => r.algo === a).map((r) => [String(r.seed), r.history]))]))),
  /** The summary table over seeds (as `pvg report` prints it), or null before the first figures. */
  summary: () => structuredClone(state.summary),
  /** Show seed index `k`'s losses, tensors, completions and environment. */
  selectSeed: async (k) => (await started, selectSeed(k)),
  /** The last snapshot as plain values: typed arrays as arrays, a trajectory's flat states as one
   *  array per step. */
  snapshot: () => plain(state.snapshot),
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
  loseDevice: async (algo) => (await started, pool[runOf(algo, 0).worker].send('loseDevice', {})),
  /** Test-only: the next update of `algo`'s first seed fails as a NaN would. */
  injectFault: async (algo) => (await started, pool[runOf(algo, 0).worker].call('injectFault', { session: runOf(algo, 0).id, algo })),
};
const started = boot().catch((e) => fail(`The page failed to start: ${e.message}`));
window.playground.ready = started;
