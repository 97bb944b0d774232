// The scores of the latest run's images (DINO, CLIP-I, CLIP-T): computed one image after the
// other, after the run and never during one, once the scores are on and the metric models of the
// loaded model are ready.

import { classify } from './errors.js';
import { dropModel, metricsReady, post, requireSession, rgba, state } from './state.js';

/** Whether scoring may go on: scores on, metric models ready, no run in progress, no stop asked. */
const mayScore = (): boolean => state.scoresOn && metricsReady() && !state.running && !state.stopScoring;

/**
 * Scores the latest run's images that have no scores yet, one after the other, when the scores
 * are on, the metric models are ready and no run is in progress (never during a generation).
 * Posts 'scores' for each: computing, then the scores or why they failed.
 */
export function scoreLastRun(): void {
  const run = state.lastRun;
  if (state.scoring || !run || !mayScore()) return;
  const core = requireSession();
  state.scoring = (async () => {
    for (const [variation, image] of run.images) {
      if (!mayScore() || state.lastRun !== run) break;
      if (run.scored.has(variation)) continue;
      run.scored.add(variation);
      post({ type: 'scores', id: run.id, variation, result: { state: 'computing' } });
      try {
        const scores = await core.scores({ image: rgba(image), subjects: run.subjects, prompt: run.prompt });
        post({ type: 'scores', id: run.id, variation, result: { state: 'done', scores } });
      } catch (e) {
        const { kind, message } = classify(e);
        if (kind === 'device-lost') dropModel();
        post({ type: 'scores', id: run.id, variation, result: { state: 'failed', message } });
      }
    }
  })().finally(() => {
    state.scoring = null;
    state.stopScoring = false;
    // Turned on again (or a result came) while the last image was being scored.
    if (run.images.size > run.scored.size) scoreLastRun();
  });
}

/** Stops the scoring in progress after the image it is computing, and waits for that. */
export async function haltScoring(): Promise<void> {
  if (!state.scoring) return;
  state.stopScoring = true;
  await state.scoring;
}
