// The persistent weights cache: verified shards and model manifests in Cache Storage, and what
// the browser says about its storage.
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

import type { StorageInfo } from '../protocol.js';
import { WeightsError } from './manifest.js';

/** The Cache Storage cache that holds weight shards and model manifests. */
export const WEIGHTS_CACHE = 'ezigen-weights-v1';
/** The path under the page's URL that every key of the weights cache starts with. */
const KEY_PREFIX = '__ezigen_weights__/';

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

  /** Whether the shard is stored. */
  async has(file: string, sha256: string): Promise<boolean> {
    return (await this.cache.match(this.shardKey(file, sha256))) !== undefined;
  }

  /** The stored shard's bytes (not verified here); null when missing or unreadable. */
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

  /** Removes a stored shard (a damaged copy, or one of a conversion that failed). */
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

  /** The manifest text remembered under `url` (a URL, or CONVERTED_MANIFEST_KEY); null when none. */
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
