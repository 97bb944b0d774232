// Where a model's manifest and shards are read from: a URL (with streamed progress and the
// messages for network failures), a folder the user picked, or the model converted in this
// browser (the weights cache only).

import type { ModelSource } from '../protocol.js';
import type { WeightStore } from './cache.js';
import { WeightsError } from './manifest.js';

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

/** Throws a WeightsError('cancelled') once `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new WeightsError('cancelled', 'Loading the model was cancelled.');
}

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

/** A failed read of `what` in the page's words: cancelled, offline, or a download failure (with the CORS hint for another origin). */
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

  /** Fetches manifest.json (past the HTTP cache) and remembers it; the remembered copy when the network fails. */
  async manifest(store: WeightStore | null, signal: AbortSignal) {
    const url = new URL('manifest.json', this.base).href;
    let res: Response;
    try {
      res = await fetch(url, { cache: 'no-cache', signal });
    } catch (e) {
      throwIfAborted(signal);
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

  /** Streams one shard into a buffer of the manifest's size, refusing any other size. */
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
    throwIfAborted(signal);
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

/** The source of a model the page asked for (a conversion is loaded from storage once done). */
export function sourceFor(s: Exclude<ModelSource, { kind: 'convert' }>): ShardSource {
  if (s.kind === 'url') return new UrlSource(s.base);
  if (s.kind === 'stored') return new StoredSource();
  return new FilesSource(s.files);
}

