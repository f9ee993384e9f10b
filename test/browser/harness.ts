// Headless-Chrome harness for the browser tests (and the bench): finds and launches a browser with
// WebGPU enabled, builds a test page with the project's esbuild config and serves it on
// http://127.0.0.1 (navigator.gpu exists only in a secure context), records the page's console.
//
// Browser choice, first match wins:
//   CHROME_PATH            a Chrome/Chromium binary (must exist)
//   /usr/bin/chromium, /usr/bin/google-chrome ...   a system browser
//   @sparticuz/chromium    the npm package's headless shell (Linux x64; SwiftShader for WebGPU)
// MOBIZO_DEBUG=1          forward page console/errors (and Chrome's own stderr) to the test output
// MOBIZO_CHROME_ARGS      extra command-line flags, space-separated
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { buildApp, buildBrowser, repoRoot } from '../../scripts/build.mjs';
import { appSite, startServer } from '../../scripts/serve.mjs';

const debug = !!process.env.MOBIZO_DEBUG;

/** The shared test assets (models, vocab, data): ../shared/assets beside the clone, or MOBIZO_ASSETS. */
export const assetsDir = path.resolve(process.env.MOBIZO_ASSETS ?? path.join(repoRoot, '..', 'shared', 'assets'));

/** Flags every launch gets: WebGPU on (SwiftShader allowed), no sandbox, and no network chatter. */
const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--enable-features=Vulkan',
  '--disable-dawn-features=timestamp_quantization',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

const SYSTEM_BROWSERS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
];

export interface BrowserChoice {
  executablePath: string;
  args: string[];
  headless: true | 'shell';
  source: string; // where it came from, for messages
}

/** Decides which browser binary and flags to use; throws one clear error when there is none. */
export async function findBrowser(): Promise<BrowserChoice> {
  const extra = (process.env.MOBIZO_CHROME_ARGS ?? '').split(/\s+/).filter(Boolean);
  const headlessOf = (p: string): true | 'shell' => (/headless[-_]shell/.test(path.basename(p)) ? 'shell' : true);
  const envPath = process.env.CHROME_PATH;
  if (envPath) {
    if (!fs.existsSync(envPath)) throw new Error(`CHROME_PATH=${envPath} does not exist`);
    return { executablePath: envPath, args: [...WEBGPU_FLAGS, ...extra], headless: headlessOf(envPath), source: 'CHROME_PATH' };
  }
  const system = SYSTEM_BROWSERS.find((p) => fs.existsSync(p));
  if (system) return { executablePath: system, args: [...WEBGPU_FLAGS, ...extra], headless: true, source: system };

  let chromium: typeof import('@sparticuz/chromium').default;
  try {
    chromium = (await import('@sparticuz/chromium')).default;
  } catch (err) {
    throw noBrowser(`@sparticuz/chromium cannot be loaded (${(err as Error).message})`);
  }
  let executablePath: string;
  try {
    executablePath = await chromium.executablePath(); // unpacks to /tmp/chromium once
  } catch (err) {
    throw noBrowser(`@sparticuz/chromium could not unpack its browser (${(err as Error).message})`);
  }
  // Its defaults target AWS Lambda: drop --single-process (an unsupported Chromium mode, fragile
  // with several pages) and anything that turns the GPU off; keep --in-process-gpu (the GPU runs
  // as a browser thread: SwiftShader WebGPU works there). Puppeteer adds --headless itself.
  const args = chromium.args.filter(
    (a) => !/^--(single-process|disable-gpu|disable-software-rasterizer|disable-webgl|disable-web-security|headless)/.test(a),
  );
  return { executablePath, args: [...args, ...WEBGPU_FLAGS, ...extra], headless: 'shell', source: '@sparticuz/chromium' };
}

function noBrowser(why: string): Error {
  return new Error(
    `No browser for the headless-Chrome tests: ${why}. Set CHROME_PATH to a Chrome/Chromium binary, ` +
      'install Chromium at /usr/bin/chromium, or `npm install` (@sparticuz/chromium, Linux x64).',
  );
}

/** Launches one headless browser with WebGPU enabled (`extraArgs` after its flags). Close it in the spec's `after`. */
export async function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  const choice = await findBrowser();
  const launch = () =>
    puppeteer.launch({
      executablePath: choice.executablePath,
      headless: choice.headless,
      args: [...choice.args, ...extraArgs],
      timeout: 120_000, // a cold start on a busy 2-core machine
      protocolTimeout: 900_000, // long page.evaluate calls (SwiftShader is slow)
      dumpio: debug,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || os.tmpdir() },
    });
  try {
    return await launch();
  } catch (first) {
    // A parallel first run may still be unpacking @sparticuz/chromium into /tmp: wait, retry once.
    await new Promise((r) => setTimeout(r, 5000));
    try {
      return await launch();
    } catch (err) {
      throw new Error(
        `Cannot launch ${choice.executablePath} (from ${choice.source}): ${(err as Error).message}` +
          `\n(first attempt: ${(first as Error).message.split('\n')[0]})`,
      );
    }
  }
}

/** A page plus everything it said: console lines and uncaught errors, recorded always. */
export interface TestPage {
  page: Page;
  console: string[]; // "[type] text"
  errors: string[]; // uncaught exceptions, failed requests, HTTP errors, crashes
  close(): Promise<void>;
}

/** Opens `url` in a new tab, recording (and with MOBIZO_DEBUG printing) its console and errors. */
export async function openPage(browser: Browser, url: string): Promise<TestPage> {
  const page = await browser.newPage();
  const tp: TestPage = { page, console: [], errors: [], close: () => page.close() };
  const note = (list: string[], line: string) => {
    list.push(line);
    if (debug) process.stderr.write(`    [page] ${line}\n`);
  };
  page.on('console', (msg) => note(tp.console, `[${msg.type()}] ${msg.text()}`));
  page.on('pageerror', (err) => note(tp.errors, `pageerror: ${err instanceof Error ? err.stack ?? err.message : String(err)}`));
  page.on('error', (err) => note(tp.errors, `page crashed: ${err.message}`));
  page.on('requestfailed', (req) => note(tp.errors, `request failed: ${req.url()} (${req.failure()?.errorText})`));
  page.on('response', (res) => {
    if (res.status() >= 400) note(tp.errors, `HTTP ${res.status()}: ${res.url()}`);
  });
  page.setDefaultTimeout(300_000);
  // Specs run under tsx, whose esbuild transform wraps named functions in `__name(...)`; a function
  // passed to page.evaluate() is sent as its source text, so the page needs that helper too.
  await page.evaluateOnNewDocument('globalThis.__name ??= (fn) => fn;');
  await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
  return tp;
}

/**
 * Waits until the page sets `window[name]` (default `__result`) and returns it. On timeout the
 * error carries what the page logged, so a failure says why.
 */
export async function waitForResult<T = unknown>(tp: TestPage, { name = '__result', timeoutMs = 240_000 } = {}): Promise<T> {
  try {
    await tp.page.waitForFunction((n: string) => (window as any)[n] !== undefined, { timeout: timeoutMs, polling: 250 }, name);
  } catch (err) {
    throw new Error(`page did not set window.${name} within ${timeoutMs / 1000} s: ${(err as Error).message}\n${pageLog(tp)}`);
  }
  return tp.page.evaluate((n: string) => (window as any)[n], name) as Promise<T>;
}

/** The page's recorded console and errors, for assertion messages. */
export function pageLog(tp: TestPage, lastLines = 40): string {
  const lines = [...tp.errors.map((e) => `error: ${e}`), ...tp.console.slice(-lastLines).map((c) => `console: ${c}`)];
  return lines.length ? `page log:\n  ${lines.join('\n  ')}` : 'page log: (empty)';
}

/** A built and served test page. */
export interface ServedPage {
  url: string; // the page: http://127.0.0.1:PORT/
  dir: string; // temporary folder holding index.html and the bundle
  close(): Promise<void>; // stops the server and removes the folder
}

/**
 * Bundles `entries` (name -> TS module, path relative to the repo root) with the project's browser
 * build into a temporary folder, writes `files` (name -> text, e.g. HTML pages) beside them, and
 * serves the folder on 127.0.0.1 with extra `routes` (URL prefix -> folder).
 */
export async function serveBuilt(opts: { entries: Record<string, string>; files?: Record<string, string>; routes?: Record<string, string> }): Promise<ServedPage> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mobizo-${Object.keys(opts.entries)[0] ?? 'page'}-`));
  try {
    const entryPoints = Object.fromEntries(Object.entries(opts.entries).map(([k, v]) => [k, path.resolve(repoRoot, v)]));
    await buildBrowser({ entryPoints, outdir: dir });
    for (const [name, text] of Object.entries(opts.files ?? {})) fs.writeFileSync(path.join(dir, name), text);
    const server = await startServer({ root: dir, routes: opts.routes ?? {} });
    return {
      url: server.url,
      dir,
      close: async () => {
        await server.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Serves `entry` (a TS module, path relative to the repo root) under an index.html that loads it,
 * with `/assets/` mounted on the shared test assets (pass `assets: false` to skip the mount).
 */
export async function serveTestPage(opts: { entry: string; title?: string; assets?: string | false }): Promise<ServedPage> {
  const name = path.basename(opts.entry).replace(/\.[cm]?[jt]s$/, '');
  const title = opts.title ?? name;
  const html = `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n` + `<body><script type="module" src="./${name}.js"></script></body></html>\n`;
  const assets = opts.assets === undefined ? assetsDir : opts.assets;
  return serveBuilt({ entries: { [name]: opts.entry }, files: { 'index.html': html }, routes: assets ? { '/assets/': assets } : {} });
}

/** Reading and driving the app page (index.html) the way a person would. */
export function appPage(page: () => Page) {
  return {
    text: (sel: string) => page().$eval(sel, (e) => (e as HTMLElement).innerText),
    /** Sets an input's value and fires input + change, as typing and leaving the field does. */
    setValue: (sel: string, value: string) =>
      page().$eval(
        sel,
        (e, v) => {
          const el = e as HTMLInputElement;
          el.value = v as string;
          el.dispatchEvent(new Event('input', { bubbles: true }));
          el.dispatchEvent(new Event('change', { bubbles: true }));
        },
        value,
      ),
    /** Resolves when the app is not busy (model loading, training, generating). */
    waitIdle: () => page().waitForFunction(() => document.body.dataset.busy === 'false', { timeout: 300_000, polling: 100 }),
    /** The text of the error box, '' when it is hidden. */
    errorShown: () => page().$eval('#error-box', (e) => ((e as HTMLElement).hidden ? '' : (e as HTMLElement).innerText)),
    /** Whether the element is wholly inside the viewport now. */
    inViewport: (sel: string) =>
      page().$eval(sel, (e) => {
        const r = e.getBoundingClientRect();
        return r.height > 0 && r.top >= -1 && r.bottom <= window.innerHeight + 1 && r.left >= -1 && r.right <= window.innerWidth + 1; // subpixel
      }),
    /** Waits for the confirmation dialog and answers it: true presses its confirm button, false Cancel. */
    answerConfirm: async (confirm: boolean) => {
      await page().waitForSelector('#confirm-dialog[open]', { timeout: 10_000 });
      const message = await page().$eval('#confirm-dialog', (e) => (e as HTMLElement).innerText);
      await page().click(confirm ? '#confirm-ok' : '#confirm-cancel');
      // the page has handled the answer (and started what follows it, e.g. its busy state)
      await page().waitForFunction(() => document.body.dataset.asking === 'false', { timeout: 10_000, polling: 50 });
      return message;
    },
  };
}

/** The built app (index.html + dist/) served from a temporary folder, and a browser page on it. */
export interface ServedApp {
  dir: string;
  server: { url: string; close(): Promise<void> };
  origin: string;
  browser: Browser;
  page: Page;
  close(): Promise<void>;
}

/**
 * Builds and serves the app as `npm start` does (index.html, profile.html, dist/; `routes`: extra
 * folders, e.g. the shared assets) and opens a
 * 1280 x 1000 page whose uncaught errors go to `pageErrors`. Not yet navigated.
 */
export async function serveApp(routes: Record<string, string>, pageErrors: string[]): Promise<ServedApp> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mobizo-app-'));
  await buildApp({ outdir: path.join(dir, 'dist') });
  for (const page of ['index.html', 'profile.html']) fs.copyFileSync(path.join(repoRoot, page), path.join(dir, page));
  const server = await startServer(appSite(dir, undefined, routes)); // as `npm start` serves the repo
  const browser = await launchBrowser();
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  page.setDefaultTimeout(300_000);
  await page.evaluateOnNewDocument('globalThis.__name ??= (fn) => fn;');
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return {
    dir,
    server,
    origin: server.url.replace(/\/$/, ''),
    browser,
    page,
    async close() {
      await browser.close();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
