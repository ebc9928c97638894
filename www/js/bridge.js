// The page's side of the worker: requests as promises, events as callbacks, and a fresh
// worker when the old one crashed (a wasm trap leaves its instance unusable).

export class Bridge {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.pending = new Map();
    this.nextId = 1;
    this.start();
  }

  start() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e) => this.receive(e.data);
    this.worker.onerror = (e) => this.crash(e.message || 'the worker failed to load');
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

  restart(reason) {
    this.worker.terminate();
    this.start();
    this.onEvent('restarted', { reason });
  }

  call(method, args = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args });
    });
  }
}
