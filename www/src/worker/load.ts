// Loading a model and its metric models: the manifest checked by the core (parseManifest), the
// checks before any download (adapter limits, storage space, the user's consent to a large
// download), then the shards one at a time through the weights cache into the GPU.

import { parseManifest } from '../../pkg/ezigen.js';
import { applyGemmTuning } from '../gemm-tuning.js';
import { convertIntoStore } from '../conversion.js';
import {
  FULL_MODEL_LIMITS,
  LARGE_DOWNLOAD_BYTES,
  type AdapterReport,
  type Component,
  type ModelInfo,
  type Request,
  type StorageInfo,
} from '../protocol.js';
import { WeightStore, WeightsError, formatBytes, loadPlan, planMetrics, planModel, sourceFor, storageInfo } from '../weights.js';
import { scoreLastRun } from './scores.js';
import { dropModel, post, requireSession, state } from './state.js';

/** Refuses, before any download, `bytes` to be stored that the origin's storage cannot take. */
function refuseWithoutSpace(what: string, bytes: number, save: boolean, storage: StorageInfo): void {
  if (bytes <= 0 || !save || storage.quota === null || storage.usage === null) return;
  const free = storage.quota - storage.usage;
  if (bytes > free) {
    throw new WeightsError(
      'quota-exceeded',
      `${what} needs ${formatBytes(bytes)} more browser storage, but this site may only use ` +
        `${formatBytes(Math.max(0, free))} more (${formatBytes(storage.usage)} of ${formatBytes(storage.quota)} used).`,
    );
  }
}

/** Refuses the full model, before any download, on an adapter whose buffer limits it exceeds. */
function refuseSmallAdapter(info: ModelInfo, adapter: AdapterReport | null): void {
  if (info.tiny || !adapter) return;
  const buf = adapter.max_buffer_size;
  const bind = adapter.max_storage_buffer_binding_size;
  if (buf < FULL_MODEL_LIMITS.maxBufferSize || bind < FULL_MODEL_LIMITS.maxStorageBufferBindingSize) {
    const mib = (n: number) => `${Math.floor(n / 1048576)} MiB`;
    throw new WeightsError(
      'adapter-too-small',
      `This graphics adapter allows buffers of ${mib(buf)} and storage bindings of ${mib(bind)}; ` +
        `the full model needs ${mib(FULL_MODEL_LIMITS.maxBufferSize)} and ${mib(FULL_MODEL_LIMITS.maxStorageBufferBindingSize)}.`,
    );
  }
}

/**
 * Loads a model (converting the picked original weights into storage first, for a 'convert'
 * source). The previous model is dropped at once; a download above LARGE_DOWNLOAD_BYTES waits
 * for the user's consent ('model-info' with needsConfirmation, then the same request again).
 */
export async function loadModel(req: Extract<Request, { type: 'load-model' }>): Promise<void> {
  if (state.running) throw new WeightsError('bad-input', 'Wait for the current run to finish (or cancel it) before loading a model.');
  if (!state.wasmMemory) {
    throw new WeightsError('internal', "The app's core is not running in this browser (no WebGPU, or its WebAssembly could not be loaded), so no model can be loaded.");
  }
  state.modelLoad?.abort();
  const ctrl = new AbortController();
  state.modelLoad = ctrl;
  // The metric models belong to the model: a new one needs its own (loaded when scores are on).
  dropModel();
  const t0 = performance.now();
  try {
    const store = await WeightStore.open();
    let spec = req.source;
    if (spec.kind === 'convert') {
      if (!store) {
        throw new WeightsError(
          'bad-input',
          'This browser gives the page no storage (Cache Storage is unavailable, e.g. in some private modes), so converted weights could not be kept. Convert them with `ezigen convert` and choose the output folder instead.',
        );
      }
      await convertIntoStore(spec.files, store, {
        signal: ctrl.signal,
        storage: await storageInfo(store),
        onProgress: (progress, warnings) => post({ type: 'convert-progress', progress, warnings }),
      });
      spec = { kind: 'stored' };
    }
    const source = sourceFor(spec);
    const plan = await planModel(source, store, ctrl.signal, parseManifest);
    const info = plan.info;
    const storage = await storageInfo(store);
    // Refuse early, before asking the user to download gigabytes that could not be used or kept.
    refuseSmallAdapter(info, state.adapter);
    refuseWithoutSpace('The model', info.toDownloadBytes, req.options.saveToStorage && store !== null, storage);

    const needsConfirmation =
      info.source === 'url' && info.toDownloadBytes > LARGE_DOWNLOAD_BYTES && !req.options.confirmedLargeDownload;
    post({ type: 'model-info', info, needsConfirmation, storage });
    if (needsConfirmation) return;

    const core = requireSession();
    const f16 = req.options.allowF16 && state.adapter?.shader_f16 === true && !state.f16Unreliable;
    core.beginModel(plan.manifestText, f16);
    const result = await loadPlan(plan, source, store, {
      save: req.options.saveToStorage,
      signal: ctrl.signal,
      onProgress: (p) => post({ type: 'model-progress', ...p }),
      // Components the core does not know are refused there, with the list of known ones.
      upload: (component, bytes, file) => core.loadShard(component as Component, bytes, file),
      finish: (component) => core.finishComponent(component as Component),
    });
    state.model = { manifestText: plan.manifestText, source, f16, save: req.options.saveToStorage, metricsReady: false };
    // The GEMM choices of this adapter, browser and build: kept, or timed once and kept.
    post({ type: 'gemm-tuning', info: await applyGemmTuning(core, req.options.forceTuningMs ?? null) });
    post({
      type: 'model-ready',
      name: info.name,
      tiny: info.tiny,
      precision: f16 ? 'f16' : 'f32',
      ms: performance.now() - t0,
      cachedShards: result.cachedShards,
      downloadedShards: result.downloadedShards,
      warning: result.warning,
      wasmMemoryBytes: state.wasmMemory?.buffer.byteLength ?? 0,
    });
  } finally {
    if (state.modelLoad === ctrl) state.modelLoad = null;
  }
}

/**
 * Loads the metric models of the loaded model (the scores were turned on): their shards from the
 * model's own source through the weights cache, one at a time, verified, into the GPU. Asks
 * first ('metrics-info' with needsConfirmation) when something has to be downloaded.
 */
export async function loadMetrics(req: Extract<Request, { type: 'load-metrics' }>): Promise<void> {
  state.scoresOn = true;
  const model = state.model;
  if (!model) throw new WeightsError('bad-input', 'Load a model first: the scores also use its CLIP image model.');
  if (model.metricsReady) {
    post({ type: 'metrics-ready', ms: 0, cachedShards: 0, downloadedShards: 0, warning: null });
    scoreLastRun();
    return;
  }
  state.metricsLoad?.abort();
  const ctrl = new AbortController();
  state.metricsLoad = ctrl;
  const t0 = performance.now();
  try {
    const store = await WeightStore.open();
    const plan = await planMetrics(model.manifestText, model.source, store, parseManifest);
    const storage = await storageInfo(store);
    if (ctrl.signal.aborted) throw new WeightsError('cancelled', 'Loading the score models was cancelled.');
    refuseWithoutSpace('The score models', plan.info.toDownloadBytes, model.save && store !== null, storage);
    const needsConfirmation = plan.info.toDownloadBytes > 0 && !req.confirmed;
    post({ type: 'metrics-info', info: plan.info, needsConfirmation, storage });
    if (needsConfirmation) return;
    const core = requireSession();
    core.beginMetrics(model.manifestText, model.f16);
    const result = await loadPlan(plan, model.source, store, {
      save: model.save,
      signal: ctrl.signal,
      onProgress: (p) => post({ type: 'metrics-progress', ...p }),
      upload: (component, bytes, file) => core.loadShard(component as Component, bytes, file),
      finish: (component) => core.finishComponent(component as Component),
    });
    if (state.model !== model) throw new WeightsError('cancelled', 'Another model was loaded meanwhile.');
    if (!core.metricsReady()) throw new WeightsError('internal', 'The score models were loaded but the core does not report them ready.');
    model.metricsReady = true;
    post({
      type: 'metrics-ready',
      ms: performance.now() - t0,
      cachedShards: result.cachedShards,
      downloadedShards: result.downloadedShards,
      warning: result.warning,
    });
    scoreLastRun();
  } catch (e) {
    // Replaced by a newer request (turned off and on again): that one reports.
    if (ctrl.signal.aborted && state.metricsLoad !== ctrl) return;
    throw e;
  } finally {
    if (state.metricsLoad === ctrl) state.metricsLoad = null;
  }
}
