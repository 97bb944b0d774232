// www/src/gemm-tuning.ts: the performance panel's line, and what the page does with the core's
// tuning when storage is missing (Node has no IndexedDB, as some private browser modes).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { describeGemmTuning, applyGemmTuning } = await load('gemm-tuning');

test('the line names what ran, the most used first, and how long tuning took', () => {
  assert.equal(
    describeGemmTuning({ state: 'kept', chosen: { burn: 3, '128x64k16t256': 9 }, tuningMs: 4210, note: null }),
    'GEMM kernels: the choice kept for this GPU and browser (tuning took 4.2 s): 128x64k16t256 ×9, burn ×3',
  );
  assert.equal(
    describeGemmTuning({ state: 'defaults', chosen: {}, tuningMs: null, note: 'software adapter: the GEMM kernels are not timed here' }),
    'GEMM kernels: the shipped defaults — software adapter: the GEMM kernels are not timed here',
  );
});

/** A stand-in for the core's Session: records the calls. */
function fakeCore({ wanted, report = null, fail = null }) {
  const calls = [];
  return {
    calls,
    tuningKey: (browser) => `gpu | ${browser} | build`,
    tuningWanted: () => wanted,
    installTuning: () => {
      calls.push('install');
      return true;
    },
    tuneGemm: async (browser, budget) => {
      calls.push(`tune ${budget}`);
      if (fail) throw new Error(fail);
      return report;
    },
  };
}

test('without storage: a software adapter keeps the defaults; a GPU is tuned, and the note says it was not kept', async () => {
  const soft = fakeCore({ wanted: false });
  const info = await applyGemmTuning(soft, null);
  assert.equal(info.state, 'defaults');
  assert.deepEqual(soft.calls, [], 'nothing is timed on a software adapter');

  const table = { key: 'k', choices: { 'f32 linear m1 n4 k4': 'burn', 'f32 conv3s1p1 b2 8x8 4->8': '64x64k32t256', 'f16 linear m2 n4 k4': 'burn' }, tuning_ms: 1500 };
  const gpu = fakeCore({ wanted: true, report: { table, problems: [], skipped: 2 } });
  const tuned = await applyGemmTuning(gpu, null);
  assert.equal(tuned.state, 'tuned');
  assert.deepEqual(tuned.chosen, { burn: 2, '64x64k32t256': 1 });
  assert.equal(tuned.tuningMs, 1500);
  assert.match(tuned.note, /^2 problems keep the defaults \(time budget spent\); tuned but not kept \(/);
  assert.deepEqual(gpu.calls, ['tune 20000']);

  // ?tune=5000 times even a software adapter; a failing tuning leaves the defaults with its reason.
  const forced = fakeCore({ wanted: false, fail: 'device lost' });
  const failed = await applyGemmTuning(forced, 5000);
  assert.equal(failed.state, 'defaults');
  assert.equal(failed.note, 'the GEMM tuning failed (device lost)');
});
