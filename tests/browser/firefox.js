// Debian's Firefox ESR, headless, driven over WebDriver BiDi (the W3C protocol Firefox speaks
// itself) by puppeteer-core, behind the handful of Playwright calls the shared tests make, so one
// test body runs in both engines. Playwright drives only its own patched Firefox builds, which
// this project does not download; puppeteer-core drives the stock one and needs no geckodriver.
import { readdirSync } from 'node:fs';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

export const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';

/**
 * Firefox with a fresh profile; downloads land, unasked, in a folder of their own.
 * `webgpu: true` turns on the `dom.webgpu.enabled` preference (off by default on Linux); its
 * adapter is then Mesa's lavapipe (software Vulkan), unless `vulkan: false` hides every Vulkan
 * driver from it, which leaves WebGPU switched on with no adapter.
 */
export async function launchFirefox({ webgpu = false, vulkan = true } = {}) {
  const downloads = await mkdtemp(join(tmpdir(), 'pvg-firefox-downloads-'));
  const noDriver = join(downloads, 'no-vulkan-driver.json');
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    env: vulkan ? process.env : { ...process.env, VK_DRIVER_FILES: noDriver, VK_ICD_FILENAMES: noDriver },
    extraPrefsFirefox: {
      'dom.webgpu.enabled': webgpu,
      'browser.download.folderList': 2,
      'browser.download.dir': downloads,
      'browser.download.useDownloadDir': true,
      'browser.download.always_ask_before_handling_new_types': false,
      'browser.download.start_downloads_in_tmp_dir': false,
      'browser.helperApps.neverAsk.saveToDisk': 'text/csv,application/json,image/png',
    },
  });
  return new FirefoxBrowser(browser, downloads);
}

class FirefoxBrowser {
  constructor(browser, downloads) {
    this.browser = browser;
    this.downloads = downloads;
  }

  version() {
    return this.browser.version();
  }

  async newPage({ viewport = { width: 1280, height: 720 } } = {}) {
    const page = await this.browser.newPage();
    await page.setViewport(viewport);
    return new Page(page, this.downloads);
  }

  close() {
    return this.browser.close();
  }
}

/** Playwright's "visible": present, a non-empty box, and not `visibility: hidden` (runs in the page). */
function shown(selector) {
  const e = document.querySelector(selector);
  if (!e) return false;
  const box = e.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden';
}

/** What a Playwright page and frame share: the calls are Playwright's, the work puppeteer's. */
class Scope {
  constructor(frame) {
    this.frame = frame;
  }

  url() {
    return this.frame.url();
  }

  evaluate(fn, arg) {
    return this.frame.evaluate(fn, arg);
  }

  /** Playwright's argument order (fn, arg, options); polled, not per frame, which a hidden tab may skip. */
  waitForFunction(fn, arg, { timeout = 30_000 } = {}) {
    return this.frame.waitForFunction(fn, { timeout, polling: 100 }, arg);
  }

  /** Like Playwright's: visible, not only attached. Polled on a timer: puppeteer's own
   *  `visible: true` wait (and its locators) poll on animation frames, which Firefox may stop
   *  giving a tab it considers hidden; CI once waited 30 s on one. */
  async waitForSelector(selector, { timeout = 30_000 } = {}) {
    await this.frame.waitForFunction(shown, { timeout, polling: 100 }, selector);
    return this.frame.$(selector);
  }

  /** As Playwright's: once the element is there and enabled (puppeteer's own click does not
   *  wait, and a click on a button still disabled does nothing). */
  async click(selector) {
    await this.frame.waitForFunction((sel) => {
      const el = document.querySelector(sel);
      return el && !el.disabled;
    }, { timeout: 30_000, polling: 100 }, selector);
    return this.frame.click(selector);
  }

  /** As Playwright's: waits until the field is shown and enabled, replaces its value and fires
   *  `input` (then `change`, as leaving the field would). */
  async fill(selector, value, { timeout = 30_000 } = {}) {
    await this.waitForSelector(selector, { timeout });
    await this.frame.waitForFunction((sel) => !document.querySelector(sel).disabled, { timeout, polling: 100 }, selector);
    await this.frame.$eval(selector, (el, v) => {
      el.focus();
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, value);
  }

  selectOption(selector, value) {
    return this.frame.select(selector, value);
  }

  textContent(selector) {
    return this.frame.$eval(selector, (e) => e.textContent);
  }

  inputValue(selector) {
    return this.frame.$eval(selector, (e) => e.value);
  }

  getAttribute(selector, name) {
    return this.frame.$eval(selector, (e, n) => e.getAttribute(n), name);
  }

  /** Playwright's meaning: present, a non-empty box, and not `visibility: hidden`. */
  isVisible(selector) {
    return this.frame.evaluate(shown, selector);
  }

  async $$(selector) {
    return (await this.frame.$$(selector)).map((handle) => ({
      contentFrame: async () => new Scope(await handle.contentFrame()),
    }));
  }

  /** The first element matching `selector` (and containing `hasText`, when given). */
  locator(selector, { hasText } = {}) {
    const matching = () =>
      this.frame.$$eval(selector, (all, text) => all.filter((e) => text === undefined || e.textContent.includes(text)).length, hasText);
    const first = async () => {
      const handle = await this.frame.$(selector);
      if (!handle) throw new Error(`no element matches ${selector}`);
      return handle;
    };
    return {
      count: matching,
      click: async () => (await first()).click(),
      boundingBox: async () => (await first()).boundingBox(),
      evaluate: async (fn, arg) => (await first()).evaluate(fn, arg),
      hover: async ({ position } = {}) => {
        const handle = await first();
        if (!position) return handle.hover();
        const box = await handle.boundingBox();
        await handle.frame.page().mouse.move(box.x + position.x, box.y + position.y);
      },
    };
  }
}

class Page extends Scope {
  constructor(page, downloads) {
    super(page.mainFrame());
    this.page = page;
    this.downloads = downloads;
  }

  /** 'console' and 'pageerror' as Playwright gives them; requests and responses alike. */
  on(event, fn) {
    this.page.on(event, fn);
  }

  addInitScript(fn) {
    return this.page.evaluateOnNewDocument(fn);
  }

  goto(url) {
    return this.page.goto(url);
  }

  waitForTimeout(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  setViewportSize(size) {
    return this.page.setViewport(size);
  }

  screenshot(options) {
    return this.page.screenshot(options);
  }

  close() {
    return this.page.close();
  }

  /** Only 'download': the next file that appears, complete, in the profile's download folder. */
  async waitForEvent(event, { timeout = 30_000 } = {}) {
    if (event !== 'download') throw new Error(`waitForEvent('${event}') is not adapted for Firefox`);
    const before = new Set(readdirSync(this.downloads)); // before the click that follows this call
    const deadline = Date.now() + timeout;
    for (;;) {
      const names = (await readdir(this.downloads)).filter((n) => !before.has(n) && !n.endsWith('.part'));
      if (names.length) {
        const path = join(this.downloads, names[0]);
        // Written in one go from a Blob; wait until its size holds still. A file that vanishes
        // meanwhile was a temporary name (a full run here once saw one vanish): the folder is read again.
        try {
          let size = -1;
          while (size !== (size = (await stat(path)).size)) await this.waitForTimeout(50);
          return { path: async () => path, suggestedFilename: () => names[0] };
        } catch (e) {
          if (e.code !== 'ENOENT') throw e;
        }
      }
      if (Date.now() > deadline) throw new Error('no download within the timeout');
      await this.waitForTimeout(50);
    }
  }
}
