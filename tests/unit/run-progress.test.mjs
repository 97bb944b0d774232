// www/src/ui/run-progress.ts: timing a run's steps from its progress events and the words shown
// while it runs, while it is cancelled and once it was cancelled.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { StepClock, stepLine, cancellingText, cancelledText, seconds, variationLine, stageLabel } = await load('run-progress');

const ev = (stage, step, total, iteration = 0, similarity = null) => ({ stage, step, total, iteration, similarity });

test('stepped stages: "step i of n" with the measured time per step', () => {
  const c = new StepClock();
  c.note(ev('layout', 0, 20), 1000);
  assert.equal(stepLine(c, 1000), 'step 0 of 20');
  c.note(ev('layout', 1, 20), 3000);
  c.note(ev('layout', 2, 20), 5000);
  assert.equal(stepLine(c, 5000), 'step 2 of 20, ~2.0 s per step');
  c.note(ev('transfer', 3, 20, 1, 0.98123), 9000);
  assert.equal(stepLine(c, 9000), 'step 3 of 20 · similarity 0.981', 'a new stage is timed afresh');
});

test('one-step stages: seconds so far, and the time it took the last time', () => {
  const c = new StepClock();
  c.note(ev('decode', 0, 1), 1000);
  assert.equal(stepLine(c, 4200), '3.2 s so far');
  c.note(ev('decode', 1, 1), 7000);
  c.note(ev('decode', 0, 1, 1), 8000);
  assert.equal(stepLine(c, 9000), '1.0 s so far (took 6.0 s last time)');
});

test('cancelling: the estimate from the measured step, counting down', () => {
  const c = new StepClock();
  assert.equal(cancellingText(c, 0), 'Cancelling… (finishing the current step)');
  c.note(ev('layout', 0, 20), 0);
  c.note(ev('layout', 1, 20), 4000);
  assert.equal(cancellingText(c, 5000), 'Cancelling… (finishing the current step, about 3 s)');
  assert.equal(cancellingText(c, 20000), 'Cancelling… (finishing the current step, about 1 s)');
});

test('the outcome of a cancelled run is one sentence with the step counts', () => {
  const c = new StepClock();
  assert.equal(cancelledText(c, 400), 'Cancelled before the first step (0.4 s).');
  c.note(ev('layout', 12, 20), 0);
  assert.equal(cancelledText(c, 8200), 'Cancelled while laying out the scene, after 12 of 20 steps (8.2 s).');
  c.note(ev('decode', 0, 1, 2), 0);
  assert.equal(cancelledText(c, 75_000), 'Cancelled while decoding the image, iteration 2 (1 min 15 s).');
  assert.equal(seconds(12_345), '12 s');
});

test('a run of several variations says which one is being made, and which one was cancelled', () => {
  assert.equal(variationLine(1, 4, 13), 'Variation 2 of 4 · seed 13');
  const c = new StepClock();
  assert.equal(cancelledText(c, 400, { index: 0, count: 2 }), 'Cancelled variation 1 of 2 before the first step (0.4 s).');
  c.note(ev('layout', 12, 20), 0);
  assert.equal(
    cancelledText(c, 8200, { index: 2, count: 4 }),
    'Cancelled variation 3 of 4 while laying out the scene, after 12 of 20 steps (8.2 s).',
  );
  assert.equal(cancelledText(c, 8200, { index: 0, count: 1 }), 'Cancelled while laying out the scene, after 12 of 20 steps (8.2 s).');
  assert.match(stageLabel(ev('subject-reused', 1, 1)), /^Subject ready/);
});
