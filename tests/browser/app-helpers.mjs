// Helpers of the app tests (tests/browser/app-*.test.mjs): the app's own server for dist/ that
// logs every request and can break some on purpose, test images written on the fly (PNG via zlib),
// and page actions (uploads, drag-and-drop, painting with real mouse events).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serve } from '../../www/serve.mjs';
import { ROOT, contract } from './helpers.mjs';
import { crc32, deflateSync } from 'node:zlib';
import { PNG_SIGNATURE, encodePng, pngChunk } from '../../www/tools/png-encode.mjs';

export { launch, screenshot, watchConsole, ARTIFACTS, ROOT } from './helpers.mjs';

/** The built app (override with EZIGEN_DIST to test another build). */
export const DIST = resolve(process.env.EZIGEN_DIST ?? join(ROOT, 'dist'));
/** End-to-end tests need the wasm exports generate/edit/loadShard and a model in dist/models. */
export const FULL = !process.env.EZIGEN_SKIP_E2E;

/**
 * Serves `dir` with www/serve.mjs (the same server and headers), records every request in
 * `requests` ({ method, path }) and lets `intercept(req, res, path)` answer a request itself
 * (return true). `config` (an object, or a string sent as it is) is answered as /config.json
 * and, when it is an object, sets the CSP as serve.mjs would from that file; by default the
 * server reads `<dir>/config.json` itself.
 */
export async function serveApp({ dir = DIST, intercept = null, config = undefined } = {}) {
  const requests = [];
  const server = await serve({
    dir,
    port: 0,
    ...(config === undefined ? {} : { config: typeof config === 'object' ? config : null }),
    onRequest(req, res, path) {
      requests.push({ method: req.method, path });
      if (config !== undefined && path === '/config.json') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        res.end(typeof config === 'string' ? config : JSON.stringify(config));
        return true;
      }
      return Boolean(intercept && intercept(req, res, path));
    },
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    origin: `http://127.0.0.1:${port}`,
    requests,
    /** Requests for model files (manifest and shards). */
    modelRequests: () => requests.filter((r) => r.path.startsWith('/models/')),
    shardRequests: () => requests.filter((r) => r.path.startsWith('/models/') && !r.path.endsWith('/manifest.json')),
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(ok);
      }),
  };
}

/**
 * The built app with a tiny model of its own: a temporary folder whose entries link to DIST's,
 * except `models/`, which the native CLI converts now (`ezigen convert --tiny --shard-mb 1`, as
 * build.sh does for dist/models), with the tiny metric models when `metrics` (`--tiny-metrics`).
 * Serve it with serveApp({ dir }); returns { dir, manifest, remove }.
 */
export function appWithTinyModel({ metrics = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ezigen-app-'));
  for (const entry of readdirSync(DIST)) if (entry !== 'models') symlinkSync(join(DIST, entry), join(dir, entry));
  const models = join(dir, 'models');
  const args = ['convert', '--tiny', ...(metrics ? ['--tiny-metrics'] : []), '--shard-mb', '1', '--out', models];
  const out = spawnSync(join(ROOT, 'target/release/ezigen'), args, { encoding: 'utf8' });
  if (out.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`ezigen ${args.join(' ')} failed: ${out.stderr}`);
  }
  return {
    dir,
    manifest: JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// --- test images ---------------------------------------------------------------------------------

/** An RGBA PNG whose pixels come from `pixel(x, y) → [r, g, b, a]`. */
export function makePng(width, height, pixel = (x, y) => [(x * 255) / width, (y * 255) / height, 128, 255]) {
  return encodePng(width, height, pixel);
}

/** A PNG header claiming `width`×`height` (tiny file, huge image: the page must refuse it). */
export function makeHugePngHeader(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  // Rows of one filter byte + zeros, deflated: valid but never decoded by the page.
  const raw = Buffer.alloc(64 * (width * 4 + 1));
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND')]);
}

/** Reads width, height and the tEXt chunks of a PNG file. */
export function readPng(buf) {
  const sig = buf.subarray(0, 8).toString('hex');
  if (sig !== '89504e470d0a1a0a') throw new Error('not a PNG');
  const text = {};
  let width = 0;
  let height = 0;
  let i = 8;
  while (i + 12 <= buf.length) {
    const len = buf.readUInt32BE(i);
    const type = buf.subarray(i + 4, i + 8).toString('latin1');
    const body = buf.subarray(i + 8, i + 8 + len);
    const crc = buf.readUInt32BE(i + 8 + len);
    if (crc !== crc32(buf.subarray(i + 4, i + 8 + len))) throw new Error(`bad CRC in ${type}`);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
    } else if (type === 'tEXt') {
      const z = body.indexOf(0);
      text[body.subarray(0, z).toString('latin1')] = body.subarray(z + 1).toString('latin1');
    } else if (type === 'IEND') break;
    i += 12 + len;
  }
  return { width, height, text };
}

/** Shard file names of a manifest in the order the app loads the model (the metric models are not part of it). */
export function shardLoadOrder(manifest) {
  const order = contract.COMPONENTS;
  const extra = (c) => !order.includes(c) && !contract.METRIC_COMPONENTS.includes(c);
  const comps = [...order.filter((c) => c in manifest.components), ...Object.keys(manifest.components).filter(extra)];
  return comps.flatMap((c) => manifest.components[c].shards);
}

/** A file payload for Playwright's setInputFiles. */
export const file = (name, buffer, mimeType = 'image/png') => ({ name, mimeType, buffer });

// --- page actions --------------------------------------------------------------------------------

/** Opens the app and waits until the GPU status is known. */
export async function openApp(context, url) {
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => document.querySelector('#gpu-status')?.dataset.state !== 'loading', null, { timeout: 120_000 });
  return { page, logs };
}

/** Waits until the GPU self-test has a result (passed or failed; remembered from then on). */
export const waitSelfTestDone = (page, timeout = 120_000) =>
  page.waitForFunction(() => ['ok', 'failed'].includes(document.querySelector('#selftest-status')?.dataset.state ?? ''), null, { timeout });

/** Waits until the model is loaded (or fails with the page's message). */
export async function waitModelReady(page, timeout = 300_000) {
  await page.waitForFunction(
    () => ['ready', 'failed'].includes(document.querySelector('#model-status')?.dataset.state ?? ''),
    null,
    { timeout },
  );
  const st = await page.locator('#model-status').getAttribute('data-state');
  if (st !== 'ready') {
    const why = await page.locator('#model-error').innerText().catch(() => '');
    throw new Error(`model not ready: ${await page.locator('#model-status').innerText()} ${why}`);
  }
}

/** Drops a file onto `selector` with a real DataTransfer (as a drag from the desktop would). */
export async function dropFile(page, selector, name, buffer, mimeType = 'image/png') {
  const dt = await page.evaluateHandle(
    ({ name, b64, mimeType }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: mimeType }));
      return dt;
    },
    { name, b64: buffer.toString('base64'), mimeType },
  );
  await page.dispatchEvent(selector, 'dragover', { dataTransfer: dt });
  await page.dispatchEvent(selector, 'drop', { dataTransfer: dt });
}

/** Pastes a file as a clipboard paste event would deliver it. */
export async function pasteFile(page, name, buffer, mimeType = 'image/png') {
  await page.evaluate(
    ({ name, b64, mimeType }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: mimeType }));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    },
    { name, b64: buffer.toString('base64'), mimeType },
  );
}

/**
 * Paints a stroke with real mouse events over the mask canvas in `host` (e.g. '#mask-host');
 * points are fractions of the canvas box.
 */
export async function paint(page, host, points, { button = 'left', shift = false } = {}) {
  const overlay = page.locator(`${host} .mask-overlay`);
  await overlay.scrollIntoViewIfNeeded();
  const box = await overlay.boundingBox();
  if (!box) throw new Error(`${host} has no visible mask canvas`);
  const at = ([fx, fy]) => [box.x + fx * box.width, box.y + fy * box.height];
  if (shift) await page.keyboard.down('Shift');
  await page.mouse.move(...at(points[0]));
  await page.mouse.down({ button });
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 6 });
  await page.mouse.up({ button });
  if (shift) await page.keyboard.up('Shift');
}

/** Painted pixel count as the page reports it, and as its overlay canvas shows it. */
export async function maskState(page, host) {
  return page.evaluate((host) => {
    const el = document.querySelector(`${host} .mask-canvas`);
    const overlay = el.querySelector('.mask-overlay');
    const d = overlay.getContext('2d').getImageData(0, 0, overlay.width, overlay.height).data;
    let shown = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) shown++;
    return { painted: Number(el.dataset.painted), shown, size: Number(el.dataset.size), total: overlay.width * overlay.height };
  }, host);
}

/**
 * Waits until `fn(arg)`, run in the page (it may be async), returns a truthy value; returns that
 * value. Use it for async conditions: page.waitForFunction does not await a returned promise, so
 * an async predicate there passes at once.
 */
export async function waitForAsync(page, fn, arg, { timeout = 60_000, interval = 250 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${String(fn).slice(0, 120)}`);
    await new Promise((ok) => setTimeout(ok, interval));
  }
}

/** Waits until a service worker controls the page. */
export const waitForServiceWorker = (page, timeout = 60_000) =>
  waitForAsync(page, async () => {
    await navigator.serviceWorker.ready;
    return !!navigator.serviceWorker.controller;
  }, null, { timeout });

/**
 * Fills the run parameters of a short run with the tiny model: a dog prompt (by default "a dog on
 * the beach"), the seed (by default 40), 2 steps and 1 refinement iteration (a fixed count, no
 * auto-stop).
 */
export async function fillShortRun(page, { prompt = 'a dog on the beach', seed = 40 } = {}) {
  await page.fill('#prompt', prompt);
  await page.fill('#subject-prompt', 'a dog');
  await page.fill('#seed', String(seed));
  await page.locator('#advanced > summary').click();
  await page.fill('#steps', '2');
  await page.check('#stop-fixed');
  await page.fill('#iterations', '1');
}
