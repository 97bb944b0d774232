// The Web Worker that owns the wasm module, the WebGPU device and the weights cache. All GPU
// work happens here; the page only draws. Messages are typed in protocol.ts.

import init, { Session, debugPanic } from '../pkg/ezigen.js';
import { applyGemmTuning } from './gemm-tuning.js';
import { WASM_FILE } from './build-info.js';
import { convertIntoStore } from './conversion.js';
import { FAILURE_KINDS } from './generated/contract.js';
import {
  FULL_MODEL_LIMITS,
  LARGE_DOWNLOAD_BYTES,
  MAX_VARIATIONS,
  type AdapterReport,
  type BenchRecord,
  type Component,
  type CoreError,
  type CoreEvent,
  type FailureKind,
  type FailureScope,
  type KernelCheck,
  type GpuFailure,
  type Reply,
  type Request,
  type RgbaImage,
  type StorageInfo,
  type SubjectPhoto,
} from './protocol.js';
import {
  WeightStore,
  WeightsError,
  deleteAllWeights,
  formatBytes,
  loadPlan,
  planMetrics,
  planModel,
  sourceFor,
  storageInfo,
  type ShardSource,
} from './weights.js';

const scope = self as unknown as Worker;
const post = (msg: Reply, transfer: Transferable[] = []) => scope.postMessage(msg, transfer);

let session: Session | undefined;
let adapter: AdapterReport | undefined;
let modelReady = false;
let loadAbort: AbortController | null = null;
let running: { id: number; cancelled: boolean } | null = null;

/**
 * The loaded model: its manifest text, where it came from and how it was loaded. The metric
 * models load from the same manifest and source, through the same weights cache.
 */
let loaded: { manifestText: string; source: ShardSource; f16: boolean; save: boolean } | null = null;
/** The scores are turned on (the page sent 'load-metrics', and no 'scores-off' since). */
let scoresOn = false;
/** The metric models of the loaded model are ready (Session.metricsReady). */
let metricsReady = false;
let metricsAbort: AbortController | null = null;

/** A page image as the core's `SubjectImage` (the same bytes). */
type CoreSubject = { image: ReturnType<typeof rgba>; mask: SubjectPhoto['mask'] };

/**
 * The latest run's inputs and finished images, kept for their scores (a copy of each result,
 * the subject photos it already had): scored after the run, or when the scores are turned on
 * later. The next run replaces it.
 */
let lastRun: { id: number; prompt: string; subjects: CoreSubject[]; images: Map<number, RgbaImage>; scored: Set<number> } | null = null;
/** The scoring in progress (one image after the other), and the request to stop it after the current image. */
let scoring: Promise<void> | null = null;
let stopScoring = false;

const KINDS: ReadonlySet<string> = new Set<string>(FAILURE_KINDS);

/** Whether `e` is what the core's exports throw: an Error with a known failure `kind`. */
function isCoreError(e: unknown): e is CoreError {
  return e instanceof Error && typeof (e as Partial<CoreError>).kind === 'string' && KINDS.has((e as CoreError).kind);
}

/** Maps anything thrown (core errors, weights errors, DOM errors) to a failure category. */
function classify(e: unknown): { kind: FailureKind; message: string } {
  if (e instanceof WeightsError || isCoreError(e)) return { kind: e.kind, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof DOMException) {
    if (e.name === 'QuotaExceededError') return { kind: 'quota-exceeded', message };
    if (e.name === 'AbortError') return { kind: 'cancelled', message };
    if (e.name === 'OperationError' && /lost/i.test(message)) return { kind: 'device-lost', message };
  }
  if (/device (was |is )?lost/i.test(message)) return { kind: 'device-lost', message };
  if (/out of memory/i.test(message)) return { kind: 'out-of-memory', message };
  return { kind: 'internal', message };
}

/** The message of a panic of the core, once one happened (the core's panic hook leaves it). */
function corePanic(): string | null {
  const m: unknown = (self as unknown as { ezigenPanic?: unknown }).ezigenPanic;
  // "panicked at file:line:col:\nmessage" on one line
  return typeof m === 'string' ? m.replace(/\s*\n\s*/g, ' ') : null;
}

function fail(id: number | null, scope: FailureScope, e: unknown): void {
  const panic = corePanic();
  if (panic !== null) {
    // After a panic the wasm module cannot be trusted: say what happened, and have the page
    // start a fresh worker (which reloads the model from storage).
    modelReady = false;
    post({ type: 'failed', id, scope, kind: 'internal', message: `the app's engine stopped on an internal error (${panic})` });
    post({ type: 'engine-crashed', message: panic });
    return;
  }
  const { kind, message } = classify(e);
  if (kind === 'device-lost') modelReady = false;
  post({ type: 'failed', id, scope, kind, message });
}

function gpuFailure(detail: string): GpuFailure {
  return /adapter/i.test(detail) ? 'no-adapter' : 'device-failed';
}

function requireSession(): Session {
  if (!session) throw new WeightsError('internal', 'The GPU session is not ready.');
  return session;
}

/** A page image as the core's `RgbaImage`: the same bytes viewed as a `Uint8Array`. */
const rgba = (img: RgbaImage) => ({
  width: img.width,
  height: img.height,
  data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength),
});

/** The wasm linear memory; it only grows, so its size after a load is the load's peak. */
let wasmMemory: WebAssembly.Memory | null = null;

/** Set when the kernel self-check failed in f16 on this adapter: models then load in f32. */
let f16Unreliable = false;

async function start(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: unknown }).gpu;
  if (!gpu) {
    post({ type: 'gpu-unavailable', reason: 'no-webgpu', detail: 'navigator.gpu is undefined' });
    return;
  }
  try {
    wasmMemory = (await init({ module_or_path: new URL(`./${WASM_FILE}`, import.meta.url) })).memory;
  } catch (e) {
    post({ type: 'startup-failed', message: `The app's WebAssembly core could not be loaded: ${e instanceof Error ? e.message : e}` });
    return;
  }
  try {
    session = await Session.create();
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    post({ type: 'gpu-unavailable', reason: gpuFailure(detail), detail });
    return;
  }
  adapter = session.adapter();
  post({ type: 'ready', adapter });
}

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

async function loadModel(req: Extract<Request, { type: 'load-model' }>): Promise<void> {
  if (running) throw new WeightsError('bad-input', 'Wait for the current run to finish (or cancel it) before loading a model.');
  loadAbort?.abort();
  const ctrl = new AbortController();
  loadAbort = ctrl;
  modelReady = false;
  // The metric models belong to the model: a new one needs its own (loaded when scores are on).
  loaded = null;
  metricsAbort?.abort();
  metricsReady = false;
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
    const plan = await planModel(source, store, ctrl.signal);
    const info = plan.info;
    const storage = await storageInfo(store);
    // Refuse early, before asking the user to download gigabytes that could not be used or kept.
    if (!info.tiny && adapter) {
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
    refuseWithoutSpace('The model', info.toDownloadBytes, req.options.saveToStorage && store !== null, storage);

    const needsConfirmation =
      info.source === 'url' && info.toDownloadBytes > LARGE_DOWNLOAD_BYTES && !req.options.confirmedLargeDownload;
    post({ type: 'model-info', info, needsConfirmation, storage });
    if (needsConfirmation) return;

    const core = requireSession();
    const f16 = req.options.allowF16 && adapter?.shader_f16 === true && !f16Unreliable;
    core.beginModel(plan.manifestText, f16);
    const result = await loadPlan(plan, source, store, {
      save: req.options.saveToStorage,
      signal: ctrl.signal,
      onProgress: (p) => post({ type: 'model-progress', ...p }),
      // Components the core does not know are refused there, with the list of known ones.
      upload: (component, bytes) => core.loadShard(component as Component, bytes),
      finish: (component) => core.finishComponent(component as Component),
    });
    modelReady = true;
    loaded = { manifestText: plan.manifestText, source, f16, save: req.options.saveToStorage };
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
      wasmMemoryBytes: wasmMemory?.buffer.byteLength ?? 0,
    });
  } finally {
    if (loadAbort === ctrl) loadAbort = null;
  }
}

/**
 * Loads the metric models of the loaded model (the scores were turned on): their shards from the
 * model's own source through the weights cache, one at a time, verified, into the GPU. Asks
 * first ('metrics-info' with needsConfirmation) when something has to be downloaded.
 */
async function loadMetrics(req: Extract<Request, { type: 'load-metrics' }>): Promise<void> {
  scoresOn = true;
  const model = loaded;
  if (!modelReady || !model) throw new WeightsError('bad-input', 'Load a model first: the scores also use its CLIP image model.');
  if (metricsReady) {
    post({ type: 'metrics-ready', ms: 0, cachedShards: 0, downloadedShards: 0, warning: null });
    scoreLastRun();
    return;
  }
  metricsAbort?.abort();
  const ctrl = new AbortController();
  metricsAbort = ctrl;
  const t0 = performance.now();
  try {
    const store = await WeightStore.open();
    const plan = await planMetrics(model.manifestText, model.source, store);
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
      upload: (component, bytes) => core.loadShard(component as Component, bytes),
      finish: (component) => core.finishComponent(component as Component),
    });
    if (loaded !== model) throw new WeightsError('cancelled', 'Another model was loaded meanwhile.');
    if (!core.metricsReady()) throw new WeightsError('internal', 'The score models were loaded but the core does not report them ready.');
    metricsReady = true;
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
    if (ctrl.signal.aborted && metricsAbort !== ctrl) return;
    throw e;
  } finally {
    if (metricsAbort === ctrl) metricsAbort = null;
  }
}

/**
 * Scores the latest run's images that have no scores yet, one after the other, when the scores
 * are on, the metric models are ready and no run is in progress (never during a generation).
 * Posts 'scores' for each: computing, then the scores or why they failed.
 */
function scoreLastRun(): void {
  const run = lastRun;
  if (scoring || !run || running || !scoresOn || !metricsReady) return;
  const core = requireSession();
  scoring = (async () => {
    for (const [variation, image] of run.images) {
      if (stopScoring || running || !scoresOn || !metricsReady || lastRun !== run) break;
      if (run.scored.has(variation)) continue;
      run.scored.add(variation);
      post({ type: 'scores', id: run.id, variation, result: { state: 'computing' } });
      try {
        const scores = await core.scores({ image: rgba(image), subjects: run.subjects, prompt: run.prompt });
        post({ type: 'scores', id: run.id, variation, result: { state: 'done', scores } });
      } catch (e) {
        const { kind, message } = classify(e);
        if (kind === 'device-lost') modelReady = false;
        post({ type: 'scores', id: run.id, variation, result: { state: 'failed', message } });
      }
    }
  })().finally(() => {
    scoring = null;
    stopScoring = false;
    // Turned on again (or a result came) while the last image was being scored.
    if (run.images.size > run.scored.size) scoreLastRun();
  });
}

/** A page photo of the subject as the core's `SubjectImage`. */
const subjectImage = (s: SubjectPhoto): CoreSubject => ({ image: rgba(s.image), mask: s.mask ?? null });

/**
 * Runs a generate or edit request: its `count` variations one after the other (seeds seed,
 * seed + 1, …), posting each one's progress, previews and result. A cancel stops the variation
 * in flight and skips the rest. From the second variation on the core reuses the subject's
 * features (same photos, masks and subject class): it reports the stage 'subject-reused'.
 */
async function runPipeline(req: Extract<Request, { type: 'generate' | 'edit' }>): Promise<void> {
  if (!modelReady) throw new WeightsError('bad-input', 'No model is loaded yet.');
  if (running) throw new WeightsError('bad-input', 'Another run is still in progress.');
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > MAX_VARIATIONS) {
    throw new WeightsError('bad-input', `A run makes 1 to ${MAX_VARIATIONS} variations, not ${req.count}.`);
  }
  const core = requireSession();
  const run = { id: req.id, cancelled: false };
  running = run;
  // The same images for every variation: the core copies them in on each call.
  const subjects = req.subjects.map(subjectImage);
  const source = req.type === 'edit' ? rgba(req.source) : null;
  // Kept for the scores of this run's images (computed after the run).
  const kept = { id: req.id, prompt: req.params.prompt, subjects, images: new Map<number, RgbaImage>(), scored: new Set<number>() };
  try {
    // Scores of the last run still being computed: the image in flight is finished first.
    if (scoring) {
      stopScoring = true;
      await scoring;
    }
    lastRun = kept;
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
    if (running === run) running = null;
    // After the generation (also a cancelled or failed one), the finished images get their scores.
    scoreLastRun();
  }
}

self.onmessage = async (ev: MessageEvent<Request>) => {
  const req = ev.data;
  switch (req.type) {
    case 'smoke':
      try {
        const core = requireSession();
        const t0 = performance.now();
        const output = await core.smoke(req.f16);
        const ms = performance.now() - t0;
        // The WGSL kernels against their references, in f16 where the adapter has it: a driver
        // whose f16 path is wrong gets the f32 path for the model instead of broken images.
        const kernels: KernelCheck[] = await core.kernelCheck(adapter?.shader_f16 === true);
        f16Unreliable = kernels.some((k) => k.dtype === 'f16' && !k.ok);
        post({ type: 'smoke-result', output, ms, kernels, f16Unreliable });
      } catch (e) {
        post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
      }
      break;
    case 'remembered-self-test':
      f16Unreliable = req.f16Unreliable;
      break;
    case 'load-model':
      try {
        await loadModel(req);
      } catch (e) {
        fail(null, 'model', e);
      }
      break;
    case 'cancel-load':
      loadAbort?.abort();
      break;
    case 'debug-panic':
      try {
        debugPanic('requested by the page');
      } catch (e) {
        fail(null, 'model', e);
      }
      break;
    case 'storage-info':
    case 'delete-cache':
      try {
        let deleted = false;
        if (req.type === 'delete-cache') {
          loadAbort?.abort();
          metricsAbort?.abort();
          deleted = await deleteAllWeights();
        }
        post({ type: 'storage-info', storage: await storageInfo(await WeightStore.open()), deleted });
      } catch (e) {
        fail(null, 'storage', e);
      }
      break;
    case 'generate':
    case 'edit':
      try {
        await runPipeline(req);
      } catch (e) {
        fail(req.id, 'run', e);
      }
      break;
    case 'cancel':
      if (running && running.id === req.id) running.cancelled = true;
      break;
    case 'load-metrics':
      try {
        await loadMetrics(req);
      } catch (e) {
        fail(null, 'metrics', e);
      }
      break;
    case 'scores-off':
      scoresOn = false;
      metricsAbort?.abort();
      break;
    case 'prompt-tokens': {
      let tokens = null;
      try {
        if (session && modelReady) tokens = session.promptTokens(req.text);
      } catch {
        // an untokenizable prompt is reported when the run starts
      }
      post({ type: 'prompt-tokens', text: req.text, tokens });
      break;
    }
    case 'bench': {
      const t0 = performance.now();
      let error: string | null = null;
      try {
        if (!modelReady) throw new Error('No model is loaded yet.');
        if (running) throw new Error('A run is in progress.');
        const core = requireSession();
        await core.benchmark(req.options, (record) => post({ type: 'bench-record', record: record as BenchRecord }));
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      post({ type: 'bench-done', ms: performance.now() - t0, error });
      break;
    }
  }
};

start().catch((e) => post({ type: 'startup-failed', message: e instanceof Error ? e.message : String(e) }));
