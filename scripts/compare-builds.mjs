// Two builds of the site against each other in one run: GRPO alone on lm-reverse's defaults (PPO
// made tiny, 1 helper worker, a link on the CPU: the CPU core), completion tokens/s of a whole
// update, its rollout and its gradient phase (medians of updates 4–11), a page of each build in
// turn, ROUNDS times; per round the ratio B / A, and whether both reached the same return (the
// same bits). For a change to the build of the core, e.g. a profile setting in Cargo.toml:
//
//   cp -r dist /tmp/dist-a                      # the site as it is
//   (edit Cargo.toml) cargo build --profile wasm-release --target wasm32-unknown-unknown --lib
//   cp -r dist /tmp/dist-b && wasm-bindgen --target web --no-typescript --out-dir \
//     $(ls -d /tmp/dist-b/assets-*) --out-name ppo-grpo-playground-cpu target/wasm32-unknown-unknown/wasm-release/playground.wasm
//   node scripts/compare-builds.mjs /tmp/dist-a /tmp/dist-b [rounds]
import { chromium } from 'playwright-core';
import { serve } from './static-server.mjs';

const [a, b, rounds = '4'] = process.argv.slice(2);
const sites = { A: await serve(a), B: await serve(b) };
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox'] });
const LINK = '?helpers=1#v=7&env=lm-reverse&seed=1&backend=cpu&ppo.num_envs=1&ppo.num_steps=8&ppo.update_epochs=1&ppo.num_minibatches=1';
const PHASES = { update: (m) => m.rollout_s + m.advantage_s + m.update_s, rollout: (m) => m.rollout_s, gradient: (m) => m.update_s };
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Median tokens/s of updates 4–11 of `rows`, timed by `seconds`. */
const rate = (rows, seconds) => median(rows.slice(3, 11).map((m, i) => (m.env_steps - rows[i + 2].env_steps) / seconds(m)));

const results = [];
for (let r = 0; r < Number(rounds); r++) {
  const round = {};
  for (const [name, site] of Object.entries(sites)) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${site.url}/${LINK}`);
    await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: 300_000 });
    await page.evaluate(() => window.playground.step(11));
    const rows = (await page.evaluate(() => window.playground.metrics())).grpo;
    round[name] = { ...Object.fromEntries(Object.entries(PHASES).map(([p, f]) => [p, rate(rows, f)])), last: rows.at(-1).mean_return };
    await context.close();
  }
  results.push(round);
}
console.log(`| phase | A | B | B / A, median (per round) |\n|---|---:|---:|---:|`);
for (const p of Object.keys(PHASES)) {
  const ratios = results.map((r) => r.B[p] / r.A[p]);
  const cell = (k) => median(results.map((r) => r[k][p])).toFixed(0);
  console.log(`| ${p} | ${cell('A')} | ${cell('B')} | ${median(ratios).toFixed(2)}× (${ratios.map((x) => x.toFixed(2)).join(', ')}) |`);
}
console.log(`the same return after 11 updates in every round: ${results.every((r) => r.A.last === r.B.last)}`);
await browser.close();
Object.values(sites).forEach((s) => s.server.close());
