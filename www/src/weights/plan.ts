// Planning and loading a model part: which shards of the manifest to load in which order and
// which are cached (planModel, planMetrics), then streaming them one at a time through SHA-256
// verification into the GPU (loadPlan).

import type { ComponentProgress, LoadProgress, ModelInfo } from '../protocol.js';
import { METRIC_COMPONENTS } from '../protocol.js';
import { sha256Hex, type WeightStore } from './cache.js';
import {
  NO_METRICS_MESSAGE,
  WeightsError,
  checkManifest,
  componentOrder,
  type Manifest,
  type ManifestParser,
  type ModelPart,
} from './manifest.js';
import { throwIfAborted, type ShardSource } from './sources.js';

/** One shard of the plan, in load order. */
export interface ShardPlan {
  /** The shard's file name (a plain name, checked by the parser). */
  file: string;
  /** The component it belongs to. */
  component: string;
  /** Its size, as the manifest says. */
  bytes: number;
  /** Its SHA-256, lower-case hex. */
  sha256: string;
  /** Whether the weights cache has it already. */
  cached: boolean;
}

/** A parsed manifest plus what is already cached. */
export interface ModelPlan {
  /** The manifest as the parser returned it. */
  manifest: Manifest;
  /** Its text (the core's beginModel / beginMetrics read it again). */
  manifestText: string;
  /** The manifest came from the cache because the network failed. */
  offline: boolean;
  /** The part's shards in load order. */
  shards: ShardPlan[];
  /** What the page shows before and during the load. */
  info: ModelInfo;
}

/**
 * Reads the manifest, checks it with `parse` (the core's parseManifest; see checkManifest) and
 * which shards of the model (without the metric models) are cached already.
 */
export async function planModel(
  source: ShardSource,
  store: WeightStore | null,
  signal: AbortSignal,
  parse: ManifestParser,
): Promise<ModelPlan> {
  const { text, offline } = await source.manifest(store, signal);
  return planPart(checkManifest(text, source.describe('manifest.json'), parse), text, offline, source, store, 'model');
}

/**
 * The plan of the metric models of the loaded model, from the manifest text it was loaded with
 * (so both parts come from the same conversion) and the same source and cache. Throws a
 * WeightsError('no-model') with NO_METRICS_MESSAGE when the manifest lacks one of them; the
 * manifest is checked with `parse` like planModel's.
 */
export async function planMetrics(
  manifestText: string,
  source: ShardSource,
  store: WeightStore | null,
  parse: ManifestParser,
): Promise<ModelPlan> {
  const manifest = checkManifest(manifestText, source.describe('manifest.json'), parse);
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
    dtype: manifest.dtype as ModelInfo['dtype'], // f16 or f32: checked by the parser
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

/** What loadPlan does with the shards, and where it reports. */
export interface LoadHooks {
  /** Keep downloaded shards in the cache. */
  save: boolean;
  signal: AbortSignal;
  onProgress(p: LoadProgress): void;
  /** Hands one verified shard (`file` names it in errors) to the GPU (Session.loadShard); the bytes are dropped after. */
  upload(component: string, bytes: Uint8Array, file: string): void | Promise<void>;
  /** Builds a component once all its shards are uploaded (Session.finishComponent). */
  finish(component: string): void | Promise<void>;
}

/** How a plan was loaded: shards from the cache, shards downloaded, and a warning for the page. */
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
        throwIfAborted(hooks.signal);
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
        throwIfAborted(hooks.signal);
        setState(c, 'uploading');
        await hooks.upload(component, bytes, s.file);
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
