// The page: wires the UI modules (www/src/ui/) to the worker. It draws what the worker reports;
// no GPU work and no model math happen here (see worker.ts). Each module owns a part of
// index.html; this file creates them in order, routes the worker's replies to them and starts.

import { loadDeployConfig } from './config.js';
import { $, show } from './dom.js';
import type { Reply } from './protocol.js';
import { createActionButtons } from './ui/actions.js';
import { installAppErrorHandling, showAppError } from './ui/app-error.js';
import { createGpuPanel } from './ui/gpu-panel.js';
import { createInputs } from './ui/inputs.js';
import { DecodeClient } from './decode-client.js';
import { createModeSwitch } from './ui/mode.js';
import { createModelPanel } from './ui/model-panel.js';
import { setupModelPanelToggle } from './ui/panel.js';
import { createParamsForm } from './ui/params.js';
import { createPromptTokens } from './ui/prompt-tokens.js';
import { createPerfPanel } from './ui/perf-panel.js';
import { createResultGrid } from './ui/result-grid.js';
import { createResults } from './ui/results.js';
import { createRunPanel } from './ui/run-panel.js';
import { createFormMemory } from './ui/saved-form.js';
import { createScoresPanel } from './ui/scores.js';
import { state } from './ui/state.js';
import { createStoragePanel } from './ui/storage-panel.js';
import { WorkerClient } from './worker-client.js';

// --- never die silently -----------------------------------------------------------------------

installAppErrorHandling();

// --- offline: the service worker caches the app shell ------------------------------------------

if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('sw.js').catch(() => {
    // Without it the page works, just not offline.
  });
}

// --- the worker --------------------------------------------------------------------------------

const client = new WorkerClient({
  onReply,
  onStartFailed: (detail) => gpu.showFailure('device-failed', detail),
  onCrash: (what, ready) => {
    if (!ready) gpu.showFailure('device-failed', `the background worker failed: ${what}`);
    else showAppError(`The background worker crashed: ${what}. Reload the model to continue.`);
    run.finish();
  },
  onUnreadable: () => showAppError('A message from the background worker could not be read.'),
});

// `?debug`: a hook for the browser tests to make the core panic (the crash recovery above).
if (new URLSearchParams(location.search).has('debug')) {
  (window as unknown as { ezigenDebug: unknown }).ezigenDebug = { panic: () => client.send({ type: 'debug-panic' }) };
}

/** Throws the worker (and the GPU device with it) away and starts a fresh one. */
function restartWorker(reloadModel: boolean): void {
  client.stop();
  run.finish();
  model.setStatus('idle', 'Restarting…');
  scores.onModelLoading();
  gpu.setStarting();
  state.autoLoadAfterReady = reloadModel;
  client.start();
  run.updateRunState();
}

function afterSelfTest(): void {
  if (state.autoLoadAfterReady) {
    state.autoLoadAfterReady = false;
    // The first load waits for config.json (where the weights are); a bad one loads nothing.
    void configReady.then((ok) => {
      if (ok) model.retry();
    });
  }
}

function onReply(msg: Reply): void {
  switch (msg.type) {
    case 'ready':
      gpu.showAdapter(msg.adapter);
      // A self-test result remembered from an earlier visit: the model loads at once.
      if (gpu.beginSelfTest()) afterSelfTest();
      else if (state.autoLoadAfterReady) model.setStatus('idle', 'Checking the GPU before loading the model…');
      client.send({ type: 'storage-info' });
      break;
    case 'gpu-unavailable':
      gpu.showFailure(msg.reason, msg.detail);
      break;
    case 'startup-failed':
      gpu.showFailure('device-failed', msg.message);
      showAppError(`${msg.message} Reload the page to try again.`);
      break;
    case 'smoke-result':
      gpu.selfTestPassed(msg);
      afterSelfTest();
      break;
    case 'error':
      gpu.selfTestFailed(msg.message);
      afterSelfTest();
      break;
    case 'model-info':
      model.onInfo(msg.info, msg.needsConfirmation, msg.storage);
      scores.onModelLoading();
      break;
    case 'model-progress':
      model.onProgress(msg);
      break;
    case 'convert-progress':
      model.onConvertProgress(msg.progress, msg.warnings);
      break;
    case 'model-ready':
      model.onReady(msg);
      tokens.refresh();
      perf.onModelReady(msg.ms);
      scores.onModelReady();
      break;
    case 'gemm-tuning':
      perf.onGemmTuning(msg.info);
      break;
    case 'storage-info':
      storage.show(msg.storage);
      if (msg.deleted) storage.note('The stored weights were deleted.');
      break;
    case 'progress':
      perf.noteFirstStep(msg.stage, msg.step);
      run.onProgress(msg);
      break;
    case 'preview':
      run.onPreview(msg);
      break;
    case 'step-preview':
      run.onStepPreview(msg);
      break;
    case 'result':
      void results.onResult(msg);
      break;
    case 'prompt-tokens':
      tokens.show(msg.text, msg.tokens);
      break;
    case 'bench-record':
      perf.onRecord(msg.record);
      break;
    case 'bench-done':
      perf.onDone(msg.ms, msg.error);
      break;
    case 'metrics-info':
      scores.onInfo(msg.info, msg.needsConfirmation, msg.storage);
      break;
    case 'metrics-progress':
      scores.onProgress(msg);
      break;
    case 'metrics-ready':
      scores.onReady(msg);
      break;
    case 'scores':
      results.onScores(msg);
      break;
    case 'engine-crashed':
      showAppError(
        `The app's engine stopped on an internal error (${msg.message}). It was restarted, and the model is being reloaded from browser storage: run again once it is ready.`,
      );
      restartWorker(true);
      break;
    case 'failed':
      if (msg.scope === 'run') run.onFailed(msg.id, msg.kind, msg.message);
      else if (msg.scope === 'model') model.onFailed(msg.kind, msg.message);
      else if (msg.scope === 'metrics') scores.onFailed(msg.kind, msg.message);
      else storage.note(`Browser storage could not be read or changed: ${msg.message}`);
      break;
  }
}

// --- the UI modules ------------------------------------------------------------------------------

/** Re-checks whether the run button can run (after anything that may change the answer). */
const refresh = () => run.updateRunState();

const actionButton = createActionButtons({
  'reload-model': () => {
    show($('run-error'), false);
    restartWorker(true);
  },
  retry: () => model.retry(),
  'delete-cache': () => storage.askDelete(),
  'choose-folder': () => model.chooseFolder(),
  'load-without-saving': () => model.loadWithoutSaving(),
  'reload-page': () => location.reload(),
});

setupModelPanelToggle();
const storage = createStoragePanel(client);
const model = createModelPanel({ client, storage, actionButton, isRunning: () => run.current() !== null, refresh });
const gpu = createGpuPanel({
  client,
  actionButton,
  model,
  isBusy: () => run.current() !== null || state.model.status === 'loading',
  refresh,
});
const perf = createPerfPanel(client);
const tokens = createPromptTokens(client);
const inputs = createInputs({
  decode: new DecodeClient().decode,
  // A replaced image stays open while a run or a history entry still shows it.
  inUse: (img) => run.current()?.source === img || results.shows(img.bitmap),
  refresh,
});
const setMode = createModeSwitch({ onEdit: () => inputs.source.canvas.fit(), refresh });
const params = createParamsForm({ refresh });
const grid = createResultGrid({ select: (item) => results.select(item) });
const run = createRunPanel({ client, inputs, params, actionButton, model, grid });
const results = createResults({
  run,
  grid,
  setMode,
  writeParams: (p) => {
    params.write(p);
    form.save();
  },
});
// Off by default; remembered. Loads the metric models only when turned on.
const scores = createScoresPanel({ client, showScores: () => results.showScores() });
// The form and the history survive reloads (saved-form.ts, history-store.ts).
const form = createFormMemory({ setMode, params });

// --- start ---------------------------------------------------------------------------------------

// The deployment's config.json (where the weights are), read while the GPU starts.
const configReady = loadDeployConfig().then((result) => {
  const ok = model.applyConfig(result);
  if (!ok) state.autoLoadAfterReady = false;
  return ok;
});

form.restore();
void results.restoreHistory();
model.setStatus('idle', 'Waiting for the graphics device…');
client.start();
