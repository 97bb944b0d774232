// Running: the primary button (and why it cannot run yet), starting a generate or edit run of
// one or more variations in the worker, its progress (which variation, whether the subject's
// features were reused), previews of each iteration, cancelling, and run failures.

import { $, setInvalid, setText, show } from '../dom.js';
import { copyRgba, drawRgba, type DecodedImage } from '../image.js';
import { explain } from '../messages.js';
import type { EditParams, FailureKind, Reply, RgbaImage, Stage } from '../protocol.js';
import type { WorkerClient } from '../worker-client.js';
import type { ActionButton } from './actions.js';
import type { Inputs } from './inputs.js';
import type { ModelPanel } from './model-panel.js';
import type { ParamsForm } from './params.js';
import type { ResultGrid } from './result-grid.js';
import { StepClock, cancelledText, cancellingText, isOneStep, stageLabel, stepLine, variationLine } from './run-progress.js';
import { state, type Mode } from './state.js';

/** A run in progress. */
export interface RunState {
  id: number;
  mode: Mode;
  params: EditParams;
  t0: number;
  timer: number;
  stage: Stage | null;
  /** The photo being edited (edit mode), kept open for the before/after view. */
  source: DecodedImage | null;
  cancelling: boolean;
  /** Times the steps from the progress events (for the step line and the cancel estimate). */
  clock: StepClock;
  /** How many variations the run makes, and the one being made (from 0). */
  count: number;
  variation: number;
  /** The first variation's seed (variation i uses seed + i). */
  seed: number;
  /** Variations whose result arrived. */
  done: number;
  /** Variations (from 0) that reused the subject's features of an earlier run. */
  reused: number[];
  /** How many subject photos the run uses. */
  subjects: number;
}

/** What the run button says while a run of each mode is in progress. */
const RUNNING_LABEL: Record<Mode, string> = { generate: 'Generating…', edit: 'Editing…' };
/** The run button's label when no run is in progress. */
const RUN_LABEL: Record<Mode, string> = { generate: 'Generate', edit: 'Edit' };

/** The run button's label for `count` variations: "Generate", "Generate 4". */
const runLabel = (mode: Mode, count: number): string => (count > 1 ? `${RUN_LABEL[mode]} ${count}` : RUN_LABEL[mode]);

/** What the run button says during a run: "Generating…", "Generating 2 of 4…". */
function runningLabel(run: RunState): string {
  const label = RUNNING_LABEL[run.mode];
  return run.count > 1 ? `${label.slice(0, -1)} ${run.variation + 1} of ${run.count}…` : label;
}

/** Why the run button cannot run, and the field to fix (focused when the button is pressed). */
interface BlockReason {
  text: string;
  field?: HTMLElement;
}

/** What the run panel needs from the rest of the page. */
export interface RunPanelDeps {
  client: WorkerClient;
  inputs: Inputs;
  params: ParamsForm;
  actionButton: ActionButton;
  model: Pick<ModelPanel, 'setStatus'>;
  /** The tiles of the run's variations. */
  grid: ResultGrid;
}

/** The run panel's operations. */
export interface RunPanel {
  /** Updates the run button and the line that says why it cannot run (or that it can). */
  updateRunState(): void;
  /** The run in progress, or null. */
  current(): RunState | null;
  /** Ends the run in progress (if any) and hides its panel. */
  finish(): void;
  /**
   * A variation's result arrived: completes its previews strip and returns its run (ended when
   * it was the last variation), or null when it is not of the run in progress.
   */
  noteResult(r: Extract<Reply, { type: 'result' }>): RunState | null;
  /** Adds an iteration's image to the previews strip. */
  addPreview(iteration: number, similarity: number | null, image: RgbaImage): void;
  /** Progress of a run: stage, step and similarity. */
  onProgress(p: Extract<Reply, { type: 'progress' }>): void;
  /** An iteration's image of the run in progress. */
  onPreview(p: Extract<Reply, { type: 'preview' }>): void;
  /** Draws a step's predicted image on the live preview. */
  onStepPreview(p: Extract<Reply, { type: 'step-preview' }>): void;
  /** A run failed or was cancelled: explains it (and asks for a model reload after a GPU loss). */
  onFailed(id: number | null, kind: FailureKind, message: string): void;
}

/** A duration for people: "12.3 s" or "2 min 5 s". */
export function elapsed(ms: number): string {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
}

/** Asks the browser to confirm leaving the page (added only while a run is in progress). */
function warnBeforeLeaving(e: BeforeUnloadEvent): void {
  e.preventDefault();
  e.returnValue = ''; // older browsers show the prompt only when this is set
}

/** Wires the run and cancel buttons. */
export function createRunPanel(deps: RunPanelDeps): RunPanel {
  const { client, inputs, params, actionButton, model, grid } = deps;
  const { source, subject } = inputs;
  let running: RunState | null = null;
  let runSeq = 0;
  const runButton = $<HTMLButtonElement>('run');

  /** Why the primary button cannot run now, or null when it can. */
  function blockReason(): BlockReason | null {
    // Read first, so the fields are marked invalid (or valid again) whatever blocks the run.
    const r = params.read();
    const promptField = $<HTMLTextAreaElement>('prompt');
    const classField = $<HTMLInputElement>('subject-prompt');
    for (const f of [promptField, classField]) if (f.value.trim()) setInvalid(f, false);
    if (state.gpu === 'failed') return { text: 'WebGPU is not available (see “Model & device”).' };
    if (running) {
      if (running.cancelling) return { text: 'Cancelling the run…' };
      return { text: `${runningLabel(running)} Wait for the result or cancel the run.` };
    }
    // A field marked invalid (red) always gets its message here, whatever else is missing.
    if ('error' in r) {
      const hidden = r.field.closest('details:not([open])') !== null;
      return { text: hidden ? `${r.error} (It is under “Advanced settings”.)` : r.error, field: r.field };
    }
    if (state.model.status !== 'ready') {
      if (state.model.status === 'loading') return { text: `Loading the model… ${Math.round(state.model.progress * 100)} %` };
      if (state.gpu === 'loading') return { text: 'Starting WebGPU…' };
      if (state.autoLoadAfterReady) return { text: 'Checking the GPU before loading the model…' };
      return { text: 'Load a model first (see “Model & device”).' };
    }
    if (state.mode === 'edit') {
      if (!source.slot.image) return { text: 'Add the photo to edit.' };
      if (source.canvas.paintedPixels === 0) return { text: 'Paint the area to edit on the photo.' };
    }
    if (subject.count() === 0) return { text: 'Add a photo of the subject.' };
    const unpainted = subject.unpainted();
    if (unpainted !== null) {
      const which = subject.count() > 1 ? `photo ${unpainted}` : 'its photo';
      return { text: `Paint the subject on ${which}, or keep the background.` };
    }
    if (!promptField.value.trim()) return { text: 'Write a prompt in the “Prompt” field above.', field: promptField };
    if (!classField.value.trim()) return { text: 'Say what the subject is in “Subject class” (e.g. “a dog”).', field: classField };
    return null;
  }

  function updateRunState(): void {
    const reason = blockReason();
    runButton.setAttribute('aria-disabled', String(reason !== null));
    runButton.classList.toggle('blocked', reason !== null);
    // While a run is in progress the button shows that run (whatever mode is shown now).
    runButton.textContent = running ? runningLabel(running) : runLabel(state.mode, params.snapshot().variations);
    $('run-reason').textContent = reason?.text ?? (state.mode === 'generate' ? 'Ready to generate.' : 'Ready to edit.');
    $('run-reason').dataset.ready = String(reason === null);
    // The mode cannot be switched during a run (its inputs and button belong to the run).
    $<HTMLFieldSetElement>('mode-switch').disabled = running !== null;
    const lock = $('mode-lock');
    lock.textContent = running
      ? `Switching the mode is off while the ${RUN_LABEL[running.mode]} run is in progress: wait for it or cancel it.`
      : '';
    show(lock, running !== null);
  }

  function startRun(): void {
    const r = params.read();
    if ('error' in r || subject.count() === 0) return;
    const id = ++runSeq;
    const mode = state.mode;
    const p = r.params;
    const count = r.variations;
    const subjects = subject.photos();
    const transfer: Transferable[] = [];
    for (const s of subjects) {
      transfer.push(s.image.data.buffer);
      if (s.mask) transfer.push(s.mask.data.buffer);
    }
    if (mode === 'generate') {
      const { compositeBackground: _unused, ...generateParams } = p;
      client.send({ type: 'generate', id, params: generateParams, subjects, count }, transfer);
    } else {
      const src = source.slot.image!;
      const sourceRgba = copyRgba(src.rgba);
      const mask = source.canvas.getMask();
      transfer.push(sourceRgba.data.buffer, mask.data.buffer);
      client.send({ type: 'edit', id, params: p, source: sourceRgba, mask, subjects, count }, transfer);
    }
    running = {
      id,
      mode,
      params: p,
      t0: performance.now(),
      timer: 0,
      stage: null,
      source: mode === 'edit' ? source.slot.image : null,
      cancelling: false,
      clock: new StepClock(),
      count,
      variation: 0,
      seed: p.seed,
      done: 0,
      reused: [],
      subjects: subjects.length,
    };
    running.timer = window.setInterval(tick, 200);
    show($('run-error'), false);
    show($('run-panel'), true);
    $<HTMLButtonElement>('cancel').disabled = false;
    $('run-stage').textContent = 'Starting…';
    $('run-step').textContent = '';
    $('run-eta').textContent = '';
    show($('live-fig'), false);
    delete $('live-fig').dataset.count;
    $<HTMLProgressElement>('run-progress').removeAttribute('value');
    const panel = $('run-panel');
    delete panel.dataset.stage;
    delete panel.dataset.step;
    panel.dataset.count = String(count);
    panel.dataset.subjectReused = '';
    showVariation(running);
    $('previews').replaceChildren();
    show($('previews'), false);
    grid.start(id, count, p.seed);
    grid.running(0);
    $('run-status').textContent = `${mode === 'generate' ? 'Generating' : 'Editing'}${count > 1 ? ` ${count} variations` : ''}.`;
    document.body.dataset.running = 'true';
    window.addEventListener('beforeunload', warnBeforeLeaving);
    tick();
    updateRunState();
    if (window.matchMedia('(max-width: 900px)').matches) $('outputs').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  /** The line above the stage: which variation is being made, and whether the subject was reused. */
  function showVariation(run: RunState): void {
    const reused = run.reused.includes(run.variation);
    $('run-variation').textContent = run.count > 1 ? variationLine(run.variation, run.count, run.seed + run.variation) : '';
    show($('run-subject'), reused);
    show($('run-variation-line'), run.count > 1 || reused);
    $('run-panel').dataset.variation = String(run.variation + 1);
  }

  /** Variation `v` (from 0) of the run in progress has begun: fresh previews, its line, its tile. */
  function beginVariation(run: RunState, v: number): void {
    run.variation = v;
    $('previews').replaceChildren();
    show($('previews'), false);
    showVariation(run);
    grid.running(v);
    if (run.count > 1) $('run-status').textContent = variationLine(v, run.count, run.seed + v);
    updateRunState();
  }

  function tick(): void {
    if (!running) return;
    const now = performance.now();
    $('run-elapsed').textContent = elapsed(now - running.t0);
    // The seconds of a one-step stage count up (#run-step is not a live region; #run-stage is,
    // so the cancelling estimate is written once, not counted down).
    const { clock } = running;
    if (!running.cancelling && clock.last && isOneStep(clock.last)) $('run-step').textContent = stepLine(clock, now);
  }

  function finish(): void {
    if (!running) return;
    clearInterval(running.timer);
    running = null;
    show($('run-panel'), false);
    delete document.body.dataset.running;
    window.removeEventListener('beforeunload', warnBeforeLeaving);
    updateRunState();
  }

  function noteResult(r: Extract<Reply, { type: 'result' }>): RunState | null {
    const { id, variation } = r;
    if (!running || id !== running.id) return null;
    const run = running;
    // The last iteration may arrive only as the result: keep the strip complete.
    if (variation === run.variation && !$('previews').querySelector(`li[data-iteration="${r.iterations}"]`)) {
      addPreview(r.iterations, r.similarity, r.image);
    }
    run.done = Math.max(run.done, variation + 1);
    if (variation + 1 >= run.count) finish();
    else if (!run.cancelling) beginVariation(run, variation + 1);
    return run;
  }

  function onProgress(p: Extract<Reply, { type: 'progress' }>): void {
    if (!running || p.id !== running.id || running.cancelling) return;
    if (p.variation !== running.variation) beginVariation(running, p.variation);
    const now = performance.now();
    running.clock.note(p, now);
    if (p.stage === 'subject-reused' && !running.reused.includes(p.variation)) {
      running.reused.push(p.variation);
      // The variations (from 1) that reused the subject, e.g. "2 3 4" (the tests read it).
      $('run-panel').dataset.subjectReused = running.reused.map((v) => v + 1).join(' ');
      showVariation(running);
    }
    const label = stageLabel(p);
    if ($('run-stage').textContent !== label) $('run-stage').textContent = label;
    running.stage = p.stage;
    const bar = $<HTMLProgressElement>('run-progress');
    // One long step: an indeterminate (animated) bar and the seconds spent, not "step 0 of 1".
    if (isOneStep(p)) bar.removeAttribute('value');
    else bar.value = p.total > 0 ? p.step / p.total : 0;
    $('run-step').textContent = stepLine(running.clock, now);
    if ($('run-eta').textContent !== p.timeLeft) $('run-eta').textContent = p.timeLeft;
    $('run-panel').dataset.stage = p.stage;
    $('run-panel').dataset.step = String(p.step);
  }

  function addPreview(iteration: number, similarity: number | null, image: RgbaImage): void {
    const li = document.createElement('li');
    li.dataset.iteration = String(iteration);
    const canvas = document.createElement('canvas');
    drawRgba(canvas, image);
    canvas.setAttribute('role', 'img');
    const cap = document.createElement('span');
    cap.textContent = `${iteration === 0 ? 'Initial' : `Iteration ${iteration}`}${similarity !== null ? ` · ${similarity.toFixed(3)}` : ''}`;
    canvas.setAttribute('aria-label', cap.textContent);
    li.append(canvas, cap);
    $('previews').append(li);
    show($('previews'), true);
  }

  function onPreview(p: Extract<Reply, { type: 'preview' }>): void {
    if (!running || p.id !== running.id || p.variation !== running.variation) return;
    addPreview(p.iteration, p.similarity, p.image);
  }

  function onStepPreview(p: Extract<Reply, { type: 'step-preview' }>): void {
    if (!running || p.id !== running.id || p.variation !== running.variation || running.cancelling) return;
    drawRgba($<HTMLCanvasElement>('live-preview'), p.image);
    const fig = $('live-fig');
    fig.dataset.step = `${p.stage}/${p.iteration}/${p.step}`;
    fig.dataset.count = String(Number(fig.dataset.count ?? '0') + 1);
    show(fig, true);
  }

  function onFailed(id: number | null, kind: FailureKind, message: string): void {
    if (running && id !== null && id !== running.id) return;
    const run = running;
    finish();
    const ex = explain(kind, message);
    if (kind === 'cancelled') {
      // One sentence that says where it stopped (not "Cancelled" as title and body again).
      ex.title = run ? cancelledText(run.clock, performance.now() - run.t0, { index: run.variation, count: run.count }) : 'Cancelled.';
      ex.body = 'Everything is ready to run again.';
    }
    if (run && run.count > 1 && run.done > 0) {
      ex.body = `${run.done === 1 ? 'The finished variation is' : `The ${run.done} finished variations are`} kept in the history. ${ex.body}`;
    }
    if (run && run.count > 1) grid.stopped(kind === 'cancelled' ? 'Not made (cancelled)' : 'Not made (the run failed)');
    $('run-error-title').textContent = ex.title;
    setText($('run-error-text'), ex.body);
    $('run-error-actions').replaceChildren(...ex.actions.filter((a) => a !== 'retry').map(actionButton));
    const box = $('run-error');
    box.dataset.kind = kind;
    box.classList.toggle('info', kind === 'cancelled');
    show(box, true);
    // The alert above is read out; the status line only repeats failures' titles.
    $('run-status').textContent = kind === 'cancelled' ? '' : `Failed: ${ex.title}.`;
    if (kind === 'device-lost' || kind === 'out-of-memory') {
      model.setStatus('failed', 'The GPU device needs a restart: reload the model.');
      const me = $('model-error');
      $('model-error-title').textContent = ex.title;
      setText($('model-error-text'), ex.body);
      $('model-error-actions').replaceChildren(actionButton('reload-model'));
      show(me, true);
    }
  }

  runButton.addEventListener('click', () => {
    const reason = blockReason();
    if (reason !== null) {
      if (reason.field && !running) {
        if (reason.field.closest('#advanced')) $('advanced').setAttribute('open', '');
        setInvalid(reason.field, true);
        reason.field.focus();
        updateRunState(); // the field is now shown: drop "under Advanced settings"
      }
      $('run-reason').classList.remove('flash');
      void $('run-reason').offsetWidth;
      $('run-reason').classList.add('flash');
      return;
    }
    startRun();
  });

  $('cancel').addEventListener('click', () => {
    if (!running) return;
    running.cancelling = true;
    client.send({ type: 'cancel', id: running.id });
    $<HTMLButtonElement>('cancel').disabled = true;
    $('run-stage').textContent = cancellingText(running.clock, performance.now());
    updateRunState();
  });
  $('advanced').addEventListener('toggle', () => updateRunState());

  return { updateRunState, current: () => running, finish, noteResult, addPreview, onProgress, onPreview, onStepPreview, onFailed };
}
