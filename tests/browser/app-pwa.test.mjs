// Installable and offline: the web app manifest and its icons, the service worker caching the
// app shell, and the page opening (GPU self-test included) with the server gone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openApp, readPng, screenshot, serveApp } from './app-helpers.mjs';

const SHELL = ['index.html', 'main.js', 'worker.js', 'style.css', 'ezigen_bg.wasm', 'manifest.webmanifest', 'icons/icon-192.png', 'icons/icon-512.png'];

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
    const cached = await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      for (let i = 0; i < 100 && !navigator.serviceWorker.controller; i++) await new Promise((r) => setTimeout(r, 100));
      const cache = await caches.open('ezigen-shell-v1');
      return (await cache.keys()).map((r) => new URL(r.url).pathname.slice(1));
    });
    for (const f of SHELL) assert.ok(cached.includes(f), `${f} is in the shell cache (${cached.join(', ')})`);
  } finally {
    await close();
    await server.close();
  }
});

test('offline: after one visit the page opens and its GPU self-test runs with the server gone', async () => {
  let server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    await page.waitForFunction(async () => {
      await navigator.serviceWorker.ready;
      return !!navigator.serviceWorker.controller;
    }, null, { timeout: 60_000 });
    // Wait until the install step has stored the whole shell (the wasm is the largest part).
    await page.waitForFunction(async () => !!(await (await caches.open('ezigen-shell-v1')).match('ezigen_bg.wasm')), null, { timeout: 60_000 });
    const url = server.url;
    await server.close();
    server = null;
    await context.setOffline(true);
    await page.goto(url);
    await page.waitForFunction(
      () => ['ok', 'failed'].includes(document.querySelector('#selftest-status')?.dataset.state ?? ''),
      null,
      { timeout: 120_000 },
    );
    assert.equal(await page.locator('#gpu-status').getAttribute('data-state'), 'ok');
    assert.equal(await page.locator('#selftest-status').getAttribute('data-state'), 'ok');
    assert.equal(await page.locator('#app-error').isVisible(), false);
    await screenshot(page, 'app-offline');
  } finally {
    await close();
    await server?.close();
  }
});
