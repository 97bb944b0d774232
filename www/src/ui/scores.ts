// The scores control near the results (#scores-section): "Scores: identity (DINO, CLIP-I) and
// prompt (CLIP-T)", off by default and remembered in localStorage. Turning it on loads the metric
// models of the loaded model in the worker (only then: the page never downloads them otherwise),
// after the user agreed to their download size, as for the model itself; they come through the
// same weights cache, so a later visit downloads nothing. A model converted without them gets a
// message and the scores stay off. Failures are shown here and turn the scores off; generating
// is not affected. The lines under the results are drawn by results.ts and result-grid.ts.

import { $, setText, show } from '../dom.js';
import { explainMetrics, freeStorageNote, loadSourceWords } from '../messages.js';
import type { FailureKind, ModelInfo, Reply, StorageInfo } from '../protocol.js';
import { formatBytes } from '../weights.js';
import type { WorkerClient } from '../worker-client.js';
import { state } from './state.js';

/** What the scores control needs from the rest of the page. */
export interface ScoresPanelDeps {
  client: WorkerClient;
  /** Shows or hides the results' score lines (after state.scores changed). */
  showScores(): void;
}

/** The scores control's operations. */
export interface ScoresPanel {
  /** A model starts loading: the metric models of the previous one are gone. */
  onModelLoading(): void;
  /** The model is ready: loads its metric models when the scores are on. */
  onModelReady(): void;
  /** The metric models' sizes: asks before a download, or shows their loading. */
  onInfo(info: ModelInfo, needsConfirmation: boolean, storage: StorageInfo | null): void;
  /** Loading progress of the metric models. */
  onProgress(p: Extract<Reply, { type: 'metrics-progress' }>): void;
  /** The metric models are ready. */
  onReady(msg: Extract<Reply, { type: 'metrics-ready' }>): void;
  /** Loading the metric models failed (or was cancelled). */
  onFailed(kind: FailureKind, message: string): void;
}

/** Where the scores stand (#scores-status data-state). */
type Phase = 'off' | 'waiting' | 'confirm' | 'loading' | 'ready' | 'failed';

const KEY = 'ezigen.scores';
const remembered = (): boolean => {
  try {
    return localStorage.getItem(KEY) === 'on';
  } catch {
    return false;
  }
};
const remember = (on: boolean): void => {
  try {
    if (on) localStorage.setItem(KEY, 'on');
    else localStorage.removeItem(KEY);
  } catch {
    // No localStorage (some private modes): the scores start off on the next visit.
  }
};

const WAITING = 'The score models are loaded once the model is ready.';

/** Wires the scores checkbox, its confirmation and progress. */
export function createScoresPanel(deps: ScoresPanelDeps): ScoresPanel {
  const { client } = deps;
  const toggle = $<HTMLInputElement>('scores-toggle');

  function setPhase(phase: Phase, text: string): void {
    const el = $('scores-status');
    el.dataset.state = phase;
    el.textContent = text;
    show(el, text !== '');
    show($('scores-confirm'), phase === 'confirm');
    if (phase !== 'loading') show($('scores-progress'), false);
  }

  function setOn(on: boolean): void {
    toggle.checked = on;
    state.scores = on;
    remember(on);
    deps.showScores();
  }

  /** Asks the worker for the metric models (after the user agreed to download them: `confirmed`). */
  function request(confirmed: boolean): void {
    if (!client.running || !client.ready || state.gpu !== 'ok' || state.model.status !== 'ready') {
      setPhase('waiting', WAITING);
      return;
    }
    setPhase('loading', 'Checking the score models…');
    client.send({ type: 'load-metrics', confirmed });
  }

  /** Tells the worker to stop loading and scoring. */
  function stop(): void {
    if (client.running && client.ready && state.gpu === 'ok') client.send({ type: 'scores-off' });
  }

  toggle.addEventListener('change', () => {
    show($('scores-error'), false);
    setOn(toggle.checked);
    if (toggle.checked) {
      request(false);
    } else {
      stop();
      setPhase('off', '');
    }
  });
  $('scores-confirm-yes').addEventListener('click', () => {
    void navigator.storage?.persist?.().catch(() => false);
    request(true);
  });
  $('scores-confirm-no').addEventListener('click', () => {
    setOn(false);
    stop();
    setPhase('off', 'Scores are off: the score models were not downloaded.');
  });

  function onInfo(info: ModelInfo, needsConfirmation: boolean, st: StorageInfo | null): void {
    if (!state.scores) return;
    const stored = info.cachedShards > 0 ? ` ${formatBytes(info.cachedBytes)} of it is stored already.` : '';
    if (needsConfirmation) {
      const free = freeStorageNote(st);
      $('scores-confirm-text').textContent =
        `The scores need two more models, CLIP's text model and DINO ViT-S/16: ${formatBytes(info.totalBytes)}; ` +
        `${formatBytes(info.toDownloadBytes)} has to be downloaded.${stored} They are kept in this browser's storage, so the next visit downloads nothing.${free}`;
      $('scores-confirm').dataset.bytes = String(info.toDownloadBytes);
      setPhase('confirm', `Download of ${formatBytes(info.toDownloadBytes)} needed for the scores.`);
      return;
    }
    const what = loadSourceWords(info);
    setPhase('loading', `Loading the score models (${formatBytes(info.totalBytes)}), ${what}.`);
    $<HTMLProgressElement>('scores-progress-bar').value = 0;
    $('scores-progress-text').textContent = '';
    show($('scores-progress'), true);
  }

  function onProgress(p: Extract<Reply, { type: 'metrics-progress' }>): void {
    if (!state.scores || $('scores-status').dataset.state !== 'loading') return;
    show($('scores-progress'), true);
    $<HTMLProgressElement>('scores-progress-bar').value = p.total > 0 ? p.loaded / p.total : 0;
    const cached = p.cachedShards > 0 ? ` · ${p.cachedShards} from storage` : '';
    $('scores-progress-text').textContent =
      `${formatBytes(p.loaded)} of ${formatBytes(p.total)} · part ${Math.min(p.shardsDone + 1, p.shardCount)} of ${p.shardCount}${cached}`;
  }

  function onReady(msg: Extract<Reply, { type: 'metrics-ready' }>): void {
    if (!state.scores) return;
    const from =
      msg.downloadedShards > 0
        ? `${msg.downloadedShards} part${msg.downloadedShards === 1 ? '' : 's'} downloaded, ${msg.cachedShards} from storage, `
        : msg.cachedShards > 0
          ? 'all from browser storage, '
          : '';
    const took = msg.ms > 0 ? ` (${from}${(msg.ms / 1000).toFixed(1)} s)` : '';
    setPhase('ready', `Score models ready${took}: each result is scored once its run has finished.`);
    const el = $('scores-status');
    el.dataset.cached = String(msg.cachedShards);
    el.dataset.downloaded = String(msg.downloadedShards);
    if (msg.warning) {
      $('scores-error-title').textContent = 'The score models were not saved';
      setText($('scores-error-text'), msg.warning);
      show($('scores-error'), true);
    }
    if (msg.ms > 0) client.send({ type: 'storage-info' });
  }

  function onFailed(kind: FailureKind, message: string): void {
    if (kind === 'cancelled') {
      // Turned off by the user, or a new model is loading (its own are loaded once it is ready).
      if (state.scores && state.model.status !== 'ready') setPhase('waiting', WAITING);
      return;
    }
    const ex = explainMetrics(kind, message);
    $('scores-error-title').textContent = ex.title;
    setText($('scores-error-text'), ex.body);
    $('scores-error').dataset.kind = kind;
    show($('scores-error'), true);
    setOn(false);
    stop();
    setPhase('failed', 'Scores are off.');
  }

  // The remembered choice; the models load once the model is ready.
  const on = remembered();
  toggle.checked = on;
  state.scores = on;
  setPhase(on ? 'waiting' : 'off', on ? WAITING : '');

  return {
    onModelLoading: () => {
      if (state.scores) setPhase('waiting', WAITING);
    },
    onModelReady: () => {
      if (state.scores) request(false);
    },
    onInfo,
    onProgress,
    onReady,
    onFailed,
  };
}
