// The page's side of the worker: requests as promises, events as callbacks, and a fresh
// worker when the old one crashed (a wasm trap leaves its instance unusable).

/** The two builds of the training core: the full one (the CPU and WebGPU backends) and the CPU
 *  one (the same crate without WebGPU, a third of the download), each a wasm-bindgen module and
 *  its wasm. */
const CORES = { full: 'ppo-grpo-playground', cpu: 'ppo-grpo-playground-cpu' };

/** Names of software WebGPU renderers, as adapters describe themselves. */
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

/** The browser's WebGPU adapter as it describes itself (wgpu's own report can be empty):
 *  `{text, software}`, `software` saying why it is a software one (the browser marks it as a
 *  fallback adapter, or its name is a known software renderer's), else null; null where the
 *  browser offers no adapter. */
export async function browserAdapter(gpu = globalThis.navigator?.gpu) {
  try {
    const adapter = gpu && (await gpu.requestAdapter());
    if (!adapter) return null;
    const info = adapter.info ?? {};
    const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' · ') || null;
    const software = (info.isFallbackAdapter ?? adapter.isFallbackAdapter)
      ? `the browser marks its adapter (${text ?? 'unnamed'}) as a fallback adapter`
      : SOFTWARE_RENDERER.test(text ?? '') ? `${text} is a software renderer` : null;
    return { text, software };
  } catch {
    return null;
  }
}

/** Which core a link needs in this browser (`backend`: the link's, `auto` when it names none;
 *  `adapter`: `browserAdapter()`'s answer): the full one where the link may train on WebGPU
 *  (`backend=webgpu` on any adapter; `auto` on a hardware one, or on a software one that
 *  `timeSoftware` says to time), else the CPU one, a third of the download: `backend=cpu`, no
 *  adapter, or `auto` on a software adapter, where it picks the CPU without timing. `asked`
 *  (`?core=full|cpu`, a benchmark and test switch) overrides. */
export function coreFor(backend, adapter, { timeSoftware = false, asked = null } = {}) {
  if (asked === 'full' || asked === 'cpu') return asked;
  if (!adapter || backend === 'cpu') return 'cpu';
  return backend === 'webgpu' || !adapter.software || timeSoftware ? 'full' : 'cpu';
}

/** The training core, compiled once per page and shared by its workers (a Module is cloned into
 *  each worker without compiling again, and the wasm is fetched once): `{kind, module, glue}`,
 *  `glue` the URL of its wasm-bindgen module, which the workers import. A streaming compile from
 *  the cache can be aborted when the browser hands one cache entry to two frames at once
 *  (Chromium, two embeds of one release on a blog page): then once more from the bytes, fetched
 *  past the cache. */
export async function compileCore(kind) {
  const wasm = new URL(`../${CORES[kind]}_bg.wasm`, import.meta.url);
  const glue = new URL(`../${CORES[kind]}.js`, import.meta.url).href;
  const module = await WebAssembly.compileStreaming(fetch(wasm)).catch(async (first) => {
    const response = await fetch(wasm, { cache: 'reload' });
    if (!response.ok) throw first;
    return WebAssembly.compile(await response.arrayBuffer());
  });
  return { kind, module, glue };
}

/** How long a new worker may take to answer its first message (it imports the core's glue and
 *  instantiates the compiled module: milliseconds here), and how many are started before the
 *  last is waited for whatever it takes. */
const START_MS = 8_000;
const START_TRIES = 3;

/** `promise`, or a rejection once `ms` have passed without its settling. */
export function withTimeout(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Requests as promises over a MessagePort (or a worker): `{id, method, args}` out, `{type:
 *  'reply', id, ok, result | error}` back. */
export class Channel {
  constructor(port = null) {
    this.pending = new Map();
    this.nextId = 1;
    this.port = port;
    if (port) port.onmessage = (e) => this.receive(e.data);
  }

  /** Settle the request `msg` answers; whether there was one. */
  receive(msg) {
    const waiter = this.pending.get(msg.id);
    if (!waiter) return false;
    this.pending.delete(msg.id);
    if (msg.ok) waiter.resolve(msg.result);
    else waiter.reject(Object.assign(new Error(msg.error), { crashed: !!msg.crashed }));
    return true;
  }

  /** Post request `method` now (handing over `transfer`); its answer. */
  send(method, args, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ id, method, args }, transfer);
    });
  }

  call(method, args = {}, transfer = []) {
    return this.send(method, args, transfer);
  }
}

/** A worker of the training core: its requests (a `Channel` over the worker), its events, and a
 *  fresh worker when the old one crashed. */
export class Bridge extends Channel {
  /** `core`: a promise of the compiled core (`compileCore(kind)`: `{kind, module, glue}`). */
  constructor(core, onEvent) {
    super();
    this.core = core;
    this.onEvent = onEvent;
    this.start();
  }

  start() {
    this.spawn();
    this.ready = this.core.then((compiled) => this.init(compiled));
  }

  spawn() {
    this.worker = this.port = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e) => this.receive(e.data);
    this.worker.onerror = (e) => !this.closed && this.crash(e.message || 'the worker failed to load');
  }

  /** Hand the worker its core. A worker silent for `START_MS` is replaced by a new one, at most
   *  `START_TRIES - 1` times (a worker whose script never arrives would leave the page waiting
   *  for good). */
  async init({ kind, module, glue }) {
    for (let tries = 1; ; tries++) {
      const id = this.nextId;
      const answered = this.send('init', { kind, module, glue });
      if (tries === START_TRIES) return answered;
      let timer;
      const silent = new Promise((resolve) => (timer = setTimeout(() => resolve(true), START_MS)));
      const late = await Promise.race([answered.then(() => false), silent]).finally(() => clearTimeout(timer));
      if (!late || this.closed) return answered;
      this.pending.delete(id);
      this.worker.terminate();
      this.spawn();
    }
  }

  receive(msg) {
    if (msg.type === 'event') {
      this.onEvent(msg.name, msg.data);
      return;
    }
    if (super.receive(msg) && !msg.ok && msg.crashed) this.crash(msg.error);
  }

  crash(message) {
    for (const w of this.pending.values()) w.reject(Object.assign(new Error(message), { crashed: true }));
    this.pending.clear();
    this.restart(message);
  }

  /** Stop the worker for good (a timing worker past its budget): its requests reject, and no
   *  restart follows. */
  close() {
    this.closed = true;
    this.worker.terminate();
    for (const w of this.pending.values()) w.reject(new Error('the worker was stopped'));
    this.pending.clear();
  }

  restart(reason) {
    this.worker.terminate();
    this.start();
    this.onEvent('restarted', { reason });
  }

  /** A request, once the worker has its core. */
  async call(method, args = {}, transfer = []) {
    await this.ready;
    return this.send(method, args, transfer);
  }
}
