// The page's side of the worker: requests as promises, events as callbacks, and a fresh
// worker when the old one crashed (a wasm trap leaves its instance unusable).

/** The two builds of the training core: the full one (the CPU and WebGPU backends) and the CPU
 *  one (the same crate without WebGPU, a third of the download), each a wasm-bindgen module and
 *  its wasm. */
const CORES = { full: 'ppo-grpo-playground', cpu: 'ppo-grpo-playground-cpu' };

/** Which core this browser needs: the full one where it offers a WebGPU adapter (a software one
 *  included: `backend=webgpu` may ask for it), the CPU one where it offers none. */
export async function coreFor(gpu = globalThis.navigator?.gpu) {
  try {
    return gpu && (await gpu.requestAdapter()) ? 'full' : 'cpu';
  } catch {
    return 'cpu';
  }
}

/** The training core, compiled once per page and shared by its workers (a Module is cloned into
 *  each worker without compiling again, and the wasm is fetched once): `{kind, module, glue}`,
 *  `glue` the URL of its wasm-bindgen module, which the workers import. A streaming compile from
 *  the cache can be aborted when the browser hands one cache entry to two frames at once
 *  (Chromium, two embeds of one release on a blog page): then once more from the bytes, fetched
 *  past the cache. */
export async function compileCore(kind) {
  kind ??= await coreFor();
  const wasm = new URL(`../${CORES[kind]}_bg.wasm`, import.meta.url);
  const glue = new URL(`../${CORES[kind]}.js`, import.meta.url).href;
  const module = await WebAssembly.compileStreaming(fetch(wasm)).catch(async (first) => {
    const response = await fetch(wasm, { cache: 'reload' });
    if (!response.ok) throw first;
    return WebAssembly.compile(await response.arrayBuffer());
  });
  return { kind, module, glue };
}

export class Bridge {
  /** `core`: a promise of the compiled core (`compileCore()`: `{kind, module, glue}`). */
  constructor(core, onEvent) {
    this.core = core;
    this.onEvent = onEvent;
    this.pending = new Map();
    this.nextId = 1;
    this.start();
  }

  start() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e) => this.receive(e.data);
    this.worker.onerror = (e) => !this.closed && this.crash(e.message || 'the worker failed to load');
    this.ready = this.core.then(({ kind, module, glue }) => this.send('init', { kind, module, glue }));
  }

  receive(msg) {
    if (msg.type === 'event') {
      this.onEvent(msg.name, msg.data);
      return;
    }
    const waiter = this.pending.get(msg.id);
    if (!waiter) return;
    this.pending.delete(msg.id);
    if (msg.ok) {
      waiter.resolve(msg.result);
      return;
    }
    waiter.reject(Object.assign(new Error(msg.error), { crashed: !!msg.crashed }));
    if (msg.crashed) this.crash(msg.error);
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
  async call(method, args = {}) {
    await this.ready;
    return this.send(method, args);
  }

  send(method, args) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args });
    });
  }
}
