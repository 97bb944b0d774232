// www/src/ui/saved-form.ts: a form stored by an earlier visit is checked before it is put back;
// every value outside LIMITS or of the wrong type falls back to its default.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { checkSavedForm } = await load('saved-form');
const { DEFAULT_OPTIONS: D, LIMITS } = await load('contract');

const good = {
  mode: 'edit',
  prompt: 'a dog on the moon',
  subjectPrompt: 'a toy',
  seed: 42,
  sampler: 'dpmpp',
  steps: 7,
  guidance: 9,
  editGuidance: 3.5,
  splitRatio: 0.55,
  simThreshold: 0.95,
  stopFixed: true,
  iterations: 4,
  compositeBackground: true,
};

test('a valid stored form comes back as it was', () => {
  const f = checkSavedForm(good, 3);
  assert.equal(f.mode, 'edit');
  // Every field but the mode and the stop choice (which `iterations` carries) comes back as stored.
  const { mode: _mode, stopFixed: _stopFixed, ...params } = good;
  assert.deepEqual(f.params, params);
  assert.equal(f.fixedIterations, 4);
});

test('stopping automatically keeps the typed iteration count for the fixed-count field', () => {
  const f = checkSavedForm({ ...good, stopFixed: false, iterations: 5 }, 3);
  assert.equal(f.params.iterations, null);
  assert.equal(f.fixedIterations, 5);
});

test('nothing stored (or not an object) gives the defaults', () => {
  for (const raw of [null, undefined, 'text', 12, []]) {
    const f = checkSavedForm(raw, 3);
    assert.equal(f.mode, 'generate');
    assert.equal(f.params.prompt, '');
    assert.equal(f.params.subjectPrompt, 'a dog');
    assert.equal(f.params.steps, D.steps);
    assert.equal(f.params.sampler, 'ddpm');
    assert.equal(f.params.iterations, D.iterations);
    assert.equal(f.params.compositeBackground, false);
    assert.equal(f.fixedIterations, 3);
  }
});

test('values outside LIMITS, not whole where they must be, or of the wrong type fall back to the defaults', () => {
  const f = checkSavedForm(
    {
      ...good,
      mode: 'paint',
      prompt: 17,
      seed: -1,
      steps: LIMITS.steps.max + 1,
      guidance: '9',
      editGuidance: null,
      splitRatio: 0,
      simThreshold: 1.5,
      iterations: 2.5,
      compositeBackground: 'yes',
    },
    3,
  );
  assert.equal(f.mode, 'generate');
  assert.equal(f.params.prompt, '');
  assert.equal(f.params.subjectPrompt, 'a toy', 'valid fields are kept');
  assert.equal(f.params.seed, D.seed);
  assert.equal(f.params.steps, D.steps);
  assert.equal(f.params.guidance, D.guidance);
  assert.equal(f.params.editGuidance, D.editGuidance);
  assert.equal(f.params.splitRatio, D.splitRatio);
  assert.equal(f.params.simThreshold, D.simThreshold);
  assert.equal(f.params.iterations, 3, 'stop after a fixed count, the default count');
  assert.equal(f.params.compositeBackground, false);
});

test('the limits themselves are accepted', () => {
  const f = checkSavedForm({ ...good, seed: LIMITS.seed.max, steps: LIMITS.steps.min, splitRatio: LIMITS.splitRatio.min }, 3);
  assert.equal(f.params.seed, LIMITS.seed.max);
  assert.equal(f.params.steps, LIMITS.steps.min);
  assert.equal(f.params.splitRatio, LIMITS.splitRatio.min);
});

test('the variation count comes back when it is one the form offers, else 1', () => {
  assert.equal(checkSavedForm(good, 3).variations, 1, 'absent (a form saved before there were variations)');
  assert.equal(checkSavedForm({ ...good, variations: 4 }, 3).variations, 4);
  assert.equal(checkSavedForm({ ...good, variations: 2 }, 3).variations, 2);
  for (const v of [3, 0, 8, '4', null, 2.5]) assert.equal(checkSavedForm({ ...good, variations: v }, 3).variations, 1, String(v));
});

test('an unknown or missing sampler (a form saved before samplers could be chosen) falls back to the paper\'s DDPM', () => {
  for (const sampler of [undefined, 'euler', 3, null]) {
    assert.equal(checkSavedForm({ ...good, sampler }, 3).params.sampler, D.sampler);
  }
  assert.equal(D.sampler, 'ddpm');
  assert.equal(checkSavedForm({ ...good, sampler: 'ddim' }, 3).params.sampler, 'ddim');
});
