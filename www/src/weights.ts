// Model weights for the worker: the manifest, shard downloads with byte progress, SHA-256
// verification and the persistent cache. TypeScript owns all fetching; Rust never fetches, it
// receives one verified shard at a time (Session.loadShard) and the bytes are dropped after.
// The manifest itself is parsed and checked by the core (its parseManifest, injected into
// planModel and planMetrics), so the page and `ezigen convert` apply one rule.
//
// This file only gathers the public names of www/src/weights/:
//   manifest.ts  WeightsError, checkManifest, component order, byte formatting
//   cache.ts     the weights cache (Cache Storage) and the storage estimate
//   sources.ts   where manifests and shards are read from (URL, chosen folder, converted here)
//   plan.ts      which shards to load (planModel, planMetrics) and loading them (loadPlan)

export {
  NO_METRICS_MESSAGE,
  WeightsError,
  checkManifest,
  componentOrder,
  formatBytes,
  type ComponentEntry,
  type Manifest,
  type ManifestParser,
  type ModelPart,
  type ShardEntry,
  type TensorEntry,
} from './weights/manifest.js';
export { WEIGHTS_CACHE, WeightStore, deleteAllWeights, sha256Hex, storageInfo } from './weights/cache.js';
export {
  CONVERTED_MANIFEST_KEY,
  FilesSource,
  StoredSource,
  UrlSource,
  sourceFor,
  throwIfAborted,
  type ShardSource,
} from './weights/sources.js';
export {
  loadPlan,
  planMetrics,
  planModel,
  type LoadHooks,
  type LoadResult,
  type ModelPlan,
  type ShardPlan,
} from './weights/plan.js';
