// Model weights for the worker: the manifest, shard downloads with byte progress, SHA-256
// verification and the persistent cache. TypeScript owns all fetching; Rust never fetches, it
// receives one verified shard at a time (Session.loadShard) and the bytes are dropped after.
//
// Storage choice: Cache Storage, not the Origin Private File System.
// - Cache Storage works the same in this worker, in the page and in the service worker (which
//   already uses it for the app shell), in every browser that has WebGPU; OPFS's streaming
//   writer (createWritable) is missing in Safari, which would need a second code path with
//   createSyncAccessHandle.
// - OPFS's advantage, streaming a file to disk without holding it, buys nothing here: a shard
//   is needed whole anyway, because crypto.subtle.digest has no streaming form (loadShard then
//   copies it into wasm memory one tensor piece of at most 8 MiB at a time). Shards are at
//   most 64 MiB, far below the ~250 MB single entries that have been seen to fail with
//   Cache.put.
// - One cache entry per shard gives resumable downloads for free: after an interrupted
//   download or a closed tab, the shards already stored are skipped and only the missing ones
//   are fetched.
// - Entries are content-addressed: the key holds the shard's sha256, so a changed model never
//   mixes with an old one, and an unchanged shard is shared between model versions.
// The HTTP cache is bypassed for shards (cache: 'no-store') so that nothing is stored twice.

import { MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest } from './generated/contract.js';
import {
  COMPONENTS,
  METRIC_COMPONENTS,
  type ComponentProgress,
  type LoadProgress,
  type FailureKind,
  type ModelInfo,
  type ModelSource,
  type StorageInfo,
} from './protocol.js';

/** The Cache Storage cache that holds weight shards and model manifests. */
export const WEIGHTS_CACHE = 'ezigen-weights-v1';
const KEY_PREFIX = '__ezigen_weights__/';

/** `models/manifest.json` as written by `ezigen convert` (types generated from the Rust side). */
export type { Manifest, ComponentEntry, ShardEntry, TensorEntry } from './generated/contract.js';

/** A failure with the category the page explains (see protocol.ts FailureKind). */
export class WeightsError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'WeightsError';
  }
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses and checks a manifest; throws a WeightsError('no-model') saying what is wrong. */
export function parseManifest(text: string, where: string): Manifest {
  const bad = (why: string) =>
    new WeightsError('no-model', `The model manifest ${where} is not valid: ${why}. Convert the weights again with \`ezigen convert\`.`);
  let m: Manifest;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw bad(`it is not JSON (${(e as Error).message})`);
  }
  if (!m || typeof m !== 'object') throw bad('it is not a JSON object');
  if (m.format !== MANIFEST_FORMAT) throw bad(`"format" is ${JSON.stringify(m.format)}, expected "${MANIFEST_FORMAT}"`);
  if (m.version !== MANIFEST_VERSION) throw bad(`"version" ${JSON.stringify(m.version)} is not supported by this page (${MANIFEST_VERSION})`);
  if (typeof m.name !== 'string') throw bad('"name" is missing');
  if (m.dtype !== 'f16' && m.dtype !== 'f32') throw bad(`"dtype" is ${JSON.stringify(m.dtype)}`);
  if (!m.components || typeof m.components !== 'object') throw bad('"components" is missing');
  if (!m.shards || typeof m.shards !== 'object') throw bad('"shards" is missing');
  m.tiny = m.tiny === true;
  for (const [file, s] of Object.entries(m.shards)) {
    if (!file || file.includes('..') || file.startsWith('/') || file.includes('\\') || /^[a-z]+:/i.test(file)) {
      throw bad(`shard name ${JSON.stringify(file)} is not a plain file name`);
    }
    if (!s || typeof s.component !== 'string') throw bad(`shard ${file} has no component`);
    if (!isCount(s.bytes)) throw bad(`shard ${file} has no byte size`);
    if (typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(s.sha256)) throw bad(`shard ${file} has no sha256`);
    s.sha256 = s.sha256.toLowerCase();
  }
  for (const [name, c] of Object.entries(m.components)) {
    if (!c || !Array.isArray(c.shards)) throw bad(`component ${name} lists no shards`);
    for (const file of c.shards) {
      const s = m.shards[file];
      if (!s) throw bad(`component ${name} names shard ${file}, which is not in "shards"`);
      if (s.component !== name) throw bad(`shard ${file} belongs to ${s.component}, not ${name}`);
    }
  }
  if (!isCount(m.total_bytes)) {
    m.total_bytes = Object.values(m.shards).reduce((a, s) => a + s.bytes, 0);
  }
  return m;
}

/**
 * The two parts of a converted model, loaded separately: the generation model, and the optional
 * metric models (METRIC_COMPONENTS: CLIP's text tower and DINO) that only the scores need, loaded
 * when the user turns the scores on.
 */
export type ModelPart = 'model' | 'metrics';

const isMetric = (c: string) => (METRIC_COMPONENTS as readonly string[]).includes(c);

/**
 * The manifest's components of `part` in load order: for the model the known ones first (in
 * COMPONENTS order), then unknown ones (refused by the core); the metric components never.
 * For the metrics the metric components it has, in METRIC_COMPONENTS order.
 */
export function componentOrder(m: Manifest, part: ModelPart = 'model'): string[] {
  if (part === 'metrics') return METRIC_COMPONENTS.filter((c) => c in m.components);
  const known = COMPONENTS.filter((c) => c in m.components) as string[];
  const extra = Object.keys(m.components).filter((c) => !known.includes(c) && !isMetric(c));
  return [...known, ...extra];
}

/** Said when the scores are turned on for a model converted without the metric models. */
export const NO_METRICS_MESSAGE =
  'This model was converted without the metric models, so its results cannot be scored. ' +
  'Convert it with `ezigen convert … --dino DIR` (DINO ViT-S/16; CLIP\'s text tower comes from `--clip`) to see scores.';

/** Hex SHA-256 of `bytes` (crypto.subtle). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

const isQuotaError = (e: unknown) =>
  e instanceof DOMException && (e.name === 'QuotaExceededError' || e.code === 22);

/** The weights cache: one entry per shard, keyed by sha256 + file name; plus manifests. */
export class WeightStore {
  private constructor(private readonly cache: Cache) {}

  /** Opens the cache; null where Cache Storage is unavailable (then nothing is stored). */
  static async open(): Promise<WeightStore | null> {
    try {
      if (typeof caches === 'undefined') return null;
      return new WeightStore(await caches.open(WEIGHTS_CACHE));
    } catch {
      return null;
    }
  }

  private shardKey(file: string, sha256: string): string {
    return new URL(`${KEY_PREFIX}${sha256}/${encodeURIComponent(file)}`, self.location.href).href;
  }

  private manifestKey(url: string): string {
    return new URL(`${KEY_PREFIX}manifest?url=${encodeURIComponent(url)}`, self.location.href).href;
  }

  async has(file: string, sha256: string): Promise<boolean> {
    return (await this.cache.match(this.shardKey(file, sha256))) !== undefined;
  }

  async get(file: string, sha256: string): Promise<Uint8Array | null> {
    const res = await this.cache.match(this.shardKey(file, sha256));
    if (!res) return null;
    try {
      return new Uint8Array(await res.arrayBuffer());
    } catch {
      return null; // an entry that cannot be read back is treated as missing
    }
  }

  /** Stores a verified shard; throws a WeightsError('quota-exceeded') when storage is full. */
  async put(file: string, sha256: string, bytes: Uint8Array): Promise<void> {
    const res = new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: { 'content-type': 'application/octet-stream', 'x-ezigen-bytes': String(bytes.byteLength) },
    });
    try {
      await this.cache.put(this.shardKey(file, sha256), res);
    } catch (e) {
      if (isQuotaError(e)) throw new WeightsError('quota-exceeded', `Browser storage is full: ${file} could not be saved.`);
      throw e;
    }
  }

  async delete(file: string, sha256: string): Promise<void> {
    await this.cache.delete(this.shardKey(file, sha256));
  }

  /** Remembers a manifest; false when it could not be stored (for a download that only costs offline use). */
  async putManifest(url: string, text: string): Promise<boolean> {
    try {
      await this.cache.put(this.manifestKey(url), new Response(text, { headers: { 'content-type': 'application/json' } }));
      return true;
    } catch {
      return false;
    }
  }

  async getManifest(url: string): Promise<string | null> {
    const res = await this.cache.match(this.manifestKey(url));
    return res ? res.text() : null;
  }

  /** Byte count and number of the cached shards. */
  async stats(): Promise<{ bytes: number; shards: number }> {
    let bytes = 0;
    let shards = 0;
    for (const req of await this.cache.keys()) {
      if (req.url.includes(`${KEY_PREFIX}manifest?`)) continue;
      const res = await this.cache.match(req);
      shards++;
      bytes += Number(res?.headers.get('x-ezigen-bytes') ?? 0);
    }
    return { bytes, shards };
  }
}

/** Deletes every cached shard and manifest. */
export async function deleteAllWeights(): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  return caches.delete(WEIGHTS_CACHE);
}

/** What navigator.storage.estimate() and the weights cache say. */
export async function storageInfo(store: WeightStore | null): Promise<StorageInfo> {
  let usage: number | null = null;
  let quota: number | null = null;
  try {
    const est = await navigator.storage?.estimate?.();
    usage = est?.usage ?? null;
    quota = est?.quota ?? null;
  } catch {
    // estimate() is missing or refused (some private modes): sizes stay unknown.
  }
  const { bytes, shards } = store ? await store.stats() : { bytes: 0, shards: 0 };
  return { usage, quota, weightsBytes: bytes, weightShards: shards };
}

/** Where the manifest and the shards are read from. */
export interface ShardSource {
  readonly kind: 'url' | 'files' | 'stored';
  /** Says where a file comes from, for messages. */
  describe(file: string): string;
  /** The manifest text (and whether it came from the cache because the network failed). */
  manifest(store: WeightStore | null, signal: AbortSignal): Promise<{ text: string; offline: boolean }>;
  /** Reads one shard of `bytes` bytes, reporting progress as bytes arrive. */
  shard(file: string, bytes: number, onBytes: (n: number) => void, signal: AbortSignal): Promise<Uint8Array>;
}

const aborted = (signal: AbortSignal) => {
  if (signal.aborted) throw new WeightsError('cancelled', 'Loading the model was cancelled.');
};

/**
 * What to say when a fetch from another origin fails without an HTTP status: the browser hides
 * whether the host is down, does not allow this page (no CORS header) or is not allowed by the
 * page's Content-Security-Policy, so the message names all three, with the fix for each.
 */
function crossOriginHint(url: URL): string {
  return (
    ` The weights are on another site (${url.origin}). If it is reachable, it must allow this page to read them: ` +
    `its answers need the header Access-Control-Allow-Origin (CORS) for ${self.location.origin}, ` +
    `and this site's Content-Security-Policy must list ${url.origin} in connect-src (see "Host a demo" in the README).`
  );
}

function networkError(what: string, e: unknown, crossOrigin: URL | null = null): WeightsError {
  if (e instanceof WeightsError) return e;
  if (e instanceof DOMException && e.name === 'AbortError') {
    return new WeightsError('cancelled', 'Loading the model was cancelled.');
  }
  const why = e instanceof Error ? e.message : String(e);
  if (typeof navigator !== 'undefined' && navigator.onLine === false) {
    return new WeightsError(
      'network',
      `This device is offline, and ${what} is not stored in this browser yet. Connect to the internet and press Retry: parts downloaded before are kept.`,
    );
  }
  const hint = crossOrigin && e instanceof TypeError ? crossOriginHint(crossOrigin) : '';
  return new WeightsError(
    'network',
    `The download of ${what} failed (${why}).${hint} Check the connection and press Retry: shards that were already downloaded are kept and not fetched again.`,
  );
}

/**
 * Weights at a URL, fetched with streamed progress: by default `models/` next to the page, or
 * another origin named by the site's config.json (www/src/config.ts); those fetches are CORS
 * requests (fetch's default mode) without credentials, so the host must send
 * Access-Control-Allow-Origin.
 */
export class UrlSource implements ShardSource {
  readonly kind = 'url';
  readonly base: URL;
  /** The base when it is on another origin than the page (for messages), else null. */
  private readonly foreign: URL | null;

  constructor(base: string) {
    const b = base.endsWith('/') ? base : `${base}/`;
    this.base = new URL(b, self.location.href);
    this.foreign = this.base.origin === self.location.origin ? null : this.base;
  }

  /** The file's path on this site, or its whole URL on another origin. */
  describe(file: string): string {
    const url = new URL(file, this.base);
    return this.foreign ? url.href : url.pathname;
  }

  async manifest(store: WeightStore | null, signal: AbortSignal) {
    const url = new URL('manifest.json', this.base).href;
    let res: Response;
    try {
      res = await fetch(url, { cache: 'no-cache', signal });
    } catch (e) {
      aborted(signal);
      const cached = await store?.getManifest(url);
      if (cached) return { text: cached, offline: true };
      throw networkError(`the model manifest (${this.describe('manifest.json')})`, e, this.foreign);
    }
    if (!res.ok) {
      if (res.status === 404) {
        throw new WeightsError(
          'no-model',
          `No model was found at ${this.describe('manifest.json')}. Convert the weights with \`ezigen convert\` and put the result in that folder, or choose a local folder with converted weights.`,
        );
      }
      const cached = await store?.getManifest(url);
      if (cached) return { text: cached, offline: true };
      throw networkError(`the model manifest`, new Error(`HTTP ${res.status}`));
    }
    const text = await res.text();
    await store?.putManifest(url, text);
    return { text, offline: false };
  }

  async shard(file: string, bytes: number, onBytes: (n: number) => void, signal: AbortSignal): Promise<Uint8Array> {
    const url = new URL(file, this.base).href;
    let res: Response;
    try {
      res = await fetch(url, { cache: 'no-store', signal });
    } catch (e) {
      throw networkError(file, e, this.foreign);
    }
    if (!res.ok || !res.body) {
      throw networkError(file, new Error(res.status === 404 ? 'the server does not have this file (HTTP 404)' : `HTTP ${res.status}`));
    }
    // One buffer of the manifest's size: no chunk list, no second copy.
    const out = new Uint8Array(bytes);
    let got = 0;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (got + value.byteLength > bytes) {
          throw new WeightsError('corrupt-shard', `The file ${file} is larger than the manifest says (${bytes} bytes): it does not belong to this model. Convert the weights again.`);
        }
        out.set(value, got);
        got += value.byteLength;
        onBytes(got);
      }
    } catch (e) {
      reader.cancel().catch(() => {});
      throw networkError(file, e);
    }
    if (got !== bytes) {
      throw new WeightsError('corrupt-shard', `The file ${file} has ${got} bytes, the manifest says ${bytes}: it does not belong to this model.`);
    }
    return out;
  }
}

/** Weights from a folder the user picked (`<input webkitdirectory>`); nothing is uploaded. */
export class FilesSource implements ShardSource {
  readonly kind = 'files';
  private readonly byName = new Map<string, File>();
  private readonly manifestFile: File | undefined;

  constructor(files: File[]) {
    const path = (f: File) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
    // The shallowest manifest.json wins; shards are found next to it by name.
    const manifests = files.filter((f) => f.name === 'manifest.json').sort((a, b) => path(a).length - path(b).length);
    this.manifestFile = manifests[0];
    const dir = this.manifestFile ? path(this.manifestFile).slice(0, -'manifest.json'.length) : '';
    for (const f of files) {
      const p = path(f);
      const rel = p.startsWith(dir) ? p.slice(dir.length) : f.name;
      this.byName.set(rel, f);
      if (!this.byName.has(f.name)) this.byName.set(f.name, f);
    }
  }

  describe(file: string): string {
    return `${file} in the chosen folder`;
  }

  async manifest() {
    if (!this.manifestFile) {
      throw new WeightsError('no-model', 'The chosen folder has no manifest.json. Choose the folder that `ezigen convert` wrote (it holds manifest.json and the .safetensors shards).');
    }
    return { text: await this.manifestFile.text(), offline: false };
  }

  async shard(file: string, bytes: number, onBytes: (n: number) => void, signal: AbortSignal): Promise<Uint8Array> {
    aborted(signal);
    const f = this.byName.get(file);
    if (!f) throw new WeightsError('bad-input', `The chosen folder lacks ${file}, which the manifest lists. Copy the complete output of \`ezigen convert\`.`);
    if (f.size !== bytes) {
      throw new WeightsError('corrupt-shard', `${file} in the chosen folder has ${f.size} bytes, the manifest says ${bytes}: it is incomplete or belongs to another model.`);
    }
    const out = new Uint8Array(await f.arrayBuffer());
    onBytes(out.byteLength);
    return out;
  }
}

/**
 * The key under which the model converted in this browser keeps its manifest (its shards are
 * stored like downloaded ones, by sha256 and name). One converted model is kept; converting
 * again replaces its manifest.
 */
export const CONVERTED_MANIFEST_KEY = 'converted-in-this-browser';

/** The model converted in this browser: manifest and shards from the weights cache only. */
export class StoredSource implements ShardSource {
  readonly kind = 'stored';

  describe(file: string): string {
    return `${file} (converted in this browser)`;
  }

  async manifest(store: WeightStore | null) {
    const text = await store?.getManifest(CONVERTED_MANIFEST_KEY);
    if (!text) {
      throw new WeightsError(
        'no-model',
        'No converted model is stored in this browser (the browser may have cleared its storage). Convert the original weights again, or load converted weights from a URL or a folder.',
      );
    }
    return { text, offline: false };
  }

  async shard(file: string): Promise<Uint8Array> {
    throw new WeightsError(
      'no-model',
      `Part ${file} of the model converted in this browser is missing from storage (it may have been cleared). Convert the original weights again.`,
    );
  }
}

export function sourceFor(s: Exclude<ModelSource, { kind: 'convert' }>): ShardSource {
  if (s.kind === 'url') return new UrlSource(s.base);
  if (s.kind === 'stored') return new StoredSource();
  return new FilesSource(s.files);
}

/** One shard of the plan, in load order. */
export interface ShardPlan {
  file: string;
  component: string;
  bytes: number;
  sha256: string;
  cached: boolean;
}

/** A parsed manifest plus what is already cached. */
export interface ModelPlan {
  manifest: Manifest;
  manifestText: string;
  offline: boolean;
  shards: ShardPlan[];
  info: ModelInfo;
}

/** Reads the manifest and checks which shards of the model (without the metric models) are cached already. */
export async function planModel(source: ShardSource, store: WeightStore | null, signal: AbortSignal): Promise<ModelPlan> {
  const { text, offline } = await source.manifest(store, signal);
  return planPart(parseManifest(text, source.describe('manifest.json')), text, offline, source, store, 'model');
}

/**
 * The plan of the metric models of the loaded model, from the manifest text it was loaded with
 * (so both parts come from the same conversion) and the same source and cache. Throws a
 * WeightsError('no-model') with NO_METRICS_MESSAGE when the manifest lacks one of them.
 */
export async function planMetrics(manifestText: string, source: ShardSource, store: WeightStore | null): Promise<ModelPlan> {
  const manifest = parseManifest(manifestText, source.describe('manifest.json'));
  if (!METRIC_COMPONENTS.every((c) => c in manifest.components)) throw new WeightsError('no-model', NO_METRICS_MESSAGE);
  return planPart(manifest, manifestText, false, source, store, 'metrics');
}

/** The plan of one part of a parsed manifest: its shards in load order, and which are cached. */
async function planPart(
  manifest: Manifest,
  text: string,
  offline: boolean,
  source: ShardSource,
  store: WeightStore | null,
  part: ModelPart,
): Promise<ModelPlan> {
  const order = componentOrder(manifest, part);
  const shards: ShardPlan[] = [];
  for (const component of order) {
    for (const file of manifest.components[component].shards) {
      const s = manifest.shards[file];
      const cached = source.kind !== 'files' && store ? await store.has(file, s.sha256) : false;
      shards.push({ file, component, bytes: s.bytes, sha256: s.sha256, cached });
    }
  }
  const totalBytes = shards.reduce((a, s) => a + s.bytes, 0);
  const cachedBytes = shards.filter((s) => s.cached).reduce((a, s) => a + s.bytes, 0);
  const info: ModelInfo = {
    name: manifest.name,
    tiny: manifest.tiny,
    dtype: manifest.dtype as ModelInfo['dtype'], // checked by parseManifest
    source: source.kind,
    totalBytes,
    cachedBytes,
    toDownloadBytes: source.kind === 'url' ? totalBytes - cachedBytes : 0,
    shardCount: shards.length,
    cachedShards: shards.filter((s) => s.cached).length,
    components: order.map((component) => ({
      component,
      bytes: manifest.components[component].shards.reduce((a, f) => a + manifest.shards[f].bytes, 0),
      shards: manifest.components[component].shards.length,
    })),
  };
  return { manifest, manifestText: text, offline, shards, info };
}

export interface LoadHooks {
  /** Keep downloaded shards in the cache. */
  save: boolean;
  signal: AbortSignal;
  onProgress(p: LoadProgress): void;
  /** Hands one verified shard to the GPU (Session.loadShard); the bytes are dropped after. */
  upload(component: string, bytes: Uint8Array): void | Promise<void>;
  /** Builds a component once all its shards are uploaded (Session.finishComponent). */
  finish(component: string): void | Promise<void>;
}

export interface LoadResult {
  cachedShards: number;
  downloadedShards: number;
  /** Set when the model loaded but could not be saved (e.g. storage full). */
  warning: string | null;
}

/**
 * Streams the plan's shards, one at a time, through verification into the GPU. Cached shards
 * are verified too; a bad cached copy is evicted and fetched again once.
 */
export async function loadPlan(
  plan: ModelPlan,
  source: ShardSource,
  store: WeightStore | null,
  hooks: LoadHooks,
): Promise<LoadResult> {
  const comps = new Map<string, ComponentProgress>();
  for (const c of plan.info.components) {
    const shards = plan.shards.filter((s) => s.component === c.component);
    comps.set(c.component, {
      component: c.component,
      loaded: 0,
      total: c.bytes,
      fromCache: shards.length > 0 && shards.every((s) => s.cached),
      state: 'pending',
    });
  }
  let done = 0;
  let cachedShards = 0;
  let downloadedShards = 0;
  let save = hooks.save && store !== null && source.kind === 'url';
  let warning: string | null = null;
  let lastEmit = 0;
  const emit = (force: boolean) => {
    const now = performance.now();
    if (!force && now - lastEmit < 100) return;
    lastEmit = now;
    const components = [...comps.values()].map((c) => ({ ...c }));
    hooks.onProgress({
      components,
      loaded: components.reduce((a, c) => a + c.loaded, 0),
      total: plan.info.totalBytes,
      shardsDone: done,
      shardCount: plan.shards.length,
      cachedShards,
    });
  };
  const setState = (c: ComponentProgress, state: ComponentProgress['state']) => {
    c.state = state;
    emit(true);
  };

  const order = plan.info.components.map((c) => c.component);
  try {
    for (const component of order) {
      const c = comps.get(component)!;
      let compLoaded = 0;
      for (const s of plan.shards.filter((x) => x.component === component)) {
        aborted(hooks.signal);
        let bytes: Uint8Array | null = null;
        if (s.cached && store) {
          setState(c, 'verifying');
          bytes = await store.get(s.file, s.sha256);
          if (bytes && (await sha256Hex(bytes)) !== s.sha256) {
            // A damaged cached copy: evict it and fetch the shard again below.
            await store.delete(s.file, s.sha256);
            bytes = null;
          }
          if (bytes) cachedShards++;
          else c.fromCache = false;
        }
        if (!bytes) {
          setState(c, 'downloading');
          bytes = await source.shard(
            s.file,
            s.bytes,
            (n) => {
              c.loaded = compLoaded + n;
              emit(false);
            },
            hooks.signal,
          );
          setState(c, 'verifying');
          if ((await sha256Hex(bytes)) !== s.sha256) {
            throw new WeightsError(
              'corrupt-shard',
              `The weight file ${source.describe(s.file)} is damaged: its SHA-256 does not match the manifest. ` +
                (source.kind === 'url'
                  ? 'It was not saved. Press Retry to download it again; if this keeps happening the copy on the server is broken.'
                  : 'Copy the file again from the output of `ezigen convert`.'),
            );
          }
          if (source.kind === 'url') downloadedShards++;
          if (save && store) {
            try {
              await store.put(s.file, s.sha256, bytes);
            } catch (e) {
              // Storage full (or refused): keep going in memory, and say so at the end.
              save = false;
              warning =
                e instanceof WeightsError
                  ? `${e.message} The model was loaded but not saved completely, so part of it will be downloaded again next time. Free some disk space or delete old cached weights.`
                  : `The weights could not be saved in browser storage (${(e as Error).message}); they will be downloaded again next time.`;
            }
          }
        }
        aborted(hooks.signal);
        setState(c, 'uploading');
        await hooks.upload(component, bytes);
        bytes = null; // dropped: only one shard is ever held
        compLoaded += s.bytes;
        c.loaded = compLoaded;
        done++;
        emit(true);
      }
      await hooks.finish(component);
      c.loaded = c.total;
      setState(c, 'ready');
    }
  } catch (e) {
    for (const c of comps.values()) if (c.state !== 'ready' && c.state !== 'pending') c.state = 'failed';
    emit(true);
    throw e;
  }
  return { cachedShards, downloadedShards, warning };
}
