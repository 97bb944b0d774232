// Weights without a toolchain: the page converts the original published files itself. The
// tiny model's original-layout folders (tests/fixtures/tiny: diffusers SD folder, the EZIGen
// checkpoint folder, the CLIP folder) are chosen in the three folder pickers; the worker
// converts them with the core's converter (the code `ezigen convert` runs), stores the shards in
// the weights cache, loads the model from there and generates. The stored shards are
// byte-identical to the CLI's conversion; a reload loads the converted model from storage with no
// request for weights; wrong folders and a .bin-only checkpoint get the core's message.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FULL, ROOT, file, launch, makePng, openApp, screenshot, serveApp, waitModelReady } from './app-helpers.mjs';

const TINY = join(ROOT, 'tests/fixtures/tiny');
const CLI = join(ROOT, 'target/release/ezigen');
const RUN_TIMEOUT = Number(process.env.EZIGEN_RUN_TIMEOUT_MS ?? 600_000);

/** Requests for the app's tokenizer file (fetched by a conversion only). */
const tokenizerRequests = (server) => server.requests.filter((r) => /^\/tokenizer\.json\.[0-9a-f]{8}\.gz$/.test(r.path));

/**
 * The page with no weights of its own: every /models/ request is answered 404; with
 * `tokenizerMissing`, the app's tokenizer file is too while `tokenizerMissing.value` is true.
 */
const serveWithoutWeights = (tokenizerMissing = { value: false }) =>
  serveApp({
    intercept: (req, res, path) => {
      const missing = path.startsWith('/models/') || (tokenizerMissing.value && path.startsWith('/tokenizer.json.'));
      if (!missing) return false;
      res.writeHead(404);
      res.end();
      return true;
    },
  });

/** Waits until loading the model failed; returns the panel's error text. */
async function waitModelFailed(page) {
  await page.waitForFunction(() => document.querySelector('#model-status')?.dataset.state === 'failed', null, { timeout: 120_000 });
  return page.locator('#model-error').innerText();
}

async function pickFolders(page, { sd, ezigen, clip }) {
  await page.locator('#convert-section > summary').click();
  await page.setInputFiles('#convert-sd', sd);
  await page.setInputFiles('#convert-ezigen', ezigen);
  await page.setInputFiles('#convert-clip', clip);
}

/** The manifest of the model converted in the page, read from its weights cache. */
const storedManifest = (page) =>
  page.evaluate(async () => {
    const cache = await caches.open('ezigen-weights-v1');
    const key = new URL(`__ezigen_weights__/manifest?url=${encodeURIComponent('converted-in-this-browser')}`, location.href).href;
    const res = await cache.match(key);
    return res ? res.json() : null;
  });

test('the page converts the original files, stores them, generates, and loads them again after a reload', { skip: !FULL }, async () => {
  assert.ok(existsSync(CLI), `the native CLI is built (${CLI})`);
  const server = await serveWithoutWeights();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page, logs } = await openApp(context, server.url);
    assert.match(await waitModelFailed(page), /No model/i, 'the site has no weights');

    await pickFolders(page, { sd: TINY, ezigen: join(TINY, 'ezigen/checkpoint'), clip: join(TINY, 'clip') });
    assert.match(await page.locator('#convert-sd-name').innerText(), /^tiny\/ · \d+ files$/);
    const requestsBefore = server.modelRequests().length;
    assert.equal(tokenizerRequests(server).length, 0, 'opening the page does not download the tokenizer');
    const t0 = Date.now();
    await page.click('#convert-start');
    await waitModelReady(page);
    console.log(`convert + load: ${Date.now() - t0} ms`);
    assert.equal(server.modelRequests().length, requestsBefore, 'no weights were fetched');
    assert.equal(tokenizerRequests(server).length, 1, 'the conversion downloaded the tokenizer once');
    assert.match(await page.locator('#model-status').textContent(), /all from browser storage/);
    assert.match(await page.locator('#convert-status').innerText(), /next visit loads it from storage/);

    // The same shards as `ezigen convert` with the page's settings (f16, 64 MiB shards).
    const manifest = await storedManifest(page);
    assert.ok(manifest, 'the converted manifest is stored');
    assert.equal(manifest.tiny, true, 'a test-sized model is marked tiny');
    const out = mkdtempSync(join(tmpdir(), 'ezigen-convert-'));
    try {
      execFileSync(CLI, ['convert', '--tiny', '--out', out, '--shard-mb', '64'], { stdio: 'pipe' });
      const cli = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      assert.deepEqual(Object.keys(manifest.shards).sort(), Object.keys(cli.shards).sort());
      for (const [name, s] of Object.entries(cli.shards)) assert.equal(manifest.shards[name].sha256, s.sha256, `${name} as the CLI writes it`);
      assert.deepEqual(manifest.config, cli.config);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }

    // Generate with it.
    const subject = makePng(96, 96, (x, y) => ((x - 48) ** 2 + (y - 48) ** 2 < 900 ? [150, 90, 40, 255] : [235, 235, 235, 255]));
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    await page.fill('#prompt', 'a dog in police outfit');
    await page.locator('#advanced > summary').click();
    await page.fill('#steps', '2');
    await page.check('#stop-fixed');
    await page.fill('#iterations', '1');
    await page.waitForFunction(() => document.querySelector('#run-reason')?.dataset.ready === 'true', null, { timeout: 60_000 });
    await page.click('#run');
    await page.waitForFunction(
      () => document.querySelectorAll('#history li').length > 0 || !document.querySelector('#run-error').hidden,
      null,
      { timeout: RUN_TIMEOUT },
    );
    assert.equal(await page.locator('#run-error').isVisible(), false, 'the run succeeded');
    await screenshot(page, 'app-convert-generated');

    // A reload loads the converted model from storage, asking the server for nothing.
    await page.reload();
    await waitModelReady(page);
    assert.equal(server.modelRequests().length, requestsBefore, 'no weights were fetched after the reload');
    assert.match(await page.locator('#model-status').textContent(), /all from browser storage/);
    assert.equal(await page.locator('#model-status').getAttribute('data-downloaded'), '0');
    assert.deepEqual(logs.filter((l) => l.startsWith('[pageerror]')), []);
  } finally {
    await close();
    await server.close();
  }
});

test('wrong folders, a .bin-only checkpoint, no tokenizer file: the page says what is wrong, nothing is stored', async () => {
  const tokenizerMissing = { value: true };
  const server = await serveWithoutWeights(tokenizerMissing);
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    await waitModelFailed(page);

    // The right folders, but the app's tokenizer file cannot be downloaded.
    await pickFolders(page, { sd: TINY, ezigen: join(TINY, 'ezigen/checkpoint'), clip: join(TINY, 'clip') });
    await page.click('#convert-start');
    let text = await waitModelFailed(page);
    assert.match(text, /The app's tokenizer file \(tokenizer\.json\.[0-9a-f]{8}\.gz\) could not be downloaded \(HTTP 404\)/, text);
    tokenizerMissing.value = false;

    // The SD folder chosen as the CLIP folder: no config.json there.
    await page.setInputFiles('#convert-clip', join(TINY, 'scheduler'));
    await page.click('#convert-start');
    text = await waitModelFailed(page);
    assert.match(text, /could not be converted/);
    assert.match(text, /config\.json in the CLIP ViT-B\/32 folder not found: is this the CLIP ViT-B\/32 folder\?/, text);
    assert.match(await page.locator('#convert-status').innerText(), /Not converted/);

    // A checkpoint folder holding only pytorch_model.bin: converted by the CLI only.
    await page.setInputFiles('#convert-ezigen', join(TINY, 'ezigen/checkpoint-bin'));
    await page.setInputFiles('#convert-clip', join(TINY, 'clip'));
    await page.click('#convert-start');
    text = await waitModelFailed(page);
    assert.match(text, /pytorch_model\.bin in the EZIGen checkpoint folder is a PyTorch \.bin checkpoint, which only the command-line converter/);

    // The SD UNet's folder chosen as the EZIGen folder: no checkpoint file there.
    await page.setInputFiles('#convert-ezigen', join(TINY, 'unet'));
    await page.click('#convert-start');
    text = await waitModelFailed(page);
    assert.match(text, /the EZIGen checkpoint folder has no weights file \(model\.safetensors or pytorch_model\.bin\): is it the EZIGen checkpoint folder\?/);

    const stored = await page.evaluate(async () => (await (await caches.open('ezigen-weights-v1')).keys()).length);
    assert.equal(stored, 0, 'failed conversions leave nothing in storage');
    await screenshot(page, 'app-convert-refused');
  } finally {
    await close();
    await server.close();
  }
});
