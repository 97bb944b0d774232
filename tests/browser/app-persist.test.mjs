// What survives a reload: the history (each result's image and parameters, in IndexedDB) and
// the form (localStorage, checked against LIMITS when restored); "Clear history" deletes the
// stored entries for good; leaving the page during a run asks first; and without browser
// storage the page works and says that history is not saved.
//
// The first test needs the tiny model in dist/models (set EZIGEN_SKIP_E2E=1 to skip it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, file, fillShortRun, FULL, launch, makePng, openApp, readPng, serveApp, waitModelReady } from './app-helpers.mjs';

const subject = makePng(200, 160, (x, y) => {
  const inside = (x - 100) ** 2 + (y - 80) ** 2 < 60 ** 2;
  return inside ? [150, 90, 40, 255] : [235, 235, 235, 255];
});
const RUN_TIMEOUT = Number(process.env.EZIGEN_RUN_TIMEOUT_MS ?? 600_000);
/** The localStorage key of the saved form (www/src/ui/saved-form.ts). */
const FORM_KEY = 'ezigen-form-v1';

/** Whether leaving the page now would ask first (a cancelable beforeunload gets cancelled). */
const leavingAsks = (page) =>
  page.evaluate(() => {
    const e = new Event('beforeunload', { cancelable: true });
    window.dispatchEvent(e);
    return e.defaultPrevented;
  });

/** A checksum of the result canvas's pixels, with its size. */
const resultPixels = (page) =>
  page.evaluate(() => {
    const c = document.querySelector('#result-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0x811c9dc5;
    for (const b of d) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    return `${c.width}x${c.height}:${h.toString(16)}`;
  });

/** Runs with the form as it is; waits until the result is in the history and stored. */
async function runAndStore(page, whileRunning = async () => {}) {
  await page.waitForFunction(() => document.querySelector('#run-reason')?.dataset.ready === 'true', null, { timeout: 60_000 });
  const before = await page.locator('#history li').count();
  await page.click('#run');
  await page.waitForFunction(() => document.body.dataset.running === 'true' || !document.querySelector('#run-error').hidden);
  await whileRunning();
  await page.waitForFunction(
    (n) => document.querySelectorAll('#history li').length > n || !document.querySelector('#run-error').hidden,
    before,
    { timeout: RUN_TIMEOUT },
  );
  if (await page.locator('#run-error').isVisible()) throw new Error(`run failed: ${await page.locator('#run-error').innerText()}`);
  await page.waitForFunction(() => document.querySelector('#history li button')?.dataset.saved === 'true', null, { timeout: 30_000 });
}

/** The form as the page shows it. */
const formValues = (page) =>
  page.evaluate(() => {
    const v = (id) => document.getElementById(id).value;
    const on = (id) => document.getElementById(id).checked;
    return {
      mode: on('mode-edit') ? 'edit' : 'generate',
      prompt: v('prompt'),
      subjectPrompt: v('subject-prompt'),
      seed: v('seed'),
      steps: v('steps'),
      guidance: v('guidance'),
      editGuidance: v('edit-guidance'),
      split: v('split'),
      stopFixed: on('stop-fixed'),
      simThreshold: v('sim-threshold'),
      iterations: v('iterations'),
      iterationsDisabled: document.getElementById('iterations').disabled,
      composite: on('composite'),
    };
  });

const historyEntries = (page) =>
  page.locator('#history li button').evaluateAll((bs) =>
    bs.map((b) => ({ caption: b.querySelector('span').textContent, prompt: b.title, saved: b.dataset.saved })),
  );

test('history and form survive a reload; "Clear history" empties it for good; leaving during a run asks first', { skip: !FULL }, async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page } = await openApp(context, server.url);
    await waitModelReady(page);
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    await fillShortRun(page, { prompt: 'a dog in police outfit', seed: 11 });
    assert.equal(await leavingAsks(page), false, 'no warning before a run');
    let t0 = Date.now();
    await runAndStore(page, async () => assert.equal(await leavingAsks(page), true, 'leaving during a run asks first'));
    console.log(`first generate: ${Date.now() - t0} ms`);
    assert.equal(await leavingAsks(page), false, 'no warning once the run is done');
    const first = await resultPixels(page);

    await page.fill('#prompt', 'a dog on the moon');
    await page.fill('#seed', '22');
    t0 = Date.now();
    await runAndStore(page);
    console.log(`second generate: ${Date.now() - t0} ms`);
    assert.notEqual(await resultPixels(page), first);

    // Settings that differ from both runs and from the defaults.
    await page.check('#mode-edit');
    await page.fill('#prompt', 'a toy on the sofa');
    await page.fill('#subject-prompt', 'a toy');
    await page.fill('#seed', '33');
    await page.fill('#steps', '7');
    await page.fill('#edit-guidance', '3.5');
    await page.fill('#split', '0.55');
    await page.check('#stop-auto');
    await page.fill('#sim-threshold', '0.95');
    await page.check('#composite');
    const form = await formValues(page);

    await page.reload();
    await page.waitForFunction(() => document.querySelector('#history')?.dataset.restored !== undefined, null, { timeout: 60_000 });
    assert.deepEqual(await formValues(page), form, 'the form is as it was');
    assert.deepEqual(form, {
      mode: 'edit',
      prompt: 'a toy on the sofa',
      subjectPrompt: 'a toy',
      seed: '33',
      steps: '7',
      guidance: '7.5',
      editGuidance: '3.5',
      split: '0.55',
      stopFixed: false,
      simThreshold: '0.95',
      iterations: '1',
      iterationsDisabled: true,
      composite: true,
    });
    assert.equal(await page.locator('#source-section').isVisible(), true, 'edit mode is shown, not just checked');
    assert.deepEqual(await historyEntries(page), [
      { caption: 'Generate · “a dog on the moon” · seed 22', prompt: 'a dog on the moon', saved: 'true' },
      { caption: 'Generate · “a dog in police outfit” · seed 11', prompt: 'a dog in police outfit', saved: 'true' },
    ]);
    assert.match(await page.locator('#history-section').innerText(), /newest 20 results/);
    assert.equal(await page.locator('#history-note').isVisible(), false, 'storage works: no note');

    // Selecting a stored entry restores it exactly like one of this visit.
    await page.click('#history li:nth-child(2) button');
    assert.equal(await page.locator('#history li:nth-child(2) button').getAttribute('aria-current'), 'true');
    assert.equal(await resultPixels(page), first, 'the same pixels as before the reload');
    assert.match(await page.locator('#result-caption').textContent(), /seed 11 · split 0\.4 · .*tiny test model \(noise\)/);
    const restored = await formValues(page);
    assert.deepEqual(
      { mode: restored.mode, prompt: restored.prompt, subjectPrompt: restored.subjectPrompt, seed: restored.seed, steps: restored.steps, stopFixed: restored.stopFixed, iterations: restored.iterations },
      { mode: 'generate', prompt: 'a dog in police outfit', subjectPrompt: 'a dog', seed: '11', steps: '2', stopFixed: true, iterations: '1' },
    );
    assert.equal(await page.locator('#source-section').isVisible(), false);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.equal(download.suggestedFilename(), 'ezigen_seed11_split0.4_a-dog-in-police-outfit.png');
    const path = join(ARTIFACTS, 'app-persist-download.png');
    await download.saveAs(path);
    const meta = JSON.parse(readPng(readFileSync(path)).text.parameters);
    assert.equal(meta.seed, 11);
    assert.equal(meta.prompt, 'a dog in police outfit');

    // Clear history, after a confirmation.
    const dialog = new Promise((ok) =>
      page.once('dialog', async (d) => {
        ok(d.type());
        await d.accept();
      }),
    );
    await page.click('#history-clear');
    assert.equal(await dialog, 'confirm');
    assert.equal(await page.locator('#history li').count(), 0);
    assert.equal(await page.locator('#history-section').isVisible(), false);

    // A stored value outside LIMITS (or of the wrong type) falls back to its default.
    await page.addInitScript((key) => {
      const f = JSON.parse(localStorage.getItem(key));
      localStorage.setItem(key, JSON.stringify({ ...f, steps: 5000, guidance: 'lots' }));
    }, FORM_KEY);
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#history')?.dataset.restored !== undefined, null, { timeout: 60_000 });
    assert.equal(await page.locator('#history li').count(), 0, 'the cleared history stays empty');
    const after = await formValues(page);
    assert.equal(after.steps, '50', 'steps outside LIMITS → default');
    assert.equal(after.guidance, '7.5', 'a guidance of the wrong type → default');
    assert.equal(after.seed, '11', 'valid values are kept');
    assert.equal(after.prompt, 'a dog in police outfit');
  } finally {
    await close();
    await server.close();
  }
});

test('without browser storage the page works and says that history is not saved', async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    await context.addInitScript(() => {
      for (const name of ['indexedDB', 'localStorage']) {
        Object.defineProperty(window, name, {
          get() {
            throw new DOMException(`${name} is blocked in this test`, 'SecurityError');
          },
        });
      }
    });
    const { page, logs } = await openApp(context, server.url);
    await page.waitForFunction(() => document.querySelector('#history')?.dataset.restored !== undefined, null, { timeout: 60_000 });
    assert.match(await page.locator('#history-note').textContent(), /History is not saved in this browser \(indexedDB is blocked in this test\)/);
    assert.equal(await page.evaluate(() => document.querySelector('#history-note').hidden), false, 'shown once the history has an entry');
    assert.equal((await formValues(page)).steps, '50', 'the form starts with the defaults');
    await page.fill('#prompt', 'a dog');
    await page.locator('#advanced > summary').click();
    await page.fill('#steps', '7');
    await page.waitForTimeout(500); // past the form's save delay: the failed save must pass silently
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#app-error').isVisible(), false, `no error: ${logs.join('\n')}`);
    assert.deepEqual(logs.filter((l) => l.startsWith('[pageerror]')), []);
  } finally {
    await close();
    await server.close();
  }
});
