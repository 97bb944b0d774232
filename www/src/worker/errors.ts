// How the worker reports failures: anything thrown mapped to a failure category of the page, and
// what a lost GPU or a panicked core means for the worker's state.

import { FAILURE_KINDS } from '../generated/contract.js';
import type { CoreError, FailureKind, FailureScope } from '../protocol.js';
import { WeightsError } from '../weights.js';
import { dropModel, post } from './state.js';

const KINDS: ReadonlySet<string> = new Set<string>(FAILURE_KINDS);

/** Whether `e` is what the core's exports throw: an Error with a known failure `kind`. */
function isCoreError(e: unknown): e is CoreError {
  return e instanceof Error && typeof (e as Partial<CoreError>).kind === 'string' && KINDS.has((e as CoreError).kind);
}

/** Maps anything thrown (core errors, weights errors, DOM errors) to a failure category. */
export function classify(e: unknown): { kind: FailureKind; message: string } {
  if (e instanceof WeightsError || isCoreError(e)) return { kind: e.kind, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof DOMException) {
    if (e.name === 'QuotaExceededError') return { kind: 'quota-exceeded', message };
    if (e.name === 'AbortError') return { kind: 'cancelled', message };
    if (e.name === 'OperationError' && /lost/i.test(message)) return { kind: 'device-lost', message };
  }
  if (/device (was |is )?lost/i.test(message)) return { kind: 'device-lost', message };
  if (/out of memory/i.test(message)) return { kind: 'out-of-memory', message };
  return { kind: 'internal', message };
}

/** The message of a panic of the core, once one happened (the core's panic hook leaves it). */
function corePanic(): string | null {
  const m: unknown = (self as unknown as { ezigenPanic?: unknown }).ezigenPanic;
  // "panicked at file:line:col:\nmessage" on one line
  return typeof m === 'string' ? m.replace(/\s*\n\s*/g, ' ') : null;
}

/**
 * Reports a failure of request `id` (null: not a run) in `scope`. After a panic of the core, or
 * when the GPU device was lost, the model is gone (dropModel); a panic also has the page start a
 * fresh worker.
 */
export function fail(id: number | null, scope: FailureScope, e: unknown): void {
  const panic = corePanic();
  if (panic !== null) {
    // After a panic the wasm module cannot be trusted: say what happened, and have the page
    // start a fresh worker (which reloads the model from storage).
    dropModel();
    post({ type: 'failed', id, scope, kind: 'internal', message: `the app's engine stopped on an internal error (${panic})` });
    post({ type: 'engine-crashed', message: panic });
    return;
  }
  const { kind, message } = classify(e);
  if (kind === 'device-lost') dropModel();
  post({ type: 'failed', id, scope, kind, message });
}
