// The wording of a run's progress, timed from its progress events: the line under the bar
// ("step 3 of 20, ~1.2 s per step", or the seconds spent in a stage of one long step), which
// variation of the run is being made, the estimate shown while cancelling and the one sentence
// that says how a cancelled run ended. Pure (no DOM), so tests/unit can check it.

import { STAGE_LABELS } from '../messages.js';
import type { Stage } from '../protocol.js';

/** What the page learns from one progress event of a run. */
export interface StepEvent {
  stage: Stage;
  /** Steps of the stage done so far (0 when it starts). */
  step: number;
  total: number;
  /** 0: the initial image; refinement iterations count from 1. */
  iteration: number;
  similarity: number | null;
}

/** Times the steps of one run from its progress events (times in ms, e.g. performance.now()). */
export class StepClock {
  /** The latest event, or null before the first. */
  last: StepEvent | null = null;
  /** When the latest event arrived. */
  lastAt = 0;
  /** When the stage of the latest event started (its first event arrived). */
  stageAt = 0;
  private stageKey = '';
  private stageStep = 0;
  /** The latest measured duration of one step, by stage. */
  private perStep = new Map<Stage, number>();

  /** Records an event that arrived at `now`. */
  note(p: StepEvent, now: number): void {
    const key = `${p.stage}/${p.iteration}`;
    if (key !== this.stageKey || !this.last || p.step < this.last.step) {
      this.stageKey = key;
      this.stageStep = p.step;
      this.stageAt = now;
    } else if (p.step > this.stageStep) {
      // The mean over the stage so far: steady, and one step's time for one-step stages.
      this.perStep.set(p.stage, (now - this.stageAt) / (p.step - this.stageStep));
    }
    this.last = p;
    this.lastAt = now;
  }

  /** How long one step of `stage` took when last measured, or null. */
  stepMs(stage: Stage): number | null {
    return this.perStep.get(stage) ?? null;
  }

  /** About how long the step in flight still takes at `now` (≥ 0), or null when unknown. */
  remainingMs(now: number): number | null {
    if (!this.last) return null;
    const ms = this.stepMs(this.last.stage);
    return ms === null ? null : Math.max(0, ms - (now - this.lastAt));
  }
}

/** A short duration: "0.8 s", "12 s", "2 min 5 s". */
export function seconds(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
}

/** True for stages reported as one long step ("step 0 of 1", then "1 of 1"). */
export const isOneStep = (p: StepEvent): boolean => p.total <= 1;

/** The stage's name for people, with the iteration where it repeats: "Decoding the image, iteration 2". */
export function stageLabel(p: StepEvent): string {
  const label = STAGE_LABELS[p.stage] ?? p.stage;
  return (p.stage === 'transfer' || p.stage === 'decode') && p.iteration > 0 ? `${label}, iteration ${p.iteration}` : label;
}

/**
 * The line under the progress bar at `now`: "step 3 of 20, ~1.2 s per step · similarity 0.981",
 * or for a one-step stage "4.2 s so far (took 6.0 s last time)".
 */
export function stepLine(clock: StepClock, now: number): string {
  const p = clock.last;
  if (!p) return '';
  const before = clock.stepMs(p.stage);
  if (isOneStep(p)) {
    return `${seconds(now - clock.stageAt)} so far${before !== null && p.step === 0 ? ` (took ${seconds(before)} last time)` : ''}`;
  }
  const per = before !== null ? `, ~${seconds(before)} per step` : '';
  const sim = p.similarity !== null ? ` · similarity ${p.similarity.toFixed(3)}` : '';
  return `step ${p.step} of ${p.total}${per}${sim}`;
}

/** The status while a cancel waits for the step in flight: "Cancelling… (finishing the current step, about 3 s)". */
export function cancellingText(clock: StepClock, now: number): string {
  const left = clock.remainingMs(now);
  return left === null
    ? 'Cancelling… (finishing the current step)'
    : `Cancelling… (finishing the current step, about ${Math.max(1, Math.round(left / 1000))} s)`;
}

/** Which variation of a run is being made (`index` from 0): "Variation 2 of 4 · seed 12". */
export function variationLine(index: number, count: number, seed: number): string {
  return `Variation ${index + 1} of ${count} · seed ${seed}`;
}

/**
 * How a cancelled run ended, in one sentence: "Cancelled while laying out the scene, after 12 of
 * 20 steps (8.2 s)." (`runMs`: how long the run ran). A run of several variations names the one
 * that was cancelled: "Cancelled variation 3 of 4 while …".
 */
export function cancelledText(clock: StepClock, runMs: number, variation?: { index: number; count: number }): string {
  const which = variation && variation.count > 1 ? ` variation ${variation.index + 1} of ${variation.count}` : '';
  const p = clock.last;
  if (!p) return `Cancelled${which} before the first step (${seconds(runMs)}).`;
  const label = stageLabel(p);
  const what = label.charAt(0).toLowerCase() + label.slice(1);
  const steps = isOneStep(p) ? '' : `, after ${p.step} of ${p.total} steps`;
  return `Cancelled${which} while ${what}${steps} (${seconds(runMs)}).`;
}
