// End to end with the built-in tiny model in dist/models: generate from a file upload to a
// downloaded PNG (the Fast preset: live previews, the estimate, the preset kept), edit with a
// painted mask, cancel, offline second visit, and an
// interrupted download that resumes with only the missing shards.
//
// They run in `./build.sh test`; set EZIGEN_SKIP_E2E=1 to skip them while iterating on the UI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  ARTIFACTS,
  DIST,
  FULL,
  file,
  launch,
  makePng,
  maskState,
  openApp,
  paint,
  readPng,
  screenshot,
  serveApp,
  shardLoadOrder,
  waitForServiceWorker,
  waitModelReady,
} from './app-helpers.mjs';

const skip = !FULL;
const subject = makePng(200, 160, (x, y) => {
  const inside = (x - 100) ** 2 + (y - 80) ** 2 < 60 ** 2;
  return inside ? [150, 90, 40, 255] : [235, 235, 235, 255];
});
const RUN_TIMEOUT = Number(process.env.EZIGEN_RUN_TIMEOUT_MS ?? 600_000);

/** Fills the form for a short run: the subject, a prompt, `steps` steps and a fixed iteration count. */
async function fillShortRun(page, { steps = 4, iterations = 1, prompt = 'a dog in police outfit' } = {}) {
  await page.setInputFiles('#subject-file', file('dog.png', subject));
  await page.locator('#subject-editor').waitFor({ state: 'visible' });
  await page.fill('#prompt', prompt);
  await page.fill('#subject-prompt', 'a dog');
  await page.locator('#advanced > summary').click();
  await page.fill('#steps', String(steps));
  await page.check('#stop-fixed');
  await page.fill('#iterations', String(iterations));
}

async function runAndWait(page) {
  await page.waitForFunction(() => document.querySelector('#run-reason')?.dataset.ready === 'true', null, { timeout: 60_000 });
  const before = await page.locator('#history li').count();
  await page.click('#run');
  await page.waitForFunction(
    (n) => document.querySelectorAll('#history li').length > n || !document.querySelector('#run-error').hidden,
    before,
    { timeout: RUN_TIMEOUT },
  );
  if (await page.locator('#run-error').isVisible()) throw new Error(`run failed: ${await page.locator('#run-error').innerText()}`);
}

// The runs share a page where they can: SwiftShader compiles every GPU kernel on its first
// use in a page (minutes for the first run), later runs in the same page take seconds.
test('generate: upload → run (fast preset) → live previews → PNG download with parameters; cancel within a step', { skip }, async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    await waitModelReady(page);
    assert.equal(await page.locator('#tiny-banner').isVisible(), true, 'the tiny-model banner is shown');
    const wasmBytes = Number(await page.locator('#model-status').getAttribute('data-wasm-memory'));
    console.log(`wasm linear memory after loading the tiny model: ${(wasmBytes / 1048576).toFixed(1)} MiB`);
    assert.ok(wasmBytes > 0);
    // With everything else ready, an empty prompt is pointed at (and Run focuses it).
    await page.fill('#prompt', '');
    await fillShortRun(page, { prompt: '' });
    await page.waitForFunction(() => document.querySelector('#run-reason').textContent === 'Write a prompt in the “Prompt” field above.');
    await page.click('#run', { force: true }); // aria-disabled, but it still points at the field
    assert.equal(await page.evaluate(() => document.activeElement.id), 'prompt');
    assert.equal(await page.locator('#prompt').getAttribute('aria-invalid'), 'true');
    await page.fill('#prompt', 'a dog in police outfit');
    assert.equal(await page.locator('#prompt').getAttribute('aria-invalid'), null, 'typing a prompt clears the mark');
    // The token count from the model's own tokenizer; a prompt beyond 75 tokens says where it is cut.
    await page.waitForFunction(() => /^\d+ of 75 tokens\.$/.test(document.querySelector('#prompt-tokens').textContent));
    const long = Array.from({ length: 90 }, (_, i) => `word${i}`).join(' ');
    await page.fill('#prompt', long);
    await page.waitForFunction(() => document.querySelector('#prompt-tokens').dataset.cut === 'true');
    const cut = await page.locator('#prompt-tokens').textContent();
    assert.match(cut, /^\d{3} tokens: the model reads only the first 75, up to “…[^”]*word\d*”; the rest is ignored/, cut);
    await page.fill('#prompt', 'a dog in police outfit');
    await page.waitForFunction(() => /^\d+ of 75 tokens\.$/.test(document.querySelector('#prompt-tokens').textContent));
    await page.waitForFunction(() => document.querySelector('#run-reason')?.dataset.ready === 'true');
    // A stage of one long step must show an animated (indeterminate) bar and its seconds, not
    // "step 0 of 1": recorded whenever the run panel changes.
    await page.evaluate(() => {
      const seen = () =>
        ['encode-text', 'reference', 'decode'].includes(document.querySelector('#run-panel').dataset.stage) &&
        !document.querySelector('#run-progress').hasAttribute('value') &&
        /^\d+(\.\d)? s so far/.test(document.querySelector('#run-step').textContent);
      new MutationObserver(() => {
        if (seen()) window.oneStepShown = true;
      }).observe(document.querySelector('#run-panel'), { subtree: true, childList: true, characterData: true, attributes: true });
    });
    // Issue 28: the run uses the Fast preset (DPM-Solver++, 15 steps); the image forms in the
    // live preview at every UNet step and the whole run's estimate counts down.
    await page.selectOption('#preset', 'fast');
    assert.equal(await page.locator('#sampler').inputValue(), 'dpmpp');
    assert.equal(await page.locator('#steps').inputValue(), '15');
    await page.evaluate(() => {
      const live = (window.live = { steps: [], hashes: new Set(), etas: [] });
      const fig = document.querySelector('#live-fig');
      new MutationObserver(() => {
        const key = fig.dataset.step;
        if (!key || live.steps.at(-1) === key) return;
        live.steps.push(key);
        const c = document.querySelector('#live-preview');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let h = 0;
        for (let i = 0; i < px.length; i++) h = (h * 31 + px[i]) >>> 0;
        live.hashes.add(h);
      }).observe(fig, { attributes: true, attributeFilter: ['data-step'] });
      const eta = document.querySelector('#run-eta');
      new MutationObserver(() => {
        if (live.etas.at(-1) !== eta.textContent) live.etas.push(eta.textContent);
      }).observe(eta, { childList: true, characterData: true, subtree: true });
    });
    let t0 = Date.now();
    await page.click('#run');
    await page.locator('#run-panel').waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelector('#run-panel')?.dataset.stage, null, { timeout: RUN_TIMEOUT });
    await page.locator('#live-fig').waitFor({ state: 'visible', timeout: RUN_TIMEOUT });
    await screenshot(page, 'app-running');

    await page.locator('#result').waitFor({ state: 'visible', timeout: RUN_TIMEOUT });
    console.log(`first generate (fast preset, kernels compiled on first use): ${Date.now() - t0} ms`);
    assert.equal(await page.evaluate(() => window.oneStepShown), true, 'a one-step stage shows its seconds on an animated bar');
    assert.ok((await page.locator('#previews li').count()) >= 1, 'every iteration shows a preview');
    const live = await page.evaluate(() => ({ ...window.live, hashes: window.live.hashes.size, count: document.querySelector('#live-fig').dataset.count }));
    // 15 steps of the initial run, then 6 of the one refinement iteration: a preview each.
    assert.equal(live.count, '21', JSON.stringify(live));
    assert.equal(live.steps[0], 'layout/0/1', JSON.stringify(live.steps));
    assert.equal(live.steps.at(-1), 'transfer/1/6', JSON.stringify(live.steps));
    assert.ok(live.hashes >= 2, `the preview changes from step to step (${live.hashes} distinct images)`);
    const upper = (t) => {
      const m = /^about (\d+)(?:–(\d+))? (s|min) left$/.exec(t);
      return m ? Number(m[2] ?? m[1]) * (m[3] === 'min' ? 60 : 1) : null;
    };
    const etas = live.etas.map(upper).filter((v) => v !== null);
    assert.ok(etas.length >= 2 && etas.at(-1) < etas[0], `the estimate decreases: ${live.etas.join(' / ')}`);
    const caption = 'Generate · “a dog in police outfit” · seed 3154 · Fast';
    assert.equal(await page.locator('#history li button span').first().textContent(), caption);
    await screenshot(page, 'app-result');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.equal(download.suggestedFilename(), 'ezigen_seed3154_split0.4_a-dog-in-police-outfit.png');
    const path = join(ARTIFACTS, 'app-download.png');
    await download.saveAs(path);
    const png = readPng(readFileSync(path));
    assert.equal(String(png.width), await page.locator('#result').getAttribute('data-width'));
    assert.equal(String(png.height), await page.locator('#result').getAttribute('data-height'));
    const meta = JSON.parse(png.text.parameters);
    assert.equal(meta.seed, 3154);
    assert.deepEqual([meta.preset, meta.sampler, meta.steps], ['fast', 'dpmpp', 15]);
    assert.equal(meta.iterations, 1);
    assert.equal(meta.prompt, 'a dog in police outfit');

    // A reload (a second tab: the form and the history come back from storage) keeps the preset.
    {
      const { page: again } = await openApp(context, server.url);
      assert.equal(await again.locator('#preset').inputValue(), 'fast', 'the preset is kept across a reload');
      assert.equal(await again.locator('#sampler').inputValue(), 'dpmpp');
      await again.locator('#history li').first().waitFor({ state: 'visible' });
      assert.equal(await again.locator('#history li button span').first().textContent(), caption);
      await again.close();
    }

    // The history restores the parameters of a result.
    await page.fill('#seed', '77');
    await page.click('#history li button');
    assert.equal(await page.locator('#seed').inputValue(), '3154');

    // A long run, cancelled inside the denoising loop (after its first UNet step): it must stop
    // within a step and leave the page usable.
    await page.fill('#steps', '50');
    await page.fill('#iterations', '2');
    await page.click('#run');
    // During the run the button shows the run, and the mode cannot be switched under it.
    assert.equal(await page.locator('#run').textContent(), 'Generating…');
    assert.equal(await page.locator('#mode-switch').evaluate((f) => f.disabled), true);
    assert.match(await page.locator('#mode-lock').textContent(), /^Switching the mode is off while the Generate run is in progress/);
    await page.waitForFunction(
      () => {
        const d = document.querySelector('#run-panel')?.dataset;
        return d && ['layout', 'transfer'].includes(d.stage) && Number(d.step) >= 2;
      },
      null,
      { timeout: RUN_TIMEOUT },
    );
    const stepLine = await page.locator('#run-step').textContent();
    assert.match(stepLine, /^step \d+ of 50, ~\d+(\.\d)? s per step/);
    const perStep = Number(/~(\d+(?:\.\d)?) s per step/.exec(stepLine)[1]);
    t0 = Date.now();
    await page.click('#cancel');
    assert.match(await page.locator('#run-stage').textContent(), /^Cancelling… \(finishing the current step, about \d+ s\)$/);
    await page.waitForFunction(() => document.querySelector('#run-error')?.dataset.kind === 'cancelled', null, { timeout: RUN_TIMEOUT });
    const cancelMs = Date.now() - t0;
    console.log(`cancelled after ${cancelMs} ms (a step takes ~${perStep} s)`);
    // The run stops within the step in flight (the core checks between UNet steps): two steps'
    // time plus slack for a loaded machine, far below the rest of the 50-step run.
    assert.ok(cancelMs <= 2 * perStep * 1000 + 15_000, `cancelling took ${cancelMs} ms with ~${perStep} s per step`);
    // The outcome, worded once: where it stopped.
    assert.match(
      await page.locator('#run-error-title').textContent(),
      /^Cancelled while (laying out the scene|transferring the subject, iteration 1), after \d+ of 50 steps \(([\d.]+ s|\d+ min \d+ s)\)\.$/,
    );
    assert.equal(await page.locator('#run-error-text').textContent(), 'Everything is ready to run again.');
    assert.equal(await page.locator('#run').textContent(), 'Generate');
    assert.equal(await page.locator('#mode-switch').evaluate((f) => f.disabled), false);
    assert.equal(await page.locator('#mode-lock').isVisible(), false);
    assert.equal(await page.locator('#run-panel').isVisible(), false);
    assert.equal(await page.locator('#model-status').getAttribute('data-state'), 'ready');
  } finally {
    await close();
    await server.close();
  }
});

test('offline second visit: edit with a mask painted by the mouse → output of the source\'s resized size', { skip }, async () => {
  let server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    await waitModelReady(page);
    await waitForServiceWorker(page);
    const url = server.url;
    await server.close();
    server = null;
    // Nothing answers on that port any more, and the browser is offline too.
    await context.setOffline(true);
    // The query only shortens the page's benchmark (run below); the service worker serves the
    // shell for it as for any navigation.
    await page.goto(`${url}?bench-steps=2&bench-iterations=1&bench-repeats=1`);
    await page.waitForFunction(() => document.querySelector('#gpu-status')?.dataset.state === 'ok', null, { timeout: 120_000 });
    await waitModelReady(page);
    assert.equal(await page.locator('#model-status').getAttribute('data-downloaded'), '0');

    await page.check('#mode-edit');
    // 384×256 → short side 128 (8 · sample_size 16 of the tiny model) → 192×128.
    await page.setInputFiles('#source-file', file('room.png', makePng(384, 256)));
    await page.locator('#source-editor').waitFor({ state: 'visible' });
    await paint(page, '#mask-host', [[0.3, 0.4], [0.6, 0.6]]);
    assert.ok((await maskState(page, '#mask-host')).painted > 0);
    await fillShortRun(page, { prompt: 'a dog on the sofa', steps: 2 });
    await runAndWait(page);
    assert.equal(await page.locator('#result').getAttribute('data-width'), '192');
    assert.equal(await page.locator('#result').getAttribute('data-height'), '128');
    assert.equal(await page.locator('#before-after').isVisible(), true);
    await page.click('#before-after');
    assert.equal(await page.locator('#before-canvas').isVisible(), true);
    await screenshot(page, 'app-edit-before');
    await page.click('#before-after');
    assert.equal(await page.locator('#result-canvas').isVisible(), true);
    await screenshot(page, 'app-offline-result');

    // Load time with a warm cache: page open → model ready → first denoising step.
    const timeline = page.locator('#perf-timeline');
    const readyMs = Number(await timeline.getAttribute('data-model-ready-ms'));
    const firstStepMs = Number(await timeline.getAttribute('data-first-step-ms'));
    console.log(`warm cache, offline: page open → model ready ${readyMs} ms, → first denoising step ${firstStepMs} ms`);
    assert.ok(readyMs > 0 && firstStepMs >= readyMs, 'the page reports its load timeline');

    // The page's benchmark reports the same stages as `ezigen bench`.
    await page.evaluate(() => (document.querySelector('#model-panel').open = true));
    await page.click('#bench-run');
    await page.waitForFunction(() => document.querySelector('#bench-table')?.dataset.done, null, { timeout: RUN_TIMEOUT });
    assert.equal(await page.locator('#bench-table').getAttribute('data-done'), 'ok', await page.locator('#bench-status').innerText());
    const rows = await page.locator('#bench-table tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.dataset.bench, ...[...tr.querySelectorAll('td')].map((td) => td.textContent)]),
    );
    for (const r of rows) console.log(`bench (SwiftShader, tiny, f32): ${r.slice(1).join(' | ')}`);
    const stages = rows.map((r) => r[0]);
    for (const stage of ['weights', 'reference_pass', 'unet_step', 'vae_encode', 'vae_decode', 'clip_vision', 'text_encoder', 'generate', 'edit', 'memory']) {
      assert.ok(stages.includes(stage), `the page's benchmark reports ${stage}`);
    }
    assert.equal(stages.filter((s) => s === 'unet_step').length, 2, 'UNet step with and without adapters');
    await screenshot(page, 'app-benchmark');
  } finally {
    await close();
    await server?.close();
  }
});

test('an interrupted download resumes: only missing shards are fetched, a second visit fetches none', { skip }, async () => {
  const manifest = JSON.parse(readFileSync(join(DIST, 'models/manifest.json'), 'utf8'));
  const shardFiles = Object.keys(manifest.shards);
  assert.ok(shardFiles.length >= 3, 'the tiny model has several shards');
  const breakAt = 3; // the third shard request dies halfway through its body
  let shardRequests = 0;
  let broken = null;
  const server = await serveApp({
    intercept(req, res, path) {
      if (!path.startsWith('/models/') || path.endsWith('/manifest.json')) return false;
      shardRequests++;
      if (shardRequests !== breakAt) return false;
      broken = path;
      const full = join(DIST, path);
      const size = statSync(full).size;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      res.write(readFileSync(full).subarray(0, Math.floor(size / 2)), () => res.destroy());
      return true;
    },
  });
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    await page.waitForFunction(() => document.querySelector('#model-error')?.dataset.kind, null, { timeout: 300_000 });
    assert.equal(await page.locator('#model-error').getAttribute('data-kind'), 'network');
    await screenshot(page, 'app-download-interrupted');
    const firstRound = server.shardRequests().map((r) => r.path);
    assert.equal(firstRound.length, breakAt);

    await page.click('#model-error [data-action="retry"]');
    await waitModelReady(page);
    const secondRound = server.shardRequests().map((r) => r.path).slice(firstRound.length);
    assert.equal(secondRound.length, shardFiles.length - (breakAt - 1), `only the missing shards: ${secondRound.join(', ')}`);
    assert.ok(secondRound.includes(broken), 'the broken shard is fetched again');
    for (const done of firstRound.slice(0, breakAt - 1)) assert.ok(!secondRound.includes(done), `${done} was not fetched again`);
    assert.equal(await page.locator('#model-status').getAttribute('data-cached'), String(breakAt - 1));

    const before = server.shardRequests().length;
    await page.reload();
    await waitModelReady(page);
    assert.equal(server.shardRequests().length, before, 'a second visit downloads nothing');
    assert.equal(await page.locator('#model-status').getAttribute('data-downloaded'), '0');
  } finally {
    await close();
    await server.close();
  }
});

test('a corrupt shard is named, never cached, and fetched again on retry', { skip }, async () => {
  const manifest = JSON.parse(readFileSync(join(DIST, 'models/manifest.json'), 'utf8'));
  const victim = shardLoadOrder(manifest)[1]; // the first shard loads (and is cached) before it
  let corrupt = true;
  const server = await serveApp({
    intercept(req, res, path) {
      if (path !== `/models/${victim}` || !corrupt) return false;
      const bytes = Buffer.from(readFileSync(join(DIST, path)));
      bytes[bytes.length >> 1] ^= 0xff; // same size, one byte flipped
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
      return true;
    },
  });
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    await page.waitForFunction(() => document.querySelector('#model-error')?.dataset.kind, null, { timeout: 300_000 });
    assert.equal(await page.locator('#model-error').getAttribute('data-kind'), 'corrupt-shard');
    assert.match(await page.locator('#model-error').innerText(), new RegExp(victim.replace('.', '\\.')));
    corrupt = false;
    const before = server.shardRequests().length;
    await page.click('#model-error [data-action="retry"]');
    await waitModelReady(page);
    const again = server.shardRequests().slice(before).map((r) => r.path);
    assert.equal(again[0], `/models/${victim}`, 'the damaged shard was not cached');
    assert.equal(again.length, Object.keys(manifest.shards).length - 1);
  } finally {
    await close();
    await server.close();
  }
});

test('weights from a local folder: nothing is fetched; delete cached weights empties storage', { skip }, async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    await waitModelReady(page);
    await page.waitForFunction(() => Number(document.querySelector('#storage-info')?.dataset.shards) > 0);
    await page.locator('#model-panel > summary').click();
    await page.click('#cache-delete');
    await page.click('#cache-confirm-yes');
    await page.waitForFunction(() => document.querySelector('#storage-info')?.dataset.shards === '0');
    assert.match(await page.locator('#storage-info').textContent(), /none/);

    const before = server.modelRequests().length;
    await page.setInputFiles('#model-folder', join(DIST, 'models'));
    await page.waitForFunction(
      () => {
        const st = document.querySelector('#model-status');
        return (st.dataset.state === 'ready' && /chosen folder/.test(st.textContent)) || st.dataset.state === 'failed';
      },
      null,
      { timeout: RUN_TIMEOUT },
    );
    await waitModelReady(page);
    assert.equal(server.modelRequests().length, before, 'a local folder is read, not fetched');
  } finally {
    await close();
    await server.close();
  }
});
