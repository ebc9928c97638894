// The browser tests, in order. Each gets {browser, url, otherUrl, artifacts}.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOAD_MS = 180_000;

/** Tiny experiments: WebGPU runs on SwiftShader (the CPU emulating a GPU) in these tests. */
const TINY = {
  cartpole:
    'env=CartPole-v1&seed=3&width=16&ppo.num_envs=2&ppo.num_steps=16&ppo.update_epochs=1' +
    '&ppo.num_minibatches=1&grpo.num_generations=4&grpo.max_completion_length=40',
  pendulum:
    'env=Pendulum-v1&seed=3&width=16&ppo.num_envs=1&ppo.num_steps=32&ppo.update_epochs=1' +
    '&ppo.num_minibatches=1&grpo.num_generations=2&grpo.max_completion_length=16',
};
const TIMING_KEYS = ['wall_s', 'sps', 'rollout_s', 'advantage_s', 'update_s', 'cpu_copy_s'];

async function open(ctx, hash = '', { init } = {}) {
  const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  if (init) await page.addInitScript(init);
  await page.goto(`${ctx.url}/${hash}`);
  await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: LOAD_MS });
  return { page, errors };
}

const status = (page) => page.evaluate(() => window.playground.status());
/** In the page: both algorithms have taken at least `n` updates (each trains in its own worker). */
const bothUpdated = (n) => Math.min(...Object.values(window.playground?.status().updates ?? { none: 0 })) >= n;
/** Waits until both algorithms have taken `n` updates; a timeout's error says where the page stood. */
async function untilUpdated(page, n, timeout = LOAD_MS) {
  try {
    await page.waitForFunction(bothUpdated, n, { timeout });
  } catch (e) {
    const where = await page
      .evaluate(() => `${JSON.stringify(window.playground?.status() ?? null)} | ${document.getElementById('status')?.textContent}`)
      .catch((err) => `(unreadable: ${err.message})`);
    e.message += `\n     the page then: ${where}`;
    throw e;
  }
}
const metrics = (page) => page.evaluate(() => window.playground.metrics());
const step = (page, n) => page.evaluate((k) => window.playground.step(k), n);
const withoutTimings = (history) =>
  Object.fromEntries(
    Object.entries(history).map(([algo, rows]) => [
      algo,
      rows.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING_KEYS.includes(k)))),
    ]),
  );

function checkHistory(history, n, label) {
  for (const algo of ['ppo', 'grpo']) {
    const rows = history[algo];
    assert.equal(rows.length, n, `${label}: ${algo} has ${rows.length} updates`);
    for (const m of rows) {
      for (const key of ['update', 'env_steps', 'wall_s', 'mean_return']) assert.ok(key in m, `${label}: ${algo} lacks ${key}`);
      assert.ok(Number.isFinite(m.policy_loss) && Number.isFinite(m.grad_norm), `${label}: ${algo} ${JSON.stringify(m)}`);
    }
  }
}

/** An init script: main-thread tasks over 50 ms (the Long Tasks API) into `window.__longTasks`. */
const watchLongTasks = () => {
  window.__longTasks = [];
  new PerformanceObserver((list) => window.__longTasks.push(...list.getEntries().map((e) => ({ start: e.startTime, ms: e.duration })))).observe({ type: 'longtask', buffered: true });
};

/**
 * Each test names the engines it runs in. What a visitor does (open, step, run, replay a link,
 * a text task, an embed, hostile links, exports) runs in both; the rest in Chromium alone.
 */
export const tests = [];
const CHROMIUM = ['chromium'];
const BOTH = ['chromium', 'firefox'];
const test = (name, fn, engines = CHROMIUM) => tests.push({ name, fn, engines });

test('a link on the CPU loads the CPU core alone and detects WebGPU; a Reset to WebGPU loads the full core, and if it cannot, the runs stay', async (ctx) => {
  const page = await ctx.browser.newPage();
  const errors = [];
  const wasms = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => r.url().endsWith('.wasm') && wasms.push(r.url().split('/').pop()));
  await page.goto(`${ctx.url}/#${TINY.cartpole}&backend=cpu`);
  await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: LOAD_MS });
  let s = await status(page);
  assert.deepEqual([s.backend, s.core], ['cpu', 'cpu']);
  assert.deepEqual([...new Set(wasms)], ['ppo-grpo-playground-cpu_bg.wasm'], 'a link on the CPU downloads the CPU core alone');
  assert.equal(s.webgpu.available, true, `WebGPU not detected: ${JSON.stringify(s.webgpu)}`);
  assert.match(s.webgpu.adapter, /swiftshader|google/i);
  assert.match(s.webgpu.software, /software renderer|fallback adapter/);
  await step(page, 1);

  // The full core cannot be fetched: the message says so, and the CPU runs stay and step.
  const full = '**/ppo-grpo-playground_bg.wasm';
  await page.route(full, (r) => r.abort());
  await page.evaluate((f) => window.playground.reset(f), `${TINY.cartpole}&backend=webgpu`);
  const problems = await page.textContent('#problems');
  assert.match(problems, /the core with WebGPU could not be loaded/);
  assert.match(problems, /The runs on the page are unchanged/);
  s = await status(page);
  assert.deepEqual([s.backend, s.core, s.updates], ['cpu', 'cpu', { ppo: 1, grpo: 1 }]);
  await step(page, 1);
  assert.deepEqual((await status(page)).updates, { ppo: 2, grpo: 2 });

  await page.unroute(full);
  await page.evaluate((f) => window.playground.reset(f), `${TINY.cartpole}&backend=webgpu`);
  s = await status(page);
  assert.deepEqual([s.backend, s.core, s.updates], ['webgpu', 'full', { ppo: 0, grpo: 0 }]);
  assert.ok(wasms.includes('ppo-grpo-playground_bg.wasm'));
  await step(page, 1);
  checkHistory(await metrics(page), 1, 'on WebGPU after the full core was loaded');
  assert.deepEqual(errors.filter((e) => !/Failed to load resource|net::ERR_FAILED/.test(e)), []);
  await page.close();
});

/** Asked for WebGPU, a browser without a usable one trains on the CPU and says `why`. */
async function fallsBackToCpu(browser, ctx, why, core = 'cpu') {
  const page = await browser.newPage();
  const errors = [];
  const wasms = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => r.url().endsWith('.wasm') && wasms.push(r.url().split('/').pop()));
  await page.goto(`${ctx.url}/#${TINY.cartpole}&backend=webgpu`);
  await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: LOAD_MS });
  const s = await status(page);
  assert.equal(s.backend, 'cpu');
  // No adapter: the page downloads the CPU core alone (a third of the full one's bytes).
  assert.equal(s.core, core);
  if (core === 'cpu') assert.deepEqual([...new Set(wasms)], ['ppo-grpo-playground-cpu_bg.wasm']);
  assert.equal(s.webgpu.available, false);
  assert.match(s.note, /WebGPU unavailable, using the CPU/);
  assert.match(await page.textContent('#problems'), why);
  await step(page, 1);
  checkHistory(await metrics(page), 1, 'on the CPU');
  assert.deepEqual(errors, []);
  await page.close();
}

test('without WebGPU the page falls back to the CPU and says why', (ctx) => fallsBackToCpu(ctx.browserWithoutGpu, ctx, /WebGPU unavailable/), BOTH);

test('backend=auto times both backends, shows both figures and why, and the shared link carries its choice', async (ctx) => {
  // SwiftShader is a software adapter, which the page does not time unless told to (below);
  // its first update compiles the kernels for about 14 s here, past the 6 s budget of a real GPU.
  const { page, errors } = await open(ctx, `?time-software-gpu&webgpu-budget=120#${TINY.cartpole}&seed=4`);
  const s = await status(page);
  const c = s.choice;
  assert.ok(c && c.cpu_ms > 0 && c.webgpu_ms > 0, JSON.stringify(s));
  assert.equal(s.backend, c.backend, 'the run is on the chosen backend');
  const faster = c.cpu_ms * 1.0 > c.webgpu_ms * 1.1 ? 'webgpu' : 'cpu';
  assert.equal(c.backend, faster, `${JSON.stringify(c)}: the faster one, WebGPU only by more than 10%`);
  const line = await page.textContent('#backend-choice');
  assert.match(line, /backend=auto chose .* Per update: CPU [\d.]+ ms, WebGPU [\d.]+ ms\./);
  await step(page, 2);
  const original = await metrics(page);
  const url = await page.evaluate(() => window.playground.shareUrl());
  assert.match(url, new RegExp(`backend=${c.backend === 'webgpu' ? 'webgpu' : 'cpu'}`), url);
  await page.close();
  const replay = await ctx.browser.newPage();
  await replay.goto(url);
  await untilUpdated(replay, 2);
  const again = await status(replay);
  assert.equal(again.backend, c.backend);
  assert.equal(again.choice, null, 'a resolved link is not measured again');
  assert.deepEqual(withoutTimings(await metrics(replay)), withoutTimings(original));
  await replay.close();
  // Without WebGPU nothing is timed: the CPU, and the reason says so.
  const bare = await ctx.browserWithoutGpu.newPage();
  await bare.goto(`${ctx.url}/#${TINY.cartpole}`);
  await bare.waitForFunction(() => window.playground?.status().backend, null, { timeout: LOAD_MS });
  const none = (await status(bare)).choice;
  assert.ok(none.backend === 'cpu' && none.webgpu_ms === null && /unavailable/.test(none.reason), JSON.stringify(none));
  assert.match(await bare.evaluate(() => window.playground.shareUrl()), /backend=cpu/);
  await bare.close();
  assert.deepEqual(errors, []);
});

/** How long a first visit may wait for its first update on a text task with backend=auto on a
 *  software adapter (its CPU update itself takes a few seconds here; timing SwiftShader took
 *  441 s before the page knew better). */
const FIRST_UPDATE_MS = 60_000;

test('backend=auto on a software adapter picks the CPU at once, says why, and a text task updates within a minute', async (ctx) => {
  const t0 = Date.now();
  const { page, errors } = await open(ctx, '#v=6&env=lm-reverse&seed=5');
  await step(page, 1);
  const waited = Date.now() - t0;
  const s = await status(page);
  assert.equal(s.webgpu.available, true, 'WebGPU is there (SwiftShader)');
  assert.ok(s.choice && s.choice.backend === 'cpu' && s.choice.cpu_ms === null && s.choice.webgpu_ms === null, JSON.stringify(s.choice));
  assert.match(s.choice.reason, /at once, nothing timed: WebGPU's adapter is a software renderer/);
  assert.match(await page.textContent('#backend-choice'), /software renderer/);
  assert.equal(s.core, 'cpu', 'a software adapter on backend=auto: the CPU core, a third of the download');
  assert.equal(s.updates.ppo + s.updates.grpo, 2);
  assert.ok(waited < FIRST_UPDATE_MS, `the first update came after ${waited} ms`);
  assert.match(await page.evaluate(() => window.playground.shareUrl()), /backend=cpu/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('backend=auto timing an adapter as slow as SwiftShader on a text task: WebGPU is stopped at its budget, the CPU chosen, the first update within a minute', async (ctx) => {
  // Timed as if it were a real GPU (?time-software-gpu): one WebGPU update of the language
  // model takes minutes here (441 s before the budget), which the budget must not wait for.
  const t0 = Date.now();
  const { page, errors } = await open(ctx, '?time-software-gpu#v=6&env=lm-reverse&seed=5');
  const chosen = Date.now() - t0;
  await step(page, 1);
  const waited = Date.now() - t0;
  const s = await status(page);
  assert.ok(s.choice && s.choice.backend === 'cpu' && s.choice.cpu_ms > 0 && s.choice.webgpu_ms === null, JSON.stringify(s.choice));
  assert.match(s.choice.reason, /WebGPU failed while being timed \(stopped at its 6 s budget before its updates had ended\): the CPU/);
  assert.match(await page.textContent('#backend-choice'), /6 s budget/);
  assert.equal(s.updates.ppo + s.updates.grpo, 2);
  assert.ok(chosen < 30_000, `the page chose after ${chosen} ms`);
  assert.ok(waited < FIRST_UPDATE_MS, `the first update came after ${waited} ms`);
  console.log(`     (chosen after ${(chosen / 1000).toFixed(1)} s, first update after ${(waited / 1000).toFixed(1)} s)`);
  assert.deepEqual(errors, []);
  await page.close();
});

for (const backend of ['webgpu', 'cpu']) {
  for (const env of ['cartpole', 'pendulum']) {
    test(`${backend}: PPO and GRPO complete 3 updates on ${env}`, async (ctx) => {
      const { page, errors } = await open(ctx, `#${TINY[env]}&backend=${backend}`);
      const s = await status(page);
      assert.equal(s.backend, backend, `asked for ${backend}, got ${JSON.stringify(s)}`);
      await step(page, 3);
      checkHistory(await metrics(page), 3, `${backend}/${env}`);
      assert.deepEqual((await status(page)).errors, { ppo: null, grpo: null });
      assert.deepEqual(errors, []);
      await page.close();
    });
  }
}

test('webgpu: a device lost mid-run: PPO carries on on the CPU from its last update, its history intact', async (ctx) => {
  const { page, errors } = await open(ctx, `#${TINY.cartpole}&backend=webgpu`);
  await page.evaluate(() => {
    window.playground.run(); // resolves when the run stops: not awaited
  });
  await page.waitForFunction(() => window.playground.status().updates.ppo >= 2, null, { timeout: LOAD_MS });
  // The device is destroyed while the Run goes on, as a driver reset would: between the updates
  // the page had before the call and those it had after it (the run goes on meanwhile).
  const doneBefore = await page.evaluate(() => window.playground.metrics().ppo.length);
  assert.ok((await page.evaluate(() => window.playground.loseDevice('ppo'))) >= 1, 'the worker opened a device');
  const lostAt = await page.evaluate(() => window.playground.metrics().ppo.length);
  const before = await metrics(page);
  await page.waitForFunction((n) => window.playground.status().updates.ppo >= n + 3, lostAt, { timeout: LOAD_MS });
  await page.evaluate(() => window.playground.pause());
  const s = await status(page);
  assert.deepEqual(s.errors, { ppo: null, grpo: null }, JSON.stringify(s));
  const lost = s.deviceLost.ppo;
  assert.ok(lost && lost.update > doneBefore && lost.update <= lostAt + 1, JSON.stringify([doneBefore, lostAt, s.deviceLost]));
  assert.match(lost.error, /^device error: /);
  assert.deepEqual([s.backends, s.deviceLost.grpo], [{ ppo: 'cpu', grpo: 'webgpu' }, null]);
  const after = await metrics(page);
  // No update lost, none repeated: the history before the loss is as it was, then continues.
  assert.deepEqual(after.ppo.slice(0, before.ppo.length), before.ppo);
  assert.deepEqual(after.ppo.map((m) => m.update), after.ppo.map((_, i) => i + 1));
  for (let i = 1; i < after.ppo.length; i++) assert.ok(after.ppo[i].env_steps > after.ppo[i - 1].env_steps && after.ppo[i].wall_s > after.ppo[i - 1].wall_s);
  checkHistory({ ppo: after.ppo, grpo: after.grpo.slice(0, after.ppo.length) }, after.ppo.length, 'device lost');
  // The page says what happened, and when.
  const note = await page.locator('#problems').innerText();
  assert.match(note, new RegExp(`PPO lost its WebGPU device[^]*device error: [^\n]* during update ${lost.update}[^]*no update was lost`));
  assert.doesNotMatch(note, /Backtrace|Caused by/, 'the error in one line');
  assert.match(await page.locator('#status').innerText(), new RegExp(`PPO on the CPU since update ${lost.update}`));
  // A new experiment in that worker starts on the CPU and says why; the other stays on WebGPU.
  await page.evaluate(() => window.playground.reset());
  await step(page, 1);
  const again = await status(page);
  assert.deepEqual([again.errors, again.deviceLost], [{ ppo: null, grpo: null }, { ppo: null, grpo: null }]);
  assert.deepEqual(again.backends, { ppo: 'cpu', grpo: 'webgpu' });
  assert.match(await page.locator('#problems').innerText(), /WebGPU device was lost at update/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('chart tick labels keep close values apart and write each tick exactly', async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  const labels = await page.evaluate(async () => {
    // Relative to the page's own main.js, wherever the release put its assets.
    const main = document.querySelector('script[type="module"][src$="js/main.js"]').src;
    const { tickLabels } = await import(new URL('charts.js', main));
    return [[0.00095, 0.001, 0.00105], [-0.5, -0.25, 0], [0, 20, 40], [1e-7, 2e-7], [0.1 + 0.2, 0.4]].map(tickLabels);
  });
  assert.deepEqual(labels, [['0.00095', '0.001', '0.00105'], ['-0.5', '-0.25', '0'], ['0', '20', '40'], ['1e-7', '2e-7'], ['0.3', '0.4']]);
  await page.close();
});

test('heatmaps draw padded cells of ragged groups distinctly', async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu&grpo.num_generations=8&grpo.max_completion_length=0`);
  await step(page, 1);
  await page.locator('#fig-tensors').scrollIntoViewIfNeeded(); // figures out of view are drawn lazily
  await page.waitForSelector('#heatmaps-grpo canvas[data-name="rewards"]');
  const result = await page.evaluate(() => {
    const snap = window.playground.snapshot();
    const mask = snap.grpo.find((m) => m.name === 'mask');
    const lengths = new Set();
    for (let c = 0; c < mask.cols; c++) {
      let n = 0;
      for (let t = 0; t < mask.rows; t++) n += mask.values[t * mask.cols + c];
      lengths.add(n);
    }
    const canvas = document.querySelector('#heatmaps-grpo canvas[data-name="rewards"]');
    const pixel = (t, c) => {
      const x = Math.floor(((t + 0.5) * canvas.width) / mask.rows);
      const y = Math.floor(((c + 0.5) * canvas.height) / mask.cols);
      return [...canvas.getContext('2d').getImageData(x, y, 1, 1).data];
    };
    let padded = null;
    let valid = null;
    for (let i = 0; i < mask.values.length && !(padded && valid); i++) {
      const cell = [Math.floor(i / mask.cols), i % mask.cols];
      if (mask.values[i] === 0) padded ??= pixel(...cell);
      else valid ??= pixel(...cell);
    }
    return { lengths: [...lengths], padded, valid };
  });
  assert.ok(result.lengths.length > 1, `the group was not ragged: lengths ${result.lengths}`);
  const gray = ([r, g, b]) => Math.abs(r - g) < 12 && Math.abs(g - b) < 12 && r < 240;
  assert.ok(gray(result.padded), `a padded cell is drawn ${result.padded}, not hatched gray`);
  assert.ok(!gray(result.valid), `a valid cell is drawn ${result.valid}, like padding`);
  await page.close();
});

test('a call made before the page is ready waits for it instead of failing', async (ctx) => {
  const page = await ctx.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${ctx.url}/#${TINY.cartpole}&backend=cpu`, { waitUntil: 'domcontentloaded' });
  // The module has run (window.playground exists) but the core is still loading.
  const result = await page.evaluate(async () => {
    const early = window.playground.status().backend;
    await window.playground.step(1);
    return { early, updates: window.playground.status().updates };
  });
  assert.equal(result.early, null, 'the call was made before the page was ready');
  assert.deepEqual(result.updates, { ppo: 1, grpo: 1 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('heatmaps: one-signed tensors on a sequential scale, signed ones diverging, each with a colour bar', async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 1);
  await page.locator('#fig-tensors').scrollIntoViewIfNeeded();
  await page.waitForSelector('#heatmaps-ppo canvas[data-name="advantages"]');
  // Every numeric tensor of both algorithms: diverging exactly when its valid values take both
  // signs (around 1 for ratios) or are all the centre, with a colour bar and its range.
  const drawn = await page.evaluate(() => {
    const snap = window.playground.snapshot();
    const out = [];
    for (const algo of ['ppo', 'grpo']) {
      for (const box of document.querySelectorAll(`#heatmaps-${algo} .heatmap`)) {
        const canvas = box.querySelector(':scope > canvas');
        const map = snap[algo].find((m) => m.name === canvas.dataset.name);
        if (map.categories) continue;
        const center = map.name === 'ratios' ? 1 : 0;
        const valid = map.values.filter((_, i) => !map.mask || map.mask[i] > 0);
        const [lo, hi] = [Math.min(...valid), Math.max(...valid)];
        const signed = (lo < center && hi > center) || (lo === center && hi === center);
        const bar = box.querySelector('.colour-bar');
        out.push({ algo, name: map.name, scale: canvas.dataset.scale, signed, bar: !!bar && bar.width > 0, range: box.querySelector('.heatmap-range').textContent });
      }
    }
    return out;
  });
  assert.ok(drawn.length >= 6, JSON.stringify(drawn));
  assert.ok(drawn.some((d) => d.scale === 'sequential') && drawn.some((d) => d.scale === 'diverging'), JSON.stringify(drawn));
  for (const d of drawn) {
    assert.equal(d.scale, d.signed ? 'diverging' : 'sequential', JSON.stringify(d));
    assert.ok(d.bar, JSON.stringify(d));
    assert.match(d.range, /^\S+ {2}\S+$/, JSON.stringify(d)); // "least  largest" around the bar
    // A ratio's bar never prints an impossible (non-positive) ratio.
    if (d.name === 'ratios') assert.ok(Number(d.range.split(/\s+/)[0]) > 0, JSON.stringify(d));
  }
  // A phase that took less than the table's last digit says so.
  const shown = await page.evaluate(async () => {
    const { milliseconds } = await import(document.querySelector('script[type="module"]').src);
    return [milliseconds(0.000002, 2), milliseconds(0, 2), milliseconds(0.0123, 1)];
  });
  assert.deepEqual(shown, ['< 0.01', '0.00', '12.3']);
  await page.close();
});

test('Run then Pause stops the updates', async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await page.click('#btn-run');
  await page.waitForFunction(() => window.playground.status().updates.ppo >= 3, null, { timeout: 60_000 });
  await page.click('#btn-run'); // now labelled Pause
  await page.waitForFunction(() => !window.playground.status().running, null, { timeout: 30_000 });
  const before = (await status(page)).updates;
  await page.waitForTimeout(1500);
  const after = await status(page);
  assert.deepEqual(after.updates, before);
  assert.equal(after.running, false);
  await page.close();
}, BOTH);

test('no main-thread task exceeds 50 ms during a run', async (ctx) => {
  // CartPole's defaults: the real workload of the page, on the CPU backend.
  const { page } = await open(ctx, '#env=CartPole-v1&backend=cpu', { init: watchLongTasks });
  await page.waitForTimeout(500);
  const start = await page.evaluate(() => performance.now());
  await page.evaluate(() => { window.playground.run(); }); // resolves only when paused
  await untilUpdated(page, 8, 120_000);
  await page.evaluate(() => window.playground.pause());
  const during = await page.evaluate((t0) => window.__longTasks.filter((e) => e.start >= t0), start);
  const s = await status(page);
  assert.ok(s.updates.ppo >= 8, JSON.stringify(s.updates));
  assert.deepEqual(during, [], `long tasks during the run: ${JSON.stringify(during)}`);
  // A viewport as tall as the page, so every figure is in view and drawn.
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: 1280, height });
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${ctx.artifacts}/playground.png`, fullPage: true });
  console.log(`     screenshot: ${ctx.artifacts}/playground.png`);
  await page.close();
});

test('a bad edit is reported and the runs on the page stay', async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 2);
  await page.locator('#ppo-fields summary').click();
  await page.fill('input[name="ppo.gamma"]', '7');
  await page.click('#btn-reset');
  await page.waitForSelector('#problems:not([hidden])');
  const text = await page.textContent('#problems');
  assert.match(text, /ppo\.gamma/);
  assert.match(text, /outside/);
  assert.equal((await metrics(page)).ppo.length, 2, 'the history was lost');
  await step(page, 1);
  assert.equal((await metrics(page)).ppo.length, 3, 'the run does not go on');
  await page.close();
}, BOTH);

for (const [backend, updates] of [['cpu', 4], ['webgpu', 2]]) {
  test(`${backend}: a shared URL replays bit-identical metrics`, async (ctx) => {
    const { page } = await open(ctx, `#${TINY.cartpole}&backend=${backend}&seed=11`);
    assert.equal((await status(page)).backend, backend);
    await step(page, updates);
    const original = await metrics(page);
    const url = await page.evaluate(() => window.playground.shareUrl());
    assert.match(url, new RegExp(`run=${updates}`));
    await page.close();
    const replay = await ctx.browser.newPage();
    await replay.goto(url);
    await untilUpdated(replay, updates);
    assert.equal((await status(replay)).backend, backend);
    assert.deepEqual(withoutTimings(await metrics(replay)), withoutTimings(original));
    await replay.close();
  }, backend === 'cpu' ? BOTH : CHROMIUM);
}

test('a URL with markup in its values shows errors and runs no script', async (ctx) => {
  const hash =
    '#seed=<script>window.__pwned=1</script>&ppo.gamma=<img src=x onerror="window.__pwned=2">' +
    '&grpo.loss_type=<b>bold</b>&backend=cpu';
  const { page, errors } = await open(ctx, hash.replaceAll(' ', '%20'));
  await page.waitForSelector('#problems:not([hidden])');
  const text = await page.textContent('#problems');
  assert.match(text, /<script>/);
  assert.match(text, /seed/);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.locator('#problems img, #problems b, #problems script').count(), 0);
  assert.equal((await status(page)).backend, 'cpu');
  await step(page, 1);
  assert.equal((await metrics(page)).ppo.length, 1);
  // The one expected error: the injected <img src=x>, had it been inserted as markup, would
  // have failed to load. Nothing else may be logged.
  assert.deepEqual(errors.filter((e) => !/^Failed to load resource: .*404/.test(e)), []);
  await page.close();
}, BOTH);

test('the embed demo shows two live figures in cross-origin iframes, started lazily', async (ctx) => {
  const page = await ctx.browser.newPage({ viewport: { width: 1000, height: 800 } });
  await page.goto(`${ctx.otherUrl}/embed-demo.html?playground=${encodeURIComponent(`${ctx.url}/`)}`);
  const frames = async () => {
    const out = [];
    for (const el of await page.$$('iframe')) out.push(await el.contentFrame());
    return out;
  };
  const [first, second] = await frames();
  assert.notEqual(new URL(first.url()).origin, new URL(page.url()).origin, 'the iframe is not cross-origin');
  await untilUpdated(first, 2);
  // The second figure sits below the fold. Chromium loads a lazy iframe well ahead of the
  // viewport: its frame is loaded (the page knows it is an embed), but the page itself has not
  // started its run, which is the page's own doing. Firefox does not load the frame at all yet.
  if (ctx.engine === 'chromium') {
    await second.waitForFunction(() => window.playground?.status().embed?.figure === 'tensors', null, { timeout: LOAD_MS });
  }
  await page.waitForTimeout(1000);
  const waiting = await second.evaluate(() => window.playground?.status() ?? null);
  if (waiting === null) assert.equal(ctx.engine, 'firefox', 'the frame below the fold is not loaded');
  else assert.deepEqual([waiting.embed.started, waiting.backend, waiting.steps], [false, null, 0], JSON.stringify(waiting));
  await page.evaluate(() => document.querySelectorAll('iframe')[1].scrollIntoView());
  await untilUpdated(second, 2);
  for (const [frame, figure] of [[first, 'curves'], [second, 'tensors']]) {
    assert.equal(await frame.evaluate(() => document.body.dataset.figure), figure);
    assert.equal(await frame.isVisible(`#fig-${figure}`), true);
    assert.equal(await frame.isVisible('#controls'), false);
    assert.equal(await frame.locator('a', { hasText: 'open in playground' }).count(), 1);
  }
  // Cross-origin frames outside the viewport are not captured: make the viewport the page.
  await page.setViewportSize({ width: 1000, height: await page.evaluate(() => document.documentElement.scrollHeight) });
  await page.waitForTimeout(1000);
  await page.screenshot({ path: `${ctx.artifacts}/embed-demo.png`, fullPage: true });
  console.log(`     screenshot: ${ctx.artifacts}/embed-demo.png`);
  await page.close();
}, BOTH);

// ---------------------------------------------------------------- hosting, versions, exports

test('the built site works under a sub-path: no failed request, styled, both algorithms step', async (ctx) => {
  const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const failures = [];
  page.on('requestfailed', (r) => failures.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => r.status() >= 400 && failures.push(`${r.url()} ${r.status()}`));
  page.on('pageerror', (e) => failures.push(e.message));
  await page.goto(`${ctx.subUrl}${ctx.subPath}#${TINY.cartpole}&backend=cpu`);
  await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: LOAD_MS });
  const styled = await page.evaluate(() => ({
    layout: getComputedStyle(document.querySelector('.layout')).display,
    uplot: [...document.styleSheets].some((s) => [...s.cssRules].some((r) => r.selectorText?.startsWith('.uplot'))),
  }));
  assert.deepEqual(styled, { layout: 'grid', uplot: true });
  await step(page, 2);
  checkHistory(await metrics(page), 2, 'sub-path');
  // Every asset came from the one content-hashed folder below the sub-path.
  const assets = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  for (const a of assets.filter((u) => /\.(js|css|wasm)$/.test(u))) {
    assert.match(a, new RegExp(`^${ctx.subUrl}${ctx.subPath}assets-[0-9a-f]{16}/`), a);
  }
  assert.deepEqual(failures, []);
  await page.close();
}, BOTH);

test('a version-1 link opens to version 1 settings; a newer version is refused with a message', async (ctx) => {
  const released = JSON.parse(await readFile(new URL('../fixtures/defaults-v1.json', import.meta.url), 'utf8'));
  const { page, errors } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  const { version } = await status(page);
  for (const [env, defaults] of Object.entries(released)) {
    // As links were written before versions existed: no `v`, only what differs.
    await page.evaluate((f) => window.playground.reset(f), `env=${env}&seed=5&backend=cpu`);
    const form = await page.evaluate(() =>
      Object.fromEntries([...document.querySelectorAll('#config-form [name]')].map((i) => [i.name, i.type === 'checkbox' ? String(i.checked) : i.value])),
    );
    for (const [key, value] of Object.entries(defaults)) {
      if (key === 'seed' || key === 'backend') continue;
      assert.equal(form[key], value, `${env}: ${key}`);
    }
    assert.equal((await status(page)).backend, 'cpu');
  }
  await page.close();

  // Opened from the address bar, the link's version decides the notice.
  const old = await open(ctx, `#env=Pendulum-v1&seed=5&backend=cpu`);
  const s = await status(old.page);
  if (version > 1) {
    assert.match(s.notice, /^made with version 1; this page is version \d+: settings are the same, results may differ in detail/);
    assert.equal(await old.page.isVisible('#notice'), true);
  } else {
    assert.equal(s.notice, null);
    assert.equal(await old.page.isVisible('#notice'), false);
  }
  assert.match(await old.page.evaluate(() => window.playground.shareUrl()), new RegExp(`#v=${version}&env=Pendulum-v1&seed=5&`));
  await old.page.close();

  const newer = await open(ctx, `#v=${version + 1}&env=Pendulum-v1&backend=cpu`);
  await newer.page.waitForSelector('#problems:not([hidden])');
  assert.match(await newer.page.textContent('#problems'), /newer than this page/);
  // Nothing of the link was used: the page opened the default experiment, and still works.
  assert.equal(await newer.page.inputValue('select[name="env"]'), 'CartPole-v1');
  await newer.page.evaluate((f) => window.playground.reset(f), `${TINY.cartpole}&backend=cpu`);
  await step(newer.page, 1);
  assert.equal((await metrics(newer.page)).ppo.length, 1);
  assert.deepEqual([...errors, ...old.errors, ...newer.errors], []);
  await newer.page.close();
}, BOTH);

/** A text task's run small enough for SwiftShader: 2 prompts × 8 completions, 4 × 16 PPO tokens. */
const lmRun = (task) =>
  `env=lm-${task}&seed=5&total_steps=3000&grpo.num_generations=8&grpo.groups_per_update=2` +
  '&grpo.num_minibatches=1&ppo.num_envs=4&ppo.num_steps=16&ppo.num_minibatches=1&ppo.update_epochs=1';
const LM = lmRun('reverse');

test('a text task on the page: the LM trains, its completions are padded and masked, accuracy is tracked, a link replays it', async (ctx) => {
  const { page, errors } = await open(ctx, `#${LM}&backend=cpu`);
  assert.equal(await page.inputValue('select[name="env"]'), 'lm-reverse');
  // The form shows the LM's keys and hides the MLP's.
  assert.ok(await page.isVisible('#config-form [name="lora_rank"]'));
  assert.ok(!(await page.isVisible('#config-form [name="width"]')));
  const created = await page.evaluate(() => window.playground.status());
  assert.equal(created.backend, 'cpu');
  await step(page, 2);
  const history = await metrics(page);
  checkHistory(history, 2, 'lm-reverse');
  const base = await page.evaluate(() => window.playground.startEval());
  assert.ok(base > 0.3 && base < 1, `the base's held-out accuracy: ${base}`);
  for (const algo of ['ppo', 'grpo']) {
    // Evaluated about 20 times over the budget: at update 2 of both here.
    const evals = history[algo].map((m) => m.eval_mean_return).filter((v) => v !== undefined);
    assert.ok(evals.length > 0 && evals.every((v) => v >= 0 && v <= 1), `${algo}: ${evals}`);
  }
  assert.ok(await page.isVisible('#chart-accuracy'));
  assert.ok(!(await page.isVisible('#env-canvas')));

  const snap = await page.evaluate(() => window.playground.snapshot());
  assert.equal(snap.grpo_completions.rows.length, 16, 'one row per completion: 2 prompts × 8');
  assert.equal(snap.groups.length, 2);
  const group = { ...snap.grpo_completions, rows: snap.grpo_completions.rows.slice(8) };
  const mask = snap.grpo.find((h) => h.name === 'mask');
  const g = mask.cols;
  assert.equal(group.steps, mask.rows);
  group.rows.forEach((row, i) => {
    assert.ok(row.prompt.endsWith('=') && row.prompt === group.rows[0].prompt, `one prompt: ${row.prompt}`);
    assert.equal(row.prompt, snap.groups[1].prompt, "the group's summary names its prompt");
    const j = g - 8 + i; // the last group is the batch's last G columns
    const valid = Array.from({ length: mask.rows }, (_, t) => mask.values[t * g + j]).filter((v) => v > 0).length;
    assert.equal(row.tokens.length, valid, `row ${i}: its tokens are the mask's valid cells`);
    // Valid cells first, then padding to T: the mask is a prefix of ones.
    assert.ok(Array.from({ length: mask.rows }, (_, t) => mask.values[t * g + j]).every((v, t) => v === (t < valid ? 1 : 0)));
    assert.ok(row.ratios.length === valid && row.kl.length === valid && row.kl.every((k) => k >= 0));
    // Outcome rewards: every token of a completion carries its group-normalised advantage,
    // whose sign is the reward's against the group mean.
    assert.ok(row.advantages.every((a) => a === row.advantages[0]));
  });
  const lengths = new Set(group.rows.map((r) => r.tokens.length));
  assert.ok(lengths.size > 1 && Math.min(...lengths) < group.steps, `ragged rows, padded to T=${group.steps}: ${[...lengths]}`);
  const rewards = group.rows.map((r) => r.reward);
  const mean = rewards.reduce((a, b) => a + b) / rewards.length;
  group.rows.forEach((r) => assert.equal(Math.sign(Math.round(r.advantages[0] * 1e4)), Math.sign(Math.round((r.reward - mean) * 1e4))));
  const ppo = snap.ppo_completions;
  assert.ok(ppo.rows.length > 0 && ppo.rows.every((r) => r.values.length === r.tokens.length && r.prompt.endsWith('=')));
  // Figures are drawn once scrolled into view (the figures above it may grow meanwhile).
  await page.waitForFunction(() => {
    document.getElementById('fig-completions').scrollIntoView();
    return document.querySelectorAll('#fig-completions canvas.completions-canvas').length === 2;
  });
  assert.ok(snap.grpo.some((h) => h.name === 'kl'), 'a KL heatmap beside the ratios');
  // Hovering a token says its advantage, ratio and KL.
  const canvas = page.locator('#completions-grpo canvas.completions-canvas');
  const scale = (await canvas.boundingBox()).width / (await canvas.evaluate((c) => c.width));
  // The figure shows the whole batch (2 groups × 8 fit): its prompt column is the widest prompt's.
  const promptCells = Math.max(...snap.grpo_completions.rows.map((r) => [...r.prompt].length));
  await canvas.hover({ position: { x: (promptCells * 16 + 6 + 8) * scale, y: 10 * scale } });
  assert.match(await page.textContent('#completions-tip'), /^t=0 · '.+' · advantage -?[\d.]+ · ratio [\d.]+ · KL /);

  const url = await page.evaluate(() => window.playground.shareUrl());
  await page.close();
  const replay = await ctx.browser.newPage();
  await replay.goto(url);
  await untilUpdated(replay, 2);
  assert.deepEqual(withoutTimings(await metrics(replay)), withoutTimings(history));
  await replay.close();
  assert.deepEqual(errors, []);
}, BOTH);

for (const task of ['reverse', 'add', 'sort']) {
  test(`lm-${task} on WebGPU and on the CPU: both algorithms train the LM; the rollouts (on a CPU copy) collect the same`, async (ctx) => {
    const first = {};
    for (const backend of ['webgpu', 'cpu']) {
      const { page, errors } = await open(ctx, `#${lmRun(task)}&backend=${backend}`);
      assert.equal((await status(page)).backend, backend);
      await step(page, 1);
      first[backend] = await metrics(page);
      checkHistory(first[backend], 1, `lm-${task} on ${backend}`);
      const snap = await page.evaluate(() => window.playground.snapshot());
      assert.equal(snap.grpo_completions.rows.length, 16);
      assert.ok(snap.grpo_completions.rows.every((r) => r.tokens.length <= snap.grpo_completions.steps));
      assert.deepEqual(errors, []);
      await page.close();
    }
    for (const algo of ['ppo', 'grpo']) {
      const [gpu, cpu] = [first.webgpu[algo][0], first.cpu[algo][0]];
      for (const key of ['env_steps', 'episodes', 'mean_return', 'reward_mean', 'mean_valid_length']) assert.deepEqual(gpu[key], cpu[key], `${algo}.${key}`);
      // The loss of (normalised) advantages is a near-zero mean of terms of order 1, and the
      // GPU scores the CPU copy's samples with float differences (its first ratios are 1 ± 1e-4,
      // not exactly 1): equal to 1e-3 in absolute terms.
      const tol = 1e-3 + 1e-2 * Math.abs(cpu.policy_loss);
      assert.ok(Math.abs(gpu.policy_loss - cpu.policy_loss) <= tol, `${algo}: WebGPU ${gpu.policy_loss}, CPU ${cpu.policy_loss}`);
    }
  });
}

test('a base model that cannot be fetched or read gets a message; the runs on the page stay', async (ctx) => {
  const { page, errors } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await page.context().route('**/models/lm-add.bpk', (r) => r.fulfill({ status: 404, body: 'missing' }));
  await page.context().route('**/models/lm-sort.bpk', (r) => r.fulfill({ status: 200, body: 'not a burnpack file' }));
  await step(page, 1);
  for (const [task, why] of [['add', /lm-add\.bpk could not be fetched \(HTTP 404\)/], ['sort', /lm-sort: the language model's weights cannot be read/]]) {
    await page.evaluate((f) => window.playground.reset(f), `${lmRun(task)}&backend=cpu`);
    const problems = await page.textContent('#problems');
    assert.match(problems, why);
    assert.match(problems, /The runs on the page are unchanged/);
    assert.deepEqual((await status(page)).updates, { ppo: 1, grpo: 1 }, 'the CartPole runs stay');
    assert.equal(await page.inputValue('select[name="env"]'), 'CartPole-v1');
  }
  await step(page, 1);
  assert.deepEqual((await status(page)).updates, { ppo: 2, grpo: 2 });
  assert.deepEqual(errors.filter((e) => !/404|Failed to load resource/.test(e)), []);
  await page.close();
});

test('the footer, status(), CSV and JSON exports carry the version and commit', async (ctx) => {
  const { page, errors } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 2);
  const s = await status(page);
  assert.ok(Number.isInteger(s.version) && s.version >= 1, JSON.stringify(s));
  assert.match(s.commit, /^[0-9a-f]{7,}(-dirty)?$|^unknown$/);
  assert.equal(await page.textContent('#build-version'), String(s.version));
  assert.equal(await page.textContent('#build-commit'), s.commit);
  const download = async (button) => {
    const [file] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
    return readFile(await file.path(), 'utf8');
  };
  const csv = (await download('#btn-export-csv')).trim().split('\n').map((l) => l.split(','));
  const header = csv[0];
  assert.equal(csv.length, 1 + 2 * 2, 'one row per update per algorithm');
  for (const col of ['algorithm', 'update', 'env_steps', 'wall_s', 'mean_return', 'policy_loss', 'version', 'commit']) {
    assert.ok(header.includes(col), `CSV lacks ${col}: ${header}`);
  }
  const at = (row, col) => row[header.indexOf(col)];
  assert.deepEqual(csv.slice(1).map((r) => at(r, 'algorithm')), ['ppo', 'ppo', 'grpo', 'grpo']);
  for (const row of csv.slice(1)) {
    assert.equal(row.length, header.length);
    assert.equal(at(row, 'version'), String(s.version));
    assert.equal(at(row, 'commit'), s.commit);
  }
  // Metrics a row does not have are empty cells, not "null" or "undefined".
  assert.ok(csv.slice(1).every((r) => !r.includes('null') && !r.includes('undefined')));
  const json = JSON.parse(await download('#btn-export-json'));
  assert.equal(json.version, s.version);
  assert.equal(json.commit, s.commit);
  assert.match(json.experiment, new RegExp(`^v=${s.version}&env=CartPole-v1&seed=3&`));
  assert.deepEqual(withoutTimings({ ppo: json.ppo, grpo: json.grpo }), withoutTimings(await metrics(page)));
  assert.deepEqual(errors, []);
  await page.close();
}, BOTH);

test('fingerprinting: a changed core gets a different asset folder; entry pages point into it', async () => {
  const { fingerprint } = await import('../../scripts/fingerprint.mjs');
  const site = async (wasm) => {
    const dir = await mkdtemp(join(tmpdir(), 'site-'));
    await mkdir(join(dir, 'js'));
    await writeFile(join(dir, 'index.html'), '<link href="./style.css" rel="stylesheet"><script type="module" src="js/main.js"></script><a href="#x">x</a><link rel="icon" href="data:,">');
    await writeFile(join(dir, 'style.css'), 'body{}');
    await writeFile(join(dir, 'js/main.js'), "import '../core.js';");
    await writeFile(join(dir, 'core_bg.wasm'), wasm);
    return dir;
  };
  const a = await site('core one');
  const b = await site('core two');
  const [fa, fb] = [await fingerprint(a), await fingerprint(b)];
  assert.match(fa, /^assets-[0-9a-f]{16}$/);
  assert.notEqual(fa, fb);
  assert.equal(fa, await fingerprint(await site('core one')), 'the same build, the same name');
  assert.equal(
    await readFile(join(a, 'index.html'), 'utf8'),
    `<link href="./${fa}/style.css" rel="stylesheet"><script type="module" src="./${fa}/js/main.js"></script><a href="#x">x</a><link rel="icon" href="data:,">`,
  );
  assert.deepEqual((await readdir(a)).sort(), [fa, 'index.html'].sort());
  await assert.rejects(fingerprint(a), /already fingerprinted/);
});

test('the served entry page is revalidated, the hashed assets cached for good', async (ctx) => {
  const page = await (await fetch(`${ctx.url}/`)).text();
  const head = await fetch(`${ctx.url}/`);
  assert.equal(head.headers.get('cache-control'), 'no-cache');
  const asset = page.match(/src="\.\/(assets-[0-9a-f]{16}\/js\/main\.js)"/)?.[1];
  assert.ok(asset, 'index.html loads main.js from the asset folder');
  assert.match((await fetch(`${ctx.url}/${asset}`)).headers.get('cache-control'), /immutable/);
  assert.ok(page.length < 16_000, `the entry page is ${page.length} bytes`);
});

// ---------------------------------------------------------------- the learner on the page

test('WebGPU and the CPU agree on the first update of the same URL', async (ctx) => {
  const first = {};
  for (const backend of ['webgpu', 'cpu']) {
    const { page, errors } = await open(ctx, `#${TINY.cartpole}&seed=21&backend=${backend}`);
    assert.equal((await status(page)).backend, backend);
    await step(page, 1);
    first[backend] = await metrics(page);
    assert.deepEqual(errors, []);
    await page.close();
  }
  let widest = { used: 0, what: 'none' };
  for (const algo of ['ppo', 'grpo']) {
    const [gpu, cpu] = [first.webgpu[algo][0], first.cpu[algo][0]];
    // The rollout acts with a CPU copy of the same initial weights and the same seeded RNG on
    // both backends: what it collects is identical.
    for (const key of ['env_steps', 'episodes', 'mean_return', 'reward_mean', 'reward_std', 'mean_valid_length', 'zero_std_fraction']) {
      assert.deepEqual(gpu[key], cpu[key], `${algo}.${key}`);
    }
    // The update is floating-point work in another order (WGSL kernels on SwiftShader against
    // flex's SIMD loops): equal to float32 rounding, within a relative 1e-3 (absolute 1e-5 near 0).
    for (const key of ['policy_loss', 'value_loss', 'entropy', 'approx_kl', 'clip_fraction', 'grad_norm', 'kl', 'explained_variance']) {
      if (cpu[key] === undefined || cpu[key] === null) {
        assert.equal(gpu[key] ?? null, null, `${algo}.${key}`);
        continue;
      }
      const tol = 1e-5 + 1e-3 * Math.abs(cpu[key]);
      assert.ok(Math.abs(gpu[key] - cpu[key]) <= tol, `${algo}.${key}: WebGPU ${gpu[key]}, CPU ${cpu[key]}`);
      if (Math.abs(gpu[key] - cpu[key]) / tol > widest.used) widest = { used: Math.abs(gpu[key] - cpu[key]) / tol, what: `${algo}.${key}: WebGPU ${gpu[key]}, CPU ${cpu[key]}` };
    }
  }
  console.log(`     closest to its tolerance: ${widest.what} (${(100 * widest.used).toFixed(1)}% of it)`);
});

test('a NaN stops one algorithm with a message; its history and the other run go on', async (ctx) => {
  const { page, errors } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 2);
  await page.evaluate(() => window.playground.injectFault('ppo'));
  await step(page, 2);
  const m = await metrics(page);
  assert.equal(m.ppo.length, 2, 'PPO keeps its two updates and takes no more');
  assert.equal(m.grpo.length, 4, 'GRPO goes on');
  const s = await status(page);
  assert.match(s.errors.ppo, /policy_loss became NaN or infinite at update 3/);
  assert.equal(s.errors.grpo, null);
  await page.waitForSelector('#problems:not([hidden])');
  assert.match(await page.textContent('#problems'), /PPO stopped; its history is kept/);
  assert.deepEqual(errors, []);
  await page.close();
}, BOTH);

test('the embed snippet names one figure; the embed links back without it', async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 1);
  await page.click('#btn-embed');
  await page.selectOption('#share-out select', 'tensors');
  const snippet = await page.inputValue('#share-out textarea');
  const src = snippet.match(/^<iframe src="([^"]+)" width="720" height="720"[^>]* loading="lazy" title="PPO vs GRPO: tensors"><\/iframe>$/)?.[1];
  assert.ok(src, snippet);
  const params = new URLSearchParams(new URL(src).hash.slice(1));
  assert.equal(params.get('figure'), 'tensors');
  assert.equal(params.get('run'), '1');
  assert.equal(params.get('seed'), '3');
  await page.close();

  const embed = await ctx.browser.newPage();
  await embed.goto(src);
  await untilUpdated(embed, 1);
  const link = await embed.getAttribute('a:has-text("open in playground")', 'href');
  const back = new URLSearchParams(new URL(link).hash.slice(1));
  assert.equal(back.get('figure'), null, link);
  params.delete('figure');
  assert.deepEqual([...back].sort(), [...params].sort());
  await embed.close();
});

test('figure=completions embeds a text task\'s completions alone, replayed from the link', async (ctx) => {
  const page = await ctx.browser.newPage({ viewport: { width: 760, height: 700 } });
  await page.goto(`${ctx.url}/#${LM}&backend=cpu&run=2&figure=completions`);
  await untilUpdated(page, 2);
  await page.waitForSelector('#completions-grpo canvas.completions-canvas');
  const shown = await page.evaluate(() =>
    [...document.querySelectorAll('.figures > figure')].filter((f) => f.offsetParent !== null).map((f) => f.id),
  );
  assert.deepEqual(shown, ['fig-completions']);
  assert.equal((await page.evaluate(() => window.playground.snapshot())).grpo_completions.rows.length, 16);
  await page.close();
});

test('the environment replay: the trajectory select and the slider change the frame', async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 1);
  // Figures are drawn once in view, and the heatmaps drawn above push this one down: keep
  // scrolling it into view until it has been drawn.
  await page.waitForFunction(() => {
    document.getElementById('fig-env').scrollIntoView();
    return document.querySelectorAll('#traj-select option').length === 4;
  });
  const frame = () => page.evaluate(() => document.getElementById('env-canvas').toDataURL());
  const slide = (t) =>
    page.evaluate((v) => {
      const s = document.getElementById('traj-slider');
      s.value = String(v);
      s.dispatchEvent(new Event('input'));
    }, t);
  await page.selectOption('#traj-select', '0');
  const start = await frame();
  assert.match(await page.textContent('#traj-info'), /^t = 0 \//);
  await slide(5);
  const later = await frame();
  assert.notEqual(later, start, 'moving the slider redraws the cart');
  assert.match(await page.textContent('#traj-info'), /^t = 5 \//);
  // Another member of the group at the same step: the same start, another path.
  const snap = await page.evaluate(() => window.playground.snapshot());
  const at5 = (i) => JSON.stringify(snap.trajectories[i].states[5]);
  const other = snap.trajectories.findIndex((t, i) => i > 0 && t.states.length > 5 && at5(i) !== at5(0));
  assert.ok(other > 0, 'two members of the group differ by step 5');
  await page.selectOption('#traj-select', String(other));
  assert.equal(await frame(), start, 'a member of the same group starts from the same state');
  await slide(5);
  assert.notEqual(await frame(), later, 'another trajectory draws another frame');
  await page.close();
});

test("wall time is each algorithm's own: idle time between two Steps does not count", async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 1);
  await page.waitForTimeout(2000);
  await step(page, 1);
  const m = await metrics(page);
  for (const algo of ['ppo', 'grpo']) {
    const [a, b] = m[algo];
    const own = b.rollout_s + b.advantage_s + b.update_s;
    assert.ok(Math.abs(b.wall_s - a.wall_s - own) < 1e-9, `${algo}: ${b.wall_s - a.wall_s} s added for ${own} s of its own work`);
    assert.equal(b.sps, b.env_steps / b.wall_s);
  }
  await page.close();
});

test('GRPO warm-started from PPO on the page reports the PPO steps apart from its own', async (ctx) => {
  // TINY's PPO takes 2 × 16 = 32 steps per update: 96 steps fit three updates.
  const { page, errors } = await open(ctx, `#${TINY.cartpole}&backend=cpu&grpo.warm_start_ppo_steps=100`);
  await step(page, 2);
  const m = await metrics(page);
  assert.deepEqual(m.grpo.map((x) => x.warm_start_env_steps), [96, 96]);
  assert.ok(m.grpo[0].env_steps < 96 + 4 * 40, 'PPO steps are not in GRPO\'s env_steps');
  assert.equal(m.ppo[0].warm_start_env_steps, undefined);
  assert.deepEqual(errors, []);
  await page.close();
});

/** Every run's metrics without timings: `{ppo: {"<seed>": [...]}, grpo: {...}}`. */
const runsWithoutTimings = (runs) => Object.fromEntries(Object.entries(runs).map(([algo, bySeed]) => [algo, withoutTimings(bySeed)]));

test('seeds=4: every run of both algorithms steps; a pool of 1 and of 4 give the same metrics; bands and intervals', async (ctx) => {
  const link = '#env=CartPole-v1&seeds=4&backend=cpu&total_steps=20000';
  const results = {};
  for (const pool of [1, 4]) {
    const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 2400 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${ctx.url}/?pool=${pool}${link}`);
    await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: LOAD_MS });
    await step(page, 2);
    const s = await status(page);
    assert.equal(s.seeds, 4);
    assert.equal(s.pool, pool, `pool ${pool}: ${JSON.stringify(s)}`);
    const runs = await page.evaluate(() => window.playground.runs());
    for (const algo of ['ppo', 'grpo']) {
      assert.deepEqual(Object.keys(runs[algo]).sort(), ['1', '2', '3', '4'], `${algo}: one run per seed`);
      for (const [seed, rows] of Object.entries(runs[algo])) assert.equal(rows.length, 2, `pool ${pool}: ${algo} seed ${seed}`);
    }
    // metrics() keeps its shape: the first seed's.
    assert.deepEqual(withoutTimings(await metrics(page)), withoutTimings({ ppo: runs.ppo['1'], grpo: runs.grpo['1'] }));
    assert.notDeepEqual(withoutTimings({ a: runs.ppo['1'] }).a, withoutTimings({ a: runs.ppo['2'] }).a, 'seeds differ');
    results[pool] = runsWithoutTimings(runs);
    if (pool === 4) {
      // The curves carry a band (drawn by the statistics worker's aggregate), the table intervals.
      // The statistics worker answers after the updates it was sent: wait for an answer with
      // every run's scores (the legend is there from the reset on).
      await page.waitForFunction(() => window.playground.summary()?.rows?.find((r) => r.metric.startsWith('training return'))?.ppo.n === 4, null, { timeout: 30_000 });
      assert.match(await page.textContent('#chart-steps .band-legend'), /over its 4 seeds/);
      const legend = await page.textContent('#chart-steps .band-legend');
      assert.match(legend, /IQM over its 4 seeds/);
      assert.match(legend, /95% confidence band \(a percentile bootstrap over the seeds/);
      const summary = await page.evaluate(() => window.playground.summary());
      assert.equal(summary.aggregate, 'iqm');
      assert.deepEqual(summary.seeds, [1, 2, 3, 4]);
      const auc = summary.rows.find((r) => r.metric.startsWith('training return'));
      assert.ok(auc.ppo.estimate.low <= auc.ppo.estimate.value && auc.ppo.estimate.value <= auc.ppo.estimate.high, JSON.stringify(auc));
      assert.match(await page.textContent('#summary'), /\[[-\d.]+, [-\d.]+\]/);
      // The seed selector shows another seed's losses and tensors.
      await page.selectOption('#seed-select', '2');
      await page.waitForFunction(() => window.playground.status().steps === 2 && window.playground.snapshot()?.ppo?.length > 0, null, { timeout: 30_000 });
      await page.screenshot({ path: `${ctx.artifacts}/seeds.png`, fullPage: true });
      console.log(`     screenshot: ${ctx.artifacts}/seeds.png`);
    }
    assert.deepEqual(errors, []);
    await page.close();
  }
  assert.deepEqual(results[4], results[1], 'a run does not depend on the pool, nor on which worker ran it');
}, BOTH);

test('seeds=16: the page stays responsive (no main-thread task over 50 ms) with 32 runs', async (ctx) => {
  // CartPole's defaults, as the one-seed test above: the page's real workload, 16 times over.
  const { page } = await open(ctx, '#env=CartPole-v1&seeds=16&backend=cpu', { init: watchLongTasks });
  await page.waitForTimeout(500);
  const start = await page.evaluate(() => performance.now());
  await page.evaluate(() => { window.playground.run(); });
  // Polled cheaply and rarely: the test's own polling must not be the long task.
  await page.waitForFunction(() => window.playground.status().steps >= 3 && document.querySelector('#chart-steps .band-chart:not([hidden])'), null, { timeout: 300_000, polling: 250 });
  await page.evaluate(() => window.playground.pause());
  const during = await page.evaluate((t0) => window.__longTasks.filter((e) => e.start >= t0), start);
  assert.equal((await status(page)).seeds, 16);
  const runs = await page.evaluate(() => window.playground.runs());
  const lengths = Object.values(runs).flatMap((bySeed) => Object.values(bySeed).map((h) => h.length));
  assert.equal(lengths.length, 32);
  assert.ok(lengths.every((n) => n === lengths[0] && n >= 3), `every run caught up after the pause: ${lengths}`);
  assert.deepEqual(during, [], `long tasks during the run: ${JSON.stringify(during)}`);
  await page.close();
});

test('seeds past the largest seed, or out of range, get a message; the runs on the page stay', async (ctx) => {
  const { page } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 1);
  await page.evaluate(() => window.playground.reset('#env=CartPole-v1&seed=9007199254740990&seeds=4'));
  assert.match(await page.textContent('#problems'), /seeds/);
  await page.evaluate(() => window.playground.reset('#env=CartPole-v1&seeds=17'));
  assert.match(await page.textContent('#problems'), /seeds/);
  assert.equal((await metrics(page)).ppo.length, 1, 'the run on the page stays');
  await page.close();
}, BOTH);

test('a flag says where a known failure mode starts, on a run built to provoke it, and not on the default experiment', async (ctx) => {
  // GRPO on MountainCar from scratch: every member of every group is cut at the same length with
  // the same return, so no group has a signal (the core's flags.rs; tests/training.rs as well).
  const provoked = 'env=MountainCar-v0&seed=1&width=16&ppo.num_envs=2&ppo.num_steps=16&grpo.num_generations=4&grpo.max_completion_length=60';
  const { page, errors } = await open(ctx, `#${provoked}&backend=cpu`);
  await step(page, 2);
  const flags = await page.evaluate(() => window.playground.flags());
  assert.deepEqual(flags.map((f) => [f.algo, f.kind, f.update]), [['grpo', 'no_signal', 1]], JSON.stringify(flags));
  await page.waitForSelector('#flags li');
  assert.match(await page.textContent('#flags'), /^update 1 · GRPO · no signal: 100% of GRPO's groups had all their rewards equal: zero advantage, no gradient from them\. Try /);
  assert.deepEqual(errors, []);
  await page.close();
  const defaults = await open(ctx, '#env=CartPole-v1&backend=cpu');
  await step(defaults.page, 5);
  assert.deepEqual(await defaults.page.evaluate(() => window.playground.flags()), []);
  assert.equal(await defaults.page.isVisible('#flags'), false);
  await defaults.page.close();
}, BOTH);

// ---------------------------------------------------------------- Firefox beside Chromium

test('WebGPU switched on without an adapter: the page says so and trains on the CPU', async (ctx) => {
  // Firefox with `dom.webgpu.enabled` and no Vulkan driver: navigator.gpu, but no adapter.
  const firefox = await ctx.launchFirefox({ webgpu: true, vulkan: false });
  try {
    await fallsBackToCpu(firefox, ctx, /no WebGPU adapter/);
  } finally {
    await firefox.close();
  }
}, ['firefox']);

/** A link's metrics (timings aside) and its last update's tensors, as JSON text, from one engine. */
async function replayed(browser, link, updates) {
  const page = await browser.newPage();
  await page.goto(link);
  await untilUpdated(page, updates);
  const { metrics: m, snapshot, core } = JSON.parse(
    await page.evaluate(() => JSON.stringify({ metrics: window.playground.metrics(), snapshot: window.playground.snapshot(), core: window.playground.status().core })),
  );
  await page.close();
  return { metrics: canonical(withoutTimings(m)), snapshot: canonical(snapshot), core };
}

/** JSON text with every object's keys sorted: the order the two workers answered in does not count. */
const canonical = (value) =>
  JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));

/** Where two texts first differ, with a little of each around it. */
const firstDifference = (a, b) => {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at ${i} of ${a.length}/${b.length}: …${a.slice(i - 80, i + 80)}… against …${b.slice(i - 80, i + 80)}…`;
};

test('Chromium and Firefox replay the same CartPole and lm-reverse links to identical metrics and tensors (CPU; the full core against the CPU core)', async (ctx) => {
  // The core is deterministic and IEEE-754 in both engines' wasm: the same bits, not close ones.
  // Chromium loads the full core (?core=full), Firefox the CPU core: the two builds train alike.
  for (const [hash, updates] of [[`${TINY.cartpole}&seed=11`, 4], [LM, 2]]) {
    const link = (query) => `${ctx.url}/${query}#${hash}&backend=cpu&run=${updates}`;
    const [chromium, firefox] = [await replayed(ctx.chromium, link('?core=full'), updates), await replayed(ctx.browser, link(''), updates)];
    assert.deepEqual([chromium.core, firefox.core], ['full', 'cpu']);
    for (const part of ['metrics', 'snapshot']) {
      assert.ok(chromium[part].length > 1000, `${part}: something was compared`);
      assert.ok(firefox[part] === chromium[part], `${hash}: the engines' ${part} differ ${firstDifference(firefox[part], chromium[part])}`);
    }
  }
}, ['firefox']);

test("GRPO's update in shards: the same run with 0, 1 and 2 helper workers (metrics and tensors), and status() says how many", async (ctx) => {
  // 32 completions per update in one minibatch: two shards of 16 for the gradient and the reference.
  const hash = 'v=7&env=lm-reverse&seed=2&backend=cpu&grpo.groups_per_update=2&grpo.num_minibatches=1' +
    '&ppo.num_envs=2&ppo.num_steps=8&ppo.num_minibatches=1&run=2';
  const runs = {};
  for (const helpers of [0, 1, 2]) {
    const page = await ctx.browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${ctx.url}/?helpers=${helpers}#${hash}`);
    await untilUpdated(page, 2);
    const { metrics: m, snapshot, status: s } = JSON.parse(await page.evaluate(() =>
      JSON.stringify({ metrics: window.playground.metrics(), snapshot: window.playground.snapshot(), status: window.playground.status() })));
    assert.equal(s.helpers, helpers, JSON.stringify(s));
    assert.equal(m.grpo.length, 2);
    assert.ok(m.grpo[1].kl > 0 && m.grpo[1].grad_norm > 0, 'the updates trained');
    assert.deepEqual(errors, []);
    await page.close();
    runs[helpers] = { metrics: canonical(withoutTimings(m)), snapshot: canonical(snapshot) };
  }
  for (const helpers of [1, 2]) {
    for (const part of ['metrics', 'snapshot']) {
      assert.ok(runs[helpers][part] === runs[0][part], `${helpers} helpers: ${part} differ ${firstDifference(runs[helpers][part], runs[0][part])}`);
    }
  }
}, BOTH);

test('helper workers that cannot start leave GRPO to its own worker: the runs go on, a note says why', async (ctx) => {
  const page = await ctx.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The page loads the full core (?core=full); its helpers need the CPU core, which this page cannot fetch.
  await page.route('**/*-cpu_bg.wasm', (route) => route.abort());
  await page.goto(`${ctx.url}/?helpers=1&core=full#v=7&env=lm-reverse&seed=2&backend=cpu&grpo.groups_per_update=2&grpo.num_minibatches=1` +
    '&ppo.num_envs=2&ppo.num_steps=8&ppo.num_minibatches=1&run=1');
  await untilUpdated(page, 1);
  const s = await status(page);
  assert.equal(s.core, 'full');
  assert.equal(s.helpers, 0, JSON.stringify(s));
  assert.match(await page.evaluate(() => document.body.innerText), /no helper workers \(.*\): GRPO's shards run in its own worker/);
  assert.deepEqual(s.errors, { ppo: null, grpo: null });
  assert.deepEqual(errors, []);
  await page.close();
});

test('workers whose scripts never arrive are replaced: the page loads, and a helper worker the same', async (ctx) => {
  const page = await ctx.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Requests for the worker's script left unanswered: the first two (the page's first worker
  // and its statistics worker), then, once the page is up, the next (a helper's).
  let held = 2;
  await page.context().route('**/js/worker.js', (route) => {
    if (held === 0) return route.continue();
    held -= 1; // never answered
  });
  const t0 = Date.now();
  await page.goto(`${ctx.url}/?helpers=1#${TINY.cartpole}&backend=cpu`);
  await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: LOAD_MS });
  const loaded = Date.now() - t0;
  assert.equal(held, 0, 'two worker scripts were held back');
  held = 1;
  await page.evaluate((f) => window.playground.reset(f), 'v=7&env=lm-reverse&seed=2&backend=cpu&grpo.groups_per_update=2&grpo.num_minibatches=1&ppo.num_envs=2&ppo.num_steps=8&ppo.num_minibatches=1');
  assert.equal(held, 0, "the helper's script was held back");
  await step(page, 1);
  const s = await status(page);
  assert.deepEqual([s.helpers, s.note, s.updates], [1, null, { ppo: 1, grpo: 1 }], JSON.stringify(s));
  console.log(`     (loaded after ${(loaded / 1000).toFixed(1)} s)`);
  assert.deepEqual(errors, []);
  await page.close();
});

// ---------------------------------------------------------------- reading a run: the scrubber, groups, asking the model

/** The values a heatmap canvas draws now, by its name, in `container`. */
const drawn = (page, container, name) =>
  page.evaluate(([c, n]) => {
    const canvas = document.querySelector(`#${c} canvas[data-name="${n}"]`);
    return canvas && { values: Array.from(canvas.map.values), cols: canvas.map.cols, first: canvas.map.first_col ?? 0 };
  }, [container, name]);

test('the scrubber: arrow keys select an earlier update, whose tensors the page draws as snapshot(n) gives them; at=N opens there', async (ctx) => {
  const { page, errors } = await open(ctx, `#${TINY.cartpole}&backend=cpu`);
  await step(page, 12);
  assert.equal(await page.evaluate(() => window.playground.at()), null, 'following the latest');
  await page.waitForFunction(() => document.getElementById('update-label').textContent === '12 of 12 (latest)');
  await page.focus('#update-slider');
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => window.playground.at() === 9 && window.playground.snapshot().ppo_update === 9);
  await page.waitForFunction(() => /^9 of 12$/.test(document.getElementById('update-label').textContent));
  const nine = await page.evaluate(() => window.playground.snapshot(9));
  assert.equal(nine.ppo_tensors && nine.grpo_tensors, true, 'one of the last 8: kept whole');
  await page.waitForFunction(() => {
    document.getElementById('fig-tensors').scrollIntoView();
    return document.querySelector('#heatmaps-ppo canvas[data-name="advantages"]')?.map;
  });
  await page.waitForFunction((want) => {
    const map = document.querySelector('#heatmaps-ppo canvas[data-name="advantages"]')?.map;
    // The page's values are float32 (typed arrays), snapshot(n)'s JSON numbers written from them.
    return map && map.values.length === want.length && map.values.every((v, i) => v === Math.fround(want[i]));
  }, nine.ppo.find((m) => m.name === 'advantages').values);
  const latest = await page.evaluate(() => window.playground.snapshot(12));
  const advantages = (snap) => snap.ppo.find((m) => m.name === 'advantages').values;
  assert.notDeepEqual(advantages(nine), advantages(latest), 'another update, other values');
  const grpo = await drawn(page, 'heatmaps-grpo', 'rewards');
  assert.deepEqual(grpo.values, nine.grpo.find((m) => m.name === 'rewards').values.map(Math.fround));
  // An update outside the kept ones: its groups are there, its tensors not, and the page says so.
  const three = await page.evaluate(() => window.playground.snapshot(3));
  assert.equal(three.ppo_tensors || three.grpo_tensors, false);
  assert.ok(three.groups.length > 0 && three.ppo_update === 3);
  await page.evaluate(() => window.playground.scrubTo(3));
  await page.waitForFunction(() => /were not kept/.test(document.querySelector('#heatmaps-ppo .empty')?.textContent ?? ''));
  // The counts come from the core's history (src/history.rs: RECENT, SPREAD).
  assert.match(await page.textContent('#heatmaps-ppo .empty'), /its last 8 and 8 spread over it/);
  await page.waitForFunction(() => /tensors not kept/.test(document.getElementById('update-label').textContent));
  await assert.rejects(page.evaluate(() => window.playground.snapshot(99)), /there is no update 99/);
  // The link names the update shown; opened, the page replays the run and shows that update.
  await page.evaluate(() => window.playground.scrubTo(9));
  const url = await page.evaluate(() => window.playground.shareUrl());
  assert.match(url, /&run=12&at=9$/);
  const memory = await page.evaluate(() => window.playground.memory());
  for (const algo of ['ppo', 'grpo']) {
    const { held, wasm_bytes } = memory[algo];
    assert.equal(held.updates, 12);
    assert.deepEqual(held.full_updates, [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12], algo);
    assert.ok(held.bytes > 0 && wasm_bytes > held.bytes, JSON.stringify(memory[algo]));
  }
  // Back to the latest: the end of the slider follows the runs again.
  await page.click('#btn-latest');
  await page.waitForFunction(() => window.playground.at() === null && window.playground.snapshot().ppo_update === 12);
  await step(page, 1);
  await page.waitForFunction(() => window.playground.snapshot().ppo_update === 13);
  await page.close();
  const { page: opened, errors: openErrors } = await open(ctx, url.slice(url.indexOf('#')));
  await untilUpdated(opened, 12);
  await opened.waitForFunction(() => window.playground.snapshot()?.ppo_update === 9 && window.playground.snapshot()?.grpo_update === 9);
  assert.equal(await opened.evaluate(() => window.playground.at()), 9);
  const reopened = await opened.evaluate(() => window.playground.snapshot());
  // The page's float32 values against snapshot(n)'s JSON numbers written from them.
  const float32 = (maps) => maps.map((m) => m.values.map(Math.fround));
  assert.deepEqual(reopened.ppo.map((m) => m.values), float32(nine.ppo));
  assert.deepEqual(reopened.grpo.map((m) => m.values), float32(nine.grpo));
  await opened.close();
  assert.deepEqual([...errors, ...openErrors], []);
});

test('a batch with more rows than fit is shown one group at a time, its prompt beside it', async (ctx) => {
  // 6 prompts × 8 completions: 48 rows, more than a heatmap fits at 4 pixels a row.
  const { page, errors } = await open(ctx, `#${LM.replace('grpo.groups_per_update=2', 'grpo.groups_per_update=6')}&backend=cpu`);
  await step(page, 1);
  await page.waitForFunction(() => {
    document.getElementById('fig-tensors').scrollIntoView();
    return document.querySelector('#heatmaps-grpo canvas[data-name="mask"]')?.map;
  });
  const snap = await page.evaluate(() => window.playground.snapshot());
  assert.equal(snap.groups.length, 6);
  let mask = await drawn(page, 'heatmaps-grpo', 'mask');
  assert.deepEqual([mask.cols, mask.first], [8, 40], 'the last group by default');
  // The picker is filled when the scrubber redraws, which may come a frame after the heatmaps.
  await page.waitForFunction(() => document.querySelectorAll('#group-select option').length > 0);
  const options = await page.$$eval('#group-select option', (os) => os.map((o) => o.textContent));
  assert.equal(options.length, 6, 'no "all": 48 rows do not fit');
  assert.ok(options.every((o, k) => o.startsWith(`${k} · ${snap.groups[k].prompt}`)), options.join(' | '));
  await page.selectOption('#group-select', '2');
  await page.waitForFunction(() => document.querySelector('#heatmaps-grpo canvas[data-name="mask"]').map.first_col === 16);
  mask = await drawn(page, 'heatmaps-grpo', 'mask');
  const full = snap.grpo.find((m) => m.name === 'mask');
  const column = (values, cols, c) => Array.from({ length: full.rows }, (_, t) => values[t * cols + c]);
  for (let c = 0; c < 8; c++) assert.deepEqual(column(mask.values, 8, c), column(full.values, full.cols, 16 + c).map(Math.fround));
  const heights = await page.evaluate(() => document.querySelector('#heatmaps-grpo canvas[data-name="mask"]').height);
  assert.ok(heights / 8 >= 4, `a row is at least 4 pixels: ${heights}`);
  await page.close();
  assert.deepEqual(errors, []);
});

/** Two sets of answers are the same: every completion, mark and count, and probabilities equal
 *  to a relative 1e-4 (the native CLI's float sums differ from the wasm's in the last bits). */
function sameAnswers(actual, expected) {
  const probabilities = [];
  const strip = (answers) =>
    JSON.parse(JSON.stringify(answers, (key, value) => (key === 'probability' ? (probabilities.push(value), 0) : value)));
  assert.deepEqual(strip(actual), strip(expected));
  const half = probabilities.length / 2;
  for (let i = 0; i < half; i++) {
    const [a, b] = [probabilities[i], probabilities[half + i]];
    assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(a, b), `probability ${a} against ${b}`);
  }
}

/** The `pvg` binary the Rust tests built (`PVG` to name another). */
const PVG = process.env.PVG ?? 'target/debug/pvg';

test('ask the model: the base, PPO and GRPO answer a prompt; a bad prompt gets a message; the adapters download, load back, and pvg complete gives the same answers', async (ctx) => {
  const { execFileSync } = await import('node:child_process');
  const { page, errors } = await open(ctx, `#${LM}&backend=cpu`);
  await step(page, 2);
  const answers = await page.evaluate(() => window.playground.complete('dcba='));
  assert.equal(answers.prompt, 'dcba=');
  assert.equal(answers.answer, 'abcd');
  assert.deepEqual(answers.models.map((m) => m.model), ['base', 'ppo', 'grpo']);
  for (const m of answers.models) {
    assert.equal(m.samples.reduce((n, c) => n + c.count, 0), answers.samples);
    for (const c of [m.greedy, ...m.samples]) assert.equal(c.right, c.ended && c.text === 'abcd');
  }
  await page.waitForFunction(() => document.querySelectorAll('#ask-answers section').length === 3);
  assert.match(await page.textContent('#ask-answers section[data-model="grpo"]'), /GRPO.*p = /s);
  // A malformed prompt: a message in the box; the answers and the runs stay.
  const before = await metrics(page);
  await assert.rejects(page.evaluate(() => window.playground.complete('dcbz=')), /'z' is not in lm-reverse's alphabet/);
  assert.match(await page.textContent('#ask-error'), /'z' is not in lm-reverse's alphabet/);
  await assert.rejects(page.evaluate(() => window.playground.complete('abcdefgh=')), /2 to 5 letters/);
  assert.ok(await page.isHidden('#problems'));
  assert.equal(await page.locator('#ask-answers section').count(), 3);
  assert.deepEqual(await metrics(page), before);
  await step(page, 1);
  assert.equal((await metrics(page)).ppo.length, 3, 'the page still steps');
  const again = await page.evaluate(() => window.playground.complete('dcba='));
  // The adapters file, downloaded, then loaded back: the same answers.
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#btn-adapters-download')]);
  assert.match(file.suggestedFilename(), /^lm-reverse-seed5-update3\.lora$/);
  const dir = await mkdtemp(join(tmpdir(), 'pvg-adapters-'));
  const path = join(dir, file.suggestedFilename());
  await writeFile(path, await readFile(await file.path()));
  const bytes = await readFile(path);
  assert.deepEqual(Array.from(bytes), await page.evaluate(() => window.playground.adapters()));
  await page.setInputFiles('#adapters-file', path);
  await page.waitForFunction(() => /lm-reverse-seed5-update3\.lora/.test(document.getElementById('ask-source').textContent));
  assert.deepEqual(await page.evaluate(() => window.playground.complete('dcba=')), again);
  await page.click('#btn-adapters-clear');
  // The CLI on the page's file, and on adapters it trained itself for the same run: the same.
  const cli = (args) => JSON.parse(execFileSync(PVG, ['complete', ...args, '--prompt', 'dcba=', '--json']).toString());
  sameAnswers(cli(['--adapters', path]), again);
  const url = new URL(await page.evaluate(() => window.playground.shareUrl())).hash.slice(1).replace(/&run=\d+.*$/, '');
  for (const algo of ['ppo', 'grpo']) {
    execFileSync(PVG, ['train', '--url', url, '--algo', algo, '--updates', '3', '--eval-episodes', '0', '--out', join(dir, `${algo}.jsonl`), '--save-adapters', join(dir, `${algo}.lora`)], { stdio: 'ignore' });
  }
  sameAnswers(cli(['--adapters', join(dir, 'ppo.lora'), '--adapters', join(dir, 'grpo.lora')]), again);
  await page.close();
  assert.deepEqual(errors, []);
});

test('the README lists the experiments the page lists, each with its link, sentence and seeds', async () => {
  const { readmeRows } = await import('../../www/js/experiments.js');
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  for (const row of readmeRows().split('\n')) assert.ok(readme.includes(row), `README lacks:\n${row}`);
});
