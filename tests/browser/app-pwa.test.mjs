// Installable and offline: the web app manifest and its icons, the service worker caching the
// app shell, and the page opening (GPU self-test result included) with the server gone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, launch, openApp, readPng, screenshot, serveApp, waitForAsync, waitForServiceWorker, waitSelfTestDone } from './app-helpers.mjs';

/** This build's content-hashed files (main.js → main.<hash>.js, …; www/tools/build-web.mjs). */
const ASSETS = JSON.parse(readFileSync(join(DIST, 'asset-manifest.json'), 'utf8')).assets;
const SHELL = ['index.html', 'asset-manifest.json', ...Object.values(ASSETS), 'manifest.webmanifest', 'icons/icon-192.png', 'icons/icon-512.png'];
const SHELL_CACHE = 'ezigen-shell-v2';

test('installable: manifest with 192/512 maskable PNG icons, service worker caches the shell', async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    const manifestHref = await page.getAttribute('link[rel="manifest"]', 'href');
    const manifest = await (await fetch(new URL(manifestHref, server.url))).json();
    assert.equal(manifest.display, 'standalone');
    assert.ok(manifest.name && manifest.short_name && manifest.start_url);
    for (const size of [192, 512]) {
      const icon = manifest.icons.find((i) => i.sizes === `${size}x${size}` && i.purpose.includes('maskable'));
      assert.ok(icon, `maskable ${size} icon`);
      const png = readPng(Buffer.from(await (await fetch(new URL(icon.src, server.url))).arrayBuffer()));
      assert.deepEqual([png.width, png.height], [size, size]);
    }
    const cached = await page.evaluate(async (name) => {
      await navigator.serviceWorker.ready;
      for (let i = 0; i < 100 && !navigator.serviceWorker.controller; i++) await new Promise((r) => setTimeout(r, 100));
      const cache = await caches.open(name);
      return (await cache.keys()).map((r) => new URL(r.url).pathname.slice(1));
    }, SHELL_CACHE);
    for (const f of SHELL) assert.ok(cached.includes(f), `${f} is in the shell cache (${cached.join(', ')})`);
  } finally {
    await close();
    await server.close();
  }
});

test('offline: after one visit the page opens with the server gone and shows its GPU self-test result', async () => {
  let server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    // The self-test of the first visit has run (and is remembered).
    await page.waitForFunction(() => document.querySelector('#selftest-status')?.dataset.state === 'ok', null, { timeout: 120_000 });
    await waitForServiceWorker(page);
    // Wait until the install step has stored the whole shell (the wasm is the largest part).
    await waitForAsync(page, async ([name, wasm]) => !!(await (await caches.open(name)).match(wasm)), [SHELL_CACHE, ASSETS['ezigen_bg.wasm']]);
    const url = server.url;
    await server.close();
    server = null;
    await context.setOffline(true);
    await page.goto(url);
    await waitSelfTestDone(page);
    assert.equal(await page.locator('#gpu-status').getAttribute('data-state'), 'ok');
    assert.equal(await page.locator('#selftest-status').getAttribute('data-state'), 'ok');
    // The first visit's result, remembered: the self-test does not run again.
    assert.equal(await page.locator('#selftest-status').getAttribute('data-remembered'), 'true');
    assert.equal(await page.locator('#app-error').isVisible(), false);
    await screenshot(page, 'app-offline');
  } finally {
    await close();
    await server?.close();
  }
});
