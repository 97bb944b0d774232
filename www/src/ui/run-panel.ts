// Running: the primary button (and why it cannot run yet), starting a generate or edit run in
// the worker, its progress, previews of each iteration, cancelling, and run failures.

import { $, setText, show } from '../dom.js';
import { copyRgba, drawRgba, type DecodedImage } from '../image.js';
import { STAGE_LABELS, explain } from '../messages.js';
import type { EditParams, FailureKind, Reply, RgbaImage, Stage } from '../protocol.js';
import type { WorkerClient } from '../worker-client.js';
import type { ActionButton } from './actions.js';
import type { Inputs } from './inputs.js';
import type { ModelPanel } from './model-panel.js';
import type { ParamsForm } from './params.js';
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
  function blockReason(): string | null {
    if (state.gpu === 'failed') return 'WebGPU is not available (see “Model & device”).';
    if (running) return running.cancelling ? 'Cancelling…' : 'Running…';
    if (state.model.status !== 'ready') {
      if (state.model.status === 'loading') return `Loading the model… ${Math.round(state.model.progress * 100)} %`;
      if (state.gpu === 'loading') return 'Starting WebGPU…';
      if (state.autoLoadAfterReady) return 'Checking the GPU before loading the model…';
      return 'Load a model first (see “Model & device”).';
    }
    if (state.mode === 'edit') {
      if (!source.slot.image) return 'Add the photo to edit.';
      if (source.canvas.paintedPixels === 0) return 'Paint the area to edit on the photo.';
    }
    if (!subject.slot.image) return 'Add a subject image.';
    if (subject.painting() && subject.canvas.paintedPixels === 0) {
      return 'Paint the subject on its photo, or keep the background.';
    }
    if (!$<HTMLTextAreaElement>('prompt').value.trim()) return 'Write a prompt.';
    if (!$<HTMLInputElement>('subject-prompt').value.trim()) return 'Say what the subject is (e.g. “a dog”).';
    const r = params.read();
    if ('error' in r) return r.error;
    return null;
  }

  function updateRunState(): void {
    const reason = blockReason();
    runButton.setAttribute('aria-disabled', String(reason !== null));
    runButton.classList.toggle('blocked', reason !== null);
    $('run-reason').textContent = reason ?? (state.mode === 'generate' ? 'Ready to generate.' : 'Ready to edit.');
    $('run-reason').dataset.ready = String(reason === null);
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
    running = { id, mode, params: p, t0: performance.now(), timer: 0, stage: null, source: mode === 'edit' ? source.slot.image : null, cancelling: false };
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
    if (running) $('run-elapsed').textContent = elapsed(performance.now() - running.t0);
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
    let label = STAGE_LABELS[p.stage] ?? p.stage;
    // Iteration 0 is the initial image (layout run); refinement iterations count from 1.
    if ((p.stage === 'transfer' || p.stage === 'decode') && p.iteration > 0) label += `, iteration ${p.iteration}`;
    if (running.stage !== p.stage || !$('run-stage').textContent!.startsWith(label)) $('run-stage').textContent = label;
    running.stage = p.stage;
    const bar = $<HTMLProgressElement>('run-progress');
    bar.value = p.total > 0 ? p.step / p.total : 0;
    const sim = p.similarity !== null ? ` · similarity ${p.similarity.toFixed(3)}` : '';
    $('run-step').textContent = `step ${p.step} of ${p.total}${sim}`;
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
    finish();
    const ex = explain(kind, message);
    $('run-error-title').textContent = ex.title;
    setText($('run-error-text'), ex.body);
    $('run-error-actions').replaceChildren(...ex.actions.filter((a) => a !== 'retry').map(actionButton));
    const box = $('run-error');
    box.dataset.kind = kind;
    box.classList.toggle('info', kind === 'cancelled');
    show(box, true);
    $('run-status').textContent = kind === 'cancelled' ? 'Cancelled.' : `Failed: ${ex.title}.`;
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
      const r = params.read();
      if ('error' in r && !running) {
        $('advanced').setAttribute('open', '');
        r.field.focus();
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
    $('run-stage').textContent = 'Cancelling (stops after the current step)…';
    updateRunState();
  });

  return { updateRunState, current: () => running, finish, claim, addPreview, onProgress, onPreview, onFailed };
}
