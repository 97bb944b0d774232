// Generation and editing: a request's variations one after the other, with their progress,
// previews and results posted to the page; the finished images are kept for their scores.

import { MAX_VARIATIONS, type CoreEvent, type Request, type RgbaImage, type SubjectPhoto } from '../protocol.js';
import { WeightsError } from '../weights.js';
import { haltScoring, scoreLastRun } from './scores.js';
import { post, requireModel, requireSession, rgba, state, type CoreSubject, type LastRun, type RunInFlight } from './state.js';

/** A page photo of the subject as the core's `SubjectImage`. */
const subjectImage = (s: SubjectPhoto): CoreSubject => ({ image: rgba(s.image), mask: s.mask ?? null });

/**
 * Runs a generate or edit request: its `count` variations one after the other (seeds seed,
 * seed + 1, …), posting each one's progress, previews and result. A cancel stops the variation
 * in flight and skips the rest. From the second variation on the core reuses the subject's
 * features (same photos, masks and subject class): it reports the stage 'subject-reused'.
 */
export async function runPipeline(req: Extract<Request, { type: 'generate' | 'edit' }>): Promise<void> {
  requireModel();
  if (state.running) throw new WeightsError('bad-input', 'Another run is still in progress.');
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > MAX_VARIATIONS) {
    throw new WeightsError('bad-input', `A run makes 1 to ${MAX_VARIATIONS} variations, not ${req.count}.`);
  }
  const core = requireSession();
  const run: RunInFlight = { id: req.id, cancelled: false };
  state.running = run;
  // The same images for every variation: the core copies them in on each call.
  const subjects = req.subjects.map(subjectImage);
  const source = req.type === 'edit' ? rgba(req.source) : null;
  // Kept for the scores of this run's images (computed after the run).
  const kept: LastRun = { id: req.id, prompt: req.params.prompt, subjects, images: new Map(), scored: new Set() };
  try {
    // Scores of the last run still being computed: the image in flight is finished first.
    await haltScoring();
    state.lastRun = kept;
    for (let variation = 0; variation < req.count; variation++) {
      if (run.cancelled) throw new WeightsError('cancelled', 'Cancelled.');
      const seed = req.params.seed + variation;
      const t0 = performance.now();
      // Assigned in the callback, so typed by assertion (control flow cannot see those writes).
      let final = null as RgbaImage | null;
      let last = null as RgbaImage | null;
      let iterations = 0; // refinement iterations seen (iteration 0 is the initial image)
      let similarity: number | null = null;
      let subjectReused = false;
      const onEvent = (ev: CoreEvent): boolean => {
        if (run.cancelled) return false;
        if (ev.type === 'progress') {
          const { stage, step, total, iteration } = ev;
          if (stage === 'subject-reused') subjectReused = true;
          post({ type: 'progress', id: run.id, variation, stage, step, total, iteration, similarity: ev.similarity, timeLeft: ev.timeLeft });
        } else if (ev.type === 'step-preview') {
          const { stage, step, total, iteration, image } = ev;
          post({ type: 'step-preview', id: run.id, variation, stage, step, total, iteration, image }, [image.data.buffer]);
        } else if (ev.type === 'image') {
          // The core hands over a fresh Uint8Array (a copy out of wasm memory); it is transferred.
          const image: RgbaImage = ev.image;
          if (ev.similarity !== null) similarity = ev.similarity;
          iterations = Math.max(iterations, ev.iteration);
          if (ev.final) {
            final = image;
          } else {
            last = { width: image.width, height: image.height, data: image.data.slice() };
            post(
              { type: 'preview', id: run.id, variation, iteration: ev.iteration, similarity: ev.similarity, image },
              [ev.image.data.buffer],
            );
          }
        }
        return !run.cancelled;
      };
      if (req.type === 'generate') {
        await core.generate({ ...req.params, seed, subjects }, onEvent);
      } else {
        await core.edit({ ...req.params, seed, source: source!, mask: req.mask, subjects }, onEvent);
      }
      const image = final ?? last;
      if (!image) throw new WeightsError('internal', 'The run finished without an image.');
      // A copy for the scores: the image itself is transferred to the page.
      kept.images.set(variation, { width: image.width, height: image.height, data: image.data.slice() });
      post(
        {
          type: 'result',
          id: run.id,
          variation,
          seed,
          image,
          ms: performance.now() - t0,
          iterations,
          similarity,
          subjectReused,
        },
        [(image.data as Uint8Array).buffer],
      );
    }
  } catch (e) {
    if (run.cancelled) throw new WeightsError('cancelled', 'Cancelled.');
    throw e;
  } finally {
    if (state.running === run) state.running = null;
    // After the generation (also a cancelled or failed one), the finished images get their scores.
    scoreLastRun();
  }
}

/** Marks the run `id` as cancelled, when it is the one in progress. */
export function cancelRun(id: number): void {
  if (state.running && state.running.id === id) state.running.cancelled = true;
}
