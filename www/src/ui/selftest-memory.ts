// The GPU self-test's outcome kept across visits (localStorage), so it runs once per adapter,
// browser and core build rather than at every open (it takes seconds on a software GPU). A
// result belongs to the adapter (name, backend, type, driver, shader-f16), the browser
// (navigator.userAgent, which carries its version) and the core build (the worker's content
// hash, which covers the wasm): a change of any of them runs the self-test again. Failed results
// and an unreliable f16 path are remembered too; the latter decides the precision models load in.
// Storage failures are ignored: the self-test then simply runs again.

import type { AdapterReport, KernelCheck } from '../protocol.js';

/** The localStorage key of the remembered results (a JSON array of SelfTestRecord). */
export const SELFTEST_KEY = 'ezigen-selftest-v1';
/** How many results (adapter/browser/build combinations) are kept: the newest. */
export const SELFTEST_KEEP = 4;

/** One remembered self-test outcome. */
export interface SelfTestRecord {
  /** selfTestKey() of the adapter, browser and build it ran on. */
  key: string;
  /** When it ran (ms since the epoch). */
  at: number;
  /** The self-test computation ran (kernel mismatches are in `kernels` and `f16Unreliable`). */
  passed: boolean;
  /** The f16 kernels gave wrong results on this adapter: models load in f32. */
  f16Unreliable: boolean;
  /** What the status line said after "passed" / "failed" (the result, or why it failed). */
  detail: string;
  /** The WGSL kernel checks, when they ran. */
  kernels: KernelCheck[] | null;
}

/** The part of `Storage` used here (a fake in the unit tests). */
export type KeyValueStore = Pick<Storage, 'getItem' | 'setItem'>;

/** The key a self-test result is remembered under: adapter, browser and core build. */
export function selfTestKey(
  adapter: Pick<AdapterReport, 'name' | 'backend' | 'device_type' | 'driver' | 'shader_f16'>,
  userAgent: string,
  build: string,
): string {
  return JSON.stringify([adapter.name, adapter.backend, adapter.device_type, adapter.driver, adapter.shader_f16, userAgent, build]);
}

/** Whether `r` (any JSON value) has the shape of a SelfTestRecord. */
function isRecord(r: unknown): r is SelfTestRecord {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  return (
    typeof o.key === 'string' &&
    typeof o.at === 'number' &&
    Number.isFinite(o.at) &&
    typeof o.passed === 'boolean' &&
    typeof o.f16Unreliable === 'boolean' &&
    typeof o.detail === 'string' &&
    (o.kernels === null || Array.isArray(o.kernels))
  );
}

/** The valid records of a stored value (anything else, e.g. another version's format, is dropped). */
export function checkRecords(raw: unknown): SelfTestRecord[] {
  return Array.isArray(raw) ? raw.filter(isRecord) : [];
}

function readAll(store: KeyValueStore | null): SelfTestRecord[] {
  try {
    const text = store?.getItem(SELFTEST_KEY);
    return text ? checkRecords(JSON.parse(text)) : [];
  } catch {
    return [];
  }
}

/** The remembered result for `key`, or null (none, unreadable, or storage unavailable). */
export function recallSelfTest(store: KeyValueStore | null, key: string): SelfTestRecord | null {
  return readAll(store).find((r) => r.key === key) ?? null;
}

/** Remembers `record`, replacing an earlier one with its key; keeps the newest SELFTEST_KEEP. */
export function rememberSelfTest(store: KeyValueStore | null, record: SelfTestRecord): void {
  const all = [record, ...readAll(store).filter((r) => r.key !== record.key)].slice(0, SELFTEST_KEEP);
  try {
    store?.setItem(SELFTEST_KEY, JSON.stringify(all));
  } catch {
    // Storage full or blocked: the self-test runs again next time.
  }
}

/** The page's localStorage, or null where it is blocked. */
export function pageStore(): KeyValueStore | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}
