// The line under a result that shows its scores (ui/scores.ts turns them on): the core's cosine
// similarities, only formatted here (three decimals), never computed.

import type { ScoreState } from '../protocol.js';

/** "Identity: DINO 0.712 · CLIP-I 0.781 — Prompt: CLIP-T 0.305", or where the scores stand. */
export function scoreLine(s: ScoreState): string {
  switch (s.state) {
    case 'computing':
      return 'Scores: computing…';
    case 'failed':
      return `Scores could not be computed: ${s.message}`;
    case 'done': {
      const { dino, clip_i, clip_t } = s.scores;
      return `Identity: DINO ${dino.toFixed(3)} · CLIP-I ${clip_i.toFixed(3)} — Prompt: CLIP-T ${clip_t.toFixed(3)}`;
    }
  }
}
