// The optional scores under the results (www/src/ui/scores.ts): off by default, and the metric
// models (clip_text, dino) are never fetched until the user turns the scores on and agrees to
// their size; then they come through the weights cache like the model (a second visit fetches
// nothing), and every result gets "Identity: DINO … · CLIP-I … — Prompt: CLIP-T …": the one shown
// when the scores were turned on, and each variation of a later run. A model converted without
// the metric models gets a clear message, and nothing is downloaded.
//
// The tiny model is converted for each case by the native CLI (appWithTinyModel), with the tiny
// metric models (`--tiny-metrics`) or without. Set EZIGEN_SKIP_E2E=1 to skip.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FULL, appWithTinyModel, file, fillShortRun, launch, makePng, openApp, screenshot, serveApp, waitForServiceWorker, waitModelReady } from './app-helpers.mjs';
import { contract } from './helpers.mjs';

const RUN_TIMEOUT = Number(process.env.EZIGEN_RUN_TIMEOUT_MS ?? 600_000);
/** A shard of a metric model, as the page would request it. */
const METRIC_SHARD = new RegExp(`^/models/(${contract.METRIC_COMPONENTS.join('|')})-`);
/** The score line: three cosines with three decimals. */
const SCORE_LINE = /^Identity: DINO (-?\d\.\d{3}) · CLIP-I (-?\d\.\d{3}) — Prompt: CLIP-T (-?\d\.\d{3})$/;

const subject = makePng(200, 160, (x, y) => ((x - 100) ** 2 + (y - 80) ** 2 < 55 ** 2 ? [150, 90, 40, 255] : [235, 235, 235, 255]));

/** The page's byte format (www/src/weights.ts formatBytes) for 1–10 MB, the tiny metric models' size. */
function megabytes(n) {
  assert.ok(n >= 1e6 && n < 1e7, `the tiny metric models are 1–10 MB, not ${n} bytes`);
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** Fills the form for a short run (a subject photo, 2 steps, 1 refinement iteration). */
async function fillShortRunWithSubject(page) {
  await page.setInputFiles('#subject-file', file('dog.png', subject));
  await page.locator('#subject-editor').waitFor({ state: 'visible' });
  await fillShortRun(page);
}

/** Runs and waits until its `count` results are in the history and the run is over. */
async function runAndWait(page, count, logs) {
  await page.waitForFunction(() => document.querySelector('#run-reason')?.dataset.ready === 'true', null, { timeout: 60_000 });
  const before = await page.locator('#history li').count();
  const t0 = Date.now();
  await page.click('#run');
  await page.waitForFunction(
    (n) => (document.querySelectorAll('#history li').length >= n && document.body.dataset.running === undefined) || !document.querySelector('#run-error').hidden,
    before + count,
    { timeout: RUN_TIMEOUT },
  );
  if (await page.locator('#run-error').isVisible()) throw new Error(`run failed: ${await page.locator('#run-error').innerText()}\n${logs.join('\n')}`);
  return Date.now() - t0;
}

/** Waits for the score line `selector` to be computed; returns its three numbers, checked to be cosines. */
async function scoresOf(page, selector) {
  await page.waitForFunction(
    (sel) => {
      const el = document.querySelector(sel);
      return el && !el.hidden && (el.dataset.state === 'done' || el.dataset.state === 'failed');
    },
    selector,
    { timeout: RUN_TIMEOUT },
  );
  const text = await page.locator(selector).textContent();
  const m = SCORE_LINE.exec(text);
  assert.ok(m, `${selector} shows the three scores: ${JSON.stringify(text)}`);
  const [dino, clipI, clipT] = m.slice(1).map(Number);
  for (const [name, v] of Object.entries({ dino, clipI, clipT })) {
    assert.ok(Number.isFinite(v) && v >= -1 && v <= 1, `${name} is a cosine in [-1, 1]: ${v}`);
  }
  return { dino, clipI, clipT, text };
}

test('scores: nothing of the metric models is fetched until they are turned on and confirmed; then every result is scored', { skip: !FULL }, async () => {
  const app = appWithTinyModel({ metrics: true });
  const metricFiles = contract.METRIC_COMPONENTS.flatMap((c) => app.manifest.components[c].shards);
  const metricBytes = metricFiles.reduce((a, f) => a + app.manifest.shards[f].bytes, 0);
  const server = await serveApp({ dir: app.dir });
  const metricRequests = () => server.requests.filter((r) => METRIC_SHARD.test(r.path)).map((r) => r.path);
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page, logs } = await openApp(context, server.url);
    await waitModelReady(page);
    assert.equal(await page.isChecked('#scores-toggle'), false, 'off by default');
    assert.equal(await page.locator('#scores-status').getAttribute('data-state'), 'off');
    assert.ok(server.shardRequests().length > 0, 'the model itself was downloaded');
    assert.deepEqual(metricRequests(), [], 'loading the model fetched no metric shard');
    const rows = await page.locator('#model-components tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.component));
    assert.deepEqual(rows, [...contract.COMPONENTS], 'the model panel lists the model, not the metric models');

    // A result made while the scores are off has no score line.
    await fillShortRunWithSubject(page);
    const firstMs = await runAndWait(page, 1, logs);
    assert.equal(await page.locator('#result-scores').isVisible(), false);
    assert.deepEqual(metricRequests(), [], 'still nothing of the metric models');

    // Turning them on asks first, with their size; nothing is fetched before the user agrees.
    await page.check('#scores-toggle');
    await page.locator('#scores-confirm').waitFor({ state: 'visible', timeout: 60_000 });
    const ask = await page.locator('#scores-confirm-text').textContent();
    const size = megabytes(metricBytes);
    assert.ok(ask.includes(`: ${size}; ${size} has to be downloaded`), `the size of the metric models is stated: ${ask}`);
    assert.equal(await page.locator('#scores-status').getAttribute('data-state'), 'confirm');
    await screenshot(page, 'app-scores-confirm');
    await page.waitForTimeout(300);
    assert.deepEqual(metricRequests(), [], 'nothing before the user agrees');
    const t0 = Date.now();
    await page.click('#scores-confirm-yes');
    await page.waitForFunction(() => ['ready', 'failed'].includes(document.querySelector('#scores-status')?.dataset.state ?? ''), null, { timeout: 120_000 });
    if ((await page.locator('#scores-status').getAttribute('data-state')) !== 'ready') {
      throw new Error(`score models not ready: ${await page.locator('#scores-error').innerText()}\n${logs.join('\n')}`);
    }
    const loadMs = Date.now() - t0;
    assert.deepEqual(metricRequests().sort(), metricFiles.map((f) => `/models/${f}`).sort(), 'each metric shard fetched once');
    assert.equal(await page.locator('#scores-status').getAttribute('data-downloaded'), String(metricFiles.length));

    // The result shown when they were turned on gets its scores.
    const t1 = Date.now();
    const shown = await scoresOf(page, '#result-scores');
    const scoreMs = Date.now() - t1;

    // A run of 2 variations: each tile and the large result get theirs after the run (never
    // while it is in progress: the observer notes any score of this run's tiles during it).
    await page.fill('#seed', '41');
    await page.selectOption('#variations', '2');
    await page.evaluate(() => {
      window.scoredDuringRun = false;
      new MutationObserver(() => {
        if (document.body.dataset.running && document.querySelector('#result-grid .variation-scores:not([data-state=""])')) window.scoredDuringRun = true;
      }).observe(document.querySelector('#outputs'), { subtree: true, childList: true, attributes: true });
    });
    const variationsMs = await runAndWait(page, 2, logs);
    const tiles = [];
    for (const n of [1, 2]) tiles.push(await scoresOf(page, `#result-grid li:nth-child(${n}) .variation-scores`));
    const large = await scoresOf(page, '#result-scores');
    assert.equal(large.text, tiles[1].text, 'the large result is variation 2');
    assert.equal(await page.evaluate(() => window.scoredDuringRun), false, 'no score was computed during the run');
    await screenshot(page, 'app-scores-results');
    console.log(
      `scores: first run ${firstMs} ms; metric models ${megabytes(metricBytes)} loaded in ${loadMs} ms; scored in ${scoreMs} ms; ` +
        `2 variations with scores ${variationsMs} ms; ${shown.text} / ${tiles.map((t) => t.text).join(' / ')}`,
    );

    // Turning them off hides the lines; the choice is remembered.
    await page.uncheck('#scores-toggle');
    assert.equal(await page.locator('#result-scores').isVisible(), false);
    assert.equal(await page.locator('#result-grid li:nth-child(1) .variation-scores').isVisible(), false);
    await page.check('#scores-toggle');
    await page.waitForFunction(() => document.querySelector('#scores-status')?.dataset.state === 'ready', null, { timeout: 60_000 });
    assert.equal(await page.locator('#result-scores').isVisible(), true, 'shown again, not recomputed');

    // A second visit: on, and loaded from browser storage without a question or a download.
    const fetched = metricRequests().length;
    await page.reload();
    await waitModelReady(page);
    assert.equal(await page.isChecked('#scores-toggle'), true, 'remembered');
    await page.waitForFunction(() => ['ready', 'failed', 'confirm'].includes(document.querySelector('#scores-status')?.dataset.state ?? ''), null, { timeout: 120_000 });
    assert.equal(await page.locator('#scores-status').getAttribute('data-state'), 'ready', await page.locator('#scores-section').innerText());
    assert.equal(await page.locator('#scores-status').getAttribute('data-downloaded'), '0');
    assert.equal(await page.locator('#scores-status').getAttribute('data-cached'), String(metricFiles.length));
    assert.equal(metricRequests().length, fetched, 'the second visit fetched no metric shard');
    assert.deepEqual(logs.filter((l) => l.startsWith('[pageerror]')), []);
  } finally {
    await close();
    await server.close();
    app.remove();
  }
});

test('a model converted without the metric models: turning the scores on says so, fetches nothing and stays off', { skip: !FULL }, async () => {
  const app = appWithTinyModel({ metrics: false });
  const server = await serveApp({ dir: app.dir });
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page, logs } = await openApp(context, server.url);
    await waitModelReady(page);
    // The service worker's install fetches sw.js and the app shell on its own schedule (after the
    // model is ready when loading is quick): only what the toggle fetches is counted.
    await waitForServiceWorker(page);
    const before = server.requests.length;
    // A click, not page.check: the page may turn it off again before check() could see it on.
    await page.click('#scores-toggle');
    const box = page.locator('#scores-error');
    await box.waitFor({ state: 'visible', timeout: 60_000 });
    const text = await box.innerText();
    assert.match(text, /converted without the metric models/);
    assert.match(text, /ezigen convert … --dino DIR/);
    assert.equal(await box.getAttribute('data-kind'), 'no-model');
    assert.equal(await page.isChecked('#scores-toggle'), false, 'left off');
    assert.equal(await page.locator('#scores-status').getAttribute('data-state'), 'failed');
    assert.equal(await page.locator('#scores-confirm').isVisible(), false, 'no download offered');
    assert.equal(await page.evaluate(() => localStorage.getItem('ezigen.scores')), null, 'not remembered as on');
    await screenshot(page, 'app-scores-no-metrics');
    await page.waitForTimeout(300);
    assert.deepEqual(server.requests.slice(before).map((r) => r.path), [], 'nothing was requested');
    // The page still generates.
    assert.match(await page.locator('#model-status').textContent(), /is ready/);
    assert.deepEqual(logs.filter((l) => l.startsWith('[pageerror]')), []);
  } finally {
    await close();
    await server.close();
    app.remove();
  }
});
