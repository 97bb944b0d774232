// Without WebGPU (no --enable-unsafe-webgpu) the page explains the problem in words instead of
// staying blank or failing only in the console.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, screenshot, serveDist } from './helpers.mjs';

let server;
before(async () => {
  server = await serveDist();
});
after(async () => {
  await server?.close();
});

test('no WebGPU: the page shows a clear message', async () => {
  const { context, close } = await launch({ webgpu: false });
  const page = await context.newPage();
  try {
    await page.goto(server.url);
    const box = page.locator('#gpu-error');
    await box.waitFor({ state: 'visible', timeout: 60_000 });
    await screenshot(page, 'foundation-no-webgpu');
    const text = await box.innerText();
    assert.match(text, /WebGPU|graphics adapter/);
    assert.match(text, /Chrome|Edge|Safari|hardware acceleration/i);
    assert.ok(['no-webgpu', 'no-adapter'].includes(await box.getAttribute('data-reason')));
    assert.equal(await page.locator('#gpu-status').getAttribute('data-state'), 'failed');
    assert.equal(await page.locator('#adapter').isVisible(), false);
  } finally {
    await close();
  }
});
