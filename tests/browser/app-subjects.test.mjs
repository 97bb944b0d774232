// Several photos of one subject and runs of several variations: photos are added (several at
// once), removed and moved up or down with the keyboard, each keeps its own background mask, a
// 5th is refused and an unreadable one is named; "Generate 2" makes two variations with seeds s
// and s + 1 (the second reuses the subject's features), each in a tile of its own that shows it
// large and downloads it, and each in the history, from where it is restored; cancelling a run
// of 4 during its second variation skips the rest and keeps the first.
//
// The run needs the tiny model in dist/models (set EZIGEN_SKIP_E2E=1 to skip it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, FULL, file, fillShortRun, launch, makePng, maskState, openApp, paint, readPng, screenshot, serveApp, waitModelReady } from './app-helpers.mjs';

const RUN_TIMEOUT = Number(process.env.EZIGEN_RUN_TIMEOUT_MS ?? 600_000);

/** A brown disc on grey, the disc shifted by `dx` (photos of "the same subject"). */
const dog = (dx) =>
  makePng(200, 160, (x, y) => ((x - 100 - dx) ** 2 + (y - 80) ** 2 < 55 ** 2 ? [150, 90, 40, 255] : [235, 235, 235, 255]));

/** The names of the photos in the list, in order. */
const names = (page) => page.locator('#subject-list li').evaluateAll((lis) => lis.map((li) => li.dataset.name));

/** A checksum of a canvas's pixels, with its size. */
const pixels = (page, selector) =>
  page.evaluate((selector) => {
    const c = document.querySelector(selector);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0x811c9dc5;
    for (const b of d) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    return `${c.width}x${c.height}:${h.toString(16)}`;
  }, selector);

test('several subject photos: add, remove, reorder, refuse a 5th; 2 variations in tiles and the history', { skip: !FULL }, async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page, logs } = await openApp(context, server.url);
    assert.match(await page.locator('#subject-note').textContent(), /the same subject/);

    // Three photos at once, in the order chosen; the last one is shown.
    await page.setInputFiles('#subject-file', [file('a.png', dog(0)), file('b.png', dog(10)), file('c.png', dog(-10))]);
    await page.locator('#subject-list li').nth(2).waitFor();
    assert.deepEqual(await names(page), ['a.png', 'b.png', 'c.png']);
    assert.equal(await page.locator('#subject-count').textContent(), '3 of 4 photos');
    assert.match(await page.locator('#subject-meta').textContent(), /^Photo 3 · c\.png · 200 × 160 px$/);
    assert.equal(await page.locator('#subject-drop').isVisible(), false);
    assert.equal(await page.locator('#subject-add').isVisible(), true);

    // Remove the second with its own button: the focus stays in the list.
    await page.click('#subject-list li:nth-child(2) button[data-action="remove"]');
    assert.deepEqual(await names(page), ['a.png', 'c.png']);
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('subject-pick')), true);

    // Move c.png up with the keyboard: at the top its "up" is disabled, so the focus goes to "down".
    await page.focus('#subject-list li:nth-child(2) button[data-action="up"]');
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Move photo 2 up');
    await page.keyboard.press('Enter');
    assert.deepEqual(await names(page), ['c.png', 'a.png']);
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Move photo 1 down');
    assert.match(await page.locator('#subject-status').textContent(), /Photo moved to place 1 of 2/);
    await page.keyboard.press('Enter');
    assert.deepEqual(await names(page), ['a.png', 'c.png'], 'and back down');
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Move photo 2 up');
    // The buttons are reached with Tab from the photo's entry.
    await page.focus('#subject-list li:nth-child(2) .subject-pick');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Move photo 2 up');
    await page.keyboard.press('Space');
    assert.deepEqual(await names(page), ['c.png', 'a.png']);

    // Each photo keeps its own background: paint the subject on photo 1, keep photo 2 whole.
    await page.click('#subject-list li:nth-child(1) .subject-pick');
    assert.match(await page.locator('#subject-meta').textContent(), /^Photo 1 · c\.png/);
    await page.selectOption('#subject-bg', 'paint');
    await page.locator('#smask-toolbar-host .mask-toolbar').waitFor({ state: 'visible' });
    await paint(page, '#subject-host', [[0.3, 0.5], [0.7, 0.5]]);
    const painted = (await maskState(page, '#subject-host')).painted;
    assert.ok(painted > 0);
    await page.click('#subject-list li:nth-child(2) .subject-pick');
    assert.equal(await page.locator('#subject-bg').inputValue(), 'keep');
    assert.equal(await page.locator('#smask-toolbar-host .mask-toolbar').isVisible(), false);
    await page.click('#subject-list li:nth-child(1) .subject-pick');
    assert.equal(await page.locator('#subject-bg').inputValue(), 'paint');
    assert.equal((await maskState(page, '#subject-host')).painted, painted, 'the mask of photo 1 is kept');
    assert.match(await page.locator('#subject-list li:nth-child(1)').innerText(), /subject painted/);

    // An unreadable photo is named by its place; the list is unchanged.
    await page.setInputFiles('#subject-file', file('notes.png', Buffer.from('not an image\n'.repeat(20))));
    await page.locator('#subject-error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#subject-error').textContent(), /^Photo 3 could not be read: notes\.png: not a PNG, JPEG or WebP/);
    assert.deepEqual(await names(page), ['c.png', 'a.png']);

    // Up to 4: a 5th is refused next to the input.
    await page.setInputFiles('#subject-file', [file('b.png', dog(10)), file('d.png', dog(5))]);
    await page.locator('#subject-list li').nth(3).waitFor();
    assert.equal(await page.locator('#subject-error').isVisible(), false, 'a good file clears the message');
    assert.equal(await page.locator('#subject-add').isVisible(), false, 'no "Add" at 4 photos');
    await page.setInputFiles('#subject-file', file('e.png', dog(-5)));
    await page.locator('#subject-error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#subject-error').textContent(), /^At most 4 photos of the subject can be used: e\.png was not added/);
    assert.deepEqual(await names(page), ['c.png', 'a.png', 'b.png', 'd.png']);
    await screenshot(page, 'app-subjects-list');
    await page.click('#subject-list li:nth-child(4) button[data-action="remove"]');
    assert.deepEqual(await names(page), ['c.png', 'a.png', 'b.png']);

    // Two variations with the tiny model.
    await waitModelReady(page);
    await fillShortRun(page);
    await page.selectOption('#variations', '2');
    assert.equal(await page.locator('#run').textContent(), 'Generate 2');
    await page.waitForFunction(() => document.querySelector('#run-reason')?.dataset.ready === 'true', null, { timeout: 60_000 });
    // Record what the progress shows: which variation, and the "subject reused" badge.
    await page.evaluate(() => {
      window.seen = new Set();
      const note = () => {
        const v = document.querySelector('#run-variation').textContent;
        if (v) window.seen.add(v);
        if (!document.querySelector('#run-subject').hidden) window.seen.add(`${v} | ${document.querySelector('#run-subject').textContent}`);
        const b = document.querySelector('#run').textContent;
        if (b.startsWith('Generating')) window.seen.add(b);
      };
      new MutationObserver(note).observe(document.querySelector('#outputs'), { subtree: true, childList: true, characterData: true, attributes: true });
    });
    const t0 = Date.now();
    await page.click('#run');
    await page.waitForFunction(
      () => document.querySelectorAll('#result-grid li[data-state="done"]').length === 2 || !document.querySelector('#run-error').hidden,
      null,
      { timeout: RUN_TIMEOUT },
    );
    if (await page.locator('#run-error').isVisible()) throw new Error(`run failed: ${await page.locator('#run-error').innerText()}\n${logs.join('\n')}`);
    console.log(`2 variations: ${Date.now() - t0} ms`);
    await page.waitForFunction(() => document.body.dataset.running === undefined);
    assert.equal(await page.locator('#variations-section').isVisible(), true);
    const tiles = await page.locator('#result-grid li').evaluateAll((lis) => lis.map((li) => ({ ...li.dataset })));
    assert.deepEqual(
      tiles.map((t) => [t.variation, t.seed, t.state, t.subjectReused]),
      [
        ['0', '40', 'done', 'false'],
        ['1', '41', 'done', 'true'],
      ],
      'seeds s and s + 1; the second reused the subject',
    );
    assert.equal(await page.locator('#run-panel').getAttribute('data-subject-reused'), '2', "variation 2's progress had 'subject-reused'");
    const seen = await page.evaluate(() => [...window.seen]);
    assert.ok(seen.includes('Variation 1 of 2 · seed 40'), seen.join(' / '));
    assert.ok(seen.includes('Variation 2 of 2 · seed 41 | Subject ready (reused)'), seen.join(' / '));
    assert.ok(!seen.some((s) => s.startsWith('Variation 1') && s.includes('reused')), 'variation 1 read the subject');
    assert.ok(seen.includes('Generating 2 of 2…'), seen.join(' / '));
    const p1 = await pixels(page, '#result-grid li:nth-child(1) canvas');
    const p2 = await pixels(page, '#result-grid li:nth-child(2) canvas');
    assert.notEqual(p1, p2, 'different seeds, different pixels');
    assert.equal(await pixels(page, '#result-canvas'), p2, 'the latest variation is shown large');
    assert.match(await page.locator('#result-caption').textContent(), /seed 41 · .*3 subject photos/);
    assert.equal(await page.locator('#run').textContent(), 'Generate 2');

    // A tile shows its variation large; its link downloads its PNG.
    await page.click('#result-grid li:nth-child(1) .variation-pick');
    assert.equal(await pixels(page, '#result-canvas'), p1);
    assert.equal(await page.locator('#result-grid li:nth-child(1)').getAttribute('aria-current'), 'true');
    assert.equal(await page.inputValue('#seed'), '40');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#result-grid li:nth-child(1) a[download]')]);
    assert.equal(download.suggestedFilename(), 'ezigen_seed40_split0.4_a-dog-on-the-beach.png');
    const path = join(ARTIFACTS, 'app-subjects-variation.png');
    await download.saveAs(path);
    const meta = JSON.parse(readPng(readFileSync(path)).text.parameters);
    assert.deepEqual([meta.seed, meta.subjectPhotos, meta.variation, meta.variations], [40, 3, 1, 2]);
    await screenshot(page, 'app-subjects-variations');

    // Both are in the history, newest first; one is restored from there.
    await page.waitForFunction(() => [...document.querySelectorAll('#history li button')].filter((b) => b.dataset.saved === 'true').length === 2, null, { timeout: 30_000 });
    const captions = await page.locator('#history li button span').allTextContents();
    assert.deepEqual(captions, ['Generate · “a dog on the beach” · seed 41', 'Generate · “a dog on the beach” · seed 40']);
    await page.fill('#seed', '7');
    await page.fill('#prompt', 'something else');
    await page.click('#history li:nth-child(1) button');
    assert.equal(await page.inputValue('#seed'), '41');
    assert.equal(await page.inputValue('#prompt'), 'a dog on the beach');
    assert.equal(await pixels(page, '#result-canvas'), p2);
    assert.equal(await page.locator('#result-grid li:nth-child(2)').getAttribute('aria-current'), 'true');

    // Cancel during the second of 4 variations: the rest are not made, the first is kept. The
    // subject is the same as in the last run, so even the first variation reuses its features.
    await page.selectOption('#variations', '4');
    assert.equal(await page.locator('#run').textContent(), 'Generate 4');
    await page.waitForFunction(() => document.querySelector('#run-reason')?.dataset.ready === 'true');
    await page.click('#run');
    await page.waitForFunction(() => document.querySelector('#result-grid li:nth-child(1)')?.dataset.state === 'done', null, { timeout: RUN_TIMEOUT });
    await page.click('#cancel');
    await page.locator('#run-error').waitFor({ state: 'visible', timeout: RUN_TIMEOUT });
    assert.match(await page.locator('#run-error-title').textContent(), /^Cancelled variation 2 of 4 (before|while)/);
    assert.match(await page.locator('#run-error-text').textContent(), /^The finished variation is kept in the history\./);
    const states = await page.locator('#result-grid li').evaluateAll((lis) => lis.map((li) => [li.dataset.seed, li.dataset.state]));
    assert.deepEqual(states, [['41', 'done'], ['42', 'skipped'], ['43', 'skipped'], ['44', 'skipped']]);
    assert.equal(await page.locator('#result-grid li:nth-child(1)').getAttribute('data-subject-reused'), 'true', 'reused from the last run');
    assert.match(await page.locator('#result-grid li:nth-child(3)').innerText(), /Not made \(cancelled\)/);
    assert.equal(await page.locator('#history li').count(), 3);
    await page.selectOption('#variations', '2');

    // After a reload the stored entries restore the same pixels; the variation count is kept.
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#history')?.dataset.restored === '3', null, { timeout: 60_000 });
    assert.equal(await page.inputValue('#variations'), '2');
    await page.click('#history li:nth-child(3) button');
    assert.equal(await page.inputValue('#seed'), '40');
    assert.equal(await pixels(page, '#result-canvas'), p1);
    assert.deepEqual(logs.filter((l) => l.startsWith('[pageerror]')), []);
  } finally {
    await close();
    await server.close();
  }
});
