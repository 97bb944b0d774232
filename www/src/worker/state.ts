// The worker's state, in one object, and the transitions that change several of its fields
// together. Everything the worker remembers between messages is a field of `state`; the fields
// that belong to one loaded model are fields of that model's LoadedModel, so a new model (or a
// lost one) cannot leave them behind.

import type { Session } from '../../pkg/ezigen.js';
import type { AdapterReport, Reply, RgbaImage, SubjectPhoto } from '../protocol.js';
import { WeightsError, type ShardSource } from '../weights.js';

const scope = self as unknown as Worker;

/** Posts a reply to the page, transferring `transfer` (image buffers). */
export const post = (msg: Reply, transfer: Transferable[] = []): void => scope.postMessage(msg, transfer);

/** A page image as the core's `RgbaImage`: the same bytes viewed as a `Uint8Array`. */
export const rgba = (img: RgbaImage) => ({
  width: img.width,
  height: img.height,
  data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength),
});

/** A page photo of the subject as the core's `SubjectImage` (the same bytes). */
export type CoreSubject = { image: ReturnType<typeof rgba>; mask: SubjectPhoto['mask'] };

/**
 * The loaded model: its manifest text, where it came from and how it was loaded. The metric
 * models load from the same manifest and source, through the same weights cache.
 */
export interface LoadedModel {
  /** The manifest text it was loaded with (planMetrics and beginMetrics read it again). */
  readonly manifestText: string;
  /** Where its shards came from (the metric models' shards come from there too). */
  readonly source: ShardSource;
  /** Its weights are in f16 on the GPU (the metric models then load in f16 too). */
  readonly f16: boolean;
  /** Downloaded shards are kept in the weights cache. */
  readonly save: boolean;
  /**
   * Its metric models are loaded as well (Session.metricsReady). Part of the model: the core
   * drops its metric models in beginModel, and a new LoadedModel starts with false.
   */
  metricsReady: boolean;
}

/** A generation or edit in progress. */
export interface RunInFlight {
  /** The request's id (a 'cancel' names it). */
  readonly id: number;
  /** A 'cancel' came: the variation in flight stops at its next event, the rest are skipped. */
  cancelled: boolean;
}

/**
 * The latest run's inputs and finished images, kept for their scores (a copy of each result,
 * the subject photos it already had): scored after the run, or when the scores are turned on
 * later. The next run replaces it; a model switch keeps it (the images are still on the page,
 * and are scored once the new model's metric models are ready).
 */
export interface LastRun {
  /** The run's request id. */
  readonly id: number;
  /** The prompt (for CLIP-T). */
  readonly prompt: string;
  /** The subject photos (for DINO and CLIP-I). */
  readonly subjects: CoreSubject[];
  /** The finished images by variation. */
  readonly images: Map<number, RgbaImage>;
  /** The variations whose scores were computed or are being computed. */
  readonly scored: Set<number>;
}

/** Everything the worker keeps between messages. */
export interface WorkerState {
  /**
   * The wasm module's linear memory once `init` succeeded; null before, when no export of the
   * core (parseManifest included) may be called. It only grows, so its size after a load is the
   * load's peak.
   */
  wasmMemory: WebAssembly.Memory | null;
  /** The WebGPU session (null until Session.create succeeded). */
  session: Session | null;
  /** The adapter the session runs on. */
  adapter: AdapterReport | null;
  /** The kernel self-check failed in f16 on this adapter: models then load in f32. */
  f16Unreliable: boolean;
  /** The model that is loaded and ready (null while none is, also during a load). */
  model: LoadedModel | null;
  /** Cancels the model load (or conversion) in progress; null when none runs. */
  modelLoad: AbortController | null;
  /** The scores are turned on (the page sent 'load-metrics', and no 'scores-off' since). */
  scoresOn: boolean;
  /** Cancels the metric models' load in progress; null when none runs. */
  metricsLoad: AbortController | null;
  /** The generation or edit in progress. */
  running: RunInFlight | null;
  /** The latest run, for its scores. */
  lastRun: LastRun | null;
  /** The scoring in progress (one image after the other). */
  scoring: Promise<void> | null;
  /** Asks the scoring in progress to stop after the current image. */
  stopScoring: boolean;
}

/** The worker's state (see WorkerState); changed by the message handlers and the functions below. */
export const state: WorkerState = {
  wasmMemory: null,
  session: null,
  adapter: null,
  f16Unreliable: false,
  model: null,
  modelLoad: null,
  scoresOn: false,
  metricsLoad: null,
  running: null,
  lastRun: null,
  scoring: null,
  stopScoring: false,
};

/**
 * Forgets the loaded model and what belongs to it: its metric models (the flag is the model's,
 * and a metric load in progress is cancelled; it reports its own cancel). Called when a load
 * starts (the core's beginModel drops the old model and its metric models), and when the GPU or
 * the core is lost. The last run stays (see LastRun); a run in progress ends by itself.
 */
export function dropModel(): void {
  state.model = null;
  state.metricsLoad?.abort();
}

/** The WebGPU session; a WeightsError('internal') before it exists. */
export function requireSession(): Session {
  if (!state.session) throw new WeightsError('internal', 'The GPU session is not ready.');
  return state.session;
}

/** The loaded model; a WeightsError('bad-input') when none is ready. */
export function requireModel(): LoadedModel {
  if (!state.model) throw new WeightsError('bad-input', 'No model is loaded yet.');
  return state.model;
}

/** Whether the metric models of the loaded model are ready. */
export const metricsReady = (): boolean => state.model?.metricsReady === true;
