// The page's figures, measured in one run against the native CLI on this machine:
// time to first interactive, per-update cost of PPO and GRPO on CartPole in Chromium on the CPU
// (wasm) and on WebGPU (SwiftShader here: a CPU emulating a GPU), the native CLI's cost for the
// same experiment, their ratios, how long the page takes to solve CartPole with PPO (one worker
// for both algorithms against a worker each) and its longest main-thread task meanwhile, a full
// snapshot's transport cost (JSON against typed arrays), and the language model's tokens/s.
// BENCH_ONLY=parallel|transport|lm|shards|cores|reach|copy|seeds|memory|startup runs one part (lm: the download, first
// interactive, the language model's tokens/s, and the next three; shards: GRPO's LM update with 0 and 1 helper workers;
// cores: the same with its run's worker on the full core and on the CPU core;
// reach: GRPO's whole lm-reverse run and its time to accuracy thresholds, tab against CLI;
// copy: what keeping a CPU copy
// of each run on WebGPU costs, to survive a lost device; memory: what the scrubber's history holds
// after a 1,000-update CartPole run and a 400-update lm-reverse run, as the page measures it).
//
//   node tests/browser/bench.js [dist] [pvg-binary] [dist-without-simd]
//
// With a third folder (the same page built without SIMD128), it also prints what SIMD128 brings.
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/static-server.mjs';

const dist = process.argv[2] ?? 'dist';
const pvg = process.argv[3] ?? 'target/release/pvg';
const noSimdDist = process.argv[4];
const ARGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

let site = await serve(dist);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });

async function open(hash, query = '') {
  const context = await browser.newContext(); // fresh: no cache
  const page = await context.newPage();
  await page.goto(`${site.url}/${query}#${hash}`);
  await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: 300_000 });
  return { context, page };
}

/** Completion tokens per second of updates `from`..`to` of `rows` (one algorithm's metrics; `from`
 *  ≥ 1), their median; `seconds` the part of an update timed (the whole update unless given). */
function tokensPerUpdate(rows, from, to, seconds = (m) => m.rollout_s + m.advantage_s + m.update_s) {
  return median(rows.slice(from, to).map((m, i) => (m.env_steps - rows[from + i - 1].env_steps) / seconds(m)));
}

/** PPO made tiny, so that its worker leaves GRPO the machine's other core, as when GRPO trains alone. */
const TINY_PPO = '&ppo.num_envs=1&ppo.num_steps=8&ppo.update_epochs=1&ppo.num_minibatches=1';

/** Completion tokens per second of each algorithm's updates on a text task (the language model),
 *  medians over `measured` updates after `warmup`: whole update, rollout, and gradient phase. */
async function tokens(hash, warmup, measured, query = '') {
  const { context, page } = await open(hash, query);
  const status = await page.evaluate(() => window.playground.status());
  await page.evaluate((n) => window.playground.step(n), warmup + measured);
  const history = await page.evaluate(() => window.playground.metrics());
  await context.close();
  const rates = (rows) => ({
    update: tokensPerUpdate(rows, warmup),
    rollout: tokensPerUpdate(rows, warmup, undefined, (m) => m.rollout_s),
    gradient: tokensPerUpdate(rows, warmup, undefined, (m) => m.update_s),
  });
  return { adapter: status.adapter, helpers: status.helpers, ppo: rates(history.ppo), grpo: rates(history.grpo) };
}

/** GRPO's update on lm-reverse's defaults with its shards on 0 and 1 helper workers (src/shards.rs),
 *  against the native CLI, in this one run. PPO is made tiny so that its worker leaves GRPO the
 *  machine's other core, as when GRPO trains alone. */
async function shardsBench(WARMUP = 3, MEASURED = 8, ROUNDS = 5) {
  const nativeRates = (threads) => {
    const args = ['bench', '--env', 'lm-reverse', '--seed', '1', '--runs', '3', '--warmup', '1', '--updates', '4', '--json'];
    const env = threads ? { ...process.env, RAYON_NUM_THREADS: String(threads) } : process.env;
    const n = JSON.parse(execFileSync(pvg, args, { env }).toString()).find((r) => r.algorithm === 'grpo');
    return { update: n.env_steps_per_s, rollout: n.rollout_steps_per_s, gradient: n.gradient_steps_per_s };
  };
  const nat = nativeRates(null);
  const nat1 = nativeRates(1);
  // Pages with 0 and 1 helper in turn, ROUNDS times: this machine's speed drifts by a third
  // between minutes, more than the helper's effect, so each round's ratio is taken within the
  // round and the table gives medians over rounds.
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round = {};
    for (const helpers of [0, 1]) round[helpers] = (await tokens(`v=7&env=lm-reverse&seed=1&backend=cpu${TINY_PPO}`, WARMUP, MEASURED, `?helpers=${helpers}`)).grpo;
    rounds.push(round);
  }
  const over = (f) => median(rounds.map(f));
  const tab = Object.fromEntries([0, 1].map((h) => [h, Object.fromEntries(['update', 'rollout', 'gradient'].map((p) => [p, over((r) => r[h][p])]))]));
  console.log(`\nGRPO alone on lm-reverse defaults (PPO made tiny), completion tokens per second in the tab (medians of ${MEASURED} updates after ${WARMUP}, then over ${ROUNDS} rounds of a page with 0 and one with 1 helper), measured in this one run:`);
  console.log('| phase | native CLI, 2 threads | native CLI, 1 thread | Chromium, its worker | Chromium, + 1 helper worker | helper speed-up | wasm (its worker) / native 1 thread | wasm (+1 helper) / native 2 threads |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const phase of ['update', 'rollout', 'gradient']) {
    const [a, b] = [tab[0][phase], tab[1][phase]];
    const speedUp = over((r) => r[1][phase] / r[0][phase]);
    console.log(`| ${phase} | ${fmt(nat[phase], 0)} | ${fmt(nat1[phase], 0)} | ${fmt(a, 0)} | ${fmt(b, 0)} | ${fmt(speedUp, 2)}× (rounds: ${rounds.map((r) => fmt(r[1][phase] / r[0][phase], 2)).join(', ')}) | ${fmt(a / nat1[phase], 2)}× | ${fmt(b / nat[phase], 2)}× |`);
  }
}
/** GRPO's update on lm-reverse's defaults (PPO made tiny, 1 helper worker, as in `shardsBench`)
 *  with its run's worker on each build of the core, pages on the two in turn, ROUNDS times: the
 *  full core is what a page that may use WebGPU loads, the CPU core what the others load (both
 *  train on the CPU here; helpers always run the CPU core). */
async function coresBench(WARMUP = 3, MEASURED = 8, ROUNDS = 5) {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round = {};
    for (const core of ['full', 'cpu']) round[core] = (await tokens(`v=7&env=lm-reverse&seed=1&backend=cpu${TINY_PPO}`, WARMUP, MEASURED, `?helpers=1&core=${core}`)).grpo;
    rounds.push(round);
  }
  const over = (f) => median(rounds.map(f));
  console.log(`\nGRPO alone on lm-reverse defaults (PPO made tiny, 1 helper worker), its run's worker on the full core and on the CPU core, completion tokens/s (medians of ${MEASURED} updates after ${WARMUP}, then over ${ROUNDS} rounds of the two pages in turn), measured in this one run:`);
  console.log('| phase | full core | CPU core | CPU core / full core (per round) |\n|---|---:|---:|---:|');
  for (const phase of ['update', 'rollout', 'gradient']) {
    const ratios = rounds.map((r) => r.cpu[phase] / r.full[phase]);
    console.log(`| ${phase} | ${fmt(over((r) => r.full[phase]), 0)} | ${fmt(over((r) => r.cpu[phase]), 0)} | ${fmt(median(ratios), 2)}× (${ratios.map((x) => fmt(x, 2)).join(', ')}) |`);
  }
}

/** How long a reader waits for GRPO's lm-reverse run in the tab against the native CLI, in this
 *  one run, for each of `seeds` (defaults; PPO made tiny, GRPO with 1 helper worker as in
 *  `shardsBench`; the CLI on its default threads, run after the tab): GRPO's whole budget, its
 *  tokens/s over early and later updates, and the own training time (evaluations excluded) at
 *  which held-out accuracy first reaches each threshold. Both sides evaluate the page's 64
 *  held-out prompts at the page's cadence; each side's crossing is its own (the wasm's float sums
 *  differ from the native ones in the last bits, so the two runs are two draws of one run). */
async function reachBench(seeds = [1, 2, 3], thresholds = [0.8, 0.85]) {
  const { readFileSync, rmSync } = await import('node:fs');
  const tabRun = async (seed) => {
    const { context, page } = await open(`v=7&env=lm-reverse&seed=${seed}&backend=cpu${TINY_PPO}`, '?helpers=1');
    const helpers = (await page.evaluate(() => window.playground.status())).helpers;
    for (let taken = -1; ;) {
      await page.evaluate(() => window.playground.step(25));
      const now = await page.evaluate(() => window.playground.status().updates.grpo);
      if (now === taken) break; // GRPO's budget is spent (PPO's tiny updates go on)
      taken = now;
    }
    const rows = (await page.evaluate(() => window.playground.metrics())).grpo;
    await context.close();
    return { helpers, rows };
  };
  const nativeRun = (seed, every) => {
    const out = `${process.env.TMPDIR ?? '/tmp'}/pvg-reach-${process.pid}.jsonl`;
    execFileSync(pvg, ['train', '--env', 'lm-reverse', '--algo', 'grpo', '--seed', String(seed), '--eval-episodes', '64',
      '--eval-every', String(every), '--out', out], { stdio: 'ignore' });
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.update !== undefined);
    rmSync(out);
    return rows;
  };
  const evals = (rows) => rows.filter((m) => m.eval_mean_return != null);
  const first = (rows, t) => evals(rows).find((m) => m.eval_mean_return >= t);
  const best = (rows) => Math.max(...evals(rows).map((m) => m.eval_mean_return));
  const tokensPerS = (rows) => rows.at(-1).env_steps / rows.at(-1).wall_s;
  const SPANS = [['updates 4–11 (as the table above)', 3, 11], ['updates 12–50', 11, 50], ['updates 51 to the end', 50, undefined]];
  const cross = (m) => (m ? `${fmt(m.wall_s, 0)} s (update ${m.update})` : 'not reached');
  const runs = [];
  for (const seed of seeds) {
    const tab = await tabRun(seed);
    const every = evals(tab.rows)[0].update;
    runs.push({ seed, every, helpers: tab.helpers, tab: tab.rows, native: nativeRun(seed, every) });
  }
  console.log(`\nGRPO's whole lm-reverse run (defaults; PPO made tiny), the tab (${runs[0].helpers} helper worker) against the native CLI (its default threads), measured in this one run, one row per seed; own training time, evaluations excluded; held-out accuracy on the page's 64 prompts every ${runs[0].every} updates:`);
  console.log(`| seed | whole budget: native CLI | Chromium | tab / native time | tokens/s: native | Chromium | wasm / native | best evaluation: native, tab | ${thresholds.map((t) => `first at ≥ ${t}: native | tab`).join(' | ')} |`);
  console.log(`|---|---:|---:|---:|---:|---:|---:|---|${thresholds.map(() => '---|---|').join('')}`);
  for (const r of runs) {
    const [n, w] = [r.native.at(-1), r.tab.at(-1)];
    console.log(`| ${r.seed} | ${fmt(n.wall_s, 0)} s | ${fmt(w.wall_s, 0)} s | ${fmt(w.wall_s / n.wall_s, 2)}× | ${fmt(tokensPerS(r.native), 0)} | ${fmt(tokensPerS(r.tab), 0)} | ${fmt(tokensPerS(r.tab) / tokensPerS(r.native), 2)}× | ${fmt(best(r.native), 3)}, ${fmt(best(r.tab), 3)} | ${thresholds.map((t) => `${cross(first(r.native, t))} | ${cross(first(r.tab, t))}`).join(' | ')} |`);
  }
  const over = (f) => fmt(median(runs.map(f)), 2);
  console.log(`| median | | | ${over((r) => r.tab.at(-1).wall_s / r.native.at(-1).wall_s)}× | | | ${over((r) => tokensPerS(r.tab) / tokensPerS(r.native))}× | |${thresholds.map(() => ' | |').join('')}`);
  console.log('\n| completion tokens/s of an update, median per run | native CLI | Chromium | wasm / native, median over seeds (per seed) |\n|---|---:|---:|---:|');
  for (const [name, from, to] of SPANS) {
    const ratios = runs.map((r) => tokensPerUpdate(r.tab, from, to) / tokensPerUpdate(r.native, from, to));
    console.log(`| ${name} | ${fmt(median(runs.map((r) => tokensPerUpdate(r.native, from, to))), 0)} | ${fmt(median(runs.map((r) => tokensPerUpdate(r.tab, from, to))), 0)} | ${fmt(median(ratios), 2)}× (${ratios.map((x) => fmt(x, 2)).join(', ')}) |`);
  }
}
if (process.env.BENCH_ONLY === 'reach') {
  await reachBench();
  await browser.close();
  site.server.close();
  process.exit(0);
}

if (process.env.BENCH_ONLY === 'cores') {
  await coresBench();
  await browser.close();
  site.server.close();
  process.exit(0);
}

if (process.env.BENCH_ONLY === 'shards') {
  await shardsBench();
  await browser.close();
  site.server.close();
  process.exit(0);
}

/** A full snapshot's cost, core → worker → page, with both transports in this one run: PPO's
 *  (T, N) = (500, 64) buffers and GRPO's (T, G) = (500, 64) group (Acrobot's random policy runs
 *  its 500-step time limit), medians over 4 updates after a warm-up. */
async function transport() {
  const hash = 'env=Acrobot-v1&seed=1&backend=cpu&ppo.num_envs=64&ppo.num_steps=500&ppo.update_epochs=1' +
    '&grpo.num_generations=64&grpo.max_completion_length=500';
  const out = {};
  for (const [name, query] of [
    ['JSON values (before)', '?transport=json'],
    ['typed arrays transferred, the rest by serde-wasm-bindgen', '?transport=typed-swb'],
    ['typed arrays transferred, the rest as JSON text (the page)', ''],
  ]) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${site.url}/${query}#${hash}`);
    await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: 300_000 });
    await page.evaluate(() => window.playground.step(5));
    const samples = (await page.evaluate(() => window.playground.transfers())).slice(2);
    await context.close();
    out[name] = Object.fromEntries(['ppo', 'grpo'].map((a) => {
      const mine = samples.filter((s) => s.algo === a);
      return [a, { core: median(mine.map((s) => s.core_ms)), total: median(mine.map((s) => s.total_ms)) }];
    }));
  }
  console.log('\nsnapshot transport, core → worker → page, (T, N) = (T, G) = (500, 64), medians of 4 updates (ms): measured in this one run');
  console.log('| transport | PPO: core | PPO: total | GRPO: core | GRPO: total |\n|---|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(out)) {
    console.log(`| ${name} | ${fmt(r.ppo.core)} | ${fmt(r.ppo.total)} | ${fmt(r.grpo.core)} | ${fmt(r.grpo.total)} |`);
  }
}
if (process.env.BENCH_ONLY === 'transport') {
  await transport();
  await browser.close();
  site.server.close();
  process.exit(0);
}

/** What each run's history holds (`window.playground.memory()`) after `updates` updates of
 *  `hash` on the CPU, and its worker's WebAssembly memory then and after the first 10 updates. */
async function memoryOf(label, hash, updates) {
  const { context, page } = await open(`${hash}&backend=cpu`);
  const t0 = Date.now();
  await page.evaluate(() => window.playground.step(10));
  const early = await page.evaluate(() => window.playground.memory());
  await page.evaluate((n) => window.playground.step(n), updates - 10);
  const late = await page.evaluate(() => window.playground.memory());
  await context.close();
  const mb = (b) => (b / 1e6).toFixed(2);
  for (const algo of ['ppo', 'grpo']) {
    const { held, wasm_bytes } = late[algo];
    console.log(
      `memory ${label} ${algo}: ${held.updates} updates; history ${mb(held.bytes)} MB (full tensors of ${held.full_updates.length}: ${held.full_updates.join(' ')}); ` +
        `worker wasm memory ${mb(early[algo].wasm_bytes)} MB after 10 updates, ${mb(wasm_bytes)} MB after ${held.updates}`,
    );
  }
  console.log(`memory ${label}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

if (process.env.BENCH_ONLY === 'memory') {
  await memoryOf('CartPole-v1', 'v=6&env=CartPole-v1&seed=1&total_steps=10000000', 1000);
  await memoryOf('lm-reverse', 'v=6&env=lm-reverse&seed=1&total_steps=10000000', 400);
  await browser.close();
  site.server.close();
  process.exit(0);
}

async function lmBench() {
  const defaults = 'env=lm-reverse&seed=1';
  const native = JSON.parse(
    execFileSync(pvg, ['bench', '--env', 'lm-reverse', '--seed', '1', '--runs', '3', '--warmup', '1', '--updates', '4', '--json']).toString(),
  );
  const cpu = await tokens(`${defaults}&backend=cpu`, 1, 4);
  console.log('\nlm-reverse defaults (the LoRA language model), completion tokens per second, medians, measured in this one run:');
  console.log('| algorithm | phase | native CLI (flex, 2 threads) | Chromium CPU (wasm flex, SIMD128; a worker each, both algorithms training at once) | wasm / native |');
  console.log('|---|---|---:|---:|---:|');
  for (const a of ['ppo', 'grpo']) {
    const n = native.find((r) => r.algorithm === a);
    const nat = { update: n.env_steps_per_s, rollout: n.rollout_steps_per_s, gradient: n.gradient_steps_per_s };
    for (const phase of ['update', 'rollout', 'gradient']) {
      console.log(`| ${a.toUpperCase()} | ${phase} | ${fmt(nat[phase], 0)} | ${fmt(cpu[a][phase], 0)} | ${fmt(cpu[a][phase] / nat[phase], 2)}× |`);
    }
  }
  // SwiftShader (a CPU emulating a GPU: the only adapter here) takes minutes per update of the
  // defaults, so WebGPU is compared with the wasm CPU backend on a small LM experiment.
  const small = `${defaults}&grpo.num_generations=8&grpo.groups_per_update=2&grpo.num_minibatches=1` +
    '&ppo.num_envs=4&ppo.num_steps=16&ppo.num_minibatches=1&ppo.update_epochs=1';
  const sets = small.split('&').slice(2).flatMap((kv) => ['--set', kv]);
  const smallNative = JSON.parse(
    execFileSync(pvg, ['bench', '--env', 'lm-reverse', '--seed', '1', ...sets, '--runs', '3', '--warmup', '1', '--updates', '3', '--json']).toString(),
  );
  const smallCpu = await tokens(`${small}&backend=cpu`, 1, 3);
  const smallGpu = await tokens(`${small}&backend=webgpu`, 1, 3);
  console.log(`\nlm-reverse, 2 prompts × 8 completions and 4 × 16 PPO tokens per update, tokens/s of a whole update, this one run:`);
  console.log(`| algorithm | native CLI | Chromium CPU | Chromium WebGPU (${smallGpu.adapter}) | wasm / native | WebGPU / wasm |\n|---|---:|---:|---:|---:|---:|`);
  for (const a of ['ppo', 'grpo']) {
    const n = smallNative.find((r) => r.algorithm === a).env_steps_per_s;
    const [c, g] = [smallCpu[a].update, smallGpu[a].update];
    console.log(`| ${a.toUpperCase()} | ${fmt(n, 0)} | ${fmt(c, 0)} | ${fmt(g, 0)} | ${fmt(c / n, 2)}× | ${fmt(g / c, 3)}× |`);
  }
}
/** Time to first interactive (navigation start to a created experiment: Step enabled) and the
 *  wasm downloaded, for each build of the core in this one run: the full one (a link that may
 *  train on WebGPU on a hardware adapter; `?core=full` here) and the CPU one (what a first visit
 *  gets here: `backend=auto` on SwiftShader, a software adapter; as without an adapter, or on a
 *  `backend=cpu` link), cold contexts, medians of 5. */
async function startup() {
  console.log('| core | wasm downloaded (raw / gzipped) | first interactive, median of 5 (ms) |\n|---|---:|---:|');
  for (const [name, link] of [['full (CPU and WebGPU)', '?core=full#env=CartPole-v1&backend=cpu'], ['CPU only (a first visit here)', '#env=CartPole-v1']]) {
    const times = [];
    let wasm = null;
    for (let i = 0; i < 5; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.on('request', (r) => r.url().endsWith('.wasm') && (wasm = r.url().split('/').pop()));
      await page.goto(`${site.url}/${link}`);
      await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: 300_000 });
      times.push(await page.evaluate(() => performance.now()));
      await context.close();
    }
    const { gzipSync } = await import('node:zlib');
    const { readFileSync, readdirSync } = await import('node:fs');
    const folder = readdirSync(dist).find((f) => f.startsWith('assets-')) ?? '.';
    const bytes = readFileSync(`${dist}/${folder}/${wasm}`);
    console.log(`| ${name}: ${wasm} | ${(bytes.length / 1e6).toFixed(2)} MB / ${(gzipSync(bytes).length / 1e6).toFixed(2)} MB | ${fmt(median(times), 0)} |`);
  }
}

if (process.env.BENCH_ONLY === 'startup') {
  await startup();
  await browser.close();
  site.server.close();
  process.exit(0);
}

if (process.env.BENCH_ONLY === 'lm') {
  // The language model's table in one run: the download and first interactive, tokens/s of both
  // algorithms side by side, and GRPO's update alone with and without a helper worker.
  await startup();
  await lmBench();
  await shardsBench();
  await coresBench();
  await reachBench();
  await browser.close();
  site.server.close();
  process.exit(0);
}

// Time to first interactive: navigation start to a created experiment (Step enabled).
const tti = [];
for (let i = 0; i < 3; i++) {
  const { context, page } = await open('env=CartPole-v1&backend=cpu');
  tti.push(await page.evaluate(() => performance.now()));
  await context.close();
}

/** Median per-update ms of each algorithm over `measured` updates after `warmup`. */
async function perUpdate(hash, warmup, measured) {
  const { context, page } = await open(hash);
  const status = await page.evaluate(() => window.playground.status());
  await page.evaluate((n) => window.playground.step(n), warmup);
  await page.evaluate((n) => window.playground.step(n), measured);
  const history = await page.evaluate(() => window.playground.metrics());
  await context.close();
  const cost = (rows) => median(rows.slice(warmup).map((m) => (m.rollout_s + m.advantage_s + m.update_s) * 1e3));
  const warm = (rows) => median(rows.slice(0, warmup).map((m) => (m.rollout_s + m.advantage_s + m.update_s) * 1e3));
  // On WebGPU: the CPU copy kept after each update, to carry on from if the device is lost.
  const copy = (rows) => (rows[warmup]?.cpu_copy_s === undefined ? null : median(rows.slice(warmup).map((m) => m.cpu_copy_s * 1e3)));
  return {
    adapter: status.adapter,
    ppo: cost(history.ppo),
    grpo: cost(history.grpo),
    ppoWarm: warm(history.ppo),
    grpoWarm: warm(history.grpo),
    copy: { ppo: copy(history.ppo), grpo: copy(history.grpo) },
  };
}

/** What surviving a lost GPU costs on WebGPU: the CPU copy kept after each update, against the
 *  update's own time, medians (`gpu`: `perUpdate` results by experiment name). */
function printCopyCost(gpu) {
  console.log(`
keeping a CPU copy of each run on WebGPU (to carry on from if the device is lost), medians (ms per update): this one run`);
  console.log('| experiment | algorithm | update (own time) | CPU copy after it | copy / update |\n|---|---|---:|---:|---:|');
  for (const [name, r] of Object.entries(gpu)) {
    for (const a of ['ppo', 'grpo']) console.log(`| ${name} | ${a.toUpperCase()} | ${fmt(r[a])} | ${fmt(r.copy[a], 2)} | ${fmt(r.copy[a] / r[a], 3)} |`);
  }
}
if (process.env.BENCH_ONLY === 'copy') {
  const lm = 'env=lm-reverse&seed=1&grpo.num_generations=8&grpo.groups_per_update=2&grpo.num_minibatches=1' +
    '&ppo.num_envs=4&ppo.num_steps=16&ppo.num_minibatches=1&ppo.update_epochs=1&backend=webgpu';
  printCopyCost({
    'CartPole-v1 defaults': await perUpdate('env=CartPole-v1&seed=1&backend=webgpu', 1, 3),
    'lm-reverse, small (as below)': await perUpdate(lm, 1, 3),
  });
  await browser.close();
  site.server.close();
  process.exit(0);
}

/** Several seeds on the page: 4 seeds × 2 algorithms of CartPole-v1's defaults (a 25,000-step
 *  budget each) on the CPU backend, run until every budget is spent, with a pool of one worker
 *  and with the default pool (one per core), in this one run: wall seconds, the ratio, and
 *  whether both pools gave the same metrics. */
async function seedsBench() {
  const wall = async (query) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${site.url}/${query}#env=CartPole-v1&seed=1&seeds=4&total_steps=25000&backend=cpu`);
    await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: 300_000 });
    const seen = await page.evaluate(async () => {
      const t0 = performance.now();
      await window.playground.run();
      const strip = (rows) => rows.map(({ wall_s, sps, rollout_s, advantage_s, update_s, ...m }) => m);
      const runs = window.playground.runs();
      const same = JSON.stringify(Object.fromEntries(Object.entries(runs).map(([a, r]) => [a, Object.fromEntries(Object.entries(r).map(([s, h]) => [s, strip(h)]))])));
      return { seconds: (performance.now() - t0) / 1e3, pool: window.playground.status().pool, same };
    });
    await context.close();
    return seen;
  };
  const one = await wall('?pool=1');
  const all = await wall('');
  const cores = await (async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${site.url}/`);
    const n = await page.evaluate(() => navigator.hardwareConcurrency);
    await context.close();
    return n;
  })();
  console.log(`
4 seeds × 2 algorithms, CartPole-v1 defaults with a 25,000-step budget each, CPU backend, page seconds until every budget is spent, in this one run (navigator.hardwareConcurrency = ${cores}):`);
  console.log('| pool | workers | wall s |\n|---|---:|---:|');
  console.log(`| ?pool=1 | ${one.pool} | ${fmt(one.seconds)} |`);
  console.log(`| default (one per core) | ${all.pool} | ${fmt(all.seconds)} |`);
  console.log(`| ratio | | ${fmt(one.seconds / all.seconds, 2)}× |`);
  console.log(`identical metrics for every run with both pools: ${one.same === all.same ? 'yes' : 'NO'}`);
}
if (process.env.BENCH_ONLY === 'seeds') {
  await seedsBench();
  await browser.close();
  site.server.close();
  process.exit(0);
}

/** CartPole-v1's defaults on the CPU backend, run until both budgets are spent: page seconds
 *  until PPO solved it (the first update from which its training return stays >= 475 for the next
 *  10 that report one, as below) and until both were done, sampled every 50 ms. */
async function untilDone(query) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.url}/${query}#env=CartPole-v1&seed=1&backend=cpu`);
  await page.waitForFunction(() => window.playground?.status().backend, null, { timeout: 300_000 });
  const seen = await page.evaluate(async () => {
    // Main-thread tasks over 50 ms while both workers run (the Long Tasks API reports no shorter).
    const long = [];
    new PerformanceObserver((list) => long.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
    const arrivals = [];
    const t0 = performance.now();
    window.playground.run();
    while (!window.playground.status().done) {
      await new Promise((r) => setTimeout(r, 50));
      const n = window.playground.status().updates.ppo;
      while (arrivals.length < n) arrivals.push((performance.now() - t0) / 1e3);
    }
    return { arrivals, total: (performance.now() - t0) / 1e3, ppo: window.playground.metrics().ppo, long };
  });
  await context.close();
  let solvedAt = null;
  const reporting = seen.ppo.map((m, i) => [m, i]).filter(([m]) => m.mean_return !== null);
  for (let k = 0; k + 10 < reporting.length && solvedAt === null; k++) {
    if (reporting.slice(k, k + 11).every(([m]) => m.mean_return >= 475)) solvedAt = seen.arrivals[reporting[k][1]];
  }
  return { solvedAt, total: seen.total, longest: seen.long.length ? Math.max(...seen.long) : null };
}
const one = await untilDone('?workers=1');
const two = await untilDone('');
console.log('\nPPO and GRPO on CartPole-v1 (defaults, CPU backend), page seconds in this one run:');
console.log('| page | PPO solves | both budgets spent |\n|---|---:|---:|');
console.log(`| one worker for both (?workers=1, as before) | ${fmt(one.solvedAt)} | ${fmt(one.total)} |`);
console.log(`| a worker each | ${fmt(two.solvedAt)} | ${fmt(two.total)} |`);
console.log(`| ratio | ${fmt(one.solvedAt / two.solvedAt, 2)}× | ${fmt(one.total / two.total, 2)}× |`);
const longest = (r) => (r.longest === null ? 'none over 50 ms' : `${fmt(r.longest, 0)} ms`);
console.log(`longest main-thread task while running: ${longest(one)} (one worker), ${longest(two)} (a worker each)`);
if (process.env.BENCH_ONLY === 'parallel') {
  await browser.close();
  site.server.close();
  process.exit(0);
}

const experiment = 'env=CartPole-v1&seed=1';
const cpu = await perUpdate(`${experiment}&backend=cpu`, 3, 10);
let noSimd = null;
if (noSimdDist) {
  const main = site;
  site = await serve(noSimdDist);
  noSimd = await perUpdate(`${experiment}&backend=cpu`, 3, 10);
  site.server.close();
  site = main;
}
const gpu = await perUpdate(`${experiment}&backend=webgpu`, 1, 3);
const native = JSON.parse(
  execFileSync(pvg, ['bench', '--env', 'CartPole-v1', '--seed', '1', '--runs', '3', '--warmup', '3', '--updates', '10', '--json']).toString(),
);
const nat = Object.fromEntries(native.map((r) => [r.algorithm, r.update_ms]));

// Solving CartPole with PPO on the CPU backend: the first update from which the training
// return stays >= 475 for the next 10 updates that report one.
const { context, page } = await open('env=CartPole-v1&seed=1&backend=cpu');
await page.evaluate(() => { window.playground.run(); });
await page.waitForFunction(() => window.playground.status().done, null, { timeout: 900_000 });
const ppo = (await page.evaluate(() => window.playground.metrics())).ppo.filter((m) => m.mean_return !== null);
await context.close();
let solved = null;
for (let i = 0; i + 10 < ppo.length && !solved; i++) {
  if (ppo.slice(i, i + 11).every((m) => m.mean_return >= 475)) solved = ppo[i];
}

console.log(`time to first interactive (cold context, median of 3): ${fmt(median(tti), 0)} ms`);
console.log(`\nper-update cost, CartPole-v1 defaults, medians (ms): measured in this one run`);
console.log('| algorithm | native CLI (flex, 2 threads) | Chromium CPU (wasm flex, SIMD128) | Chromium WebGPU (' + gpu.adapter + ') | wasm / native | WebGPU / native | WebGPU / wasm |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const a of ['ppo', 'grpo']) {
  console.log(`| ${a.toUpperCase()} | ${fmt(nat[a])} | ${fmt(cpu[a])} | ${fmt(gpu[a])} | ${fmt(cpu[a] / nat[a], 2)}× | ${fmt(gpu[a] / nat[a], 1)}× | ${fmt(gpu[a] / cpu[a], 1)}× |`);
}
if (noSimd) {
  console.log(`\nwasm SIMD128 (same run, CPU backend): PPO ${fmt(noSimd.ppo)} → ${fmt(cpu.ppo)} ms (${fmt(noSimd.ppo / cpu.ppo, 2)}× faster), ` +
    `GRPO ${fmt(noSimd.grpo)} → ${fmt(cpu.grpo)} ms (${fmt(noSimd.grpo / cpu.grpo, 2)}× faster)`);
}
printCopyCost({ 'CartPole-v1 defaults': gpu });
console.log(`warm-up updates (first ${3} on CPU, first 1 on WebGPU): CPU PPO ${fmt(cpu.ppoWarm)} / GRPO ${fmt(cpu.grpoWarm)} ms; WebGPU PPO ${fmt(gpu.ppoWarm)} / GRPO ${fmt(gpu.grpoWarm)} ms`);
await transport();
await seedsBench();
await lmBench();
await shardsBench();
console.log(solved
  ? `\nPPO solves CartPole-v1 on the page's CPU backend after ${fmt(solved.wall_s)} s of its own training (${solved.env_steps} env steps, update ${solved.update})`
  : `\nPPO did not hold a return >= 475 for 10 updates within its budget`);
await browser.close();
site.server.close();
