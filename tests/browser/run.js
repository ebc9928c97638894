// Browser tests against the built page (dist/): Debian's Chromium, headless, driven by
// playwright-core (WebGPU on SwiftShader, --enable-unsafe-webgpu, so keep WebGPU runs tiny), then
// Debian's Firefox ESR, headless, driven over WebDriver BiDi by puppeteer-core (firefox.js): the
// tests a visitor's path goes through, and the two engines against each other.
//
//   node tests/browser/run.js [dist-dir] [name-filter, | between alternatives]      ENGINES=firefox runs one engine
//
// Ends with a line `N passed, N failed` over both engines; the exit code is non-zero when any
// test failed.
import { mkdir } from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/static-server.mjs';
import { launchFirefox } from './firefox.js';
import { tests } from './tests.js';

const dist = process.argv[2] ?? 'dist';
const filter = process.argv[3] ?? '';
const engines = (process.env.ENGINES ?? 'chromium,firefox').split(',');
const artifacts = 'target/browser-artifacts';

const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const launchChromium = (args) => chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args });

/** Runs one engine's tests; returns [passed, failed]. */
async function runEngine(engine, ctx) {
  let passed = 0;
  let failed = 0;
  const t0 = Date.now();
  for (const { name, fn } of tests.filter((t) => t.engines.includes(engine) && filter.split('|').some((f) => t.name.includes(f)))) {
    const t = Date.now();
    try {
      await fn(ctx);
      passed++;
      console.log(`ok   ${engine}: ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${engine}: ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)\n     ${String(e?.stack ?? e).split('\n').join('\n     ')}`);
    }
  }
  console.log(`${engine} (${ctx.version}): ${passed} passed, ${failed} failed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return [passed, failed];
}

async function main() {
  await mkdir(artifacts, { recursive: true });
  const site = await serve(dist);
  const other = await serve(dist); // a second origin, for the cross-origin embed
  const subPath = '/play/sub/';
  const sub = await serve(dist, 0, subPath); // the site copied under a sub-path of a host
  const where = { url: site.url, otherUrl: other.url, subUrl: sub.url, subPath, artifacts };
  // Chromium stays open through Firefox's tests, which compare the two engines.
  const browser = await launchChromium(CHROMIUM_ARGS);
  let passed = 0;
  let failed = 0;
  const add = ([p, f]) => {
    passed += p;
    failed += f;
  };
  try {
    if (engines.includes('chromium')) {
      // The same browser without WebGPU (no --enable-unsafe-webgpu), for the fallback.
      const browserWithoutGpu = await launchChromium(CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'));
      add(await runEngine('chromium', { ...where, engine: 'chromium', version: `Chromium ${browser.version()}`, browser, browserWithoutGpu }));
      await browserWithoutGpu.close();
    }
    if (engines.includes('firefox')) {
      // Firefox on Linux exposes no WebGPU unless a preference says so: its plain profile is the
      // browser without WebGPU as well.
      const firefox = await launchFirefox();
      const version = (await firefox.version()).replace('firefox/', 'Firefox ');
      add(await runEngine('firefox', { ...where, engine: 'firefox', version, browser: firefox, browserWithoutGpu: firefox, chromium: browser, launchFirefox }));
      await firefox.close();
    }
  } finally {
    await browser.close();
    site.server.close();
    other.server.close();
    sub.server.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(String(e?.stack ?? e));
  console.log('0 passed, 1 failed');
  process.exit(1);
});
