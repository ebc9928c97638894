// The session: an experiment's runs (each algorithm on each seed) in a pool of workers, and
// what acts on them: creating them from a link (with backend=auto's timing), Step, Run, Pause,
// the worker's events, and the shared link. No DOM here: `main.js` renders, through `hooks`.
import { Bridge, browserAdapter, compileCore, coreFor, withTimeout } from './bridge.js';

export const ALGOS = ['ppo', 'grpo'];
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
/** `?helpers=N` (a benchmark and test switch): each worker holding GRPO runs gets N helper
 *  workers for the shards of its updates (see `src/shards.rs`). Default: the cores the pool
 *  leaves free, shared among those workers, at most 3 each. Results do not depend on it. */
const HELPERS_ASKED = PARAMS.has('helpers') ? Math.max(0, Math.min(8, Number(PARAMS.get('helpers')) || 0)) : null;
export function helpersPerWorker(workers, grpoWorkers, asked = HELPERS_ASKED, cores = navigator.hardwareConcurrency || 2) {
  if (asked !== null) return asked;
  return Math.max(0, Math.min(3, Math.floor((cores - workers) / Math.max(1, grpoWorkers))));
}
/** `?time-software-gpu` (a test switch): time a software WebGPU adapter as a real one, instead
 *  of choosing the CPU at once (see `resolveBackend`). */
const TIME_SOFTWARE_GPU = PARAMS.has('time-software-gpu');
/** `?core=full|cpu` (a benchmark and test switch): load that build of the core whatever the link
 *  and the browser's adapter (see `coreFor`). */
const CORE_ASKED = PARAMS.get('core');
/** `?webgpu-budget=S` (a test switch): WebGPU's timing budget in seconds, instead of the core's
 *  (a software adapter's first update compiles its kernels for longer than a real GPU's). */
const WEBGPU_BUDGET_S = Number(PARAMS.get('webgpu-budget')) || null;
/** How snapshots cross from the workers: their numeric arrays as transferred typed arrays
 *  (`typed`), or (benchmark switches, `?transport=`) `json` as before, or `typed-swb`. */
export const TRANSPORT = PARAMS.get('transport') ?? 'typed';
/** Snapshot transport times of the latest updates (milliseconds from asking the core to the
 *  page's message handler): `{algo, transport, core_ms, total_ms}`. */
export const transfers = [];

export const state = {
  session: null, // the current experiment (a token: Step and Run notice a reset by it), null when none is live
  runs: [], // every run: {algo, k, seed, worker, id, created, history, scores, flags, error, deviceLost, steps, done}
  seeds: 1, // runs per algorithm
  selected: 0, // the seed (index k) the losses, tensors, completions, env and timing show
  pool: 0, // workers the runs train in
  createdBy: null, // {ppo, grpo}: the first seed's runs' {backend, adapter, note, fragment}
  history: { ppo: [], grpo: [] }, // the selected seed's runs' metrics
  errors: { ppo: null, grpo: null }, // the first error of each algorithm's runs
  deviceLost: { ppo: null, grpo: null }, // {update, error, lost_s}: where an algorithm's GPU was lost
  steps: 0, // experiment steps taken (one update of every run): the most of any run
  running: false,
  done: false,
  lastError: null,
  choice: null, // how backend=auto chose, if it did
  startEval: null, // a text task's held-out accuracy of the base, where both algorithms start
  resetting: null, // a Promise while a reset creates the new runs: Step and Run wait for it
  timingCrashed: null, // why backend=auto no longer times (a worker crashed while timing)
};

/** What the page does when the session changes: set by `main.js`. */
export const hooks = {
  /** Something the status line or the curves show changed. */
  changed() {},
  /** An action failed: say so (the page stays). */
  failed(_message) {},
  /** A step of a long action, for the status line. */
  progress(_text) {},
  /** Run `run` took an update (`data`: the worker's event), already recorded in `state`;
   *  `news` is `{lost, error}`: the device loss and the error it reported, if any. */
  updated(_run, _data, _news) {},
  /** A worker crashed and was restarted: its runs are gone. */
  crashed(_reason) {},
};

/** Workers that share one compiled core: `kind` ('full' or 'cpu') once it has compiled. */
class Pool {
  constructor(core) {
    this.core = core;
    this.kind = null;
    core.then((c) => (this.kind = c.kind), () => {});
    this.workers = [];
    this.helpers = []; // per worker, the helper workers connected to it
    this.helpersFailed = []; // per worker, why its helpers could not be connected: it gets no more
    this.helperCore = null;
  }

  /** The first `n` workers, started as needed. */
  take(n) {
    while (this.workers.length < n) {
      const w = this.workers.length;
      this.workers.push(new Bridge(this.core, (name, data) => this === pool && onEvent(w, name, data)));
    }
    return this.workers.slice(0, n);
  }

  /** Give worker `w` at least `n` helper workers (started here, on the main thread, each
   *  connected to it by a MessageChannel), within `HELPER_START_MS`. They run the CPU core
   *  whichever core the pool has: with the full core a helper gained nothing in Chromium (its
   *  shards started late, for reasons not found; the README has the figures), and it is four
   *  times the memory. */
  async connectHelpers(w, n) {
    if (this.helpersFailed[w]) throw new Error(this.helpersFailed[w]);
    this.helperCore ??= this.core.then((c) => (c.kind === 'cpu' ? c : compileCore('cpu')));
    const mine = (this.helpers[w] ??= []);
    const fresh = [];
    while (mine.length < n) {
      const helper = new Bridge(this.helperCore, () => {});
      mine.push(helper);
      fresh.push(helper);
    }
    if (!fresh.length) return;
    const channels = fresh.map(() => new MessageChannel());
    const connected = Promise.all([
      ...fresh.map((h, i) => h.call('serve', { port: channels[i].port2 }, [channels[i].port2])),
      this.workers[w].call('connect', { ports: channels.map((c) => c.port1) }, channels.map((c) => c.port1)),
    ]);
    try {
      await withTimeout(connected, HELPER_START_MS);
    } catch (e) {
      // Not connected: these helpers go, and the worker asks for none again.
      fresh.forEach((h) => h.close());
      this.helpersFailed[w] = e.message;
      throw e;
    }
  }

  close() {
    this.workers.forEach((w) => w.close());
    this.helpers.flat().forEach((h) => h.close());
  }
}

/** How long helper workers may take to start and connect (they compile the CPU core if the page
 *  has the full one: a second or two here). */
const HELPER_START_MS = 30_000;

let pool; // the pool the runs train in
let adapter; // a promise of the browser's WebGPU adapter (`browserAdapter()`)

/** The build of the core link `fragment` needs in this browser (see `coreFor`). */
const coreOf = async (fragment) =>
  coreFor(new URLSearchParams(fragment.replace(/^#/, '')).get('backend') ?? 'auto', await adapter, { timeSoftware: TIME_SOFTWARE_GPU, asked: CORE_ASKED });

/** Start the session on the core the page's first link `fragment` needs (the CPU one, a third of
 *  the download, unless it may train on WebGPU); the compiled core, for the page's other workers. */
export function start(fragment) {
  adapter = browserAdapter();
  const core = coreOf(fragment).then(compileCore);
  pool = new Pool(core);
  return core;
}

/** The pool's first worker, for requests about the page rather than a run. */
export const pageWorker = () => pool.take(1)[0];

/** The build of the core the runs train in: 'full', 'cpu', or null while it loads. */
export const coreKind = () => pool.kind;

/** `algo`'s run on seed index `k` (the selected one unless given). */
export const runOf = (algo, k = state.selected) => state.runs.find((r) => r.algo === algo && r.k === k);

/** The worker that holds `run`. */
export const workerOf = (run) => pool.workers[run.worker];

/** The pool for link `fragment`'s runs: the page's, or, where the page has the CPU core and the
 *  link may train on WebGPU, a new one on the full core (the page's runs stay in theirs until the
 *  new runs are adopted). */
async function poolFor(fragment) {
  await pool.core;
  if (pool.kind !== 'cpu' || (await coreOf(fragment)) !== 'full') return pool;
  return new Pool(compileCore('full').catch((e) => Promise.reject(new Error(`the core with WebGPU could not be loaded (${e.message})`))));
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

/** The runs of the link `fragment` (validated), created in their workers, and how
 *  backend=auto chose (null when the link named a backend): `{runs, choice}`. If any run
 *  cannot be created, none is kept and this throws; the runs on the page are untouched. */
export async function createRuns(fragment) {
  const into = await poolFor(fragment);
  try {
    const { url, choice } = await resolveBackend(fragment, into);
    const seeds = Number(new URLSearchParams(url).get('seeds') ?? 1);
    const runs = planRuns(url, into.take(poolSize(2 * seeds)).length);
    const workers = new Set(runs.map((r) => r.worker)).size;
    const helpers = helpersPerWorker(workers, new Set(runs.filter((r) => r.algo === 'grpo').map((r) => r.worker)).size);
    const made = await Promise.allSettled(runs.map((r) => into.workers[r.worker].call('create', { url: r.url, algos: r.algo })));
    const failed = made.find((m) => m.status === 'rejected');
    if (failed) {
      made.forEach((m, i) => m.status === 'fulfilled' && into.workers[runs[i].worker].call('drop', { session: m.value.id }).catch(() => {}));
      throw failed.reason;
    }
    runs.forEach((r, i) => Object.assign(r, { id: made[i].value.id, created: made[i].value, history: [], scores: null, flags: [], error: null, deviceLost: null, steps: 0, done: false }));
    if (helpers > 0) for (const r of runs.filter((x) => x.created.shards)) await helpRun(into, r, helpers);
    return { runs, choice, pool: into };
  } catch (e) {
    if (into !== pool) into.close();
    throw e;
  }
}

/** Give run `r` (just created, with shards) `n` helper workers; helpers only speed a run up, so
 *  where they cannot start or connect the run's note says why and its shards stay in its worker. */
async function helpRun(into, r, n) {
  try {
    await into.connectHelpers(r.worker, n);
    await into.workers[r.worker].call('useHelpers', { session: r.id, url: r.url, n });
    r.created.helpers = n;
  } catch (err) {
    r.created.note = [r.created.note, `no helper workers (${err?.message ?? err}): GRPO's shards run in its own worker`].filter(Boolean).join('; ');
  }
}

/** Replace the session's runs by `runs` (from `createRuns`, in its `into` pool), dropping the old
 *  ones (with their pool, when the new runs have another). */
export function adopt(runs, choice, into = pool) {
  if (into !== pool) {
    pool.close();
    pool = into;
  } else if (state.session !== null) for (const r of state.runs) pool.workers[r.worker].call('drop', { session: r.id }).catch(() => {});
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
    choice,
    createdBy: { ppo: first('ppo').created, grpo: first('grpo').created },
    startEval: runs.map((r) => r.created.start_eval).find((v) => v !== null && v !== undefined) ?? null,
  });
}

/** Seed index `k`'s runs become the shown ones; their latest snapshots, `[algo, snapshot]`
 *  for each that has one (fetched while the session is unchanged). */
export async function showSeed(k) {
  state.selected = k;
  state.history = { ppo: runOf('ppo').history, grpo: runOf('grpo').history };
  const got = await Promise.all(
    ALGOS.map(async (algo) => {
      const run = runOf(algo);
      if (!run.history.length) return null;
      const snapshot = await pool.workers[run.worker].call('snapshot', { session: run.id, transport: TRANSPORT }).catch(() => null);
      return snapshot && [algo, snapshot];
    }),
  );
  return got.filter(Boolean);
}

/** Each algorithm's part of update `at` (null: the latest) of the shown seed, from its run's
 *  worker: `[algo, part]` for each run that has one (the last update of a run that took fewer). */
export async function partsAt(at, transport = TRANSPORT) {
  const got = await Promise.all(
    ALGOS.map(async (algo) => {
      const run = runOf(algo);
      if (!run?.history.length) return null;
      const args = { session: run.id, transport, ...(at !== null && { at: Math.min(at, run.history.length) }) };
      return [algo, await pool.workers[run.worker].call('snapshot', args)];
    }),
  );
  return got.filter(Boolean);
}

/** `method` asked of each algorithm's run of the shown seed, in its worker, with `args`: the
 *  answers in the order of `ALGOS`. */
export function eachRun(method, args = {}) {
  return Promise.all(ALGOS.map((algo) => pool.workers[runOf(algo).worker].call(method, { session: runOf(algo).id, ...args })));
}

// ---------------------------------------------------------------- backend=auto

/** Timing lanes of `backend=auto`: each algorithm in a worker of its own, or both in one. */
function timingLanes(into) {
  const workers = into.take(poolSize(2));
  return workers.length > 1 ? [[workers[0], 'ppo'], [workers[1], 'grpo']] : [[workers[0], 'both']];
}

let budgets = null; // the core's timing budgets (src/backend.rs), read once

/** WebGPU timed in workers of its own, one per lane, stopped at the budget whatever they are
 *  doing (an update cannot be cut short from inside; a slow adapter's one update can take
 *  minutes): each lane's timing, a stopped lane's saying so. The workers go afterwards, with the
 *  devices they opened. */
async function timeWebGpu(url, lanes, cpu, budgetMs, core) {
  const workers = lanes.map(() => new Bridge(core, () => {}));
  let timer;
  const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve(null), budgetMs)));
  const timed = Promise.all(
    lanes.map(([, lane], i) => workers[i].call('timeBackend', { url, algos: lane, backend: 'webgpu', cpuTotalMs: cpu[i].total_ms })),
  );
  timed.catch(() => {}); // a stopped worker's request rejects after the race is settled
  try {
    const result = await Promise.race([timed, deadline]);
    const stopped = { available: true, figures: [], total_ms: budgetMs, note: null, error: `stopped at its ${budgetMs / 1000} s budget before its updates had ended` };
    return result ?? lanes.map(() => stopped);
  } finally {
    clearTimeout(timer);
    workers.forEach((w) => w.close());
  }
}

/** `backend=auto`: time a few updates of this experiment (its first seed) on the CPU and on
 *  WebGPU (each algorithm in its own worker where there are two; the CPU in both first, then
 *  WebGPU in two workers of its own, so that neither figure is taken beside the other backend's
 *  work; each within its budget, WebGPU's workers stopped at theirs) and choose
 *  the faster; `{url, choice}`: the link with the backend resolved, which the runs and their
 *  shared URL then carry, and how it was chosen (null when the link named a backend). Without
 *  WebGPU, or on a software adapter (one update of a text task took minutes on SwiftShader),
 *  nothing is timed: the CPU at once, saying why. If timing fails, the CPU, saying why; after a
 *  worker crashed while timing, the page does not time again. */
async function resolveBackend(url, into) {
  const bridge = into.take(1)[0];
  if (!(await bridge.call('backendIsAuto', { url }))) return { url, choice: null };
  const resolve = async (timings, failed = null, noGpu = null) => {
    const chosen = await bridge.call('chooseBackend', { url, timings, failed, noGpu });
    return { url: chosen.fragment, choice: chosen.choice };
  };
  if (state.timingCrashed) return resolve([], state.timingCrashed);
  const gpu = await bridge.call('probeWebGpu').catch((e) => ({ available: false, error: e.message }));
  if (!gpu.available) return resolve([], null, `WebGPU is unavailable${gpu.error ? ` (${gpu.error})` : ''}`);
  if (gpu.software && !TIME_SOFTWARE_GPU) return resolve([], null, `WebGPU's adapter is a software renderer, which trains no faster than the CPU (${gpu.software})`);
  if (into.kind === 'cpu') return resolve([], null, 'the page loaded its CPU core (?core=cpu), which has no WebGPU backend');
  try {
    const lanes = timingLanes(into);
    hooks.progress('backend=auto: timing a few updates on the CPU…');
    const cpu = await Promise.all(lanes.map(([w, lane]) => w.call('timeBackend', { url, algos: lane, backend: 'cpu', cpuTotalMs: 0 })));
    budgets ??= (await bridge.call('describe')).timing_budgets;
    const budgetMs = WEBGPU_BUDGET_S ? WEBGPU_BUDGET_S * 1000 : budgets.webgpu_ms;
    hooks.progress(`backend=auto: timing a few updates on WebGPU (at most ${budgetMs / 1000} s)…`);
    const webgpu = await timeWebGpu(url, lanes, cpu, budgetMs, into.core);
    return await resolve(cpu.map((c, i) => ({ cpu: c, webgpu: webgpu[i] })));
  } catch (e) {
    if (e.crashed) state.timingCrashed = `a worker crashed while timing: ${e.message}`;
    return resolve([], state.timingCrashed ?? e.message);
  }
}

// ---------------------------------------------------------------- Step, Run, Pause

/** The runs each worker holds: `[[bridge, runs]]`. */
function byWorker(runs) {
  const groups = new Map();
  for (const r of runs) groups.set(r.worker, [...(groups.get(r.worker) ?? []), r]);
  return [...groups].map(([w, rs]) => [pool.workers[w], rs]);
}

/** A worker request for `runs`: their sessions, and which of them send snapshots (the shown seed's). */
const request = (runs) => ({
  sessions: runs.map((r) => r.id),
  snapshots: runs.filter((r) => r.k === state.selected).map((r) => r.id),
  transport: TRANSPORT,
});

export async function step(n = 1) {
  if (state.resetting) await state.resetting;
  if (state.session === null) throw new Error('no experiment is loaded');
  const session = state.session;
  try {
    await Promise.all(byWorker(state.runs).map(([w, runs]) => w.call('step', { ...request(runs), n })));
  } catch (e) {
    if (session === state.session) hooks.failed(e.message);
    throw e;
  }
}

/** The run in progress: resolves once it has stopped (budget spent, paused or failed). */
let runStopped = Promise.resolve();

export function run() {
  if (state.resetting) return state.resetting.then(() => run());
  if (state.running || state.session === null || state.done) return runStopped;
  state.running = true;
  hooks.changed();
  const session = state.session;
  runStopped = Promise.all(byWorker(state.runs).map(([w, runs]) => w.call('run', request(runs))))
    .then(() => session === state.session && catchUp(session))
    .catch((e) => hooks.failed(e.message))
    .finally(() => {
      state.running = false;
      hooks.changed();
    });
  return runStopped;
}

export async function pause() {
  if (!state.running) return;
  await Promise.all(pool.workers.map((w) => w.call('pause')));
  // The run requests resolve after the updates in flight.
  await runStopped;
}

/** The runs go side by side, each worker at its own pace; when a run stops, the runs behind
 *  catch up, so that the page holds as many updates of each (unless one has finished) and a
 *  shared link's `run=N` replays exactly what is on the page. */
function catchUp(session) {
  const target = Math.max(...state.runs.map((r) => r.steps));
  const behind = state.runs.filter((r) => !r.done && r.steps < target);
  return Promise.all(behind.map((r) => pool.workers[r.worker].call('step', { ...request([r]), n: target - r.steps })));
}

/** The link that replays what the page holds (`fragment`: the form's, before any run). */
export function shareUrl(fragment) {
  const base = `${location.origin}${location.pathname}`;
  return `${base}#${state.createdBy?.ppo.fragment ?? fragment}&run=${state.steps}`;
}

// ---------------------------------------------------------------- worker events

/** The run behind an event of worker `w` about its session `id` (none once dropped). */
const runAt = (w, id) => state.runs.find((r) => r.worker === w && r.id === id);

/** An event from worker `w`: an update is recorded in its run, then shown (`hooks.updated`). */
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
    run.flags = r.flags[algo] ?? run.flags;
    const lost = r[`${algo}_device_lost`];
    if (lost) {
      run.deviceLost = lost;
      state.deviceLost[algo] ??= lost;
    }
    const error = r[`${algo}_error`];
    if (error) {
      run.error = error;
      state.errors[algo] ??= error;
    }
    run.done = r.done;
    state.done = state.runs.every((x) => x.done);
    if (data.snapshot && run.k === state.selected) {
      const received = performance.timeOrigin + performance.now();
      transfers.push({ algo, transport: TRANSPORT, core_ms: data.built - data.asked, total_ms: received - data.asked });
      if (transfers.length > 64) transfers.shift();
    }
    hooks.updated(run, data, { lost, error });
  } else if (name === 'restarted') {
    // The old worker's sessions are gone; the history on the page stays.
    // The other workers' sessions of the experiment go too.
    if (state.session) for (const run of state.runs) if (run.worker !== w) pool.workers[run.worker].call('drop', { session: run.id }).catch(() => {});
    state.session = null;
    state.running = false;
    state.done = true;
    hooks.crashed(data.reason);
  }
}

// ---------------------------------------------------------------- what scripts read

/** The first seed's histories (what `metrics()` returns, as before seeds). */
export function firstSeed() {
  const h = (algo) => runOf(algo, 0)?.history ?? [];
  return { ppo: h('ppo'), grpo: h('grpo') };
}

/** Every run's metrics, `{ppo: {"<seed>": [...]}, grpo: {...}}`. */
export function allRuns() {
  return Object.fromEntries(ALGOS.map((a) => [a, Object.fromEntries(state.runs.filter((r) => r.algo === a).map((r) => [String(r.seed), r.history]))]));
}

/** What CSV and JSON export: every run's metrics, each row with its seed when there are several. */
export function exportedHistory() {
  if (state.seeds < 2) return firstSeed();
  const rows = (algo) => state.runs.filter((r) => r.algo === algo).flatMap((r) => r.history.map((m) => ({ seed: r.seed, ...m })));
  return { ppo: rows('ppo'), grpo: rows('grpo') };
}
