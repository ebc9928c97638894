// The playground page: wires the worker, the form, the charts, the heatmaps and the env view,
// and exposes `window.playground` (status, metrics, step, run, pause, reset) for tests.
import { Bridge, compileCore } from './bridge.js';
import { Charts } from './charts.js';
import { CompletionsView } from './completions.js';
import { Controls } from './controls.js';
import { EnvView } from './envdraw.js';
import { Heatmaps } from './heatmaps.js';
import * as exporter from './export.js';

const $ = (id) => document.getElementById(id);

/** Each algorithm trains in its own Web Worker (its own wasm instance and, on WebGPU, its own
 *  device), so a machine with several cores trains both at once. */
const ALGOS = ['ppo', 'grpo'];
/** `?workers=1` (a benchmark switch, not part of the experiment): both algorithms in one worker,
 *  stepped in turn, as the page did before each had its own. */
const ONE_WORKER = new URLSearchParams(location.search).get('workers') === '1';
/** How snapshots cross from the workers: their numeric arrays as transferred typed arrays
 *  (`typed`), or (benchmark switches, `?transport=`) `json` as before, or `typed-swb`. */
const TRANSPORT = new URLSearchParams(location.search).get('transport') ?? 'typed';
/** Snapshot transport times of the latest updates (milliseconds from asking the core to the
 *  page's message handler): `{algo, transport, core_ms, total_ms}`. */
const transfers = [];

const state = {
  session: null, // {ppo, grpo}: each worker's id of the current experiment
  createdBy: null, // {ppo, grpo}: each algorithm's worker's {backend, adapter, note, fragment} (their backends differ after a lost device)
  webgpu: null, // {available, adapter, error}
  history: { ppo: [], grpo: [] },
  errors: { ppo: null, grpo: null },
  deviceLost: { ppo: null, grpo: null }, // {update, error, lost_s}: where an algorithm's GPU was lost
  steps: 0, // experiment steps taken (one update of each algorithm): the larger of stepsBy
  stepsBy: { ppo: 0, grpo: 0 },
  doneBy: { ppo: false, grpo: false },
  running: false,
  done: false,
  lastError: null,
  snapshot: null,
  choice: null, // how backend=auto chose, if it did
  startEval: null, // a text task's held-out accuracy of the base, where both algorithms start
  resetting: null, // a Promise while a reset creates the new runs: Step and Run wait for it
  timingCrashed: null, // why backend=auto no longer times (a worker crashed while timing)
  build: null, // {version, commit}: what made every figure on the page
  notice: null, // the opened link's version notice, if its code has changed since
  embed: null, // {figure, started} when the page is an embedded figure
};

let workers; // {ppo: Bridge, grpo: Bridge}: two, or the same one twice with ?workers=1
let bridge; // the PPO worker's, for requests about the page rather than a run
let controls;
let charts;
let heatmaps;
let completions; // {ppo, grpo}: CompletionsView
let envView;

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
  return `${name} — ${where} — PPO ${n('ppo')} updates, GRPO ${n('grpo')} updates`;
}

// ---------------------------------------------------------------- rendering
//
// Rendering is split into parts drawn one per animation frame, and a figure scrolled out of
// view waits until it is back: no main-thread task comes near 50 ms while both algorithms train.

const PARTS = ['status', 'curves', 'losses:0', 'losses:1', 'losses:2', 'tensors', 'completions', 'env'];
const FIGURE_OF = {
  curves: 'fig-curves',
  losses: 'fig-losses',
  tensors: 'fig-tensors',
  completions: 'fig-completions',
  env: 'fig-env',
};
const dirty = new Set();
const visible = new Set();
let frame = 0;

function invalidate(...parts) {
  for (const p of parts.length ? parts : PARTS) dirty.add(p);
  if (!frame && charts) frame = requestAnimationFrame(drawNext);
}

function drawNext() {
  frame = 0;
  const part = PARTS.find((p) => dirty.has(p) && (p === 'status' || visible.has(FIGURE_OF[p.split(':')[0]])));
  if (!part) return;
  dirty.delete(part);
  const [name, chunk] = part.split(':');
  if (name === 'status') {
    $('status').textContent = statusText();
    $('btn-run').textContent = state.running ? 'Pause' : 'Run';
    $('btn-run').disabled = (state.done && !state.running) || !!state.resetting;
    $('btn-step').disabled = state.running || state.done || !!state.resetting;
    renderTiming();
  } else if (name === 'curves') charts.updateCurves(state.history, state.startEval);
  else if (name === 'losses') charts.updateLosses(state.history, Number(chunk), 3);
  else if (name === 'tensors') {
    heatmaps.render($('heatmaps-ppo'), state.snapshot?.ppo);
    heatmaps.render($('heatmaps-grpo'), state.snapshot?.grpo);
  } else if (name === 'completions') {
    completions.ppo.render(state.snapshot?.ppo_completions);
    completions.grpo.render(state.snapshot?.grpo_completions);
  } else if (name === 'env') envView.setTrajectories(state.snapshot?.trajectories ?? [], state.snapshot?.group_size ?? 0);
  frame = requestAnimationFrame(drawNext);
}

function render() {
  invalidate('status', 'curves', 'losses:0', 'losses:1', 'losses:2');
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
  for (const algo of ['ppo', 'grpo']) {
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

/** The workers and what each advances: `[[bridge, 'ppo'], [bridge, 'grpo']]`, or
 *  `[[bridge, 'both']]` with one worker. `state.session[lane]` is that lane's session. */
function lanes() {
  return ONE_WORKER ? [[workers.ppo, 'both']] : ALGOS.map((a) => [workers[a], a]);
}

/** An event from `algo`'s worker. */
function onEvent(algo, name, data) {
  if (name === 'update') {
    if (data.session !== state.session?.[algo]) return;
    const r = data.report;
    state.stepsBy[algo] += 1;
    state.steps = Math.max(state.stepsBy.ppo, state.stepsBy.grpo);
    if (r[algo]) state.history[algo].push(r[algo]);
    const lost = r[`${algo}_device_lost`];
    if (lost) {
      state.deviceLost[algo] = lost;
      const name = algo.toUpperCase();
      const last = lost.update - 1;
      showProblems(`${name} lost its WebGPU device and carries on on the CPU`, [
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
      state.errors[algo] = err;
      state.lastError = `${algo.toUpperCase()}: ${err}`;
      showProblems(`${algo.toUpperCase()} stopped; its history is kept`, [{ key: algo, message: err }]);
    }
    state.doneBy[algo] = r.done;
    state.done = state.doneBy.ppo && state.doneBy.grpo;
    if (data.snapshot) {
      const received = performance.timeOrigin + performance.now();
      transfers.push({ algo, transport: TRANSPORT, core_ms: data.built - data.asked, total_ms: received - data.asked });
      if (transfers.length > 64) transfers.shift();
      renderSnapshot(algo, data.snapshot);
    }
    render();
  } else if (name === 'restarted') {
    // The old worker's sessions are gone; the history on the page stays.
    // The other worker's session goes too (with one worker, it is the one restarted).
    for (const [w, lane] of lanes()) if (w !== workers[algo] && state.session) w.call('drop', { session: state.session[lane] }).catch(() => {});
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
  let created;
  let choice = null;
  try {
    const resolved = await resolveBackend(parsed.fragment);
    choice = resolved.choice;
    const made = await Promise.allSettled(lanes().map(([w, lane]) => w.call('create', { url: resolved.url, algos: lane })));
    const failed = made.find((m) => m.status === 'rejected');
    if (failed) {
      made.forEach((m, i) => m.status === 'fulfilled' && lanes()[i][0].call('drop', { session: m.value.id }).catch(() => {}));
      throw failed.reason;
    }
    created = made.map((m) => m.value);
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
  if (state.session !== null) for (const [w, lane] of lanes()) w.call('drop', { session: state.session[lane] }).catch(() => {});
  Object.assign(state, {
    history: { ppo: [], grpo: [] },
    errors: { ppo: null, grpo: null },
    deviceLost: { ppo: null, grpo: null },
    steps: 0,
    stepsBy: { ppo: 0, grpo: 0 },
    doneBy: { ppo: false, grpo: false },
    done: false,
    lastError: null,
    snapshot: null,
    choice,
    createdBy: ONE_WORKER ? { ppo: created[0], grpo: created[0] } : { ppo: created[0], grpo: created[1] },
    startEval: created.find((c) => c.start_eval !== null && c.start_eval !== undefined)?.start_eval ?? null,
    session: ONE_WORKER ? { ppo: created[0].id, grpo: created[0].id, both: created[0].id } : { ppo: created[0].id, grpo: created[1].id },
  });
  showChoice();
  const notes = [...new Set(created.map((c) => c.note).filter(Boolean))];
  if (notes.length) showProblems('Backend', notes.map((message) => ({ key: 'backend', message })));
  showEnv();
  invalidate();
  return parsed;
}

/** An environment on the page (the form's unless named): its replay, or, for a text task, its
 *  completions and held-out accuracy instead. */
function showEnv(env = controls.value('env')) {
  envView.setEnv(env);
  document.body.classList.toggle('text-task', controls.isText(env));
}

/** `backend=auto`: time a few updates of this experiment on the CPU and on WebGPU (each worker
 *  its own algorithm; the CPU in both first, then WebGPU in both, so that neither figure is taken
 *  beside the other backend's work) and choose the faster; `{url, choice}`: the link with the
 *  backend resolved, which the run and its shared URL then carry, and how it was chosen (null
 *  when the link named a backend). If timing fails, the CPU, saying why; after a worker crashed
 *  while timing, the page does not time again. */
async function resolveBackend(url) {
  if (!(await bridge.call('backendIsAuto', { url }))) return { url, choice: null };
  const resolve = async (timings, failed = null) => {
    const chosen = await bridge.call('chooseBackend', { url, timings, failed });
    return { url: chosen.fragment, choice: chosen.choice };
  };
  if (state.timingCrashed) return resolve([], state.timingCrashed);
  try {
    const time = (backend, totals) =>
      Promise.all(lanes().map(([w, lane], i) => w.call('timeBackend', { url, algos: lane, backend, cpuTotalMs: totals?.[i] ?? 0 })));
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

async function step(n = 1) {
  if (state.resetting) await state.resetting;
  if (state.session === null) throw new Error('no experiment is loaded');
  const session = state.session;
  try {
    await Promise.all(lanes().map(([w, lane]) => w.call('step', { session: session[lane], n, snapshots: true, transport: TRANSPORT })));
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
  runStopped = Promise.all(lanes().map(([w, lane]) => w.call('run', { session: session[lane], snapshots: true, transport: TRANSPORT })))
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
  await Promise.all(lanes().map(([w]) => w.call('pause')));
  // The run requests resolve after the updates in flight.
  await runStopped;
}

/** The workers of a run go side by side, each at its own pace; when it stops, the one behind
 *  catches up, so that the page holds as many updates of each (unless one has finished) and a
 *  shared link's `run=N` replays exactly what is on the page. */
function catchUp(session) {
  const target = Math.max(state.stepsBy.ppo, state.stepsBy.grpo);
  const behind = ONE_WORKER ? [] : ALGOS.filter((a) => !state.doneBy[a] && state.stepsBy[a] < target);
  return Promise.all(behind.map((a) => workers[a].call('step', { session: session[a], n: target - state.stepsBy[a], snapshots: true, transport: TRANSPORT })));
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

async function boot() {
  const core = compileCore();
  if (ONE_WORKER) {
    const both = new Bridge(core, (name, data) => ALGOS.forEach((a) => onEvent(a, name, data)));
    workers = { ppo: both, grpo: both };
  } else {
    workers = Object.fromEntries(ALGOS.map((a) => [a, new Bridge(core, (name, data) => onEvent(a, name, data))]));
  }
  bridge = workers.ppo;
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
  exporter.wire({
    shareUrl,
    history: () => state.history,
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
    updates: { ppo: state.history.ppo.length, grpo: state.history.grpo.length },
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
  metrics: () => structuredClone(state.history),
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
  /** Test-only: destroy the WebGPU device of `algo`'s worker, as a driver reset would. */
  loseDevice: async (algo) => (await started, workers[algo].send('loseDevice', {})),
  /** Test-only: the next update of `algo` fails as a NaN would. */
  injectFault: async (algo) => (await started, workers[algo].call('injectFault', { session: state.session[algo], algo })),
};
const started = boot().catch((e) => fail(`The page failed to start: ${e.message}`));
window.playground.ready = started;
