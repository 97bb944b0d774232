// The GEMM tuning in the page (www/src/gemm-tuning.ts): on a software adapter (SwiftShader) the
// shipped defaults apply and nothing is timed; with `?tune` the core times the GEMM kernels of
// the loaded model once (here with a 3-second budget: the problems not reached keep the defaults),
// the page keeps the table in IndexedDB under the adapter/browser/build
// key, and the next visit installs the kept table without timing anything. The performance
// panel says which of the three happened and what was chosen.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FULL, launch, openApp, serveApp, waitModelReady } from './app-helpers.mjs';

/** The performance panel's GEMM line once the model is ready. */
async function gemmLine(page) {
  await waitModelReady(page);
  await page.waitForFunction(() => document.querySelector('#perf-gemm')?.dataset.state, null, { timeout: 120_000 });
  return page.locator('#perf-gemm').evaluate((el) => ({ state: el.dataset.state, text: el.textContent }));
}

/** The tables kept in IndexedDB: [key, table JSON] pairs. */
function keptTables(page) {
  return page.evaluate(
    () =>
      new Promise((ok, fail) => {
        const r = indexedDB.open('ezigen-gemm-tuning', 1);
        r.onupgradeneeded = () => r.result.createObjectStore('tables');
        r.onerror = () => fail(r.error);
        r.onsuccess = () => {
          const db = r.result;
          const store = db.transaction('tables', 'readonly').objectStore('tables');
          const keys = store.getAllKeys();
          const values = store.getAll();
          values.onsuccess = () => {
            db.close();
            ok(keys.result.map((k, i) => [k, values.result[i]]));
          };
          values.onerror = () => fail(values.error);
        };
      }),
  );
}

test('GEMM tuning: defaults on a software adapter, tuned once with ?tune, then the kept table', { skip: !FULL }, async () => {
  const server = await serveApp();
  const { context, close } = await launch({ webgpu: true });
  try {
    const { page: plain } = await openApp(context, server.url);
    const first = await gemmLine(plain);
    assert.equal(first.state, 'defaults', first.text);
    assert.match(first.text, /shipped defaults — software adapter/);
    assert.deepEqual(await keptTables(plain), [], 'nothing is timed or kept on a software adapter');
    await plain.close();

    const t0 = Date.now();
    const { page: tuning, logs } = await openApp(context, `${server.url}?tune=3000`);
    const tuned = await gemmLine(tuning);
    assert.equal(tuned.state, 'tuned', `${tuned.text}\n${logs.join('\n')}`);
    assert.match(tuned.text, /timed on this GPU and kept \(tuning took [\d.]+ s\): .* — \d+ problems keep the defaults \(time budget spent\)$/);
    const kept = await keptTables(tuning);
    assert.equal(kept.length, 1);
    const [key, json] = kept[0];
    const table = JSON.parse(json);
    assert.equal(table.key, key);
    assert.match(key, /HeadlessChrome|Chrome/, 'the key names the browser');
    const choices = Object.entries(table.choices);
    assert.ok(choices.length >= 1, `at least one GEMM problem was tuned within the budget (${choices.length})`);
    for (const [problem, choice] of choices) {
      assert.match(problem, /^(f32|f16) (linear|conv)/, problem);
      assert.match(choice, /^(burn|\d+x\d+k\d+t\d+(\/s\d+)?)$/, choice);
    }
    console.log(`?tune on SwiftShader: ${choices.length} GEMM problems tuned in ${(table.tuning_ms / 1000).toFixed(1)} s (visit ${((Date.now() - t0) / 1000).toFixed(1)} s): ${tuned.text}`);
    await tuning.close();

    // The next visit (even with ?tune) installs the kept table and times nothing.
    const { page: again } = await openApp(context, `${server.url}?tune`);
    const third = await gemmLine(again);
    assert.equal(third.state, 'kept', third.text);
    assert.match(third.text, /the choice kept for this GPU and browser/);
    assert.deepEqual(await keptTables(again), kept, 'the kept table is unchanged');

    await again.close();
  } finally {
    await close();
    await server.close();
  }
});
