// Warm cache: the content-hashed app files (www/tools/build-web.mjs) come from the service
// worker's cache on a second visit, the GPU self-test is not run again (its remembered result is
// shown, www/src/ui/selftest-memory.ts), and the server's caching headers (www/serve.mjs):
// `immutable` for hashed names, ETag / Last-Modified with 304 for the rest.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, FULL, launch, openApp, serveApp, waitForAsync, waitForServiceWorker, waitModelReady, waitSelfTestDone } from './app-helpers.mjs';

/** The hashed files of the build under test (main.js → main.<hash>.js, …). */
const { assets: ASSETS, lazy: LAZY } = JSON.parse(readFileSync(join(DIST, 'asset-manifest.json'), 'utf8'));

/** Opens the app, waits for the model and returns the page with its load time and requests. */
async function visit(context, server) {
  const from = server.requests.length;
  const { page, logs } = await openApp(context, server.url);
  await waitModelReady(page);
  const readyMs = Number(await page.locator('#perf-timeline').getAttribute('data-model-ready-ms'));
  const selftest = await page.locator('#selftest-status').evaluate((el) => ({ text: el.textContent, ...el.dataset }));
  return {
    page,
    logs,
    readyMs,
    selftest,
    smokeRequests: await page.evaluate(() => window.__sent.filter((m) => m.type === 'smoke').length),
    sent: await page.evaluate(() => window.__sent),
    paths: () => server.requests.slice(from).map((r) => r.path),
  };
}

test('second visit: no wasm or other hashed file is fetched, the self-test is not run again, model ready sooner', { skip: !FULL }, async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  // Records the requests each page sends to its worker (independent of what the page shows).
  await context.addInitScript(() => {
    const post = Worker.prototype.postMessage;
    window.__sent = [];
    Worker.prototype.postMessage = function (msg, ...rest) {
      window.__sent.push({ type: msg?.type, f16Unreliable: msg?.f16Unreliable });
      return post.call(this, msg, ...rest);
    };
  });
  try {
    // First visit: everything from the network; the self-test runs once and is remembered.
    const first = await visit(context, server);
    assert.equal(first.smokeRequests, 1, 'the first visit runs the self-test');
    assert.equal(first.selftest.state, 'ok', first.selftest.text);
    assert.equal(first.selftest.remembered, 'false');
    assert.ok(first.paths().includes(`/${ASSETS['ezigen_bg.wasm']}`), 'the first visit fetches the wasm');
    // The service worker controls the origin and has stored this build's files.
    await waitForServiceWorker(first.page);
    await waitForAsync(
      first.page,
      async (names) => {
        const cache = await caches.open('ezigen-shell-v2');
        for (const n of names) if (!(await cache.match(n))) return false;
        return true;
      },
      Object.values(ASSETS),
    );
    await first.page.close();

    // Second visit, same browser profile.
    const second = await visit(context, server);
    const paths = second.paths();
    assert.deepEqual(paths.filter((p) => p.endsWith('.wasm')), [], `no wasm request on the second visit (${paths.join(' ')})`);
    const hashed = Object.values(ASSETS).map((n) => `/${n}`);
    assert.deepEqual(paths.filter((p) => hashed.includes(p)), [], 'no hashed file is requested again');
    assert.equal(second.smokeRequests, 0, 'the worker got no self-test request');
    assert.equal(second.selftest.state, 'ok');
    assert.equal(second.selftest.remembered, 'true');
    assert.equal(second.selftest.runs, undefined);
    assert.match(second.selftest.text, /^GPU self-test passed earlier \(/);
    assert.equal(await second.page.locator('#selftest-rerun').getAttribute('hidden'), null, 'the "Run self-test again" button is offered');
    console.log(`page open → model ready (tiny model, SwiftShader): first visit ${first.readyMs} ms, second visit (warm cache, remembered self-test) ${second.readyMs} ms`);
    console.log(`second visit requests: ${paths.filter((p) => !p.startsWith('/models/')).join(' ')} + ${paths.filter((p) => p.startsWith('/models/')).length} under /models/`);

    // "Run self-test again" runs it (once) and remembers the fresh result.
    await second.page.evaluate(() => (document.querySelector('#model-panel').open = true));
    await second.page.click('#selftest-rerun');
    await waitSelfTestDone(second.page);
    assert.equal(await second.page.evaluate(() => window.__sent.filter((m) => m.type === 'smoke').length), 1);
    assert.equal(await second.page.locator('#selftest-status').getAttribute('data-state'), 'ok');
    assert.equal(await second.page.locator('#selftest-status').getAttribute('data-remembered'), 'false');
    const adapter = await second.page.locator('#adapter-f16').textContent();

    // A remembered unreliable f16 path reaches the worker before the model loads: it loads in f32.
    await second.page.evaluate(() => {
      const all = JSON.parse(localStorage.getItem('ezigen-selftest-v1'));
      for (const r of all) r.f16Unreliable = true;
      localStorage.setItem('ezigen-selftest-v1', JSON.stringify(all));
    });
    await second.page.close();
    const third = await visit(context, server);
    assert.equal(third.smokeRequests, 0);
    const types = third.sent.map((m) => m.type);
    const told = types.indexOf('remembered-self-test');
    assert.ok(told >= 0 && told < types.indexOf('load-model'), `the worker learns the remembered result before the model load (${types.join(', ')})`);
    assert.equal(third.sent[told].f16Unreliable, true);
    assert.match(await third.page.locator('#model-status').textContent(), /\(f32 path/, `adapter f16: ${adapter}`);
    console.log(`remembered f16-unreliable result: model loads in f32 (adapter shader-f16: ${adapter})`);
  } finally {
    await close();
    await server.close();
  }
});

test('server: hashed files are immutable, the rest revalidate with ETag / Last-Modified (304)', async () => {
  const server = await serveApp();
  try {
    for (const name of [...Object.values(ASSETS), ...Object.values(LAZY)]) {
      const res = await fetch(`${server.url}${name}`, { method: 'HEAD' });
      assert.equal(res.status, 200, name);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', name);
    }
    // The tokenizer goes as bytes: a gzip type, no Content-Encoding (the core inflates it).
    const tok = await fetch(`${server.url}${LAZY['tokenizer.json.gz']}`, { method: 'HEAD' });
    assert.equal(tok.headers.get('content-type'), 'application/gzip');
    assert.equal(tok.headers.get('content-encoding'), null);
    for (const name of ['', 'index.html', 'sw.js', 'asset-manifest.json', 'manifest.webmanifest', 'icons/icon-192.png']) {
      const res = await fetch(`${server.url}${name}`);
      assert.equal(res.status, 200, name);
      await res.arrayBuffer();
      assert.equal(res.headers.get('cache-control'), 'no-cache', name);
      const etag = res.headers.get('etag');
      const modified = res.headers.get('last-modified');
      assert.ok(etag && modified, `${name}: validators`);
      const byTag = await fetch(`${server.url}${name}`, { headers: { 'if-none-match': etag } });
      assert.equal(byTag.status, 304, `${name}: If-None-Match`);
      assert.equal(byTag.headers.get('etag'), etag);
      assert.equal(byTag.headers.get('content-security-policy'), res.headers.get('content-security-policy'));
      assert.equal((await fetch(`${server.url}${name}`, { headers: { 'if-modified-since': modified } })).status, 304, `${name}: If-Modified-Since`);
      assert.equal((await fetch(`${server.url}${name}`, { headers: { 'if-none-match': '"other"' } })).status, 200, `${name}: changed ETag`);
      const old = new Date(Date.parse(modified) - 1000).toUTCString();
      assert.equal((await fetch(`${server.url}${name}`, { headers: { 'if-modified-since': old } })).status, 200, `${name}: older date`);
    }
    const page = await fetch(server.url);
    for (const h of ['content-security-policy', 'cross-origin-opener-policy', 'x-content-type-options']) {
      assert.ok(page.headers.get(h), h);
    }
    // No COEP: nothing needs cross-origin isolation, and it would demand CORP of weight hosts (serve.mjs).
    assert.equal(page.headers.get('cross-origin-embedder-policy'), null);
    // index.html names this build's hashed files.
    const html = await page.text();
    assert.ok(html.includes(`src="${ASSETS['main.js']}"`) && html.includes(`href="${ASSETS['style.css']}"`));
  } finally {
    await server.close();
  }
});

/**
 * A copy of the build in a temporary folder (the wasm and the models linked, not copied) and a
 * `deploy()` that turns it into a next build whose only change is style.css: a new hashed name
 * in index.html, sw.js and asset-manifest.json, the old file gone (as build-web.mjs would do).
 */
function deployableCopy() {
  const dir = mkdtempSync(join(tmpdir(), 'ezigen-deploy-'));
  for (const entry of readdirSync(DIST)) {
    if (entry === 'models' || entry.endsWith('.wasm')) symlinkSync(join(DIST, entry), join(dir, entry));
    else cpSync(join(DIST, entry), join(dir, entry), { recursive: true });
  }
  const deploy = () => {
    const css = `${readFileSync(join(DIST, ASSETS['style.css']), 'utf8')}\n/* next build */\n`;
    const name = `style.${createHash('sha256').update(css).digest('hex').slice(0, 8)}.css`;
    writeFileSync(join(dir, name), css);
    rmSync(join(dir, ASSETS['style.css']));
    for (const f of ['index.html', 'sw.js', 'asset-manifest.json']) {
      const text = readFileSync(join(dir, f), 'utf8').replaceAll(ASSETS['style.css'], name);
      writeFileSync(join(dir, f), f === 'sw.js' ? text.replace(/"id":"[0-9a-f]+"/, '"id":"nextbuild"') : text);
    }
    return name;
  };
  return { dir, deploy, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a new deploy is picked up on the next visit; the old hashed file is dropped, unchanged ones stay cached', async () => {
  const copy = deployableCopy();
  const server = await serveApp({ dir: copy.dir });
  const { context, close } = await launch({ webgpu: true });
  /** The hashed files in the service worker's cache, once it holds `want` and not `gone`. */
  const cachedOnce = (page, want, gone) =>
    waitForAsync(
      page,
      async ([want, gone]) => {
        const names = (await (await caches.open('ezigen-shell-v2')).keys()).map((r) => new URL(r.url).pathname.slice(1));
        return want.every((n) => names.includes(n)) && !names.includes(gone) ? names : false;
      },
      [want, gone],
    );
  try {
    const { page } = await openApp(context, server.url);
    await waitForServiceWorker(page);
    await cachedOnce(page, Object.values(ASSETS), null);
    await page.close();

    const next = copy.deploy();
    const from = server.requests.length;
    const { page: again } = await openApp(context, server.url);
    // The page of the next visit already uses the new build (index.html is network first).
    assert.equal(await again.getAttribute('link[rel="stylesheet"]', 'href'), next);
    const names = await cachedOnce(again, [next, ASSETS['main.js'], ASSETS['ezigen_bg.wasm']], ASSETS['style.css']);
    assert.ok(!names.includes(ASSETS['style.css']), 'the old style file is dropped');
    const paths = server.requests.slice(from).map((r) => r.path);
    assert.ok(paths.includes(`/${next}`), 'the new file is fetched');
    assert.deepEqual(paths.filter((p) => p.endsWith('.wasm') || p === `/${ASSETS['main.js']}` || p === `/${ASSETS['worker.js']}`), [], 'unchanged hashed files are not fetched again');
  } finally {
    await close();
    await server.close();
    copy.remove();
  }
});
