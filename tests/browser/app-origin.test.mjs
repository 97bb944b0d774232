// Weights on another origin (README "Host a demo"): the page on one local origin, the tiny
// model's files (dist/models) on a second one, named by the page's config.json. Every manifest
// and shard request goes to the weights origin, none to the page's /models/; the CSP names
// exactly that origin; the model panel shows it; the page is not cross-origin isolated (no COEP)
// and does not need to be. A weights host without CORS headers, and a bad config.json, each get a
// clear message in the model panel instead of a hang or a dead page.
// The first test needs the tiny model in dist/models (set EZIGEN_SKIP_E2E=1 to skip it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serve, cspFor } from '../../www/serve.mjs';
import { DIST, FULL, launch, openApp, screenshot, serveApp, shardLoadOrder, waitModelReady } from './app-helpers.mjs';

/**
 * A second local origin serving dist/models at its root, recording requests; `cors` adds
 * Access-Control-Allow-Origin: * (what a CDN or model hub sends).
 */
async function weightsHost({ cors }) {
  const requests = [];
  const server = await serve({
    dir: join(DIST, 'models'),
    port: 0,
    config: null,
    onRequest(req, res, path) {
      requests.push({ method: req.method, path, origin: req.headers.origin ?? null });
      if (cors) res.setHeader('access-control-allow-origin', '*');
      return false;
    },
  });
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(ok);
      }),
  };
}

test('weights from a second origin named by config.json: all shards come from there, the panel shows it', { skip: !FULL }, async () => {
  const manifest = JSON.parse(readFileSync(join(DIST, 'models', 'manifest.json'), 'utf8'));
  const weights = await weightsHost({ cors: true });
  const app = await serveApp({ config: { weightsBaseUrl: `${weights.origin}/` } });
  assert.notEqual(app.origin, weights.origin);
  const { context, close } = await launch({ webgpu: true });
  try {
    const res = await fetch(app.url);
    assert.equal(res.headers.get('content-security-policy'), cspFor(weights.origin), 'connect-src: self and the weights origin');
    assert.match(res.headers.get('content-security-policy'), new RegExp(`connect-src 'self' ${weights.origin};`));
    assert.equal(res.headers.get('cross-origin-embedder-policy'), null, 'no COEP');

    const { page, logs } = await openApp(context, app.url);
    await waitModelReady(page);
    const shown = page.locator('#model-origin');
    assert.equal(await shown.getAttribute('data-origin'), weights.origin);
    assert.match(await shown.textContent(), new RegExp(weights.origin.replace(/[.]/g, '\\.')));
    assert.equal(await page.locator('#model-url').inputValue(), `${weights.origin}/`);

    const paths = weights.requests.filter((r) => r.method === 'GET').map((r) => r.path);
    assert.ok(paths.includes('/manifest.json'), `the manifest came from the weights origin: ${paths}`);
    for (const file of shardLoadOrder(manifest)) assert.ok(paths.includes(`/${file}`), `${file} came from the weights origin`);
    assert.ok(weights.requests.every((r) => r.origin === app.origin), 'CORS requests, sent with the page origin');
    assert.deepEqual(app.modelRequests(), [], "nothing was asked from the page origin's /models/");
    assert.ok(app.requests.some((r) => r.path === '/config.json'), 'the page read config.json');

    assert.equal(await page.evaluate(() => self.crossOriginIsolated), false, 'the app works without cross-origin isolation');
    assert.deepEqual(logs.filter((l) => /Content Security Policy/i.test(l)), [], 'no CSP violations');
    await screenshot(page, 'app-origin-ready');
  } finally {
    await close();
    await app.close();
    await weights.close();
  }
});

test('a weights host without CORS headers: the model panel says why, with Retry', async () => {
  const weights = await weightsHost({ cors: false });
  const app = await serveApp({ config: { weightsBaseUrl: `${weights.origin}/` } });
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, app.url);
    const box = page.locator('#model-error');
    await box.waitFor({ state: 'visible', timeout: 120_000 });
    assert.equal(await box.getAttribute('data-kind'), 'network');
    const text = await box.innerText();
    assert.match(text, /Access-Control-Allow-Origin/, text);
    assert.ok(text.includes(weights.origin), `the message names the weights origin: ${text}`);
    assert.equal(await page.locator('#model-error [data-action="retry"]').isVisible(), true);
    assert.equal(await page.locator('#model-status').getAttribute('data-state'), 'failed');
    assert.equal(await page.locator('#model-origin').getAttribute('data-origin'), weights.origin);
    assert.ok(weights.requests.some((r) => r.path === '/manifest.json'), 'the request reached the host (refused by CORS, not by the CSP)');
    assert.deepEqual(app.modelRequests(), []);
    await screenshot(page, 'app-origin-no-cors');
  } finally {
    await close();
    await app.close();
    await weights.close();
  }
});

test('a bad config.json: the model panel explains it, nothing is fetched, a folder can still be chosen', async () => {
  const app = await serveApp({ config: '{ "weightsBaseUrl": "ftp://example.org/w/" }' });
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, app.url);
    const box = page.locator('#model-error');
    await box.waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await box.getAttribute('data-kind'), 'config');
    assert.match(await box.innerText(), /config\.json is not valid: "weightsBaseUrl" must be an http\(s\) URL/);
    assert.equal(await page.locator('#model-error [data-action="choose-folder"]').isVisible(), true);
    await page.waitForTimeout(500);
    assert.equal(await page.locator('#model-status').getAttribute('data-state'), 'failed');
    assert.deepEqual(app.modelRequests(), [], 'no model was requested');
  } finally {
    await close();
    await app.close();
  }
});
