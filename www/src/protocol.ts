// Typed messages between the page (main.ts) and the worker (worker.ts): the single source of
// truth for what crosses between them. The worker owns the wasm module (crate/src/web.rs), the
// WebGPU device and the weights cache; the page only draws.
//
// Images cross as RGBA bytes (width·height·4, the `ImageData` layout) and masks as one byte per
// pixel (nonzero = painted). Their ArrayBuffers are transferred, never copied twice.

/** What the wasm core reports about the WebGPU adapter (crate/src/device.rs AdapterReport). */
export interface AdapterReport {
  name: string;
  backend: string;
  device_type: string;
  driver: string;
  shader_f16: boolean;
  max_buffer_size: number;
  max_storage_buffer_binding_size: number;
  max_compute_workgroup_storage_size: number;
}

/** Output of the smoke computation (crate/src/smoke.rs SmokeOutput). */
export interface SmokeOutput {
  shape: number[];
  values: number[];
  dtype: string;
}

/** One WGSL kernel checked against its reference on this device (crate/src/kernels/check.rs). */
export interface KernelCheck {
  kernel: string;
  dtype: string;
  ran: boolean;
  rel_err: number;
  tolerance: number;
  ok: boolean;
}

/** Why the GPU could not be used, in categories the page explains to the user. */
export type GpuFailure = 'no-webgpu' | 'no-adapter' | 'device-failed';

/** An RGBA image as `ImageData` holds it (width·height·4 bytes). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/** A single-channel mask (width·height bytes, 255 = foreground / painted). */
export interface MaskImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Sampling options shared by generate and edit (defaults = the official EZIGen values). */
export interface SamplingOptions {
  seed: number; // default 3154
  steps: number; // default 50
  guidance: number; // default 7.5 (generate); edit uses editGuidance
  editGuidance: number; // default 2
  splitRatio: number; // default 0.4
  simThreshold: number; // default 0.99
  iterations: number | null; // null = auto-stop (3..9), else exactly n
}

export interface GenerateParams extends SamplingOptions {
  prompt: string; // e.g. "a dog in police outfit"
  subjectPrompt: string; // e.g. "a dog"
}

export interface EditParams extends SamplingOptions {
  prompt: string;
  subjectPrompt: string;
  compositeBackground: boolean; // default false (official output does not composite)
}

/** The official EZIGen defaults (configs/infer_config.yaml), used by the form and its reset. */
export const DEFAULTS: EditParams = {
  prompt: '',
  subjectPrompt: 'a dog',
  seed: 3154,
  steps: 50,
  guidance: 7.5,
  editGuidance: 2,
  splitRatio: 0.4,
  simThreshold: 0.99,
  iterations: null,
  compositeBackground: false,
};

/** Allowed ranges of the numeric parameters (the form validates against these). */
export const LIMITS = {
  seed: { min: 0, max: 4294967295 },
  steps: { min: 1, max: 1000 },
  guidance: { min: 0, max: 30 },
  editGuidance: { min: 0, max: 30 },
  splitRatio: { min: 0.01, max: 1 },
  simThreshold: { min: 0, max: 1 },
  iterations: { min: 1, max: 50 },
} as const;

/** The largest image side the page accepts (anything larger is refused with a message). */
export const MAX_IMAGE_SIDE = 8192;

/** Model components in the order they are loaded (the manifest may list them in any order). */
export const COMPONENT_ORDER = [
  'tokenizer',
  'text_encoder',
  'unet',
  'adapters',
  'vae_encoder',
  'vae_decoder',
  'clip_vision',
] as const;

/** Downloads larger than this many bytes are only started after the user agrees. */
export const LARGE_DOWNLOAD_BYTES = 200_000_000;

/** WebGPU limits the real (non-tiny) model needs. */
export const REQUIRED_LIMITS = {
  maxBufferSize: 256 * 1048576,
  maxStorageBufferBindingSize: 128 * 1048576,
} as const;

/** Where model weights come from. */
export type ModelSource = { kind: 'url'; base: string } | { kind: 'files'; files: File[] };

/** How to load a model. */
export interface LoadOptions {
  /** Use the f16 path when the adapter offers `shader-f16` (otherwise f32). */
  allowF16: boolean;
  /** The user agreed to a download above LARGE_DOWNLOAD_BYTES. */
  confirmedLargeDownload: boolean;
  /** Keep downloaded shards in browser storage (false: load into the GPU only). */
  saveToStorage: boolean;
}

/** Pipeline stages reported while running. */
export type Stage = 'encode-text' | 'reference' | 'layout' | 'transfer' | 'inversion' | 'decode';

/**
 * Events the wasm core passes to the `onEvent` callback of `generate`/`edit` (as JSON; an
 * `image` event comes with its RGBA bytes as the callback's second argument).
 */
export type CoreEvent =
  | { type: 'progress'; stage: Stage; step: number; total: number; iteration: number; similarity: number | null }
  | { type: 'image'; iteration: number; similarity: number | null; width: number; height: number; final: boolean };

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
  source: 'url' | 'files';
  totalBytes: number;
  cachedBytes: number;
  toDownloadBytes: number;
  shardCount: number;
  cachedShards: number;
  components: { component: string; bytes: number; shards: number }[];
}

/** Per-component download/load progress. */
export interface ComponentProgress {
  component: string; // tokenizer | text_encoder | unet | adapters | vae_encoder | vae_decoder | clip_vision
  loaded: number; // bytes downloaded, read from storage or uploaded
  total: number; // bytes
  fromCache: boolean; // every shard of it came from browser storage
  state: 'pending' | 'downloading' | 'verifying' | 'uploading' | 'ready' | 'failed';
}

/** Failure categories the page explains (each with a recovery action). */
export type FailureKind =
  | 'no-webgpu'
  | 'no-adapter'
  | 'adapter-too-small'
  | 'device-lost'
  | 'out-of-memory'
  | 'corrupt-shard'
  | 'quota-exceeded'
  | 'network'
  | 'no-model'
  | 'bad-input'
  | 'cancelled'
  | 'internal';

/** Which part of the app a failure belongs to (decides where the page shows it). */
export type FailureScope = 'model' | 'run' | 'storage';

/** What the page's benchmark runs (crate/src/bench.rs BenchConfig; absent = the core's default). */
export interface BenchOptions {
  repeats?: number; // warm runs per stage (default 2)
  pipeline?: boolean; // also time a full generate and edit (default true)
  steps?: number; // DDPM steps of the full runs (default 50)
  iterations?: number; // refinement iterations of the full runs (default 3)
  labels?: Record<string, string | number | boolean>; // added to every record
}

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
  | { type: 'load-model'; source: ModelSource; options: LoadOptions }
  | { type: 'cancel-load' }
  | { type: 'storage-info' }
  | { type: 'delete-cache' }
  | { type: 'generate'; id: number; params: GenerateParams; subject: RgbaImage; subjectMask: MaskImage | null }
  | {
      type: 'edit';
      id: number;
      params: EditParams;
      source: RgbaImage;
      mask: MaskImage;
      subject: RgbaImage;
      subjectMask: MaskImage | null;
    }
  | { type: 'cancel'; id: number }
  | { type: 'bench'; options: BenchOptions };

/** Worker → page. */
export type Reply =
  | { type: 'ready'; adapter: AdapterReport }
  | { type: 'gpu-unavailable'; reason: GpuFailure; detail: string }
  | { type: 'startup-failed'; message: string }
  | { type: 'smoke-result'; output: SmokeOutput; ms: number; kernels: KernelCheck[] | null; f16Unreliable: boolean }
  | { type: 'error'; message: string } // the self-test failed
  | { type: 'model-info'; info: ModelInfo; needsConfirmation: boolean; storage: StorageInfo | null }
  | {
      type: 'model-progress';
      components: ComponentProgress[];
      loaded: number;
      total: number;
      shardsDone: number;
      shardCount: number;
      cachedShards: number;
    }
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
  | { type: 'storage-info'; storage: StorageInfo; deleted: boolean }
  | { type: 'progress'; id: number; stage: Stage; step: number; total: number; iteration: number; similarity: number | null }
  // iteration 0 is the initial image, refinement iterations count from 1
  | { type: 'preview'; id: number; iteration: number; similarity: number | null; image: RgbaImage }
  // iterations: refinement iterations run (the image events' largest `iteration`; 0 = initial image only)
  | { type: 'result'; id: number; image: RgbaImage; ms: number; iterations: number; similarity: number | null }
  | { type: 'failed'; id: number | null; scope: FailureScope; kind: FailureKind; message: string }
  | { type: 'bench-record'; record: BenchRecord }
  | { type: 'bench-done'; ms: number; error: string | null };
