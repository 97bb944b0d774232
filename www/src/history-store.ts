// The results history kept between visits, in IndexedDB: each result's PNG (the download, with
// its parameters in a tEXt chunk) and what the page shows about it (mode, parameters, time,
// similarity, model). Bounded to HISTORY_LIMIT entries: storing one more drops the oldest.
//
// The subject and source photos are deliberately not stored: they can be large and private, and
// an entry only needs its result and parameters to be shown and restored (a restored edit has
// no before/after view). Of the subject only the number of its photos is kept. Each variation
// of a run is an entry of its own (with its own seed).
//
// Storage must never break the page: every failure (no IndexedDB, private mode, quota, a
// damaged database) is passed to `onFailure` and the call resolves with an empty answer.

import { DEFAULTS, SAMPLERS, type EditParams } from './protocol.js';
import type { Mode } from './ui/state.js';

/** How many results are kept across visits; the oldest is dropped beyond it. */
export const HISTORY_LIMIT = 20;

const DB_NAME = 'ezigen-history';
const DB_VERSION = 1;
const STORE = 'results';

/** A result as it is stored. */
export interface StoredResult {
  mode: Mode;
  params: EditParams;
  /** The PNG file offered for download (parameters in its tEXt chunk). */
  png: ArrayBuffer;
  filename: string;
  ms: number;
  /** Refinement iterations run. */
  iterations: number;
  similarity: number | null;
  /** The model's name and whether it was the tiny test model. */
  model: string;
  tiny: boolean;
  /** How many subject photos it was made from (absent in entries stored before there were several). */
  subjects?: number;
  /** When it was stored (ms since the epoch). */
  savedAt: number;
}

/** A stored result with its database key (keys grow: a larger key is a newer result). */
export type SavedResult = StoredResult & { key: number };

/** The stored history; no method ever rejects. */
export interface HistoryStore {
  /** The stored results, newest first ([] when storage fails). */
  load(): Promise<SavedResult[]>;
  /** Stores a result and drops the oldest beyond HISTORY_LIMIT; its key, or null when it failed. */
  add(result: StoredResult): Promise<number | null>;
  /** Deletes every stored result; false when it failed. */
  clear(): Promise<boolean>;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((ok, fail) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

/** Resolves when `tx` commits; never left unhandled (the caller may stop waiting after an error). */
function committed(tx: IDBTransaction): Promise<void> {
  const p = new Promise<void>((ok, fail) => {
    tx.oncomplete = () => ok();
    tx.onerror = () => fail(tx.error);
    tx.onabort = () => fail(tx.error ?? new DOMException('The transaction was aborted.', 'AbortError'));
  });
  p.catch(() => undefined);
  return p;
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((ok, fail) => {
    // Reading `indexedDB` itself can throw (SecurityError in some sandboxed or private contexts).
    if (typeof indexedDB === 'undefined') throw new Error('this browser offers no IndexedDB');
    const r = indexedDB.open(DB_NAME, DB_VERSION);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE, { keyPath: 'key', autoIncrement: true });
    r.onsuccess = () => {
      const db = r.result;
      db.onversionchange = () => db.close();
      ok(db);
    };
    r.onerror = () => fail(r.error);
    r.onblocked = () => fail(new Error('another tab holds an older version of the history database'));
  });
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A stored row has the shape the page needs (rows from an older or damaged store are skipped). */
function isSavedResult(v: unknown): v is SavedResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const p = r.params as Record<string, unknown> | null;
  return (
    isNum(r.key) &&
    (r.mode === 'generate' || r.mode === 'edit') &&
    r.png instanceof ArrayBuffer &&
    typeof r.filename === 'string' &&
    isNum(r.ms) &&
    isNum(r.iterations) &&
    (r.similarity === null || isNum(r.similarity)) &&
    typeof r.model === 'string' &&
    typeof p === 'object' &&
    p !== null &&
    typeof p.prompt === 'string' &&
    typeof p.subjectPrompt === 'string' &&
    typeof p.compositeBackground === 'boolean' &&
    ['seed', 'steps', 'guidance', 'editGuidance', 'splitRatio', 'simThreshold'].every((k) => isNum(p[k])) &&
    (p.sampler === undefined || (SAMPLERS as readonly unknown[]).includes(p.sampler)) &&
    (p.iterations === null || isNum(p.iterations))
  );
}

/** Why storage failed, in words for the history note. */
function describe(e: unknown): string {
  if (e instanceof DOMException && e.name === 'QuotaExceededError') return 'the browser storage is full';
  if (e instanceof Error && e.message) return e.message;
  return String(e);
}

/** Opens the stored history (lazily, on first use); failures go to `onFailure(why)`. */
export function createHistoryStore(onFailure: (why: string) => void): HistoryStore {
  let db: Promise<IDBDatabase> | null = null;
  const database = () => (db ??= openDb());

  async function guarded<T>(fallback: T, body: (db: IDBDatabase) => Promise<T>): Promise<T> {
    try {
      return await body(await database());
    } catch (e) {
      onFailure(describe(e));
      return fallback;
    }
  }

  return {
    load: () =>
      guarded([] as SavedResult[], async (db) => {
        const rows: unknown[] = await request(db.transaction(STORE, 'readonly').objectStore(STORE).getAll());
        // Results stored before samplers could be chosen ran the paper's DDPM.
        return rows
          .filter(isSavedResult)
          .map((r) => ({ ...r, params: { ...r.params, sampler: r.params.sampler ?? DEFAULTS.sampler } }))
          .reverse();
      }),
    add: (result) =>
      guarded(null as number | null, async (db) => {
        const tx = db.transaction(STORE, 'readwrite');
        const done = committed(tx);
        const store = tx.objectStore(STORE);
        const key = (await request(store.add(result))) as number;
        const keys = await request(store.getAllKeys()); // ascending: oldest first
        for (const k of keys.slice(0, Math.max(0, keys.length - HISTORY_LIMIT))) store.delete(k);
        await done;
        return key;
      }),
    clear: () =>
      guarded(false, async (db) => {
        const tx = db.transaction(STORE, 'readwrite');
        const done = committed(tx);
        tx.objectStore(STORE).clear();
        await done;
        return true;
      }),
  };
}
