// Running: the primary button (and why it cannot run yet), starting a generate or edit run in
// the worker, its progress, previews of each iteration, cancelling, and run failures.

import { $, setInvalid, setText, show } from '../dom.js';
import { copyRgba, drawRgba, type DecodedImage } from '../image.js';
import { explain } from '../messages.js';
import type { EditParams, FailureKind, Reply, RgbaImage, Stage } from '../protocol.js';
import type { WorkerClient } from '../worker-client.js';
import type { ActionButton } from './actions.js';
import type { Inputs } from './inputs.js';
import type { ModelPanel } from './model-panel.js';
import type { ParamsForm } from './params.js';
import { StepClock, cancelledText, cancellingText, isOneStep, stageLabel, stepLine } from './run-progress.js';
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
}

/** What the run button says while a run of each mode is in progress. */
const RUNNING_LABEL: Record<Mode, string> = { generate: 'Generating…', edit: 'Editing…' };
/** The run button's label when no run is in progress. */
const RUN_LABEL: Record<Mode, string> = { generate: 'Generate', edit: 'Edit' };

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
}

/** The run panel's operations. */
export interface RunPanel {
  /** Updates the run button and the line that says why it cannot run (or that it can). */
  updateRunState(): void;
  /** The run in progress, or null. */
  current(): RunState | null;
  /** Ends the run in progress (if any) and hides its panel. */
  finish(): void;
  /** If `id` is the run in progress: ends it and returns it (its result arrived). */
  claim(id: number): RunState | null;
  /** Adds an iteration's image to the previews strip. */
  addPreview(iteration: number, similarity: number | null, image: RgbaImage): void;
  /** Progress of a run: stage, step and similarity. */
  onProgress(p: Extract<Reply, { type: 'progress' }>): void;
  /** An iteration's image of the run in progress. */
  onPreview(id: number, iteration: number, similarity: number | null, image: RgbaImage): void;
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
  const { client, inputs, params, actionButton, model } = deps;
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
      return { text: `${RUNNING_LABEL[running.mode]} Wait for the result or cancel the run.` };
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
    if (!subject.slot.image) return { text: 'Add a subject image.' };
    if (subject.painting() && subject.canvas.paintedPixels === 0) {
      return { text: 'Paint the subject on its photo, or keep the background.' };
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
    runButton.textContent = running ? RUNNING_LABEL[running.mode] : RUN_LABEL[state.mode];
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
    if ('error' in r || !subject.slot.image) return;
    const id = ++runSeq;
    const mode = state.mode;
    const p = r.params;
    const subjectRgba = copyRgba(subject.slot.image.rgba);
    const sMask = subject.mask();
    const transfer: Transferable[] = [subjectRgba.data.buffer];
    if (sMask) transfer.push(sMask.data.buffer);
    if (mode === 'generate') {
      const { compositeBackground: _unused, ...generateParams } = p;
      client.send({ type: 'generate', id, params: generateParams, subject: subjectRgba, subjectMask: sMask }, transfer);
    } else {
      const src = source.slot.image!;
      const sourceRgba = copyRgba(src.rgba);
      const mask = source.canvas.getMask();
      transfer.push(sourceRgba.data.buffer, mask.data.buffer);
      client.send({ type: 'edit', id, params: p, source: sourceRgba, mask, subject: subjectRgba, subjectMask: sMask }, transfer);
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
    };
    running.timer = window.setInterval(tick, 200);
    show($('run-error'), false);
    show($('run-panel'), true);
    $<HTMLButtonElement>('cancel').disabled = false;
    $('run-stage').textContent = 'Starting…';
    $('run-step').textContent = '';
    $<HTMLProgressElement>('run-progress').removeAttribute('value');
    $('previews').replaceChildren();
    show($('previews'), false);
    $('run-status').textContent = mode === 'generate' ? 'Generating.' : 'Editing.';
    document.body.dataset.running = 'true';
    window.addEventListener('beforeunload', warnBeforeLeaving);
    tick();
    updateRunState();
    if (window.matchMedia('(max-width: 900px)').matches) $('outputs').scrollIntoView({ behavior: 'smooth', block: 'start' });
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

  function claim(id: number): RunState | null {
    if (!running || id !== running.id) return null;
    const run = running;
    finish();
    return run;
  }

  function onProgress(p: Extract<Reply, { type: 'progress' }>): void {
    if (!running || p.id !== running.id || running.cancelling) return;
    const now = performance.now();
    running.clock.note(p, now);
    const label = stageLabel(p);
    if ($('run-stage').textContent !== label) $('run-stage').textContent = label;
    running.stage = p.stage;
    const bar = $<HTMLProgressElement>('run-progress');
    // One long step: an indeterminate (animated) bar and the seconds spent, not "step 0 of 1".
    if (isOneStep(p)) bar.removeAttribute('value');
    else bar.value = p.total > 0 ? p.step / p.total : 0;
    $('run-step').textContent = stepLine(running.clock, now);
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

  function onPreview(id: number, iteration: number, similarity: number | null, image: RgbaImage): void {
    if (!running || id !== running.id) return;
    addPreview(iteration, similarity, image);
  }

  function onFailed(id: number | null, kind: FailureKind, message: string): void {
    if (running && id !== null && id !== running.id) return;
    const run = running;
    finish();
    const ex = explain(kind, message);
    if (kind === 'cancelled') {
      // One sentence that says where it stopped (not "Cancelled" as title and body again).
      ex.title = run ? cancelledText(run.clock, performance.now() - run.t0) : 'Cancelled.';
      ex.body = 'Everything is ready to run again.';
    }
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

  return { updateRunState, current: () => running, finish, claim, addPreview, onProgress, onPreview, onFailed };
}
