// Page-load benchmark (run by hand; not a test): headless Chromium with SwiftShader WebGPU, launched
// as the browser tests launch it, opens the built app (dist/) serving MODEL_DIR as its models/ and
// measures per run, each in a fresh browser profile:
//   cold        first visit, empty storage: navigation → GPU status known, → model ready; the wasm
//               memory the page reports; model shards fetched (requests, bytes). A large model's
//               download is accepted as a user would.
//   warm        second visit in the same profile (wasm and weights in the page's storage): the
//               same, and that no shard is fetched again.
//   first-step  (--first-step) on the warm page: Generate clicked → first denoising step reported,
//               then the run is cancelled (full-size steps take minutes on a CPU rasteriser).
// Times are the page's own where it keeps them (#perf-timeline: model ready, first step; ms since
// navigation start). One JSON line per measurement goes to stdout, a table to stderr.
//
//   node tests/bench/page_load.mjs [MODEL_DIR] [--runs N] [--out FILE.json] [--first-step] [--timeout-min M]
//
// MODEL_DIR: a folder written by `ezigen convert` (default: the tiny model, converted now).
// --timeout-min: limit for loading the model and for the first step (default 60).

import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DIST, appWithTinyModel, file, launch, makePng, openApp, serveApp, waitModelReady } from '../browser/app-helpers.mjs';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '1' },
    out: { type: 'string' },
    'first-step': { type: 'boolean', default: false },
    'timeout-min': { type: 'string', default: '60' },
  },
});
const RUNS = Number(opt.runs);
const TIMEOUT = Number(opt['timeout-min']) * 60_000;

/** dist/ with `modelDir` as its models/ (links, as appWithTinyModel's folder). */
function appWithModel(modelDir) {
  const dir = mkdtempSync(join(tmpdir(), 'ezigen-bench-'));
  for (const entry of readdirSync(DIST)) if (entry !== 'models') symlinkSync(join(DIST, entry), join(dir, entry));
  symlinkSync(resolve(modelDir), join(dir, 'models'));
  return { dir, manifest: JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const app = positionals[0] ? appWithModel(positionals[0]) : appWithTinyModel();
/** Every model shard response: { path, status, bytes } (body bytes sent). */
const shards = [];
const server = await serveApp({
  dir: app.dir,
  intercept(req, res, path) {
    if (path.startsWith('/models/') && !path.endsWith('/manifest.json')) {
      const entry = { path, status: 0, bytes: 0 };
      const write = res.write;
      res.write = (chunk, ...rest) => ((entry.bytes += chunk.length), write.call(res, chunk, ...rest));
      res.on('close', () => shards.push({ ...entry, status: res.statusCode }));
    }
    return false;
  },
});
const model = { name: app.manifest.name, dtype: app.manifest.dtype, tiny: app.manifest.tiny, totalBytes: app.manifest.total_bytes, dir: positionals[0] ?? '(tiny)' };
const results = [];

/** Prints one measurement as a JSON line. */
function report(r) {
  results.push(r);
  console.log(JSON.stringify(r));
}

/**
 * One visit in `context`: opens the app, accepts a large download if asked, waits for the model.
 * The page keeps no time for the GPU status, so an init script notes when it leaves "loading".
 */
async function visit(context, measure, run) {
  const [fromShards, fromRequests] = [shards.length, server.requests.length];
  const { page, logs } = await openApp(context, server.url);
  try {
    const gpu = await page.locator('#gpu-status').getAttribute('data-state');
    if (gpu !== 'ok') throw new Error(`no WebGPU: ${await page.locator('#gpu-status').innerText()}`);
    const states = ['ready', 'failed', 'confirm'];
    await page.waitForFunction((s) => s.includes(document.querySelector('#model-status')?.dataset.state), states, { timeout: TIMEOUT });
    const confirmed = (await page.locator('#model-status').getAttribute('data-state')) === 'confirm';
    if (confirmed) await page.click('#model-confirm-yes');
    await waitModelReady(page, TIMEOUT);
    const [status, timeline] = [page.locator('#model-status'), page.locator('#perf-timeline')];
    const fetched = shards.slice(fromShards);
    report({
      measure,
      run,
      model: model.name,
      precision: (await status.textContent()).match(/\((f16|f32) path/)?.[1] ?? null,
      gpuKnownMs: Math.round(await page.evaluate(() => window.__benchGpuKnownMs)),
      selfTestRemembered: (await page.locator('#selftest-status').getAttribute('data-remembered')) === 'true',
      modelReadyMs: Number(await timeline.getAttribute('data-model-ready-ms')),
      // The load itself (manifest → ready), as the page words it: "loading took 2.7 s".
      loadMs: Number((await timeline.textContent()).match(/loading took ([\d.]+) s/)?.[1]) * 1000,
      wasmMemoryBytes: Number(await status.getAttribute('data-wasm-memory')),
      shardRequests: fetched.length,
      shardBytes: fetched.reduce((n, s) => n + s.bytes, 0),
      downloadedShards: Number(await status.getAttribute('data-downloaded')),
      cachedShards: Number(await status.getAttribute('data-cached')),
      wasmRequests: server.requests.slice(fromRequests).filter((r) => r.path.endsWith('.wasm')).length,
      confirmedDownload: confirmed,
    });
    return page;
  } catch (e) {
    e.message += `\npage console (last lines):\n${logs.slice(-20).join('\n')}`;
    throw e;
  }
}

/** Generate clicked → first denoising step reported (#perf-timeline), then the run is cancelled. */
async function firstStep(page, run) {
  await page.setInputFiles('#subject-file', file('subject.png', makePng(200, 160)));
  await page.locator('#subject-editor').waitFor({ state: 'visible' });
  await page.fill('#prompt', 'a dog in police outfit');
  await page.fill('#subject-prompt', 'a dog');
  await page.waitForFunction(() => document.querySelector('#run-reason')?.dataset.ready === 'true', null, { timeout: 60_000 });
  await page.evaluate(() => document.querySelector('#run').addEventListener('click', () => (window.__benchGenerateAt = performance.now()), { once: true }));
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#perf-timeline')?.dataset.firstStepMs, null, { timeout: TIMEOUT });
  const t0 = Date.now();
  if (await page.locator('#cancel').isVisible()) await page.click('#cancel');
  await page.waitForFunction(() => document.body.dataset.running !== 'true', null, { timeout: TIMEOUT });
  const cancelMs = Date.now() - t0;
  const { at, first, stopped } = await page.evaluate(() => ({
    at: window.__benchGenerateAt,
    first: Number(document.querySelector('#perf-timeline').dataset.firstStepMs),
    // Where the cancel stopped it ("Cancelled while …, after 2 of 50 steps (…)"), or null when it finished first.
    stopped: document.querySelector('#run-error')?.dataset.kind === 'cancelled' ? document.querySelector('#run-error-title').textContent : null,
  }));
  report({ measure: 'first-step', run, model: model.name, generateToFirstStepMs: Math.round(first - at), firstStepMs: first, cancelMs, stopped });
}

try {
  for (let run = 1; run <= RUNS; run++) {
    const { context, close } = await launch({ webgpu: true });
    try {
      await context.addInitScript(() => {
        new MutationObserver((_, obs) => {
          const s = document.querySelector('#gpu-status')?.dataset.state;
          if (s && s !== 'loading') {
            window.__benchGpuKnownMs = performance.now();
            obs.disconnect();
          }
        }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
      });
      await (await visit(context, 'cold', run)).close();
      const page = await visit(context, 'warm', run);
      if (results.at(-1).shardRequests > 0) console.error(`run ${run}: the warm visit fetched ${results.at(-1).shardRequests} shard(s) again`);
      if (opt['first-step']) await firstStep(page, run);
    } finally {
      await close();
    }
  }
} finally {
  await server.close();
  app.remove();
}

const s = (ms) => (ms === undefined ? '' : (ms / 1000).toFixed(2));
const mb = (b) => (b === undefined ? '' : (b / 2 ** 20).toFixed(1));
console.error(`\n${model.name} (${model.dtype}, ${mb(model.totalBytes)} MiB) from ${model.dir}`);
const header = ['run', 'measure', 'gpu s', 'load s', 'ready s', 'wasm MiB', 'shards', 'shard MiB', 'click→1st step s', 'cancel s'];
const rows = results.map((r) => [r.run, r.measure, s(r.gpuKnownMs), s(r.loadMs), s(r.modelReadyMs), mb(r.wasmMemoryBytes), r.shardRequests ?? '', mb(r.shardBytes), s(r.generateToFirstStepMs), s(r.cancelMs)]);
const widths = header.map((h, i) => Math.max(...[header, ...rows].map((r) => String(r[i]).length)));
for (const cols of [header, ...rows]) console.error(cols.map((c, i) => String(c)[i < 2 ? 'padEnd' : 'padStart'](widths[i])).join('  '));
if (opt.out) writeFileSync(opt.out, JSON.stringify({ date: new Date().toISOString(), model, runs: RUNS, results }, null, 2) + '\n');
