// The app's UI flows that work without a loaded model: mode switch, image inputs (file picker,
// drag-and-drop, paste), bad files, mask painting with real mouse events and its tools, brush
// shortcuts, the narrow layout, keyboard order, error reporting and same-origin-only traffic.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  dropFile,
  file,
  launch,
  makeHugePngHeader,
  makePng,
  maskState,
  openApp,
  paint,
  pasteFile,
  screenshot,
  serveApp,
  waitModelReady,
  waitSelfTestDone,
} from './app-helpers.mjs';

let server;
let browser;
before(async () => {
  server = await serveApp();
  browser = await launch({ webgpu: true });
  // One complete first visit, so that every test below opens the page as a returning visitor: a
  // page closed while its GPU self-test runs never remembers the result, and each later page
  // would run it again (compiling its kernels in the GPU process beside the test's own work).
  const { page } = await openApp(browser.context, server.url);
  await waitSelfTestDone(page, 300_000);
  await waitModelReady(page);
  await page.close();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const photo = makePng(400, 300, (x, y) => [40 + (x * 180) / 400, 90 + (y * 120) / 300, 200 - (x * 100) / 400, 255]);
const subject = makePng(320, 240, (x, y) => [200, 150 + ((x + y) % 50), 90, 255]);

async function editModeWithPhoto(page) {
  await page.check('#mode-edit');
  await page.setInputFiles('#source-file', file('photo.png', photo));
  await page.locator('#source-editor').waitFor({ state: 'visible' });
}

test('mode switch: edit shows the photo and mask inputs and renames the button', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    assert.equal(await page.locator('#source-section').isVisible(), false);
    assert.equal(await page.locator('#run').textContent(), 'Generate');
    await screenshot(page, 'app-generate-empty');
    await page.check('#mode-edit');
    assert.equal(await page.locator('#source-section').isVisible(), true);
    assert.equal(await page.locator('#run').textContent(), 'Edit');
    const hidden = (id) => page.evaluate((id) => document.getElementById(id).closest('[data-mode]').hidden, id);
    assert.equal(await hidden('guidance'), true, 'generate guidance hidden in edit mode');
    assert.equal(await hidden('edit-guidance'), false);
    await page.check('#mode-generate');
    assert.equal(await page.locator('#source-section').isVisible(), false);
    assert.equal(await page.locator('#run').textContent(), 'Generate');
    assert.equal(await hidden('guidance'), false);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForTimeout(400); // let colour transitions finish
    await screenshot(page, 'app-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  } finally {
    await page.close();
  }
});

test('image inputs: file picker, drag-and-drop and paste', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    assert.match(await page.locator('#subject-meta').textContent(), /dog\.png · 320 × 240 px/);
    assert.equal(await page.locator('#subject-drop').isVisible(), false);

    await page.check('#mode-edit');
    await dropFile(page, '#source-drop', 'photo.png', photo);
    await page.locator('#source-editor').waitFor({ state: 'visible' });
    assert.match(await page.locator('#source-meta').textContent(), /400 × 300 px/);
    const overlay = await page.evaluate(() => {
      const c = document.querySelector('#mask-host .mask-overlay');
      return [c.width, c.height];
    });
    assert.deepEqual(overlay, [400, 300], 'the mask has the photo’s own resolution');

    // Paste: with the photo present, a pasted image becomes the subject.
    await page.click('#subject-remove');
    await page.locator('#subject-drop').waitFor({ state: 'visible' });
    await pasteFile(page, 'clip.png', makePng(50, 70));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    assert.match(await page.locator('#subject-meta').textContent(), /50 × 70 px/);
  } finally {
    await page.close();
  }
});

/** `jpeg` with an EXIF APP1 segment after SOI carrying `orientation` (tag 0x0112, little-endian TIFF). */
function withExifOrientation(jpeg, orientation) {
  const tiff = Buffer.from([0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0, 0, 0, 0, 0]);
  const app1 = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const len = app1.length + 2;
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe1, len >> 8, len & 255]), app1, jpeg.subarray(2)]);
}

test('a phone photo is decoded by the core: upright by its EXIF orientation, in a decoder worker of its own', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    // A 40×30 JPEG made by the browser's own encoder, stored sideways (orientation 6).
    const jpeg = Buffer.from(
      await page.evaluate(async () => {
        const c = new OffscreenCanvas(40, 30);
        const g = c.getContext('2d');
        g.fillStyle = '#c08040';
        g.fillRect(0, 0, 40, 30);
        return [...new Uint8Array(await (await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 })).arrayBuffer())];
      }),
    );
    const workers = [];
    page.on('worker', (w) => workers.push(w.url()));
    await page.setInputFiles('#subject-file', file('phone.jpg', withExifOrientation(jpeg, 6), 'image/jpeg'));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    assert.match(await page.locator('#subject-meta').textContent(), /phone\.jpg · 30 × 40 px/, 'turned upright: 30 wide, 40 high');
    assert.equal(workers.length, 1, `one decoder worker started for the file (${workers.join(', ')})`);
    // The same bytes without the EXIF block keep the stored size.
    await page.click('#subject-remove');
    await page.setInputFiles('#subject-file', file('plain.jpg', jpeg, 'image/jpeg'));
    await page.locator('#subject-meta').filter({ hasText: 'plain.jpg · 40 × 30 px' }).waitFor();
  } finally {
    await page.close();
  }
});

test('bad files get a clear message next to the input and the page stays usable', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    const err = page.locator('#subject-error');
    await page.setInputFiles('#subject-file', file('notes.png', Buffer.from('just some text, not an image\n'.repeat(20))));
    await err.waitFor({ state: 'visible' });
    assert.match(await err.textContent(), /not a PNG, JPEG or WebP/);

    const good = makePng(64, 64);
    await page.setInputFiles('#subject-file', file('broken.png', good.subarray(0, Math.floor(good.length * 0.6))));
    await page.waitForFunction(() => /damaged|incomplete/.test(document.querySelector('#subject-error').textContent));

    await page.setInputFiles('#subject-file', file('huge.png', makeHugePngHeader(9000, 64)));
    await page.waitForFunction(() => /8192/.test(document.querySelector('#subject-error').textContent));
    assert.match(await err.textContent(), /: huge\.png: the image is 9000×64 pixels; the largest accepted side is 8192/);
    await screenshot(page, 'app-bad-file');

    await page.check('#mode-edit');
    await dropFile(page, '#source-drop', 'readme.jpg', Buffer.from('hello'), 'image/jpeg');
    await page.locator('#source-error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#source-error').textContent(), /not a PNG, JPEG or WebP/);

    // Still usable: good files load and clear the messages.
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    assert.equal(await err.isVisible(), false);
    await page.setInputFiles('#source-file', file('photo.png', photo));
    await page.locator('#source-editor').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#source-error').isVisible(), false);
    assert.equal(await page.locator('#app-error').isVisible(), false, 'no global error');
  } finally {
    await page.close();
  }
});

test('mask painting with real mouse events; undo, redo, invert, clear, eraser, line', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    await editModeWithPhoto(page);
    const host = '#mask-host';
    assert.equal((await maskState(page, host)).painted, 0);

    await paint(page, host, [[0.2, 0.5], [0.5, 0.45], [0.8, 0.5]]);
    const s1 = await maskState(page, host);
    assert.ok(s1.painted > 1000, `a stroke paints pixels (${s1.painted})`);
    assert.equal(s1.shown, s1.painted, 'the overlay shows exactly the mask');
    await screenshot(page, 'app-edit-mask');

    await page.click('#mask-undo');
    assert.equal((await maskState(page, host)).painted, 0, 'undo');
    await page.click('#mask-redo');
    assert.equal((await maskState(page, host)).painted, s1.painted, 'redo');
    await page.keyboard.press('Control+z');
    assert.equal((await maskState(page, host)).painted, 0, 'Ctrl+Z');
    await page.keyboard.press('Control+Shift+z');
    assert.equal((await maskState(page, host)).painted, s1.painted, 'Ctrl+Shift+Z');

    await page.click('#mask-invert');
    const inv = await maskState(page, host);
    assert.equal(inv.painted, inv.total - s1.painted, 'invert');
    assert.equal(inv.shown, inv.painted);
    await page.click('#mask-invert');
    assert.equal((await maskState(page, host)).painted, s1.painted);

    await page.check('#mask-eraser');
    await paint(page, host, [[0.45, 0.3], [0.45, 0.7]]);
    const erased = (await maskState(page, host)).painted;
    assert.ok(erased < s1.painted && erased > 0, `the eraser removes part of the stroke (${erased} < ${s1.painted})`);
    await page.check('#mask-brush');

    await page.click('#mask-clear');
    assert.equal((await maskState(page, host)).painted, 0, 'clear');
    await page.click('#mask-undo');
    assert.equal((await maskState(page, host)).painted, erased, 'clear is undoable');

    // Shift+click draws a straight line from the last point.
    await page.click('#mask-clear');
    await paint(page, host, [[0.1, 0.1]]);
    const dot = (await maskState(page, host)).painted;
    await paint(page, host, [[0.9, 0.9]], { shift: true });
    assert.ok((await maskState(page, host)).painted > dot * 4, 'Shift+click draws a line');
  } finally {
    await page.close();
  }
});

test('brush size: slider, [ and ] shortcuts, overlay opacity', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    await editModeWithPhoto(page);
    const size = async () => (await maskState(page, '#mask-host')).size;
    const s0 = await size();
    await page.focus('#mask-undo');
    await page.keyboard.press(']');
    const s1 = await size();
    assert.ok(s1 > s0, `] grows the brush (${s0} → ${s1})`);
    assert.equal(await page.locator('#mask-size-value').textContent(), `${s1} px`);
    await page.keyboard.press('[');
    await page.keyboard.press('[');
    assert.ok((await size()) < s0, '[ shrinks the brush');
    // Shortcuts do not fire while typing in a text field.
    await page.fill('#prompt', 'a [dog]');
    assert.equal(await page.locator('#prompt').inputValue(), 'a [dog]');
    await page.locator('#mask-size').fill('100');
    assert.equal(await size(), 100);
    const small = await (async () => {
      await paint(page, '#mask-host', [[0.5, 0.5]]);
      return (await maskState(page, '#mask-host')).painted;
    })();
    assert.ok(small > 0);
    await page.locator('#mask-opacity').fill('30');
    assert.equal(await page.evaluate(() => document.querySelector('#mask-host .mask-overlay').style.opacity), '0.3');
  } finally {
    await page.close();
  }
});

test('uploading a mask of another size resizes it (nearest) and says so', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    await editModeWithPhoto(page);
    // 200×150, left half white: at 400×300 that is exactly 200×300 painted pixels.
    const mask = makePng(200, 150, (x) => (x < 100 ? [255, 255, 255, 255] : [0, 0, 0, 255]));
    await page.setInputFiles('#mask-upload', file('mask.png', mask));
    await page.locator('#mask-note').waitFor({ state: 'visible' });
    assert.match(await page.locator('#mask-note').textContent(), /200 × 150.*resized.*400 × 300/);
    assert.equal(await page.locator('#mask-note').getAttribute('class'), 'note', 'the same shape: a note, not a warning');
    assert.equal((await maskState(page, '#mask-host')).painted, 200 * 300);
    await page.click('#mask-undo');
    assert.equal((await maskState(page, '#mask-host')).painted, 0, 'an uploaded mask is undoable');
  } finally {
    await page.close();
  }
});

test('a mask of another shape than the photo is stretched to it, with a warning', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    await editModeWithPhoto(page);
    await page.setInputFiles('#mask-upload', file('mask.png', makePng(200, 100, () => [255, 255, 255, 255])));
    await page.locator('#mask-note.warn').waitFor({ state: 'visible' });
    assert.match(
      await page.locator('#mask-note').textContent(),
      /^The mask \(200 × 100 px\) has another shape than the photo \(400 × 300 px\): it was stretched to fit/,
    );
    assert.equal((await maskState(page, '#mask-host')).painted, 400 * 300, 'still used, resized to the photo');
  } finally {
    await page.close();
  }
});

test('a tiny subject is accepted with a warning that goes away with a larger one', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    const warning = page.locator('#subject-warning');
    await page.setInputFiles('#subject-file', file('dot.png', makePng(1, 1)));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    await warning.waitFor({ state: 'visible' });
    assert.match(await warning.textContent(), /^This subject is only 1 × 1 px; results will be poor — use a larger photo/);
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.waitForFunction(() => document.querySelector('#subject-warning').hidden);
    await page.setInputFiles('#subject-file', file('strip.png', makePng(120, 40)));
    await warning.waitFor({ state: 'visible' });
    assert.match(await warning.textContent(), /^Photo 3 is only 120 × 40 px/, 'with several photos it names the shown one');
    await page.click('#subject-remove');
    assert.equal(await warning.isVisible(), false, 'photo 2 (large) is shown now: no warning');
    await page.click('#subject-list li:nth-child(1) .subject-pick');
    assert.match(await warning.textContent(), /^Photo 1 is only 1 × 1 px/);
    await page.click('#subject-remove');
    await page.click('#subject-remove');
    await page.locator('#subject-drop').waitFor({ state: 'visible' });
    assert.equal(await warning.isVisible(), false, 'no subject, no warning');
  } finally {
    await page.close();
  }
});

test('form guidance: the placeholder is an example; a wrong number marks its field until it is fixed', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    const prompt = page.locator('#prompt');
    assert.equal(await prompt.getAttribute('placeholder'), 'e.g. “a dog in police outfit”');
    assert.equal(await prompt.evaluate((el) => getComputedStyle(el, '::placeholder').fontStyle), 'italic');

    await page.check('#mode-generate'); // the form of an earlier test may have been kept
    const reason = page.locator('#run-reason');
    const invalid = (id) => page.locator(`#${id}`).getAttribute('aria-invalid');
    const border = (id) => page.locator(`#${id}`).evaluate((el) => getComputedStyle(el).borderTopColor);
    const normal = await border('seed');
    await page.fill('#seed', '-5');
    assert.equal(await invalid('seed'), 'true');
    assert.equal(await page.locator('#seed').getAttribute('aria-errormessage'), 'run-reason');
    assert.notEqual(await border('seed'), normal, 'drawn as invalid');
    assert.match(await reason.textContent(), /^The seed must be a whole number from 0 to \d+\.$/);
    await page.fill('#seed', '12');
    assert.equal(await invalid('seed'), null, 'fixed: unmarked');
    assert.equal(await border('seed'), normal);
    assert.doesNotMatch(await reason.textContent(), /seed/);

    // Collapsed under "Advanced settings": the message says where; Run opens it and focuses it.
    await page.locator('#advanced > summary').click();
    await page.fill('#steps', '5000');
    await page.locator('#advanced > summary').click();
    assert.equal(await invalid('steps'), 'true');
    // <details> fires "toggle" as a queued task, after click() returns: wait for the message.
    await page.waitForFunction(() => document.querySelector('#run-reason').textContent.endsWith('(It is under “Advanced settings”.)'), null, { timeout: 5_000 });
    assert.equal(await reason.textContent(), 'Steps must be a whole number from 1 to 1000. (It is under “Advanced settings”.)');
    await page.click('#run', { force: true }); // aria-disabled, but it still points at the field
    assert.equal(await page.locator('#advanced').getAttribute('open'), '');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'steps');
    assert.equal(await reason.textContent(), 'Steps must be a whole number from 1 to 1000.');

    // Not a number at all; and a field of the other mode is unmarked when it no longer counts.
    await page.fill('#steps', '20');
    await page.fill('#split', '');
    await page.locator('#split').pressSequentially('e');
    assert.equal(await invalid('split'), 'true');
    assert.match(await reason.textContent(), /^The split ratio (is not a number|must be)/);
    await page.fill('#split', '0.4');
    await page.fill('#guidance', '99');
    assert.equal(await invalid('guidance'), 'true');
    await page.check('#mode-edit');
    assert.equal(await invalid('guidance'), null, 'the generate guidance does not count in edit mode');
    assert.doesNotMatch(await reason.textContent(), /guidance/);
    await page.check('#mode-generate');
    assert.equal(await invalid('guidance'), 'true');
    await page.fill('#guidance', '7.5');
    assert.equal(await invalid('guidance'), null);
    await page.click('#reset-params');
  } finally {
    await page.close();
  }
});

test('numeric fields take their ranges and defaults from the contract; the speed preset sets sampler and steps', async () => {
  const text = readFileSync(join(ROOT, 'www/src/generated/contract.ts'), 'utf8');
  const constant = (name) => JSON.parse(new RegExp(`export const ${name}: [^=]+ = (.+);`).exec(text)[1]);
  const [limits, defaults, presets] = [constant('LIMITS'), constant('DEFAULT_OPTIONS'), constant('PRESETS')];
  const { page } = await openApp(browser.context, server.url);
  try {
    await page.check('#mode-generate');
    await page.locator('#advanced > summary').click();
    await page.click('#reset-params');
    const fields = [['seed', 'seed'], ['steps', 'steps'], ['guidance', 'guidance'], ['edit-guidance', 'editGuidance'], ['split', 'splitRatio'], ['sim-threshold', 'simThreshold'], ['iterations', 'iterations']];
    for (const [id, key] of fields) {
      const el = page.locator(`#${id}`);
      assert.equal(await el.getAttribute('min'), String(limits[key].min), `#${id} min`);
      assert.equal(await el.getAttribute('max'), String(limits[key].max), `#${id} max`);
      if (typeof defaults[key] === 'number') assert.equal(await el.inputValue(), String(defaults[key]), `#${id} default`);
    }
    // The presets, in the contract's order, then "custom" (hidden while a preset matches).
    const options = await page.locator('#preset option').evaluateAll((os) => os.map((o) => [o.value, o.hidden]));
    assert.deepEqual(options, [...presets.map((p) => [p.preset, false]), ['custom', true]]);
    assert.equal(await page.locator('#preset').inputValue(), 'paper');
    assert.equal(await page.locator('#sampler').inputValue(), defaults.sampler);
    const balanced = presets.find((p) => p.preset === 'balanced');
    await page.selectOption('#preset', 'balanced');
    assert.equal(await page.locator('#sampler').inputValue(), balanced.sampler);
    assert.equal(await page.locator('#steps').inputValue(), String(balanced.steps));
    await page.fill('#steps', '30');
    assert.equal(await page.locator('#preset').inputValue(), 'custom', 'other steps: no preset');
    await page.selectOption('#sampler', 'ddpm');
    await page.fill('#steps', '50');
    assert.equal(await page.locator('#preset').inputValue(), 'paper');
    await page.click('#reset-params');
  } finally {
    await page.close();
  }
});

test('a 6000×4000 photo: the mask keeps full resolution, the display is scaled', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    await page.check('#mode-edit');
    await page.setInputFiles('#source-file', file('big.png', makePng(6000, 4000, (x, y) => [(x >> 4) & 255, (y >> 4) & 255, 90, 255])));
    await page.locator('#source-editor').waitFor({ state: 'visible', timeout: 60_000 });
    assert.match(await page.locator('#source-meta').textContent(), /6000 × 4000 px/);
    const mask = makePng(100, 100, (x) => (x < 50 ? [255, 255, 255, 255] : [0, 0, 0, 255]));
    await page.setInputFiles('#mask-upload', file('mask.png', mask));
    await page.locator('#mask-note').waitFor({ state: 'visible' });
    assert.equal((await maskState(page, '#mask-host')).painted, 3000 * 4000);
    await paint(page, '#mask-host', [[0.75, 0.5], [0.9, 0.5]]);
    assert.ok((await maskState(page, '#mask-host')).painted > 3000 * 4000);
    const overlay = await page.evaluate(() => document.querySelector('#mask-host .mask-overlay').width);
    assert.ok(overlay <= 4096, `display canvas capped (${overlay})`);
  } finally {
    await page.close();
  }
});

test('subject background: alpha channel or painting gives a whitened preview', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    // Opaque red square in the middle, transparent around it.
    const cut = makePng(120, 100, (x, y) => (x >= 30 && x < 90 && y >= 25 && y < 75 ? [220, 30, 30, 255] : [0, 0, 0, 0]));
    await page.setInputFiles('#subject-file', file('cutout.png', cut));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#subject-bg').inputValue(), 'alpha', 'transparency is used automatically');
    await page.locator('#subject-preview-fig').waitFor({ state: 'visible' });
    const px = (x, y) =>
      page.evaluate(([x, y]) => [...document.querySelector('#subject-preview').getContext('2d').getImageData(x, y, 1, 1).data], [x, y]);
    assert.deepEqual(await px(5, 5), [255, 255, 255, 255], 'outside is white');
    assert.deepEqual(await px(60, 50), [220, 30, 30, 255], 'the subject is kept');

    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.locator('#subject-meta').filter({ hasText: '320 × 240' }).waitFor();
    assert.equal(await page.locator('#subject-bg').inputValue(), 'keep');
    await page.selectOption('#subject-bg', 'paint');
    await page.locator('#smask-toolbar-host .mask-toolbar').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#subject-preview-fig').isVisible(), false);
    await paint(page, '#subject-host', [[0.3, 0.5], [0.7, 0.5]]);
    await page.locator('#subject-preview-fig').waitFor({ state: 'visible' });
    assert.ok((await maskState(page, '#subject-host')).painted > 0);
    assert.deepEqual(await px(2, 2), [255, 255, 255, 255]);
    await screenshot(page, 'app-subject-mask');
  } finally {
    await page.close();
  }
});

test('narrow 390×844 viewport: one column, nothing wider than the screen', async () => {
  const ctx = browser.context;
  const page = await ctx.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await page.goto(server.url);
    await page.waitForFunction(() => document.querySelector('#gpu-status')?.dataset.state !== 'loading', null, { timeout: 120_000 });
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await editModeWithPhoto(page);
    await page.locator('#mask-host .mask-canvas').waitFor({ state: 'visible' });
    const m = await page.evaluate(() => {
      const r = (id) => document.getElementById(id).getBoundingClientRect();
      return {
        scrollWidth: document.documentElement.scrollWidth,
        inputs: r('inputs'),
        outputs: r('outputs'),
        canvas: document.querySelector('#mask-host .mask-canvas').getBoundingClientRect(),
        run: r('run'),
      };
    });
    assert.ok(m.scrollWidth <= 390, `no horizontal scrolling (${m.scrollWidth})`);
    assert.ok(m.outputs.top >= m.inputs.bottom - 1, 'outputs below inputs');
    assert.ok(m.inputs.width <= 390 && m.canvas.right <= 390 && m.run.right <= 390);
    await screenshot(page, 'app-mobile');
  } finally {
    await page.close();
  }
});

test('keyboard: Tab reaches the primary controls in order, Enter opens the file chooser', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    // The form is kept across visits and earlier tests left edit mode in it: start afresh.
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#gpu-status')?.dataset.state !== 'loading', null, { timeout: 120_000 });
    const order = [];
    for (let i = 0; i < 80 && !order.includes('run'); i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName));
    }
    const at = (id) => {
      const i = order.indexOf(id);
      assert.ok(i >= 0, `${id} is reachable by Tab (got ${order.join(' ')})`);
      return i;
    };
    assert.ok(at('model-chip') < at('mode-generate'));
    assert.ok(at('mode-generate') < at('subject-drop'));
    assert.ok(at('subject-drop') < at('prompt'));
    assert.ok(at('prompt') < at('subject-prompt'));
    assert.ok(at('seed') < at('seed-dice'));
    assert.ok(at('seed-dice') < at('run'));
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    // The run button stays focusable while blocked, and says why.
    assert.ok((await page.locator('#run-reason').textContent()).length > 0);

    // Listen first and let the browser acknowledge (file-chooser interception is enabled
    // asynchronously), then press Enter on the focused drop zone.
    const chooserOpened = page.waitForEvent('filechooser');
    await page.evaluate(() => 0);
    await page.focus('#subject-drop');
    await page.keyboard.press('Enter');
    const chooser = await chooserOpened;
    await chooser.setFiles(file('dog.png', subject));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
  } finally {
    await page.close();
  }
});

test('errors never pass silently: uncaught errors and rejections show a message', async () => {
  const { page } = await openApp(browser.context, server.url);
  try {
    await page.evaluate(() => setTimeout(() => {
      throw new Error('boom from a test');
    }));
    await page.locator('#app-error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#app-error').innerText(), /boom from a test/);
    await page.click('#app-error-dismiss');
    await page.evaluate(() => {
      void Promise.reject(new Error('rejected in a test'));
    });
    await page.locator('#app-error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#app-error').innerText(), /rejected in a test/);
  } finally {
    await page.close();
  }
});

test('network: every request stays on the page’s own origin, no CSP violations', async () => {
  const { context, close } = await launch({ webgpu: true });
  const urls = [];
  context.on('request', (r) => urls.push(r.url()));
  try {
    const { page, logs } = await openApp(context, server.url);
    page.on('worker', (w) => urls.push(`${w.url()}`));
    await page.waitForFunction(
      () => ['ready', 'failed', 'idle', 'confirm'].includes(document.querySelector('#model-status')?.dataset.state ?? '') &&
        document.querySelector('#selftest-status')?.dataset.state !== 'running',
      null,
      { timeout: 300_000 },
    );
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    await page.waitForTimeout(500);
    const foreign = urls.filter((u) => !u.startsWith(server.origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'no third-party requests');
    assert.deepEqual(logs.filter((l) => /Content Security Policy/i.test(l)), [], 'no CSP violations');
    assert.ok(urls.some((u) => /\/main\.[0-9a-f]{8}\.js$/.test(u)), 'the content-hashed main.<hash>.js');
    assert.ok(server.requests.length > 0);
  } finally {
    await close();
  }
});

test('without WebGPU the inputs still work and the button says why it cannot run', async () => {
  const { context, close } = await launch({ webgpu: false });
  try {
    const { page } = await openApp(context, server.url);
    await page.locator('#gpu-error').waitFor({ state: 'visible' });
    await page.setInputFiles('#subject-file', file('dog.png', subject));
    await page.locator('#subject-editor').waitFor({ state: 'visible' });
    assert.match(await page.locator('#run-reason').textContent(), /WebGPU/);
    assert.equal(await page.locator('#run').getAttribute('aria-disabled'), 'true');
    await page.click('#run', { force: true }); // aria-disabled: does nothing, but must not throw
    assert.equal(await page.locator('#run-panel').isVisible(), false);
    await screenshot(page, 'app-no-webgpu');
  } finally {
    await close();
  }
});
