// The model panel before any weights reach the GPU: a large model is announced with its size
// and only downloaded after the user agrees; a missing model gets a message with what to do.
// Neither needs the wasm model exports (the worker stops before Session.beginModel).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, launch, openApp, screenshot, serveApp } from './app-helpers.mjs';

const MB = 1_000_000;

function bigManifest() {
  // The component list and the configurations as the Rust side wrote them into the built tiny
  // model's manifest (the core's parseManifest checks both).
  const tiny = JSON.parse(readFileSync(join(DIST, 'models', 'manifest.json'), 'utf8'));
  const comps = Object.keys(tiny.components);
  const m = { format: 'ezigen-shards', version: 1, name: 'sd21-base-ezigen', tiny: false, dtype: 'f16', total_bytes: 0, components: {}, shards: {}, config: tiny.config };
  comps.forEach((c, i) => {
    const file = c === 'tokenizer' ? 'tokenizer.json' : `${c}-00000.safetensors`;
    const bytes = c === 'tokenizer' ? 2 * MB : 60 * MB;
    m.components[c] = { bytes, shards: [file], tensors: [] };
    m.shards[file] = { component: c, bytes, sha256: String(i).repeat(64) };
    m.total_bytes += bytes;
  });
  return m;
}

/** The app, with `manifest` served as models/manifest.json. */
function serveManifest(manifest) {
  return serveApp({
    intercept(req, res, path) {
      if (path !== '/models/manifest.json') return false;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(manifest));
      return true;
    },
  });
}

test('a large model states its size and downloads nothing until the user agrees', async () => {
  const manifest = bigManifest();
  const server = await serveManifest(manifest);
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    const confirm = page.locator('#model-confirm');
    await confirm.waitFor({ state: 'visible', timeout: 120_000 });
    const text = await page.locator('#model-confirm-text').textContent();
    assert.match(text, /sd21-base-ezigen/);
    assert.match(text, /362 MB/, `the size is stated: ${text}`);
    assert.equal(await page.locator('#model-panel').getAttribute('open'), '', 'the panel opens to ask');
    await screenshot(page, 'app-model-confirm');
    await page.click('#model-confirm-no');
    assert.equal(await confirm.isVisible(), false);
    assert.equal(await page.locator('#model-status').getAttribute('data-state'), 'idle');
    assert.match(await page.locator('#run-reason').textContent(), /Load a model/);
    await page.waitForTimeout(300);
    assert.deepEqual(server.shardRequests(), [], 'no shard was requested');
  } finally {
    await close();
    await server.close();
  }
});

test('no model at models/: a message says how to get one, with a folder picker', async () => {
  const server = await serveApp({
    intercept(req, res, path) {
      if (!path.startsWith('/models/')) return false;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return true;
    },
  });
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    const box = page.locator('#model-error');
    await box.waitFor({ state: 'visible', timeout: 120_000 });
    assert.equal(await box.getAttribute('data-kind'), 'no-model');
    const text = await box.innerText();
    assert.match(text, /ezigen convert/);
    assert.match(text, /models\/manifest\.json/);
    assert.equal(await page.locator('#model-error [data-action="choose-folder"]').isVisible(), true);
    assert.equal(await page.locator('#model-chip').getAttribute('data-state'), 'failed');
    await screenshot(page, 'app-no-model');
  } finally {
    await close();
    await server.close();
  }
});

test('not enough storage: said before any download, with ways out', async () => {
  const manifest = bigManifest();
  manifest.shards['unet-00000.safetensors'].bytes = 40e12; // 40 TB: more than any test profile may store
  manifest.components.unet.bytes = 40e12;
  const server = await serveManifest(manifest);
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    const box = page.locator('#model-error');
    await box.waitFor({ state: 'visible', timeout: 120_000 });
    assert.equal(await box.getAttribute('data-kind'), 'quota-exceeded');
    assert.match(await box.innerText(), /needs 40 TB more browser storage/);
    for (const action of ['delete-cache', 'load-without-saving', 'choose-folder']) {
      assert.equal(await page.locator(`#model-error [data-action="${action}"]`).isVisible(), true, action);
    }
    assert.equal(await page.locator('#model-confirm').isVisible(), false, 'no download offered that cannot be stored');
    assert.deepEqual(server.shardRequests(), []);
  } finally {
    await close();
    await server.close();
  }
});
