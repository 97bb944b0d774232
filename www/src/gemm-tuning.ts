// The GEMM tuning of the loaded model, kept across visits in IndexedDB (worker side). The core
// times its GEMM kernels per problem once per adapter, browser and build (the key comes from the
// core: `Session.tuningKey(navigator.userAgent)`) and the page keeps the table, so every later
// visit installs the same choices without timing anything: a device's results stay reproducible
// across reloads. On a CPU rasteriser (SwiftShader) nothing is timed and the shipped defaults
// apply, unless the page was opened with `?tune` (automation, measurements).

import type { Session } from '../pkg/ezigen.js';
import type { TuneReport, TuneTable } from './protocol.js';

const DB_NAME = 'ezigen-gemm-tuning';
const DB_VERSION = 1;
const STORE = 'tables';
/** Time budget of one tuning run, ms: the problems not reached keep the defaults. */
export const TUNE_BUDGET_MS = 20_000;

/** What the performance panel shows about the GEMM kernels of the loaded model. */
export interface GemmTuningInfo {
  /** `kept`: a kept table was installed; `tuned`: timed now (and kept); `defaults`: not tuned. */
  state: 'kept' | 'tuned' | 'defaults';
  /** Problems per chosen implementation (`burn`, `128x64k16t256`, …). */
  chosen: Record<string, number>;
  /** How long the tuning took (when it was run, now or on the visit that kept it), ms. */
  tuningMs: number | null;
  /** Why the defaults apply, or why the table could not be kept. */
  note: string | null;
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((ok, fail) => {
    if (typeof indexedDB === 'undefined') throw new Error('this browser offers no IndexedDB');
    const r = indexedDB.open(DB_NAME, DB_VERSION);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

async function readKept(key: string): Promise<string | null> {
  const db = await openDb();
  try {
    return await new Promise((ok, fail) => {
      const r = db.transaction(STORE, 'readonly').objectStore(STORE).get(key);
      r.onsuccess = () => ok(typeof r.result === 'string' ? r.result : null);
      r.onerror = () => fail(r.error);
    });
  } finally {
    db.close();
  }
}

async function keep(key: string, json: string): Promise<void> {
  const db = await openDb();
  try {
    await new Promise<void>((ok, fail) => {
      const tx = db.transaction(STORE, 'readwrite');
      // One table per key; tables of other builds and browsers are left (a few KiB each).
      tx.objectStore(STORE).put(json, key);
      tx.oncomplete = () => ok();
      tx.onerror = () => fail(tx.error);
    });
  } finally {
    db.close();
  }
}

function summary(table: TuneTable): Record<string, number> {
  const out: Record<string, number> = {};
  for (const choice of Object.values(table.choices)) out[choice] = (out[choice] ?? 0) + 1;
  return out;
}

/** The panel's line for `info`. */
export function describeGemmTuning(info: GemmTuningInfo): string {
  const chosen = Object.entries(info.chosen)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ×${n}`)
    .join(', ');
  const took = info.tuningMs === null ? '' : ` (tuning took ${(info.tuningMs / 1000).toFixed(1)} s)`;
  const head = {
    kept: `GEMM kernels: the choice kept for this GPU and browser${took}: ${chosen}`,
    tuned: `GEMM kernels: timed on this GPU and kept${took}: ${chosen}`,
    defaults: 'GEMM kernels: the shipped defaults',
  }[info.state];
  return info.note ? `${head} — ${info.note}` : head;
}

/**
 * Installs the kept table of this adapter, browser and build, or tunes now (on a GPU within
 * TUNE_BUDGET_MS, or on any adapter within `forceMs` when given) and keeps the result. Never
 * throws: a failed tuning leaves the defaults, a storage failure an unkept table, said in `note`.
 */
export async function applyGemmTuning(core: Session, forceMs: number | null): Promise<GemmTuningInfo> {
  const browser = globalThis.navigator?.userAgent ?? '';
  const key = core.tuningKey(browser);
  let note: string | null = null;
  try {
    const kept = await readKept(key);
    if (kept !== null && core.installTuning(kept, browser)) {
      const table = JSON.parse(kept) as TuneTable;
      return { state: 'kept', chosen: summary(table), tuningMs: table.tuning_ms, note: null };
    }
  } catch (e) {
    note = `the kept tuning could not be read (${e instanceof Error ? e.message : String(e)})`;
  }
  if (forceMs === null && !core.tuningWanted()) {
    return { state: 'defaults', chosen: {}, tuningMs: null, note: 'software adapter: the GEMM kernels are not timed here' };
  }
  let report: TuneReport;
  try {
    report = (await core.tuneGemm(browser, forceMs ?? TUNE_BUDGET_MS)) as TuneReport;
  } catch (e) {
    return { state: 'defaults', chosen: {}, tuningMs: null, note: `the GEMM tuning failed (${e instanceof Error ? e.message : String(e)})` };
  }
  try {
    await keep(key, JSON.stringify(report.table));
  } catch (e) {
    note = `tuned but not kept (${e instanceof Error ? e.message : String(e)})`;
  }
  if (report.skipped > 0) note = `${report.skipped} problems keep the defaults (time budget spent)${note ? `; ${note}` : ''}`;
  return { state: 'tuned', chosen: summary(report.table), tuningMs: report.table.tuning_ms, note };
}
