// www/src/ui/score-line.ts: the line under a result with its scores (formatted, never computed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { scoreLine } = await load('score-line');

test('computed scores: identity (DINO, CLIP-I) and prompt (CLIP-T) with three decimals', () => {
  assert.equal(
    scoreLine({ state: 'done', scores: { dino: 0.71249, clip_i: 0.781, clip_t: 0.3051 } }),
    'Identity: DINO 0.712 · CLIP-I 0.781 — Prompt: CLIP-T 0.305',
  );
  assert.equal(
    scoreLine({ state: 'done', scores: { dino: -0.0421, clip_i: 1, clip_t: 0 } }),
    'Identity: DINO -0.042 · CLIP-I 1.000 — Prompt: CLIP-T 0.000',
  );
});

test('while computing, and when it failed', () => {
  assert.equal(scoreLine({ state: 'computing' }), 'Scores: computing…');
  assert.equal(scoreLine({ state: 'failed', message: 'the GPU was lost' }), 'Scores could not be computed: the GPU was lost');
});
