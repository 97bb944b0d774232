// A panic of the core (after one the wasm module cannot be trusted) is reported with its
// message, and the page starts a fresh worker that reloads the model from browser storage
// (issue 29). The panic is asked for through the page's `?debug` hook.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openApp, serveApp, waitModelReady } from './app-helpers.mjs';

test('a panic of the core is reported, and the page restarts its worker and reloads the model from storage', async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, `${server.url}?debug`);
    await waitModelReady(page);
    await page.evaluate(() => {
      const el = document.querySelector('#model-status');
      window.modelStates = [];
      new MutationObserver(() => window.modelStates.push(el.dataset.state)).observe(el, { attributes: true, attributeFilter: ['data-state'] });
    });
    await page.evaluate(() => window.ezigenDebug.panic());
    await page.locator('#app-error').waitFor({ state: 'visible', timeout: 60_000 });
    assert.match(
      await page.locator('#app-error-text').textContent(),
      /^The app's engine stopped on an internal error \(.*deliberate panic for testing: requested by the page.*\)\. It was restarted/,
    );
    // The model went away with the old worker and comes back in the new one, from storage.
    await page.waitForFunction(
      () => {
        const s = window.modelStates;
        const gone = s.findIndex((x) => x !== 'ready');
        return gone >= 0 && s.slice(gone).includes('ready');
      },
      null,
      { timeout: 300_000 },
    );
    assert.equal(await page.locator('#model-status').getAttribute('data-downloaded'), '0', 'reloaded from storage, nothing downloaded');
  } finally {
    await close();
    await server.close();
  }
});
