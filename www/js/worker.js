// The Web Worker that owns the training core (wasm). It runs one request at a time, except
// `pause`, which takes effect between two updates of a running session. Its first message,
// `init`, brings the core as a WebAssembly.Module the page compiled once for all its workers,
// with the URL of the wasm-bindgen module that goes with it (the full core's or the CPU core's).
import { Channel, browserAdapter, withTimeout } from './bridge.js';

let core; // that module's exports, once imported
let compiled; // {kind, module, glue}: the core as `init` brought it

let received;
const ready = new Promise((resolve) => (received = resolve)).then(async ({ module, glue }) => {
  core = await import(glue);
  return core.default({ module_or_path: module });
});
let running = null; // a token of the current Run, or null
let queue = Promise.resolve();

// Every WebGPU device this worker's core opens, for the test-only `loseDevice`, which destroys
// them as a driver reset would (the core then carries on on the CPU).
const gpuDevices = [];
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    gpuDevices.push(device);
    return device;
  };
}

/** Answer request `id` where it came from (`to`: the page, or the run a helper serves). */
const reply = (id, payload, to = self) => to.postMessage({ type: 'reply', id, ...payload });
const event = (name, data, transfer = []) => self.postMessage({ type: 'event', name, data }, transfer);
/** Absolute milliseconds, comparable across the page and its workers. */
const now = () => performance.timeOrigin + performance.now();
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

self.onmessage = (e) => {
  const { id, method, args } = e.data;
  if (method === 'init') {
    compiled = args;
    received(args);
    ready.then(() => reply(id, { ok: true, result: null }), (err) => reply(id, { ok: false, error: String(err?.message ?? err) }));
    return;
  }
  if (method === 'loseDevice') {
    // Not queued: it strikes while a Run holds the queue, as a real loss would.
    gpuDevices.forEach((d) => d.destroy());
    reply(id, { ok: true, result: gpuDevices.length });
    return;
  }
  if (method === 'pause') {
    running = null;
    reply(id, { ok: true, result: null });
    return;
  }
  if (method === 'serve') {
    // As a helper: the run's worker's requests come over this port, in the same queue.
    args.port.onmessage = (m) => (queue = queue.then(() => handle(m.data.id, m.data.method, m.data.args ?? {}, args.port)));
    reply(id, { ok: true, result: null });
    return;
  }
  if (READS.has(method)) {
    read(id, method, args ?? {});
    return;
  }
  queue = queue.then(() => handle(id, method, args ?? {}));
};

/** Requests that read a session and change nothing: not queued, so that they are answered at the
 *  next task boundary even while a Run holds the queue (the scrubber, the memory figure, asking
 *  the model); a session in the middle of an update is waited for. */
const READS = new Set(['snapshot', 'held', 'complete', 'adapters', 'completeWith', 'mergeAdapters', 'adaptersFragment']);

async function read(id, method, args) {
  try {
    const exports = await ready;
    for (let tries = 0; ; tries++) {
      try {
        reply(id, { ok: true, result: await readOnce(method, args, exports) });
        return;
      } catch (err) {
        if (!/is stepping/.test(String(err?.message ?? err)) || tries >= 3000) throw err;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  } catch (err) {
    reply(id, { ok: false, error: String(err?.message ?? err), crashed: err instanceof WebAssembly.RuntimeError });
  }
}

async function readOnce(method, args, exports) {
  switch (method) {
    case 'snapshot': {
      // The latest snapshot of a session (the page shows another seed), or update `at`'s as its
      // history kept it (the scrubber); numeric arrays copied.
      const snapshot = core.snapshot(args.session, args.transport ?? 'typed', args.at ?? undefined);
      if (args.transport !== 'json') transferable(snapshot);
      return snapshot;
    }
    case 'held':
      // What the session's history holds, and this worker's whole WebAssembly memory (which
      // only grows: its high-water mark).
      return { held: core.held(args.session), wasm_bytes: exports.memory.buffer.byteLength };
    case 'complete':
      // The base's and the session's trained models' answers to a reader's prompt.
      return await core.complete(args.session, args.prompt);
    case 'adapters':
      // The session's trained LoRA adapters, as a file's bytes.
      return await core.adapters(args.session);
    case 'mergeAdapters':
      return core.mergeAdapters(args.a, args.b);
    case 'adaptersFragment':
      return core.adaptersFragment(args.bytes);
    case 'completeWith': {
      // The answers of an adapters file's models (one the reader loaded), on its task's base.
      await loadBase(core.adaptersFragment(args.bytes));
      return await core.completeWith(args.bytes, args.prompt);
    }
    default:
      throw new Error(`unknown request ${method}`);
  }
}

/** Why WebGPU is missing, in the browser's own terms (wgpu's error says it less plainly). */
async function whyNoWebGpu() {
  if (!self.navigator.gpu) return 'this browser does not expose WebGPU to workers (navigator.gpu is missing)';
  if (compiled.kind === 'cpu' && (await browserAdapter())) return 'the page loaded its CPU core (?core=cpu), which has no WebGPU backend';
  try {
    if (!(await self.navigator.gpu.requestAdapter())) return 'the browser offered no WebGPU adapter (GPU blocklisted or WebGPU disabled)';
  } catch (e) {
    return `requesting a WebGPU adapter failed (${e.message})`;
  }
  return 'the WebGPU device could not be initialised';
}

/** A text task's run starts from a shipped base model, fetched (once per worker, beside the
 *  wasm) the first time a link needs it. */
async function loadBase(url) {
  const path = core.baseNeeded(url);
  if (!path) return;
  const response = await fetch(new URL(`../${path}`, import.meta.url));
  if (!response.ok) throw new Error(`the base model ${path} could not be fetched (HTTP ${response.status})`);
  core.registerBase(url, new Uint8Array(await response.arrayBuffer()));
}

/** A typed snapshot's heatmaps and trajectories get views of its shared arrays (the ranges
 *  say where each one's lie, in the format `Packed` in `src/inspect.rs` writes down, and its
 *  test reads back as this does); their buffers are to be handed over (transferred), not
 *  copied. */
function transferable(snapshot) {
  const { heatmap_values: values, heatmap_ranges: maps } = snapshot;
  [...snapshot.ppo, ...snapshot.grpo].forEach((map, i) => {
    const [v0, v1, m0, m1] = maps.subarray(4 * i, 4 * i + 4);
    map.values = values.subarray(v0, v1);
    map.mask = m1 > m0 ? values.subarray(m0, m1) : null;
  });
  const { trajectory_states: states, trajectory_actions: actions, trajectory_ranges: ranges } = snapshot;
  snapshot.trajectories.forEach((t, i) => {
    const [dim, s0, s1, a0, a1] = ranges.subarray(5 * i, 5 * i + 5);
    t.actions = actions.subarray(a0, a1);
    if (dim > 0) Object.assign(t, { state_dim: dim, states: states.subarray(s0, s1) });
  });
  return [values.buffer, maps.buffer, states.buffer, actions.buffer, ranges.buffer];
}

/** This worker's helpers: workers of this same script that run shards of GRPO's updates (see
 *  `src/shards.rs`), which the page starts (on the CPU core) and connects to this worker, each by
 *  a MessageChannel (`connect`; not started here: Firefox under load once blocked for good in a
 *  worker's own `new Worker`). A run's results do not depend on how many there are. */
const helpers = [];

/** Give run `key` (this worker's session of link `url`) its first `n` helpers, each with a model
 *  of the run's architecture (its base fetched there too). */
async function helpRun(key, url, n) {
  if (helpers.length < n) throw new Error(`${helpers.length} helper workers connected, ${n} asked for`);
  await withTimeout(Promise.all(helpers.slice(0, n).map((h) => h.call('helperInit', { key, url }))), HELPER_TIMEOUT_MS);
  core.setHelpers(runOnHelpers, n);
}

/** Shard messages `[helper, Float32Array]` of run `key`, each posted to its helper now (`send`,
 *  not `call`, which would post after a microtask: only once this worker's own shards were done);
 *  their answers in order. */
const runOnHelpers = (key, jobs) =>
  Promise.all(jobs.map(([helper, data]) => withTimeout(helpers[helper].send('shard', { key, data }), HELPER_TIMEOUT_MS))).catch((err) => {
    // The run's worker runs the shards itself (the same results); the helpers are not asked again.
    core.setHelpers(runOnHelpers, 0);
    console.warn(`GRPO's helper workers failed (${err?.message ?? err}): its shards run in its own worker from now on`);
    throw err;
  });
/** A shard takes milliseconds, a helper's start a second or two; a helper silent for this long is
 *  taken as lost. */
const HELPER_TIMEOUT_MS = 30_000;

/** One update; with its snapshot, crossing by `transport` (see `snapshot` in `src/web.rs`),
 *  stamped with when the core was asked for it (the page measures the transport). */
async function stepOnce(session, withSnapshot, transport) {
  const report = await core.step(session);
  if (!withSnapshot) {
    event('update', { session, report, snapshot: null });
    return report;
  }
  const asked = now();
  const snapshot = core.snapshot(session, transport);
  const transfer = transport === 'json' ? [] : transferable(snapshot);
  event('update', { session, report, snapshot, asked, built: now() }, transfer);
  return report;
}

/** Up to `limit` rounds of one update of each of `args.sessions` still running, while
 *  `going()`; a task boundary after each update lets a `pause` in. */
async function rounds(args, limit, going = () => true) {
  const left = new Set(args.sessions);
  for (let i = 0; i < limit && left.size && going(); i++) {
    for (const session of [...left]) {
      if (!going()) break;
      if ((await stepOnce(session, args.snapshots.includes(session), args.transport ?? 'typed')).done) left.delete(session);
      await nextTask();
    }
  }
}

async function handle(id, method, args, from = self) {
  try {
    await ready;
    let result = null;
    switch (method) {
      case 'describe':
        result = core.describe();
        break;
      case 'parseUrl':
        result = core.parseUrl(args.url);
        break;
      case 'backendIsAuto':
        result = core.backendIsAuto(args.url);
        break;
      case 'timeBackend':
        await loadBase(args.url);
        result = await core.timeBackend(args.url, args.algos ?? 'both', args.backend, args.cpuTotalMs ?? 0);
        break;
      case 'chooseBackend':
        result = core.chooseBackend(args.url, args.timings, args.failed ?? undefined, args.noGpu ?? undefined);
        break;
      case 'probeWebGpu': {
        const js = await browserAdapter();
        result = await core.probeWebGpu();
        if (result.available) Object.assign(result, { adapter: js?.text ?? result.adapter, software: js?.software ?? result.software });
        // The CPU core cannot open the adapter; a link that may train on it gets the full core.
        else if (compiled.kind === 'cpu' && js) result = { available: true, adapter: js.text, software: js.software, error: null };
        break;
      }
      case 'create': {
        await loadBase(args.url);
        result = await core.createSession(args.url, args.algos ?? 'both');
        if (result.backend === 'webgpu') result.adapter = (await browserAdapter())?.text ?? result.adapter;
        else if (result.note && !result.device_lost) result.note = `WebGPU unavailable, using the CPU: ${await whyNoWebGpu()}. Details: ${result.note}`;
        result.helpers = 0;
        break;
      }
      case 'connect':
        // Helper workers the page started for this worker, each at the end of a port.
        args.ports.forEach((port) => helpers.push(new Channel(port)));
        break;
      case 'useHelpers':
        // Session `session`'s shards go to the first `n` helpers; if they cannot take them, to
        // this worker alone (helpers only speed a run up).
        try {
          await helpRun(args.session, args.url, args.n);
        } catch (err) {
          core.setHelpers(runOnHelpers, 0);
          throw err;
        }
        break;
      case 'step':
        // `n` updates of each of `sessions` (runs of this worker), in turn, each until its
        // budget is spent; the sessions in `snapshots` send theirs (the seed the page shows).
        await rounds(args, args.n);
        break;
      case 'run': {
        // The same until every session is done or a `pause` comes.
        const token = {};
        running = token;
        await rounds(args, Infinity, () => running === token);
        if (running === token) running = null;
        break;
      }
      case 'aggregate': {
        // The statistics worker: the summary table over seeds, and each curve's band.
        const bands = {};
        for (const [name, curves] of Object.entries(args.curves ?? {})) bands[name] = core.bands({ points: args.points, ...curves });
        result = { summary: core.summarize({ env: args.env, ...args.scores }), bands };
        break;
      }
      case 'drop':
        core.dropSession(args.session);
        helpers.forEach((h) => h.call('dropHelper', { key: args.session }).catch(() => {}));
        break;
      // As a helper of another worker's run:
      case 'helperInit':
        await loadBase(args.url);
        core.createHelper(args.key, args.url);
        break;
      case 'shard':
        result = await core.runShard(args.key, args.data);
        break;
      case 'dropHelper':
        core.dropHelper(args.key);
        break;
      case 'injectFault':
        core.injectFault(args.session, args.algo);
        break;
      default:
        throw new Error(`unknown request ${method}`);
    }
    reply(id, { ok: true, result }, from);
  } catch (err) {
    running = null;
    const crashed = err instanceof WebAssembly.RuntimeError;
    reply(id, { ok: false, error: String(err?.message ?? err), crashed }, from);
  }
}
