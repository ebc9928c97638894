// Where a GRPO update's time goes in the tab, function by function: Chrome's sampling profiler
// (over CDP) on the page's workers during 5 lm-reverse updates (defaults, PPO made tiny, no helper),
// self time per wasm function of the busiest worker (GRPO's), demangled. The shipped core strips
// function names; build one that keeps them and serve it in a copy of dist/:
//
//   cargo rustc --profile wasm-release --lib --crate-type cdylib --target wasm32-unknown-unknown -- -C strip=none
//   rm -rf /tmp/distp && cp -r dist /tmp/distp && wasm-bindgen --target web --no-typescript \
//     --out-dir $(ls -d /tmp/distp/assets-*) --out-name ppo-grpo-playground-cpu target/wasm32-unknown-unknown/wasm-release/playground.wasm
//   node scripts/profile-wasm.mjs /tmp/distp
//
// (A link on the CPU: the page loads that CPU core.) The native counterpart, by
// instructions: RAYON_NUM_THREADS=1 valgrind --tool=callgrind target/release/pvg train --env lm-reverse
// --algo grpo --seed 1 --updates 4 --eval-episodes 1, then callgrind_annotate --inclusive=no.
import { chromium } from 'playwright-core';
import { serve } from './static-server.mjs';
const dist = process.argv[2] ?? '/tmp/distp';
const site = await serve(dist);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox'] });
const page = await browser.newPage();
await page.goto(`${site.url}/?helpers=0#v=7&env=lm-reverse&seed=1&backend=cpu&ppo.num_envs=1&ppo.num_steps=8&ppo.update_epochs=1&ppo.num_minibatches=1`);
await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: 300000 });
await page.evaluate(() => window.playground.step(3));
const cdp = await browser.newBrowserCDPSession();
const { targetInfos } = await cdp.send('Target.getTargets');
const workers = targetInfos.filter((t) => t.type === 'worker');
let nextId = 1;
const pending = new Map();
cdp.on('Target.receivedMessageFromTarget', ({ message }) => {
  const m = JSON.parse(message);
  if (m.id && pending.has(m.id)) { pending.get(m.id)(m.result ?? m.error); pending.delete(m.id); }
});
const sessions = [];
for (const w of workers) {
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: w.targetId, flatten: false });
  sessions.push(sessionId);
}
const call = (sessionId, method, params = {}) => new Promise((resolve) => {
  const id = nextId++;
  pending.set(id, resolve);
  cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) });
});
for (const s of sessions) { await call(s, 'Profiler.enable'); await call(s, 'Profiler.setSamplingInterval', { interval: 200 }); await call(s, 'Profiler.start'); }
const t0 = Date.now();
await page.evaluate(() => window.playground.step(5));
const wall = Date.now() - t0;
const m = await page.evaluate(() => window.playground.metrics());
const demangle = (name) => {
  const mm = /_ZN(.*)E$/.exec(name.replace(/^\$/, ''));
  if (!mm) return name;
  let s = mm[1], out = [];
  while (s.length) { const n = /^(\d+)/.exec(s); if (!n) break; const len = Number(n[1]); s = s.slice(n[1].length); out.push(s.slice(0, len)); s = s.slice(len); }
  if (/^h[0-9a-f]{16}$/.test(out[out.length - 1])) out.pop();
  return out.join('::').replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\$RF\$/g, '&').replace(/\$C\$/g, ',').replace(/\.\./g, '::').replace(/\$u7b\$/g, '{').replace(/\$u7d\$/g, '}');
};
const results = [];
for (const s of sessions) {
  const { profile } = await call(s, 'Profiler.stop');
  const dt = new Map();
  // self time per node from samples and timeDeltas
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byName = new Map();
  let total = 0;
  for (const n of profile.nodes) {
    const t = (dt.get(n.id) ?? 0) / 1000;
    total += t;
    const name = n.callFrame.functionName || `(${n.callFrame.url.split('/').pop() || 'anonymous'})`;
    byName.set(name, (byName.get(name) ?? 0) + t);
  }
  const idle = byName.get('(idle)') ?? 0;
  results.push({ total, idle, rows: [...byName.entries()].sort((a, b) => b[1] - a[1]) });
}
const busiest = results.sort((a, b) => (b.total - b.idle) - (a.total - a.idle))[0];
const busy = busiest.total - busiest.idle;
console.log(`GRPO updates 4-8: ${m.grpo.slice(3).map((r) => ((r.rollout_s + r.update_s) * 1e3).toFixed(0)).join(', ')} ms; page wall ${wall} ms; busiest worker busy ${busy.toFixed(0)} ms of ${busiest.total.toFixed(0)}`);
for (const [name, t] of busiest.rows.slice(0, 40)) console.log(`${(100 * t / busy).toFixed(1).padStart(5)}%  ${t.toFixed(0).padStart(6)} ms  ${demangle(name).slice(0, 150)}`);
await browser.close(); site.server.close();
