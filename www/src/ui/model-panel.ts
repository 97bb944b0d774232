// The model part of the "Model & device" panel: loading from a URL or a local folder, the
// large-download confirmation, per-component progress, the status line and header chip, and
// model failures with their recovery actions.

import { TUNE_BUDGET_MS } from '../gemm-tuning.js';
import { DEFAULT_WEIGHTS_BASE, type ConfigResult } from '../config.js';
import { $, setText, show } from '../dom.js';
import { explain, freeStorageNote, loadSourceWords } from '../messages.js';
import type { ComponentProgress, ConvertProgress, FailureKind, LoadOptions, ModelInfo, ModelSource, Reply, StorageInfo } from '../protocol.js';
import { formatBytes } from '../weights.js';
import type { WorkerClient } from '../worker-client.js';
import type { ActionButton } from './actions.js';
import { createConvertPicker } from './convert-picker.js';
import { openPanel } from './panel.js';
import { state, type ModelStatus } from './state.js';
import type { StoragePanel } from './storage-panel.js';

/** What the model panel needs from the rest of the page. */
export interface ModelPanelDeps {
  client: WorkerClient;
  storage: StoragePanel;
  actionButton: ActionButton;
  /** A generate or edit run is in progress (no loading meanwhile). */
  isRunning(): boolean;
  /** Re-checks whether the run button can run. */
  refresh(): void;
}

/** The model panel's operations. */
export interface ModelPanel {
  /** Sets the model status line, the panel summary and the header chip. */
  setStatus(status: ModelStatus, text: string): void;
  /** Loads the model again from where it was last loaded, with the same options. */
  retry(): void;
  /** Loads the model again without keeping it in browser storage. */
  loadWithoutSaving(): void;
  /** Opens the folder chooser for local weights. */
  chooseFolder(): void;
  /** The manifest was read: lists the components, asks before a large download. */
  onInfo(info: ModelInfo, needsConfirmation: boolean, storage: StorageInfo | null): void;
  /** Converting the original weights: where it stands, and what the user should know. */
  onConvertProgress(p: ConvertProgress, warnings: string[]): void;
  /** Loading progress: per component and overall. */
  onProgress(p: Extract<Reply, { type: 'model-progress' }>): void;
  /** The model is loaded. */
  onReady(msg: Extract<Reply, { type: 'model-ready' }>): void;
  /** Loading failed (or was cancelled): explains it with recovery actions. */
  onFailed(kind: FailureKind, message: string): void;
  /**
   * Applies the deployment's config.json (www/src/config.ts): its weights URL becomes the
   * default source and the panel shows its origin. A bad config is explained in the panel;
   * returns whether the model may be loaded automatically.
   */
  applyConfig(result: ConfigResult): boolean;
}

/** Shows in the panel which origin the weights at `base` come from (data-origin holds it). */
function showOrigin(base: string): void {
  const el = $('model-origin');
  let origin: string;
  try {
    origin = new URL(base, location.href).origin;
  } catch {
    el.textContent = `Weights from: ${base} (not a valid address)`;
    delete el.dataset.origin;
    return;
  }
  el.dataset.origin = origin;
  el.textContent = origin === location.origin ? `Weights from this site (${origin})` : `Weights from ${origin}`;
}

/**
 * Remembers (localStorage) that the model was converted in this browser, so the next visit
 * loads it from storage instead of the site's default weights.
 */
const CONVERTED_KEY = 'ezigen.model-source';
const rememberConverted = (yes: boolean) => {
  try {
    if (yes) localStorage.setItem(CONVERTED_KEY, 'converted');
    else localStorage.removeItem(CONVERTED_KEY);
  } catch {
    // No localStorage (some private modes): the next visit loads the default weights.
  }
};
const convertedRemembered = () => {
  try {
    return localStorage.getItem(CONVERTED_KEY) === 'converted';
  } catch {
    return false;
  }
};

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

/** Wires the model controls. */
export function createModelPanel(deps: ModelPanelDeps): ModelPanel {
  const { client, storage, actionButton, refresh } = deps;
  const chip = $('model-chip');
  let defaultBase = DEFAULT_WEIGHTS_BASE;
  let lastSource: ModelSource = { kind: 'url', base: defaultBase };
  let lastOptions: LoadOptions = { allowF16: true, confirmedLargeDownload: false, saveToStorage: true };
  const f16Allowed = () => $<HTMLInputElement>('model-f16').checked;

  function setStatus(status: ModelStatus, text: string): void {
    state.model.status = status;
    const el = $('model-status');
    el.textContent = text;
    el.dataset.state = status;
    const summary = $('model-summary');
    chip.dataset.state = status === 'ready' ? (state.model.tiny ? 'warn' : 'ok') : status;
    let chipText = state.gpu === 'loading' || state.autoLoadAfterReady ? 'Starting…' : 'No model';
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
    refresh();
  }

  function load(source: ModelSource, options: LoadOptions): void {
    if (state.gpu !== 'ok' || !client.running) return;
    if (deps.isRunning()) return;
    lastSource = source;
    lastOptions = options;
    state.model.progress = 0;
    state.model.tiny = false;
    show($('model-error'), false);
    show($('model-confirm'), false);
    show($('tiny-banner'), false);
    if (source.kind === 'url') showOrigin(source.base);
    const reading: Record<ModelSource['kind'], string> = {
      url: source.kind === 'url' ? `Reading ${source.base}manifest.json…` : '',
      files: 'Reading the chosen folder…',
      convert: 'Reading the original weights…',
      stored: 'Reading the model converted in this browser…',
    };
    if (source.kind === 'convert') picker.note('');
    $('model-cancel').textContent = source.kind === 'convert' ? 'Cancel conversion' : 'Cancel download';
    setStatus('loading', reading[source.kind]);
    // ?tune (or ?tune=MS, the time budget): time the GEMM kernels even on a software adapter.
    const q = new URLSearchParams(location.search);
    const ms = Number(q.get('tune'));
    const forceTuningMs = q.has('tune') ? (Number.isFinite(ms) && ms > 0 ? ms : TUNE_BUDGET_MS) : undefined;
    client.send({ type: 'load-model', source, options: { ...options, forceTuningMs } });
  }

  function onInfo(info: ModelInfo, needsConfirmation: boolean, st: StorageInfo | null): void {
    state.model.info = info;
    if (st) storage.show(st);
    buildComponentRows(info);
    const cachedNote =
      info.cachedShards > 0 ? ` ${info.cachedShards} of ${info.shardCount} parts (${formatBytes(info.cachedBytes)}) are stored already.` : '';
    if (needsConfirmation) {
      const free = freeStorageNote(st);
      $('model-confirm-text').textContent =
        `The model “${info.name}” is ${formatBytes(info.totalBytes)}; ${formatBytes(info.toDownloadBytes)} still has to be downloaded.` +
        `${cachedNote} It is kept in this browser's storage, so the next visit downloads nothing.${free}`;
      show($('model-confirm'), true);
      show($('model-progress'), false);
      setStatus('confirm', `Download of ${formatBytes(info.toDownloadBytes)} needed.`);
      openPanel();
      return;
    }
    const what = loadSourceWords(info);
    setStatus('loading', `Loading “${info.name}” (${formatBytes(info.totalBytes)}), ${what}.${info.toDownloadBytes > 0 ? cachedNote : ''}`);
    show($('model-progress'), true);
  }

  function onConvertProgress(p: ConvertProgress, warnings: string[]): void {
    const frac = p.totalBytes > 0 ? p.doneBytes / p.totalBytes : 0;
    const part = Math.min(p.shardsDone + 1, p.shardCount);
    const what = p.component ? `${COMPONENT_NAMES[p.component] ?? p.component}, part ${part} of ${p.shardCount}` : 'saving';
    state.model.progress = frac;
    show($('model-progress'), true);
    $<HTMLProgressElement>('model-overall').value = frac;
    $<HTMLProgressElement>('model-summary-progress').value = frac;
    $('model-overall-text').textContent = `Converting: ${formatBytes(p.doneBytes)} of ${formatBytes(p.totalBytes)} · ${what}`;
    $('model-status').textContent = `Converting the original weights (${Math.round(frac * 100)} %): ${what}.`;
    $('model-chip-text').textContent = `Converting ${Math.round(frac * 100)} %`;
    picker.note(warnings.length > 0 ? `Note: ${warnings.join(' ')}` : `Converting… ${Math.round(frac * 100)} %`);
  }

  function onProgress(p: Extract<Reply, { type: 'model-progress' }>): void {
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
      refresh();
    }
  }

  function onReady(msg: Extract<Reply, { type: 'model-ready' }>): void {
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
    const converted = lastSource.kind === 'convert' || lastSource.kind === 'stored';
    rememberConverted(converted);
    if (converted) {
      // Loading again reads the stored conversion; the picked files are not needed any more.
      lastSource = { kind: 'stored' };
      picker.note('Converted and stored in this browser: the next visit loads it from storage.');
    }
    setStatus('ready', `Model “${msg.name}” is ready (${msg.precision} path${from ? `, ${from}` : ''}, ${(msg.ms / 1000).toFixed(1)} s).`);
    $('model-status').dataset.cached = String(msg.cachedShards);
    $('model-status').dataset.downloaded = String(msg.downloadedShards);
    $('model-status').dataset.wasmMemory = String(msg.wasmMemoryBytes);
    $<HTMLProgressElement>('model-overall').value = 1;
    show($('tiny-banner'), msg.tiny);
    if (msg.warning) {
      storage.note(msg.warning);
      openPanel();
    }
    void navigator.storage?.persist?.().catch(() => false);
    client.send({ type: 'storage-info' });
  }

  function onFailed(kind: FailureKind, message: string): void {
    if (client.running && client.ready && state.gpu === 'ok') client.send({ type: 'storage-info' });
    if (lastSource.kind === 'stored' && kind === 'no-model') {
      // The stored conversion is gone (storage cleared): the next visit loads the default again.
      rememberConverted(false);
      lastSource = { kind: 'url', base: defaultBase };
    }
    if (kind === 'cancelled') {
      const converting = lastSource.kind === 'convert';
      if (converting) picker.note('The conversion was cancelled; nothing of it was kept.');
      setStatus('idle', converting ? 'The conversion was cancelled.' : 'Loading was cancelled. The parts downloaded so far are kept.');
      return;
    }
    if (lastSource.kind === 'convert') picker.note('Not converted (the message above says why): choose the folders again and press “Convert and load”.');
    const ex = explain(kind, message);
    $('model-error-title').textContent = ex.title;
    setText($('model-error-text'), ex.body);
    const actions = $('model-error-actions');
    actions.replaceChildren(...ex.actions.map(actionButton));
    $('model-error').dataset.kind = kind;
    show($('model-error'), true);
    setStatus('failed', kind === 'no-model' ? 'No model found.' : 'The model could not be loaded.');
    openPanel();
  }

  $('model-confirm-yes').addEventListener('click', () => {
    void navigator.storage?.persist?.().catch(() => false);
    load(lastSource, { ...lastOptions, confirmedLargeDownload: true });
  });
  $('model-confirm-no').addEventListener('click', () => {
    show($('model-confirm'), false);
    setStatus('idle', 'No model loaded. Press “Load model” when you are ready to download it, or choose a local folder.');
  });
  $('model-load').addEventListener('click', () => {
    const base = $<HTMLInputElement>('model-url').value.trim() || defaultBase;
    load({ kind: 'url', base: base.endsWith('/') ? base : `${base}/` }, { ...lastOptions, allowF16: f16Allowed(), saveToStorage: true, confirmedLargeDownload: false });
  });
  $('model-cancel').addEventListener('click', () => client.send({ type: 'cancel-load' }));
  const picker = createConvertPicker((files) =>
    load({ kind: 'convert', files }, { ...lastOptions, allowF16: f16Allowed(), saveToStorage: true, confirmedLargeDownload: true }),
  );
  $('model-folder-button').addEventListener('click', () => $<HTMLInputElement>('model-folder').click());
  $<HTMLInputElement>('model-folder').addEventListener('change', (ev) => {
    const input = ev.target as HTMLInputElement;
    const files = [...(input.files ?? [])];
    input.value = '';
    if (files.length === 0) return;
    load({ kind: 'files', files }, { ...lastOptions, allowF16: f16Allowed(), confirmedLargeDownload: true });
  });
  $<HTMLInputElement>('model-f16').addEventListener('change', () => {
    lastOptions = { ...lastOptions, allowF16: f16Allowed() };
    if (state.model.status === 'ready') storage.note('Press “Load model” to switch precision.');
  });

  $<HTMLInputElement>('model-url').addEventListener('change', (ev) => {
    showOrigin((ev.target as HTMLInputElement).value.trim() || defaultBase);
  });

  function applyConfig(result: ConfigResult): boolean {
    if (!result.ok) {
      $('model-error-title').textContent = "This site's configuration is not valid";
      setText(
        $('model-error-text'),
        `${result.error} The site's owner has to fix it. Meanwhile you can choose a local folder with converted weights, or enter where the weights are and press “Load model”.`,
      );
      $('model-error-actions').replaceChildren(actionButton('choose-folder'));
      $('model-error').dataset.kind = 'config';
      show($('model-error'), true);
      setStatus('failed', "The site's config.json is not valid.");
      openPanel();
      return false;
    }
    defaultBase = result.config.weightsBaseUrl;
    lastSource = convertedRemembered() ? { kind: 'stored' } : { kind: 'url', base: defaultBase };
    $<HTMLInputElement>('model-url').value = defaultBase;
    showOrigin(defaultBase);
    return true;
  }

  return {
    setStatus,
    applyConfig,
    retry: () => load(lastSource, lastOptions),
    loadWithoutSaving: () => load(lastSource, { ...lastOptions, saveToStorage: false, confirmedLargeDownload: true }),
    chooseFolder: () => $<HTMLInputElement>('model-folder').click(),
    onInfo,
    onConvertProgress,
    onProgress,
    onReady,
    onFailed,
  };
}
