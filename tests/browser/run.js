// Browser tests: Debian's Chromium, headless, driven by playwright-core, against the built page
// (dist/). WebGPU runs on SwiftShader (--enable-unsafe-webgpu), so keep WebGPU runs tiny.
//
//   node tests/browser/run.js [dist-dir] [name-filter]
//
// Ends with a line `N passed, N failed`; the exit code is non-zero when any test failed.
import { mkdir } from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/static-server.mjs';
import { tests } from './tests.js';

const dist = process.argv[2] ?? 'dist';
const filter = process.argv[3] ?? '';
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

async function main() {
  await mkdir(artifacts, { recursive: true });
  const site = await serve(dist);
  const other = await serve(dist); // a second origin, for the cross-origin embed
  const subPath = '/play/sub/';
  const sub = await serve(dist, 0, subPath); // the site copied under a sub-path of a host
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  // The same browser without WebGPU (no --enable-unsafe-webgpu), for the fallback.
  const browserWithoutGpu = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'),
  });
  const ctx = { browser, browserWithoutGpu, url: site.url, otherUrl: other.url, subUrl: sub.url, subPath, artifacts };
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of tests) {
    if (filter && !name.includes(filter)) continue;
    const t0 = Date.now();
    try {
      await fn(ctx);
      passed++;
      console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n     ${String(e?.stack ?? e).split('\n').join('\n     ')}`);
    }
  }
  await browser.close();
  await browserWithoutGpu.close();
  site.server.close();
  other.server.close();
  sub.server.close();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(String(e?.stack ?? e));
  console.log('0 passed, 1 failed');
  process.exit(1);
});
