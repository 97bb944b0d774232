// Typed messages between the page (main.ts) and the worker (worker.ts): the single source of
// truth for what crosses between them. The worker owns the wasm module (crate/src/web.rs), the
// WebGPU device and the weights cache; the page only draws.
//
// Images cross as RGBA bytes (width·height·4, the `ImageData` layout) and masks as one byte per
// pixel (0 / 255, see MASK_FOREGROUND_MIN). Their ArrayBuffers are transferred, never copied
// twice. Everything the core defines (requests, events, reports, defaults, limits, the component
// list, the mask rule, failure kinds) is generated into generated/contract.ts and re-exported here.

import {
  DEFAULT_OPTIONS,
  type AdapterReport,
  type BenchOptions,
  type ConvertProgress,
  type EditRequest,
  type FailureKind,
  type GenerateRequest,
  type KernelCheck,
  type Mask,
  type PromptTokens,
  type Scores,
  type SmokeOutput,
  type SourceRoot,
  type Stage,
} from './generated/contract.js';

// The core's types and rules, generated from the Rust side (crate/src/contract.rs).
export {
  COMPONENTS,
  DEFAULT_OPTIONS,
  PRESETS,
  SAMPLERS,
  FULL_MODEL_LIMITS,
  LIMITS,
  MASK_FOREGROUND_MIN,
  MAX_ASPECT_RATIO,
  MAX_IMAGE_SIDE,
  MAX_SUBJECTS,
  METRIC_COMPONENTS,
} from './generated/contract.js';
export type {
  AdapterReport,
  BenchOptions,
  Component,
  ConvertProgress,
  SourceRoot,
  CoreError,
  CoreEvent,
  EditRequest,
  FailureKind,
  GenerateRequest,
  KernelCheck,
  Preset,
  PresetInfo,
  PromptTokens,
  SamplerKind,
  SamplingOptions,
  Scores,
  SmokeOutput,
  Stage,
  TuneReport,
  TuneTable,
} from './generated/contract.js';
export type { GemmTuningInfo } from './gemm-tuning.js';
import type { GemmTuningInfo } from './gemm-tuning.js';

/** Why the GPU could not be used, in categories the page explains to the user. */
export type GpuFailure = 'no-webgpu' | 'no-adapter' | 'device-failed';

/**
 * An RGBA image on the page, as `ImageData` holds it (width·height·4 bytes). The core's
 * `RgbaImage` is the same with a `Uint8Array`; the worker passes a view of these bytes.
 */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/** A single-channel mask (width·height bytes, 255 = painted; the core's `Mask`). */
export type MaskImage = Mask;

/**
 * One photo of the subject as the page sends it: the core's `SubjectImage` with the page's image
 * bytes (the photo, and its background mask or null to keep the whole photo).
 */
export interface SubjectPhoto {
  image: RgbaImage;
  mask: MaskImage | null;
}

/** The most variations one run makes (seeds seed, seed + 1, …); the page offers 1, 2 or 4. */
export const MAX_VARIATIONS = 4;

/** The form's parameters of a generation: the request without its images. */
export type GenerateParams = Omit<GenerateRequest, 'subjects'>;

/** The form's parameters of an edit: the request without its images. */
export type EditParams = Omit<EditRequest, 'source' | 'mask' | 'subjects'>;

/** What the form starts with and resets to: the official defaults and an example subject class. */
export const DEFAULTS: EditParams = {
  prompt: '',
  subjectPrompt: 'a dog',
  compositeBackground: false,
  ...DEFAULT_OPTIONS,
};

/** Downloads larger than this many bytes are only started after the user agrees. */
export const LARGE_DOWNLOAD_BYTES = 200_000_000;

/** One picked file of the original weights: its folder, its path inside the folder and the file. */
export interface PickedWeightFile {
  root: SourceRoot;
  path: string;
  file: File;
}

/**
 * Where model weights come from: a URL, a folder with converted weights, the original published
 * files converted in the worker (then stored), or the model converted in this browser before.
 */
export type ModelSource =
  | { kind: 'url'; base: string }
  | { kind: 'files'; files: File[] }
  | { kind: 'convert'; files: PickedWeightFile[] }
  | { kind: 'stored' };

/** How to load a model. */
export interface LoadOptions {
  /** Use the f16 path when the adapter offers `shader-f16` (otherwise f32). */
  allowF16: boolean;
  /** The user agreed to a download above LARGE_DOWNLOAD_BYTES. */
  confirmedLargeDownload: boolean;
  /** Keep downloaded shards in browser storage (false: load into the GPU only). */
  saveToStorage: boolean;
  /** Time the GEMM kernels even on a software adapter when nothing is kept, within this many ms
   * (`?tune` or `?tune=MS`). */
  forceTuningMs?: number;
}

/** Browser storage as `navigator.storage.estimate()` and the weights cache see it. */
export interface StorageInfo {
  usage: number | null; // bytes the origin uses (null: unknown)
  quota: number | null; // bytes the origin may use
  weightsBytes: number; // bytes of cached weight shards
  weightShards: number; // cached shard count
}

/** What a model manifest says, and how much of it is cached already. */
export interface ModelInfo {
  name: string;
  tiny: boolean;
  dtype: 'f16' | 'f32'; // storage dtype of the shards
  source: 'url' | 'files' | 'stored';
  totalBytes: number;
  cachedBytes: number;
  toDownloadBytes: number;
  shardCount: number;
  cachedShards: number;
  components: { component: string; bytes: number; shards: number }[]; // manifest names (may include ones the core refuses)
}

/** Per-component download/load progress. */
export interface ComponentProgress {
  component: string; // a manifest component name (normally a Component)
  loaded: number; // bytes downloaded, read from storage or uploaded
  total: number; // bytes
  fromCache: boolean; // every shard of it came from browser storage
  state: 'pending' | 'downloading' | 'verifying' | 'uploading' | 'ready' | 'failed';
}

/** Snapshot of the model loading progress (the worker posts it as 'model-progress'). */
export interface LoadProgress {
  components: ComponentProgress[];
  loaded: number; // bytes
  total: number; // bytes
  shardsDone: number;
  shardCount: number;
  cachedShards: number;
}

/**
 * Which part of the app a failure belongs to (decides where the page shows it); 'metrics': the
 * metric models of the scores (the generation keeps working).
 */
export type FailureScope = 'model' | 'run' | 'storage' | 'metrics';

/**
 * Where the scores of one result stand: being computed (after its run finished), computed
 * (cosine similarities from the core, shown as they are), or failed (the message says why).
 */
export type ScoreState =
  | { state: 'computing' }
  | { state: 'done'; scores: Scores }
  | { state: 'failed'; message: string };

/** One benchmark record (one stage): `bench` names it; times in ms, memory in bytes. */
export interface BenchRecord {
  bench: string;
  ms?: number;
  first_ms?: number;
  min_ms?: number;
  dispatches?: number;
  mem_in_use_bytes?: number;
  mem_reserved_bytes?: number;
  peak_reserved_bytes?: number;
  adapters?: boolean;
  [key: string]: unknown;
}

/** Page → worker. */
export type Request =
  | { type: 'smoke'; f16: boolean }
  // Instead of 'smoke': the self-test ran on an earlier visit (ui/selftest-memory.ts) with this outcome.
  | { type: 'remembered-self-test'; f16Unreliable: boolean }
  | { type: 'load-model'; source: ModelSource; options: LoadOptions }
  | { type: 'cancel-load' }
  | { type: 'storage-info' }
  | { type: 'delete-cache' }
  // Only with the page's `?debug`: make the core panic, to test the crash recovery.
  | { type: 'debug-panic' }
  // A run of `count` variations (1 to MAX_VARIATIONS), one after the other with seeds
  // params.seed, params.seed + 1, …; each posts its own 'result'. The subject photos are
  // concatenated in the order given (1 to MAX_SUBJECTS).
  | { type: 'generate'; id: number; params: GenerateParams; subjects: SubjectPhoto[]; count: number }
  | {
      type: 'edit';
      id: number;
      params: EditParams;
      source: RgbaImage;
      mask: MaskImage;
      subjects: SubjectPhoto[];
      count: number;
    }
  | { type: 'cancel'; id: number }
  | { type: 'bench'; options: BenchOptions }
  | { type: 'prompt-tokens'; text: string }
  // The scores are turned on: load the metric models of the loaded model (from the same source
  // and weights cache), after a 'metrics-info' that asks for confirmation when something has to
  // be downloaded and `confirmed` is false; once they are ready, the results of the latest run
  // and of every later run are scored after their run.
  | { type: 'load-metrics'; confirmed: boolean }
  // The scores are turned off: stops loading the metric models and scoring (loaded ones stay).
  | { type: 'scores-off' };

/** Worker → page. */
export type Reply =
  | { type: 'ready'; adapter: AdapterReport }
  | { type: 'gpu-unavailable'; reason: GpuFailure; detail: string }
  | { type: 'startup-failed'; message: string }
  | { type: 'smoke-result'; output: SmokeOutput; ms: number; kernels: KernelCheck[] | null; f16Unreliable: boolean }
  | { type: 'error'; message: string } // the self-test failed
  | { type: 'model-info'; info: ModelInfo; needsConfirmation: boolean; storage: StorageInfo | null }
  | ({ type: 'model-progress' } & LoadProgress)
  // Converting the original weights (source 'convert'): where it stands, then the plan's warnings.
  | { type: 'convert-progress'; progress: ConvertProgress; warnings: string[] }
  | {
      type: 'model-ready';
      name: string;
      tiny: boolean;
      precision: 'f16' | 'f32';
      ms: number;
      cachedShards: number; // shards read from browser storage (not downloaded)
      downloadedShards: number;
      warning: string | null; // e.g. storage full: the model works but was not saved
      wasmMemoryBytes: number; // wasm linear memory after the load (= its peak: it never shrinks)
    }
  // The GEMM kernels of the loaded model: a kept choice installed, tuned now, or the defaults.
  | { type: 'gemm-tuning'; info: GemmTuningInfo }
  | { type: 'storage-info'; storage: StorageInfo; deleted: boolean }
  // `variation`: which variation of the run (0-based) the event belongs to
  // timeLeft: the core's estimate of the whole run in words ("about 40–70 s left")
  | {
      type: 'progress';
      id: number;
      variation: number;
      stage: Stage;
      step: number;
      total: number;
      iteration: number;
      similarity: number | null;
      timeLeft: string;
    }
  // The clean image the UNet step `step` of `stage` predicts, one pixel per latent cell
  | { type: 'step-preview'; id: number; variation: number; stage: Stage; step: number; total: number; iteration: number; image: RgbaImage }
  // iteration 0 is the initial image, refinement iterations count from 1
  | { type: 'preview'; id: number; variation: number; iteration: number; similarity: number | null; image: RgbaImage }
  // One variation's image. iterations: refinement iterations run (the image events' largest
  // `iteration`; 0 = initial image only); seed: the seed it used; ms: its own time;
  // subjectReused: the subject's features came from an earlier run (stage 'subject-reused').
  | {
      type: 'result';
      id: number;
      variation: number;
      seed: number;
      image: RgbaImage;
      ms: number;
      iterations: number;
      similarity: number | null;
      subjectReused: boolean;
    }
  | { type: 'failed'; id: number | null; scope: FailureScope; kind: FailureKind; message: string }
  // The core panicked (after the 'failed' of whatever was running): this worker's module is
  // unusable, so the page restarts the worker and reloads the model from storage.
  | { type: 'engine-crashed'; message: string }
  | { type: 'bench-record'; record: BenchRecord }
  // null: no model is loaded yet (the tokenizer comes with it)
  | { type: 'prompt-tokens'; text: string; tokens: PromptTokens | null }
  | { type: 'bench-done'; ms: number; error: string | null }
  // The metric models' part of the manifest (sizes, what is stored already); as 'model-info'.
  | { type: 'metrics-info'; info: ModelInfo; needsConfirmation: boolean; storage: StorageInfo | null }
  | ({ type: 'metrics-progress' } & LoadProgress)
  // The metric models are loaded (all zero when they were loaded before).
  | { type: 'metrics-ready'; ms: number; cachedShards: number; downloadedShards: number; warning: string | null }
  // The scores of variation `variation` of run `id`.
  | { type: 'scores'; id: number; variation: number; result: ScoreState };

/**
 * The image decoder (the worker script started under DECODER_WORKER_NAME): page → decoder. The
 * bytes are transferred.
 */
export interface DecodeRequest {
  id: number;
  bytes: Uint8Array;
}

/**
 * Decoder → page: the RGBA pixels (transferred), or why the file was refused; `fatal`: the core
 * failed rather than refused the file (a panic), and the page replaces the decoder.
 */
export type DecodeReply = { id: number; image: RgbaImage } | { id: number; error: string; fatal: boolean };

/** The name the worker script is started under to be the image decoder (decode-client.ts). */
export const DECODER_WORKER_NAME = 'ezigen-decoder';
