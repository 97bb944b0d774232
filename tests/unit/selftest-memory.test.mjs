// www/src/ui/selftest-memory.ts: a GPU self-test result is remembered per adapter, browser and
// core build; another of any of them, or a damaged store, means running the self-test again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { SELFTEST_KEEP, SELFTEST_KEY, checkRecords, recallSelfTest, rememberSelfTest, selfTestKey } = await load('selftest-memory');

/** An in-memory Storage (getItem / setItem), optionally failing on writes. */
function fakeStore({ failWrites = false } = {}) {
  const items = new Map();
  return {
    items,
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => {
      if (failWrites) throw new DOMException('full', 'QuotaExceededError');
      items.set(k, String(v));
    },
  };
}

const adapter = { name: 'SwiftShader Device', backend: 'BrowserWebGpu', device_type: 'Cpu', driver: 'Subzero', shader_f16: false };
const UA = 'Mozilla/5.0 Chrome/140.0.0.0';
const record = (key, extra = {}) => ({ key, at: 1_700_000_000_000, passed: true, f16Unreliable: false, detail: '1×256×16 values in 90 ms.', kernels: null, ...extra });

test('a remembered result comes back for the same adapter, browser and build only', () => {
  const store = fakeStore();
  const key = selfTestKey(adapter, UA, 'worker.0123abcd.js');
  rememberSelfTest(store, record(key, { f16Unreliable: true }));
  assert.deepEqual(recallSelfTest(store, key), record(key, { f16Unreliable: true }));
  for (const other of [
    selfTestKey({ ...adapter, driver: 'Subzero 2' }, UA, 'worker.0123abcd.js'),
    selfTestKey({ ...adapter, shader_f16: true }, UA, 'worker.0123abcd.js'),
    selfTestKey(adapter, 'Mozilla/5.0 Chrome/141.0.0.0', 'worker.0123abcd.js'),
    selfTestKey(adapter, UA, 'worker.4567cdef.js'),
  ]) {
    assert.notEqual(other, key);
    assert.equal(recallSelfTest(store, other), null);
  }
});

test('a failed result is remembered as failed; a new result replaces the old one of its key', () => {
  const store = fakeStore();
  const key = selfTestKey(adapter, UA, 'b');
  rememberSelfTest(store, record(key, { passed: false, detail: 'device lost' }));
  assert.equal(recallSelfTest(store, key).passed, false);
  rememberSelfTest(store, record(key, { at: 1_800_000_000_000 }));
  assert.equal(recallSelfTest(store, key).passed, true);
  assert.equal(JSON.parse(store.getItem(SELFTEST_KEY)).length, 1);
});

test('only the newest SELFTEST_KEEP results are kept', () => {
  const store = fakeStore();
  for (let i = 0; i < SELFTEST_KEEP + 2; i++) rememberSelfTest(store, record(`k${i}`));
  const kept = JSON.parse(store.getItem(SELFTEST_KEY)).map((r) => r.key);
  assert.equal(kept.length, SELFTEST_KEEP);
  assert.equal(kept[0], `k${SELFTEST_KEEP + 1}`);
  assert.equal(recallSelfTest(store, 'k0'), null);
});

test('damaged or foreign stored values and unavailable storage mean "not remembered"', () => {
  const store = fakeStore();
  store.items.set(SELFTEST_KEY, '{not json');
  assert.equal(recallSelfTest(store, 'k'), null);
  store.items.set(SELFTEST_KEY, JSON.stringify({ key: 'k' }));
  assert.equal(recallSelfTest(store, 'k'), null);
  assert.deepEqual(checkRecords([record('a'), { ...record('b'), passed: 'yes' }, { ...record('c'), at: null }, null, 3]), [record('a')]);
  assert.equal(recallSelfTest(null, 'k'), null);
  rememberSelfTest(null, record('k')); // no storage: nothing happens
  assert.doesNotThrow(() => rememberSelfTest(fakeStore({ failWrites: true }), record('k')));
});
