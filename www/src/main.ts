// The page: inputs, mask painting, progress and results. It draws what the worker reports; no
// GPU work and no model math happen here (see worker.ts).

import { ImageInputError, copyRgba, decodeImageFile, drawRgba, maskFromAlpha, maskFromImage, resizeMaskNearest, rgbaToPngBlob, whitenOutside, type DecodedImage } from './image.js';
import { MaskCanvas, createMaskToolbar } from './mask-canvas.js';
import { ACTION_LABELS, GPU_MESSAGES, STAGE_LABELS, explain, type Action } from './messages.js';
import { asciiJson, insertTextChunk } from './png.js';
import {
  DEFAULTS,
  LIMITS,
  type AdapterReport,
  type BenchRecord,
  type ComponentProgress,
  type EditParams,
  type FailureKind,
  type GpuFailure,
  type LoadOptions,
  type MaskImage,
  type ModelInfo,
  type ModelSource,
  type Reply,
  type Request,
  type RgbaImage,
  type Stage,
  type StorageInfo,
} from './protocol.js';
import { formatBytes } from './weights.js';

type Mode = 'generate' | 'edit';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
};
const show = (el: HTMLElement, on: boolean) => {
  el.hidden = !on;
};

/** Sets text where `backticked` parts become <code> (no HTML parsing). */
function setText(el: HTMLElement, text: string): void {
  el.replaceChildren(
    ...text.split('`').map((part, i) => {
      if (i % 2 === 0) return document.createTextNode(part);
      const code = document.createElement('code');
      code.textContent = part;
      return code;
    }),
  );
}

// --- never die silently -----------------------------------------------------------------------

function showAppError(text: string): void {
  $('app-error-text').textContent = text;
  show($('app-error'), true);
}
window.addEventListener('error', (ev) => {
  const msg = ev.message || String(ev.error ?? 'unknown error');
  if (/ResizeObserver loop/.test(msg)) return; // benign layout notice, not a failure
  showAppError(msg);
});
window.addEventListener('unhandledrejection', (ev) => {
  const r = ev.reason;
  showAppError(r instanceof Error ? r.message : String(r));
});
$('app-error-reload').addEventListener('click', () => location.reload());
$('app-error-dismiss').addEventListener('click', () => show($('app-error'), false));

// --- offline: the service worker caches the app shell ------------------------------------------

if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('sw.js').catch(() => {
    // Without it the page works, just not offline.
  });
}

// --- state ---------------------------------------------------------------------------------------

const state = {
  mode: 'generate' as Mode,
  gpu: 'loading' as 'loading' | 'ok' | 'failed',
  adapter: null as AdapterReport | null,
  model: {
    status: 'idle' as 'idle' | 'loading' | 'confirm' | 'ready' | 'failed',
    name: '',
    tiny: false,
    precision: 'f32' as 'f16' | 'f32',
    progress: 0,
    info: null as ModelInfo | null,
  },
  source: null as DecodedImage | null,
  subject: null as DecodedImage | null,
  storage: null as StorageInfo | null,
};

let lastSource: ModelSource = { kind: 'url', base: 'models/' };
let lastOptions: LoadOptions = { allowF16: true, confirmedLargeDownload: false, saveToStorage: true };

// --- the worker --------------------------------------------------------------------------------

let worker: Worker | null = null;
let workerReady = false;
let autoLoadAfterReady = true;

function send(req: Request, transfer: Transferable[] = []): void {
  if (!worker) throw new Error('the worker is not running');
  worker.postMessage(req, transfer);
}

function startWorker(): void {
  workerReady = false;
  try {
    worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  } catch (e) {
    showGpuFailure('device-failed', `the worker could not start: ${e}`);
    return;
  }
  worker.onerror = (ev) => {
    ev.preventDefault();
    const what = ev.message || 'the script failed to load';
    if (!workerReady) showGpuFailure('device-failed', `the background worker failed: ${what}`);
    else showAppError(`The background worker crashed: ${what}. Reload the model to continue.`);
    if (running) finishRun();
  };
  worker.onmessageerror = () => showAppError('A message from the background worker could not be read.');
  worker.onmessage = (ev: MessageEvent<Reply>) => onReply(ev.data);
}

/** Throws the worker (and the GPU device with it) away and starts a fresh one. */
function restartWorker(reloadModel: boolean): void {
  worker?.terminate();
  worker = null;
  if (running) finishRun();
  setModelStatus('idle', 'Restarting…');
  state.gpu = 'loading';
  const gs = $('gpu-status');
  gs.textContent = 'Starting WebGPU…';
  gs.dataset.state = 'loading';
  autoLoadAfterReady = reloadModel;
  startWorker();
  updateRunState();
}

function onReply(msg: Reply): void {
  switch (msg.type) {
    case 'ready':
      workerReady = true;
      showAdapter(msg.adapter);
      {
        const st = $('selftest-status');
        st.textContent = 'Running a small computation on the GPU…';
        st.dataset.state = 'running';
      }
      send({ type: 'smoke', f16: false });
      send({ type: 'storage-info' });
      if (autoLoadAfterReady) setModelStatus('idle', 'Checking the GPU before loading the model…');
      break;
    case 'gpu-unavailable':
      workerReady = true;
      showGpuFailure(msg.reason, msg.detail);
      break;
    case 'startup-failed':
      workerReady = true;
      showGpuFailure('device-failed', msg.message);
      showAppError(`${msg.message} Reload the page to try again.`);
      break;
    case 'smoke-result': {
      const st = $('selftest-status');
      let kernels = '';
      if (msg.kernels) {
        const good = msg.kernels.filter((k) => k.ok).length;
        const dtype = msg.kernels[0]?.dtype ?? '';
        kernels = ` WGSL kernels: ${good} of ${msg.kernels.length} match their reference (${dtype}).`;
        if (msg.f16Unreliable) kernels += ' Half precision gave wrong results on this device, so models load in f32.';
        st.dataset.kernels = JSON.stringify(msg.kernels);
      }
      st.textContent = `GPU self-test passed: ${msg.output.shape.join('×')} values in ${msg.ms.toFixed(0)} ms.${kernels}`;
      st.dataset.state = 'ok';
      st.dataset.values = JSON.stringify(msg.output.values);
      afterSelfTest();
      break;
    }
    case 'error': {
      const st = $('selftest-status');
      st.textContent = `GPU self-test failed: ${msg.message}`;
      st.dataset.state = 'failed';
      afterSelfTest();
      break;
    }
    case 'model-info':
      onModelInfo(msg.info, msg.needsConfirmation, msg.storage);
      break;
    case 'model-progress':
      onModelProgress(msg);
      break;
    case 'model-ready':
      onModelReady(msg);
      break;
    case 'storage-info':
      showStorage(msg.storage);
      if (msg.deleted) {
        const note = $('storage-note');
        note.textContent = 'The stored weights were deleted.';
        show(note, true);
      }
      break;
    case 'progress':
      onRunProgress(msg);
      break;
    case 'preview':
      onPreview(msg.id, msg.iteration, msg.similarity, msg.image);
      break;
    case 'result':
      void onResult(msg.id, msg.image, msg.ms, msg.iterations, msg.similarity);
      break;
    case 'bench-record':
      onBenchRecord(msg.record);
      break;
    case 'bench-done':
      onBenchDone(msg.ms, msg.error);
      break;
    case 'failed':
      if (msg.scope === 'run') onRunFailed(msg.id, msg.kind, msg.message);
      else if (msg.scope === 'model') onModelFailed(msg.kind, msg.message);
      else {
        const note = $('storage-note');
        note.textContent = `Browser storage could not be read or changed: ${msg.message}`;
        show(note, true);
      }
      break;
  }
}

function afterSelfTest(): void {
  if (autoLoadAfterReady) {
    autoLoadAfterReady = false;
    loadModel(lastSource, lastOptions);
  }
}

// --- GPU panel ---------------------------------------------------------------------------------

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

function showAdapter(a: AdapterReport): void {
  state.adapter = a;
  state.gpu = 'ok';
  $('adapter-name').textContent = a.name || '(unnamed adapter)';
  $('adapter-backend').textContent = `${a.backend} · ${a.device_type}`;
  $('adapter-f16').textContent = a.shader_f16 ? 'yes (f16 path)' : 'no (f32 path)';
  $('limit-buffer').textContent = mib(a.max_buffer_size);
  $('limit-binding').textContent = mib(a.max_storage_buffer_binding_size);
  $('limit-workgroup').textContent = `${(a.max_compute_workgroup_storage_size / 1024).toFixed(0)} KiB`;
  show($('adapter'), true);
  show($('gpu-error'), false);
  const status = $('gpu-status');
  status.textContent = 'WebGPU is ready.';
  status.dataset.state = 'ok';
  updateRunState();
}

function showGpuFailure(reason: GpuFailure, detail: string): void {
  state.gpu = 'failed';
  const { title, body } = GPU_MESSAGES[reason];
  const box = $('gpu-error');
  box.replaceChildren();
  const h = document.createElement('h3');
  h.textContent = title;
  const p = document.createElement('p');
  p.textContent = body;
  const d = document.createElement('p');
  d.className = 'detail';
  d.textContent = `Details: ${detail}`;
  const actions = document.createElement('div');
  actions.className = 'row tight';
  actions.append(actionButton('reload-page'));
  box.append(h, p, d, actions);
  box.hidden = false;
  box.dataset.reason = reason;
  const status = $('gpu-status');
  status.textContent = 'WebGPU is not available.';
  status.dataset.state = 'failed';
  const st = $('selftest-status');
  st.textContent = 'Skipped: no GPU device.';
  st.dataset.state = 'failed';
  setModelStatus('failed', 'No GPU: the model cannot be loaded.');
  openPanel();
  updateRunState();
}

// --- model panel -------------------------------------------------------------------------------

const panel = $<HTMLDetailsElement>('model-panel');
const chip = $('model-chip');
chip.addEventListener('click', () => {
  panel.open = !panel.open;
  if (panel.open) panel.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
});
panel.addEventListener('toggle', () => chip.setAttribute('aria-expanded', String(panel.open)));

function openPanel(): void {
  panel.open = true;
}

function setModelStatus(status: typeof state.model.status, text: string): void {
  state.model.status = status;
  const el = $('model-status');
  el.textContent = text;
  el.dataset.state = status;
  const summary = $('model-summary');
  chip.dataset.state = status === 'ready' ? (state.model.tiny ? 'warn' : 'ok') : status;
  let chipText = state.gpu === 'loading' || autoLoadAfterReady ? 'Starting…' : 'No model';
  if (status === 'ready') chipText = `${state.model.name} · ${state.model.precision}`;
  else if (status === 'loading') chipText = `Loading model ${Math.round(state.model.progress * 100)} %`;
  else if (status === 'failed') chipText = state.gpu === 'failed' ? 'No WebGPU' : 'Model not loaded';
  else if (status === 'confirm') chipText = 'Download needed';
  $('model-chip-text').textContent = chipText;
  summary.textContent = text;
  const sp = $<HTMLProgressElement>('model-summary-progress');
  show(sp, status === 'loading');
  show($('model-cancel'), status === 'loading');
  $<HTMLButtonElement>('model-load').disabled = status === 'loading' || state.gpu !== 'ok';
  updateRunState();
}

function loadModel(source: ModelSource, options: LoadOptions): void {
  if (state.gpu !== 'ok' || !worker) return;
  if (running) return;
  lastSource = source;
  lastOptions = options;
  state.model.progress = 0;
  state.model.tiny = false;
  show($('model-error'), false);
  show($('model-confirm'), false);
  show($('tiny-banner'), false);
  setModelStatus('loading', source.kind === 'url' ? `Reading ${source.base}manifest.json…` : 'Reading the chosen folder…');
  send({ type: 'load-model', source, options });
}

function onModelInfo(info: ModelInfo, needsConfirmation: boolean, storage: StorageInfo | null): void {
  state.model.info = info;
  if (storage) showStorage(storage);
  buildComponentRows(info);
  const cachedNote =
    info.cachedShards > 0 ? ` ${info.cachedShards} of ${info.shardCount} parts (${formatBytes(info.cachedBytes)}) are stored already.` : '';
  if (needsConfirmation) {
    const free = storage && storage.quota !== null && storage.usage !== null ? ` This site may use ${formatBytes(storage.quota - storage.usage)} more storage.` : '';
    $('model-confirm-text').textContent =
      `The model “${info.name}” is ${formatBytes(info.totalBytes)}; ${formatBytes(info.toDownloadBytes)} still has to be downloaded.` +
      `${cachedNote} It is kept in this browser's storage, so the next visit downloads nothing.${free}`;
    show($('model-confirm'), true);
    show($('model-progress'), false);
    setModelStatus('confirm', `Download of ${formatBytes(info.toDownloadBytes)} needed.`);
    openPanel();
    return;
  }
  const what = info.source === 'files' ? 'from the chosen folder' : info.toDownloadBytes > 0 ? `downloading ${formatBytes(info.toDownloadBytes)}` : 'from browser storage';
  setModelStatus('loading', `Loading “${info.name}” (${formatBytes(info.totalBytes)}), ${what}.${info.toDownloadBytes > 0 ? cachedNote : ''}`);
  show($('model-progress'), true);
}

$('bench-run').addEventListener('click', runBenchmark);
$('bench-copy').addEventListener('click', copyBenchResults);
$('model-confirm-yes').addEventListener('click', () => {
  void navigator.storage?.persist?.().catch(() => false);
  loadModel(lastSource, { ...lastOptions, confirmedLargeDownload: true });
});
$('model-confirm-no').addEventListener('click', () => {
  show($('model-confirm'), false);
  setModelStatus('idle', 'No model loaded. Press “Load model” when you are ready to download it, or choose a local folder.');
});

const COMPONENT_NAMES: Record<string, string> = {
  tokenizer: 'Tokenizer',
  text_encoder: 'Text encoder',
  unet: 'UNet',
  adapters: 'EZIGen adapters',
  vae_encoder: 'VAE encoder',
  vae_decoder: 'VAE decoder',
  clip_vision: 'CLIP vision',
};
const STATE_NAMES: Record<ComponentProgress['state'], string> = {
  pending: 'waiting',
  downloading: 'downloading',
  verifying: 'checking',
  uploading: 'to the GPU',
  ready: 'ready',
  failed: 'failed',
};

function buildComponentRows(info: ModelInfo): void {
  const body = $('model-components').querySelector('tbody')!;
  body.replaceChildren();
  for (const c of info.components) {
    const tr = document.createElement('tr');
    tr.dataset.component = c.component;
    const name = document.createElement('th');
    name.scope = 'row';
    name.textContent = COMPONENT_NAMES[c.component] ?? c.component;
    const size = document.createElement('td');
    size.className = 'mono';
    size.textContent = formatBytes(c.bytes);
    const prog = document.createElement('td');
    const bar = document.createElement('progress');
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute('aria-label', `${name.textContent} progress`);
    prog.append(bar);
    const st = document.createElement('td');
    st.className = 'state';
    st.textContent = 'waiting';
    tr.append(name, size, prog, st);
    body.append(tr);
  }
}

function onModelProgress(p: Extract<Reply, { type: 'model-progress' }>): void {
  const body = $('model-components').querySelector('tbody')!;
  for (const c of p.components) {
    const tr = body.querySelector<HTMLTableRowElement>(`tr[data-component="${CSS.escape(c.component)}"]`);
    if (!tr) continue;
    tr.dataset.state = c.state;
    tr.querySelector('progress')!.value = c.total > 0 ? c.loaded / c.total : c.state === 'ready' ? 1 : 0;
    const label = STATE_NAMES[c.state] + (c.fromCache && c.state === 'ready' ? ' (stored)' : '');
    tr.querySelector('td.state')!.textContent = label;
  }
  const frac = p.total > 0 ? p.loaded / p.total : 0;
  state.model.progress = frac;
  $<HTMLProgressElement>('model-overall').value = frac;
  $<HTMLProgressElement>('model-summary-progress').value = frac;
  const cached = p.cachedShards > 0 ? ` · ${p.cachedShards} from storage` : '';
  $('model-overall-text').textContent = `${formatBytes(p.loaded)} of ${formatBytes(p.total)} · part ${Math.min(p.shardsDone + 1, p.shardCount)} of ${p.shardCount}${cached}`;
  if (state.model.status === 'loading') {
    $('model-chip-text').textContent = `Loading model ${Math.round(frac * 100)} %`;
    updateRunState();
  }
}

function onModelReady(msg: Extract<Reply, { type: 'model-ready' }>): void {
  state.model.name = msg.name;
  state.model.tiny = msg.tiny;
  state.model.precision = msg.precision;
  const from =
    msg.downloadedShards === 0
      ? msg.cachedShards > 0
        ? 'all from browser storage'
        : lastSource.kind === 'files'
          ? 'from the chosen folder'
          : ''
      : `${msg.downloadedShards} part${msg.downloadedShards === 1 ? '' : 's'} downloaded, ${msg.cachedShards} from storage`;
  setModelStatus('ready', `Model “${msg.name}” is ready (${msg.precision} path${from ? `, ${from}` : ''}, ${(msg.ms / 1000).toFixed(1)} s).`);
  $('model-status').dataset.cached = String(msg.cachedShards);
  $('model-status').dataset.downloaded = String(msg.downloadedShards);
  $('model-status').dataset.wasmMemory = String(msg.wasmMemoryBytes);
  $<HTMLProgressElement>('model-overall').value = 1;
  show($('tiny-banner'), msg.tiny);
  if (msg.warning) {
    const note = $('storage-note');
    note.textContent = msg.warning;
    show(note, true);
    openPanel();
  }
  void navigator.storage?.persist?.().catch(() => false);
  send({ type: 'storage-info' });
  timeline.modelReadyAt = performance.now();
  timeline.loadMs = msg.ms;
  showTimeline();
  $<HTMLButtonElement>('bench-run').disabled = false;
  if (new URLSearchParams(location.search).has('bench') && !benchStarted) runBenchmark();
}

// --- Performance: load timeline and the benchmark ---------------------------------------------

/** Milliseconds since the page was opened (performance.now()'s origin is the navigation). */
const timeline = {
  modelReadyAt: null as number | null,
  loadMs: null as number | null,
  firstStepAt: null as number | null,
};

function showTimeline(): void {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const parts: string[] = [];
  if (timeline.modelReadyAt !== null) parts.push(`page open → model ready: ${s(timeline.modelReadyAt)} (loading took ${s(timeline.loadMs ?? 0)})`);
  if (timeline.firstStepAt !== null) parts.push(`page open → first denoising step: ${s(timeline.firstStepAt)}`);
  const el = $('perf-timeline');
  el.textContent = parts.join(' · ') || 'Timings appear once a model is loaded.';
  if (timeline.modelReadyAt !== null) el.dataset.modelReadyMs = String(Math.round(timeline.modelReadyAt));
  if (timeline.firstStepAt !== null) el.dataset.firstStepMs = String(Math.round(timeline.firstStepAt));
}

/** Called for every progress message: notes when the first denoising step of the visit ends. */
function noteFirstStep(stage: Stage, step: number): void {
  if (timeline.firstStepAt === null && step >= 1 && (stage === 'layout' || stage === 'inversion')) {
    timeline.firstStepAt = performance.now();
    showTimeline();
  }
}

let benchStarted = false;
const benchRecords: BenchRecord[] = [];

function runBenchmark(): void {
  benchStarted = true;
  benchRecords.length = 0;
  const table = $<HTMLTableElement>('bench-table');
  table.tBodies[0].replaceChildren();
  delete table.dataset.done;
  show(table, false);
  show($('bench-copy'), false);
  $<HTMLButtonElement>('bench-run').disabled = true;
  $('bench-status').textContent = 'Benchmark running… (the first run of each stage includes compiling its GPU kernels)';
  // ?bench-steps=…&bench-iterations=…&bench-repeats=… shorten the full runs (automation).
  const q = new URLSearchParams(location.search);
  const num = (k: string) => (q.has(k) && Number.isFinite(Number(q.get(k))) && Number(q.get(k)) > 0 ? Math.floor(Number(q.get(k))) : undefined);
  send({
    type: 'bench',
    options: {
      repeats: num('bench-repeats') ?? 2,
      steps: num('bench-steps'),
      iterations: num('bench-iterations'),
      labels: { model: state.model.name || 'unknown' },
    },
  });
}

function onBenchRecord(r: BenchRecord): void {
  benchRecords.push(r);
  const ms = (v: unknown) => (typeof v === 'number' ? `${v >= 1000 ? (v / 1000).toFixed(2) + ' s' : v.toFixed(1) + ' ms'}` : '–');
  let name = r.bench;
  if (r.bench === 'unet_step') name += r.adapters ? ' (adapters on)' : ' (adapters off)';
  const memory = typeof r.peak_reserved_bytes === 'number' ? `peak ${formatBytes(r.peak_reserved_bytes)}` : typeof r.mem_in_use_bytes === 'number' ? formatBytes(r.mem_in_use_bytes) : '–';
  const row = document.createElement('tr');
  row.dataset.bench = r.bench;
  for (const text of [name, ms(r.ms), ms(r.first_ms), typeof r.dispatches === 'number' ? String(r.dispatches) : '–', memory]) {
    const td = document.createElement('td');
    td.textContent = text;
    row.append(td);
  }
  $<HTMLTableElement>('bench-table').tBodies[0].append(row);
  show($('bench-table'), true);
}

function onBenchDone(ms: number, error: string | null): void {
  $<HTMLButtonElement>('bench-run').disabled = false;
  const table = $('bench-table');
  table.dataset.done = error ? 'error' : 'ok';
  $('bench-status').textContent = error ? `The benchmark failed: ${error}` : `Done in ${(ms / 1000).toFixed(1)} s.`;
  show($('bench-copy'), benchRecords.length > 0);
}

function copyBenchResults(): void {
  const text = benchRecords.map((r) => JSON.stringify(r)).join('\n');
  void navigator.clipboard?.writeText(text).then(
    () => ($('bench-status').textContent = 'Copied as JSON lines.'),
    () => ($('bench-status').textContent = 'Copying was refused by the browser.'),
  );
}

function onModelFailed(kind: FailureKind, message: string): void {
  if (worker && workerReady && state.gpu === 'ok') send({ type: 'storage-info' });
  if (kind === 'cancelled') {
    setModelStatus('idle', 'Loading was cancelled. The parts downloaded so far are kept.');
    return;
  }
  const ex = explain(kind, message);
  $('model-error-title').textContent = ex.title;
  setText($('model-error-text'), ex.body);
  const actions = $('model-error-actions');
  actions.replaceChildren(...ex.actions.map(actionButton));
  $('model-error').dataset.kind = kind;
  show($('model-error'), true);
  setModelStatus('failed', kind === 'no-model' ? 'No model found.' : 'The model could not be loaded.');
  openPanel();
}

function actionButton(action: Action): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = ACTION_LABELS[action];
  b.dataset.action = action;
  b.addEventListener('click', () => runAction(action));
  return b;
}

function runAction(action: Action): void {
  switch (action) {
    case 'reload-model':
      show($('run-error'), false);
      restartWorker(true);
      break;
    case 'retry':
      loadModel(lastSource, lastOptions);
      break;
    case 'delete-cache':
      askDeleteCache();
      break;
    case 'choose-folder':
      $<HTMLInputElement>('model-folder').click();
      break;
    case 'load-without-saving':
      loadModel(lastSource, { ...lastOptions, saveToStorage: false, confirmedLargeDownload: true });
      break;
    case 'reload-page':
      location.reload();
      break;
  }
}

$('model-load').addEventListener('click', () => {
  const base = $<HTMLInputElement>('model-url').value.trim() || 'models/';
  loadModel({ kind: 'url', base: base.endsWith('/') ? base : `${base}/` }, { ...lastOptions, allowF16: f16Allowed(), saveToStorage: true, confirmedLargeDownload: false });
});
$('model-cancel').addEventListener('click', () => send({ type: 'cancel-load' }));
$('model-folder-button').addEventListener('click', () => $<HTMLInputElement>('model-folder').click());
$<HTMLInputElement>('model-folder').addEventListener('change', (ev) => {
  const input = ev.target as HTMLInputElement;
  const files = [...(input.files ?? [])];
  input.value = '';
  if (files.length === 0) return;
  loadModel({ kind: 'files', files }, { ...lastOptions, allowF16: f16Allowed(), confirmedLargeDownload: true });
});
const f16Allowed = () => $<HTMLInputElement>('model-f16').checked;
$<HTMLInputElement>('model-f16').addEventListener('change', () => {
  lastOptions = { ...lastOptions, allowF16: f16Allowed() };
  if (state.model.status === 'ready') {
    const note = $('storage-note');
    note.textContent = 'Press “Load model” to switch precision.';
    show(note, true);
  }
});

function askDeleteCache(): void {
  const s = state.storage;
  $('cache-confirm-text').textContent =
    `Delete the stored weights${s && s.weightsBytes ? ` (${formatBytes(s.weightsBytes)})` : ''}? ` +
    'A loaded model keeps working until the page is reloaded; after that it is downloaded again.';
  show($('cache-confirm'), true);
  openPanel();
  $('cache-confirm-no').focus();
}
$('cache-delete').addEventListener('click', askDeleteCache);
$('cache-confirm-no').addEventListener('click', () => show($('cache-confirm'), false));
$('cache-confirm-yes').addEventListener('click', () => {
  show($('cache-confirm'), false);
  if (worker && workerReady) send({ type: 'delete-cache' });
  else void caches.delete('ezigen-weights-v1').then(() => showStorage({ usage: null, quota: null, weightsBytes: 0, weightShards: 0 }));
});

function showStorage(s: StorageInfo): void {
  state.storage = s;
  const parts = [`Stored weights: ${s.weightShards ? `${formatBytes(s.weightsBytes)} in ${s.weightShards} files` : 'none'}`];
  if (s.usage !== null && s.quota !== null) parts.push(`this site uses ${formatBytes(s.usage)} of ${formatBytes(s.quota)} allowed`);
  const el = $('storage-info');
  el.textContent = parts.join(' · ');
  el.dataset.shards = String(s.weightShards);
  $<HTMLButtonElement>('cache-delete').disabled = s.weightShards === 0;
}

// --- mode ----------------------------------------------------------------------------------------

const MODE_HINTS: Record<Mode, string> = {
  generate: 'Make a new image of your subject from a text prompt.',
  edit: 'Paint an area of a photo and put your subject there.',
};

function setMode(mode: Mode): void {
  state.mode = mode;
  document.body.dataset.mode = mode;
  $<HTMLInputElement>(`mode-${mode}`).checked = true;
  for (const el of document.querySelectorAll<HTMLElement>('[data-mode]')) {
    if (el === document.body) continue;
    el.hidden = el.dataset.mode !== mode;
  }
  $('run').textContent = mode === 'generate' ? 'Generate' : 'Edit';
  $('mode-hint').textContent = MODE_HINTS[mode];
  if (mode === 'edit') maskCanvas.fit();
  updateRunState();
}
for (const m of ['generate', 'edit'] as const) {
  $<HTMLInputElement>(`mode-${m}`).addEventListener('change', (ev) => {
    if ((ev.target as HTMLInputElement).checked) setMode(m);
  });
}

// --- image inputs --------------------------------------------------------------------------------

function fieldError(id: string, text: string | null): void {
  const el = $(id);
  el.textContent = text ?? '';
  show(el, !!text);
}

/** Wires a drop zone, its file input, and drag-and-drop onto its whole section. */
function setupImageInput(zoneId: string, inputId: string, sectionId: string, onFile: (f: File) => void): void {
  const zone = $(zoneId);
  const input = $<HTMLInputElement>(inputId);
  const section = $(sectionId);
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  input.addEventListener('click', (e) => e.stopPropagation());
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    input.value = '';
    if (f) onFile(f);
  });
  section.addEventListener('dragover', (e) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    section.classList.add('dragging');
  });
  section.addEventListener('dragleave', (e) => {
    if (!section.contains(e.relatedTarget as Node | null)) section.classList.remove('dragging');
  });
  section.addEventListener('drop', (e) => {
    e.preventDefault();
    section.classList.remove('dragging');
    const f = e.dataTransfer?.files?.[0];
    if (f) onFile(f);
    else fieldError(`${sectionId.split('-')[0]}-error`, 'Drop an image file (PNG, JPEG or WebP).');
  });
}
// Files dropped anywhere else must not make the browser navigate away from the app.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

const maskCanvas = new MaskCanvas({ label: 'Mask over the photo to edit' });
const subjectCanvas = new MaskCanvas({
  label: 'Subject photo; paint the subject to keep',
  color: [34, 197, 94],
  // Small while only shown, large while painting.
  maxHeight: () =>
    $<HTMLSelectElement>('subject-bg').value === 'paint' ? Math.max(240, Math.min(window.innerHeight * 0.65, 720)) : 260,
});
$('mask-host').append(maskCanvas.element);
$('mask-toolbar-host').append(createMaskToolbar('mask', maskCanvas, 'Mask'));
$('subject-host').append(subjectCanvas.element);
$('smask-toolbar-host').append(createMaskToolbar('smask', subjectCanvas, 'Subject mask'));
maskCanvas.attached();
subjectCanvas.attached();
let activeMask: MaskCanvas | null = null;
maskCanvas.addEventListener('strokestart', () => (activeMask = maskCanvas));
subjectCanvas.addEventListener('strokestart', () => (activeMask = subjectCanvas));
$('mask-toolbar-host').addEventListener('pointerdown', () => (activeMask = maskCanvas));
$('smask-toolbar-host').addEventListener('pointerdown', () => (activeMask = subjectCanvas));
maskCanvas.addEventListener('change', () => updateRunState());
let previewFrame = 0;
subjectCanvas.addEventListener('change', (ev) => {
  const kind = (ev as CustomEvent<string>).detail;
  if (kind === 'size' || kind === 'tool' || kind === 'opacity') return;
  cancelAnimationFrame(previewFrame);
  previewFrame = requestAnimationFrame(updateSubjectPreview);
  updateRunState();
});

/** Frees a replaced image's bitmap unless a run or a history entry still shows it. */
function release(img: DecodedImage | null): void {
  if (!img) return;
  if (running?.source === img || history.some((h) => h.source === img.bitmap)) return;
  img.bitmap.close();
}

function describe(img: DecodedImage): string {
  return `${img.name} · ${img.rgba.width} × ${img.rgba.height} px`;
}

async function loadSource(file: File): Promise<void> {
  fieldError('source-error', null);
  let img: DecodedImage;
  try {
    img = await decodeImageFile(file);
  } catch (e) {
    fieldError('source-error', e instanceof ImageInputError ? e.message : `That file could not be read: ${(e as Error).message}`);
    return;
  }
  release(state.source);
  state.source = img;
  show($('source-drop'), false);
  show($('source-editor'), true);
  show($('source-replace'), true);
  show($('mask-note'), false);
  fieldError('mask-error', null);
  $('source-meta').textContent = describe(img);
  maskCanvas.setImage(img.bitmap, img.rgba.width, img.rgba.height);
  activeMask = maskCanvas;
  updateRunState();
}

async function loadSubject(file: File): Promise<void> {
  fieldError('subject-error', null);
  let img: DecodedImage;
  try {
    img = await decodeImageFile(file);
  } catch (e) {
    fieldError('subject-error', e instanceof ImageInputError ? e.message : `That file could not be read: ${(e as Error).message}`);
    return;
  }
  release(state.subject);
  state.subject = img;
  show($('subject-drop'), false);
  show($('subject-editor'), true);
  show($('subject-replace'), true);
  show($('subject-remove'), true);
  $('subject-meta').textContent = describe(img);
  subjectCanvas.setImage(img.bitmap, img.rgba.width, img.rgba.height);
  const bg = $<HTMLSelectElement>('subject-bg');
  bg.value = img.hasAlpha ? 'alpha' : 'keep';
  setSubjectBg(img.hasAlpha ? 'alpha-auto' : bg.value);
  updateRunState();
}

setupImageInput('source-drop', 'source-file', 'source-section', (f) => void loadSource(f));
setupImageInput('subject-drop', 'subject-file', 'subject-section', (f) => void loadSubject(f));
$('source-replace').addEventListener('click', () => $<HTMLInputElement>('source-file').click());
$('subject-replace').addEventListener('click', () => $<HTMLInputElement>('subject-file').click());
$('subject-remove').addEventListener('click', () => {
  release(state.subject);
  state.subject = null;
  show($('subject-drop'), true);
  show($('subject-editor'), false);
  show($('subject-replace'), false);
  show($('subject-remove'), false);
  fieldError('subject-error', null);
  $('subject-drop').focus();
  updateRunState();
});

// Paste an image from the clipboard: into the focused section, else where it is missing.
document.addEventListener('paste', (e) => {
  const files = [...(e.clipboardData?.files ?? [])];
  const file = files.find((f) => f.type.startsWith('image/')) ?? files[0];
  if (!file) return;
  e.preventDefault();
  const focused = document.activeElement;
  let target: 'source' | 'subject';
  if (focused && $('source-section').contains(focused) && state.mode === 'edit') target = 'source';
  else if (focused && $('subject-section').contains(focused)) target = 'subject';
  else if (state.mode === 'edit' && !state.source) target = 'source';
  else target = 'subject';
  void (target === 'source' ? loadSource(file) : loadSubject(file));
});

// Mask upload (edit mode).
$('mask-upload-button').addEventListener('click', () => $<HTMLInputElement>('mask-upload').click());
$<HTMLInputElement>('mask-upload').addEventListener('change', async (ev) => {
  const input = ev.target as HTMLInputElement;
  const file = input.files?.[0];
  input.value = '';
  if (!file || !state.source) return;
  fieldError('mask-error', null);
  show($('mask-note'), false);
  let img: DecodedImage;
  try {
    img = await decodeImageFile(file);
  } catch (e) {
    fieldError('mask-error', e instanceof ImageInputError ? e.message : String(e));
    return;
  }
  img.bitmap.close();
  let m: MaskImage = maskFromImage(img.rgba);
  const { width, height } = state.source.rgba;
  const notes: string[] = [];
  if (m.width !== width || m.height !== height) {
    notes.push(`The mask was ${m.width} × ${m.height} px; it was resized to the photo's ${width} × ${height} px (nearest neighbour).`);
    m = resizeMaskNearest(m, width, height);
  }
  if (!m.data.some((v) => v !== 0)) notes.push('The uploaded mask is all black, so nothing is marked for editing; white marks the area to edit.');
  maskCanvas.setMask(m);
  if (notes.length) {
    $('mask-note').textContent = notes.join(' ');
    show($('mask-note'), true);
  }
});

// Subject background.
function setSubjectBg(value: string): void {
  const auto = value === 'alpha-auto';
  const mode = auto ? 'alpha' : value;
  const note = $('subject-bg-note');
  const img = state.subject;
  let text = '';
  if (img && mode === 'alpha') {
    text = img.hasAlpha
      ? auto
        ? 'This image has transparency: its transparent parts will become white background.'
        : 'Transparent parts will become white background.'
      : 'This image has no transparent pixels, so nothing would be removed. Paint the subject instead, or use a PNG/WebP with transparency.';
  } else if (img && mode === 'paint') {
    text = 'Paint over the subject; everything you do not paint becomes white.';
  }
  note.textContent = text;
  show(note, !!text);
  show($('subject-paint'), mode === 'paint');
  subjectCanvas.element.classList.toggle('view-only', mode !== 'paint');
  if (mode === 'paint') activeMask = subjectCanvas;
  subjectCanvas.fit();
  updateSubjectPreview();
  updateRunState();
}
$<HTMLSelectElement>('subject-bg').addEventListener('change', (ev) => setSubjectBg((ev.target as HTMLSelectElement).value));

/** The subject mask that goes to the model (null: keep the whole photo). */
function subjectMask(): MaskImage | null {
  const img = state.subject;
  if (!img) return null;
  const bg = $<HTMLSelectElement>('subject-bg').value;
  if (bg === 'paint') return subjectCanvas.getMask();
  if (bg === 'alpha' && img.hasAlpha) return maskFromAlpha(img.rgba);
  return null;
}

function updateSubjectPreview(): void {
  const fig = $('subject-preview-fig');
  const img = state.subject;
  const m = img ? subjectMask() : null;
  if (!img || !m || !m.data.some((v) => v !== 0)) {
    show(fig, false);
    return;
  }
  const canvas = $<HTMLCanvasElement>('subject-preview');
  canvas.width = img.rgba.width;
  canvas.height = img.rgba.height;
  canvas.getContext('2d')!.putImageData(whitenOutside(img.rgba, m), 0, 0);
  show(fig, true);
}

// Mask keyboard shortcuts ([ ] size, Ctrl+Z / Ctrl+Shift+Z, B/E), unless typing in a field.
document.addEventListener('keydown', (e) => {
  const t = e.target as HTMLElement | null;
  if (t && (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || (t.tagName === 'INPUT' && !['range', 'radio', 'checkbox', 'button'].includes((t as HTMLInputElement).type)))) return;
  const candidates: MaskCanvas[] = [];
  if (activeMask) candidates.push(activeMask);
  if (state.mode === 'edit' && state.source) candidates.push(maskCanvas);
  if (state.subject && $<HTMLSelectElement>('subject-bg').value === 'paint') candidates.push(subjectCanvas);
  const target = candidates.find((c) => c.width > 0 && c.element.offsetParent !== null && !c.element.classList.contains('view-only'));
  if (target && target.handleKey(e)) e.preventDefault();
});

// --- parameters ----------------------------------------------------------------------------------

const num = (id: string) => $<HTMLInputElement>(id);

function readParams(): { params: EditParams } | { error: string; field: HTMLElement } {
  const bad = (id: string, text: string) => ({ error: text, field: $(id) });
  const val = (id: string, key: keyof typeof LIMITS, name: string, integer: boolean) => {
    const el = num(id);
    const v = Number(el.value);
    const { min, max } = LIMITS[key];
    if (el.value.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      return { err: `${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}.` };
    }
    return { v };
  };
  const fields: [string, keyof typeof LIMITS, string, boolean][] = [
    ['seed', 'seed', 'The seed', true],
    ['steps', 'steps', 'Steps', true],
    ['guidance', 'guidance', 'The guidance scale', false],
    ['edit-guidance', 'editGuidance', 'The guidance scale', false],
    ['split', 'splitRatio', 'The split ratio', false],
    ['sim-threshold', 'simThreshold', 'The similarity threshold', false],
    ['iterations', 'iterations', 'The number of iterations', true],
  ];
  const out: Record<string, number> = {};
  for (const [id, key, name, integer] of fields) {
    if (id === 'iterations' && !$<HTMLInputElement>('stop-fixed').checked) continue;
    if (id === 'guidance' && state.mode === 'edit') continue;
    if (id === 'edit-guidance' && state.mode === 'generate') continue;
    const r = val(id, key, name, integer);
    if ('err' in r) return bad(id, r.err!);
    out[key] = r.v;
  }
  return {
    params: {
      prompt: $<HTMLTextAreaElement>('prompt').value.trim(),
      subjectPrompt: $<HTMLInputElement>('subject-prompt').value.trim(),
      seed: out.seed,
      steps: out.steps,
      guidance: out.guidance ?? (Number(num('guidance').value) || DEFAULTS.guidance),
      editGuidance: out.editGuidance ?? (Number(num('edit-guidance').value) || DEFAULTS.editGuidance),
      splitRatio: out.splitRatio,
      simThreshold: out.simThreshold,
      iterations: $<HTMLInputElement>('stop-fixed').checked ? out.iterations : null,
      compositeBackground: $<HTMLInputElement>('composite').checked,
    },
  };
}

function writeParams(p: EditParams): void {
  $<HTMLTextAreaElement>('prompt').value = p.prompt;
  $<HTMLInputElement>('subject-prompt').value = p.subjectPrompt;
  num('seed').value = String(p.seed);
  num('steps').value = String(p.steps);
  num('guidance').value = String(p.guidance);
  num('edit-guidance').value = String(p.editGuidance);
  num('split').value = String(p.splitRatio);
  num('sim-threshold').value = String(p.simThreshold);
  $<HTMLInputElement>('stop-auto').checked = p.iterations === null;
  $<HTMLInputElement>('stop-fixed').checked = p.iterations !== null;
  if (p.iterations !== null) num('iterations').value = String(p.iterations);
  num('iterations').disabled = p.iterations === null;
  num('sim-threshold').disabled = p.iterations !== null;
  $<HTMLInputElement>('composite').checked = p.compositeBackground;
  updateRunState();
}

$('prompt').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    runButton.click();
  }
});
$('seed-dice').addEventListener('click', () => {
  num('seed').value = String(crypto.getRandomValues(new Uint32Array(1))[0] % 1_000_000_000);
  updateRunState();
});
$('reset-params').addEventListener('click', () => writeParams({ ...DEFAULTS, prompt: $<HTMLTextAreaElement>('prompt').value, subjectPrompt: $<HTMLInputElement>('subject-prompt').value }));
for (const id of ['stop-auto', 'stop-fixed']) {
  $(id).addEventListener('change', () => {
    const fixed = $<HTMLInputElement>('stop-fixed').checked;
    num('iterations').disabled = !fixed;
    num('sim-threshold').disabled = fixed;
    updateRunState();
  });
}
for (const id of ['prompt', 'subject-prompt', 'seed', 'steps', 'guidance', 'edit-guidance', 'split', 'sim-threshold', 'iterations']) {
  $(id).addEventListener('input', () => updateRunState());
}

// --- running ----------------------------------------------------------------------------------

interface RunState {
  id: number;
  mode: Mode;
  params: EditParams;
  t0: number;
  timer: number;
  stage: Stage | null;
  source: DecodedImage | null;
  cancelling: boolean;
}

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
    if (autoLoadAfterReady) return 'Checking the GPU before loading the model…';
    return 'Load a model first (see “Model & device”).';
  }
  if (state.mode === 'edit') {
    if (!state.source) return 'Add the photo to edit.';
    if (maskCanvas.paintedPixels === 0) return 'Paint the area to edit on the photo.';
  }
  if (!state.subject) return 'Add a subject image.';
  if ($<HTMLSelectElement>('subject-bg').value === 'paint' && subjectCanvas.paintedPixels === 0) {
    return 'Paint the subject on its photo, or keep the background.';
  }
  if (!$<HTMLTextAreaElement>('prompt').value.trim()) return 'Write a prompt.';
  if (!$<HTMLInputElement>('subject-prompt').value.trim()) return 'Say what the subject is (e.g. “a dog”).';
  const r = readParams();
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

runButton.addEventListener('click', () => {
  const reason = blockReason();
  if (reason !== null) {
    const r = readParams();
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

function startRun(): void {
  const r = readParams();
  if ('error' in r || !state.subject) return;
  const id = ++runSeq;
  const mode = state.mode;
  const params = r.params;
  const subject = copyRgba(state.subject.rgba);
  const sMask = subjectMask();
  const transfer: Transferable[] = [subject.data.buffer];
  if (sMask) transfer.push(sMask.data.buffer);
  if (mode === 'generate') {
    const { compositeBackground: _unused, ...generateParams } = params;
    send({ type: 'generate', id, params: generateParams, subject, subjectMask: sMask }, transfer);
  } else {
    const src = state.source!;
    const source = copyRgba(src.rgba);
    const mask = maskCanvas.getMask();
    transfer.push(source.data.buffer, mask.data.buffer);
    send({ type: 'edit', id, params, source, mask, subject, subjectMask: sMask }, transfer);
  }
  running = { id, mode, params, t0: performance.now(), timer: 0, stage: null, source: mode === 'edit' ? state.source : null, cancelling: false };
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
  tick();
  updateRunState();
  if (window.matchMedia('(max-width: 900px)').matches) $('outputs').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function elapsed(ms: number): string {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
}

function tick(): void {
  if (running) $('run-elapsed').textContent = elapsed(performance.now() - running.t0);
}

function finishRun(): void {
  if (!running) return;
  clearInterval(running.timer);
  running = null;
  show($('run-panel'), false);
  delete document.body.dataset.running;
  updateRunState();
}

$('cancel').addEventListener('click', () => {
  if (!running) return;
  running.cancelling = true;
  send({ type: 'cancel', id: running.id });
  $<HTMLButtonElement>('cancel').disabled = true;
  $('run-stage').textContent = 'Cancelling (stops after the current step)…';
  updateRunState();
});

function onRunProgress(p: Extract<Reply, { type: 'progress' }>): void {
  noteFirstStep(p.stage, p.step);
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

function onPreview(id: number, iteration: number, similarity: number | null, image: RgbaImage): void {
  if (!running || id !== running.id) return;
  addPreview(iteration, similarity, image);
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

// --- results -----------------------------------------------------------------------------------

interface ResultItem {
  id: number;
  mode: Mode;
  params: EditParams;
  image: RgbaImage;
  source: ImageBitmap | null;
  blob: Blob;
  url: string;
  filename: string;
  ms: number;
  iterations: number;
  similarity: number | null;
  model: string;
}

const history: ResultItem[] = [];
let shown: ResultItem | null = null;

function slug(text: string): string {
  const s = text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return s || 'image';
}

function fileName(mode: Mode, p: EditParams): string {
  return `ezigen${mode === 'edit' ? '-edit' : ''}_seed${p.seed}_split${p.splitRatio}_${slug(p.prompt)}.png`;
}

async function onResult(id: number, image: RgbaImage, ms: number, iterations: number, similarity: number | null): Promise<void> {
  if (!running || id !== running.id) return;
  const run = running;
  finishRun();
  // The last iteration may arrive only as the result: keep the strip complete.
  if (!$('previews').querySelector(`li[data-iteration="${iterations}"]`)) addPreview(iterations, similarity, image);
  const meta = {
    app: 'ezigen-web',
    mode: run.mode,
    model: state.model.name,
    precision: state.model.precision,
    ...(run.mode === 'generate'
      ? (({ compositeBackground: _c, editGuidance: _e, ...rest }) => rest)(run.params)
      : (({ guidance: _g, ...rest }) => rest)(run.params)),
    width: image.width,
    height: image.height,
    iterationsRun: iterations,
    similarity,
    seconds: Math.round(ms) / 1000,
  };
  const png = new Uint8Array(await (await rgbaToPngBlob(image)).arrayBuffer());
  const blob = new Blob([insertTextChunk(png, 'parameters', asciiJson(meta)) as Uint8Array<ArrayBuffer>], { type: 'image/png' });
  const item: ResultItem = {
    id,
    mode: run.mode,
    params: run.params,
    image,
    source: run.source ? run.source.bitmap : null,
    blob,
    url: URL.createObjectURL(blob),
    filename: fileName(run.mode, run.params),
    ms,
    iterations,
    similarity,
    model: state.model.name,
  };
  history.unshift(item);
  addHistoryItem(item);
  showResult(item);
  $('run-status').textContent = `Done in ${elapsed(ms)}.`;
}

function showResult(item: ResultItem): void {
  shown = item;
  const canvas = $<HTMLCanvasElement>('result-canvas');
  drawRgba(canvas, item.image);
  const before = $<HTMLCanvasElement>('before-canvas');
  before.width = item.image.width;
  before.height = item.image.height;
  const ba = $('before-after');
  if (item.source) {
    // Display only: the photo scaled to the result's size for the before/after toggle.
    before.getContext('2d')!.drawImage(item.source, 0, 0, item.image.width, item.image.height);
  }
  show(ba, !!item.source);
  setBefore(false);
  const p = item.params;
  const sim = item.similarity !== null ? ` · similarity ${item.similarity.toFixed(3)}` : '';
  $('result-caption').textContent =
    `${item.image.width} × ${item.image.height} · seed ${p.seed} · split ${p.splitRatio} · ${item.iterations} iteration${item.iterations === 1 ? '' : 's'}${sim} · ${elapsed(item.ms)}` +
    (state.model.tiny ? ' · tiny test model (noise)' : '');
  const fig = $('result');
  fig.dataset.width = String(item.image.width);
  fig.dataset.height = String(item.image.height);
  show(fig, true);
  show($('result-empty'), false);
  for (const li of $('history').querySelectorAll('button')) li.setAttribute('aria-current', String(li.dataset.id === String(item.id)));
}

function setBefore(on: boolean): void {
  const ba = $('before-after');
  ba.setAttribute('aria-pressed', String(on));
  ba.textContent = on ? 'Show after' : 'Show before';
  show($('before-canvas'), on);
  show($('result-canvas'), !on);
}
$('before-after').addEventListener('click', () => setBefore($('before-after').getAttribute('aria-pressed') !== 'true'));

$('download').addEventListener('click', () => {
  if (!shown) return;
  const a = document.createElement('a');
  a.href = shown.url;
  a.download = shown.filename;
  document.body.append(a);
  a.click();
  a.remove();
});

function addHistoryItem(item: ResultItem): void {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'history-item';
  b.dataset.id = String(item.id);
  const img = document.createElement('img');
  img.src = item.url;
  img.alt = '';
  const cap = document.createElement('span');
  cap.textContent = `${item.mode === 'edit' ? 'Edit' : 'Generate'} · seed ${item.params.seed} · split ${item.params.splitRatio}`;
  b.setAttribute('aria-label', `${cap.textContent}: ${item.params.prompt}. Show it and restore its settings.`);
  b.title = item.params.prompt;
  b.append(img, cap);
  b.addEventListener('click', () => {
    setMode(item.mode);
    writeParams(item.params);
    showResult(item);
  });
  li.append(b);
  $('history').prepend(li);
  show($('history-section'), true);
}

function onRunFailed(id: number | null, kind: FailureKind, message: string): void {
  if (running && id !== null && id !== running.id) return;
  finishRun();
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
    setModelStatus('failed', 'The GPU device needs a restart: reload the model.');
    const me = $('model-error');
    $('model-error-title').textContent = ex.title;
    setText($('model-error-text'), ex.body);
    $('model-error-actions').replaceChildren(actionButton('reload-model'));
    show(me, true);
  }
}

// --- start ---------------------------------------------------------------------------------------

setMode('generate');
writeParams(DEFAULTS);
$<HTMLTextAreaElement>('prompt').value = '';
setModelStatus('idle', 'Waiting for the graphics device…');
startWorker();
