// The page reaches WebGPU in real headless Chromium (SwiftShader), shows the adapter report,
// and its GPU self-test agrees with the same computation on the native CPU backend.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli, launch, screenshot, serveDist, watchConsole } from './helpers.mjs';

let server;
before(async () => {
  server = await serveDist();
});
after(async () => {
  await server?.close();
});

test('WebGPU page: adapter report and self-test match the CPU backend', async () => {
  const { context, close } = await launch({ webgpu: true });
  const page = await context.newPage();
  const logs = watchConsole(page);
  try {
    await page.goto(server.url);
    const status = page.locator('#selftest-status');
    await page.waitForFunction(
      () => ['ok', 'failed'].includes(document.querySelector('#selftest-status')?.dataset.state ?? ''),
      null,
      { timeout: 120_000 },
    );
    await screenshot(page, 'foundation-webgpu');
    assert.equal(await page.locator('#gpu-status').getAttribute('data-state'), 'ok', logs.join('\n'));
    assert.equal(await status.getAttribute('data-state'), 'ok', `${await status.textContent()}\n${logs.join('\n')}`);

    const name = await page.locator('#adapter-name').textContent();
    assert.ok(name && name.length > 0, 'adapter name shown');
    assert.match(await page.locator('#adapter-f16').textContent(), /^(yes|no) /);
    for (const id of ['#limit-buffer', '#limit-binding', '#limit-workgroup']) {
      assert.match(await page.locator(id).textContent(), /^\d+ (MiB|KiB)$/, id);
    }

    const gpu = JSON.parse(await status.getAttribute('data-values'));
    const cpu = cli('smoke', '--backend', 'cpu', '--dtype', 'f32');
    assert.equal(gpu.length, cpu.values.length);
    let diff = 0;
    let mag = 0;
    for (let i = 0; i < gpu.length; i++) {
      diff = Math.max(diff, Math.abs(gpu[i] - cpu.values[i]));
      mag = Math.max(mag, Math.abs(cpu.values[i]));
    }
    console.log(`browser WebGPU (${name}) vs native CPU: max abs diff ${diff.toExponential(2)} of max ${mag.toFixed(3)}`);
    assert.ok(mag > 1e-2, 'reference is not degenerate');
    assert.ok(diff <= 1e-4 * mag, `WebGPU result differs from CPU: ${diff} > 1e-4 × ${mag}`);

    // The WGSL kernels of shaders/ checked against their references through the browser's
    // WebGPU (Tint) as part of the self-test.
    const kernels = JSON.parse(await status.getAttribute('data-kernels'));
    for (const k of kernels) console.log(`browser kernel check ${k.kernel} ${k.dtype}: ran ${k.ran}, rel ${k.rel_err.toExponential(2)} (tol ${k.tolerance})`);
    assert.deepEqual(kernels.map((k) => k.kernel).sort(), ['flash_attention', 'geglu', 'group_norm_silu', 'layer_norm']);
    assert.ok(kernels.every((k) => k.ran && k.ok), JSON.stringify(kernels));
  } finally {
    await close();
  }
});
