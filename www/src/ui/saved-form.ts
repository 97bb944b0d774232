// The form kept across reloads: mode, prompt, subject class, the numeric settings, when to stop,
// the composite option and the variation count, as a small JSON object in localStorage. Saved shortly after each
// change (at once when the page is hidden with a change pending); restored at start, where
// every value is checked against LIMITS (a stored value outside them, or of the wrong type,
// falls back to the default). The images are not stored (see history-store.ts). Storage
// failures are ignored: the form then starts with the defaults, as before.

import { $ } from '../dom.js';
import { DEFAULTS, LIMITS, type EditParams } from '../protocol.js';
import { VARIATION_COUNTS, samplerKind, variationCount, type FormValues, type ParamsForm } from './params.js';
import { state, type Mode } from './state.js';

/** The localStorage key of the saved form (its format: FormValues plus `mode`). */
export const FORM_KEY = 'ezigen-form-v1';

/** A saved form after checking: what to put back into the page. */
export interface RestoredForm {
  mode: Mode;
  /** The parameters; `iterations` null = stop automatically. */
  params: EditParams;
  /** The count in the iteration field (kept while stopping automatically too). */
  fixedIterations: number;
  /** How many variations a run makes (one of VARIATION_COUNTS). */
  variations: number;
}

/** The saved form's operations. */
export interface FormMemory {
  /** Puts the saved form (or the defaults) into the page. */
  restore(): void;
  /** Saves the form now. */
  save(): void;
}

/**
 * Checks a stored form (any JSON value): each field of the wrong type, or a number outside
 * LIMITS (or not whole where it must be), becomes its default. `fixedDefault` is the default
 * iteration count for the fixed-count field.
 */
export function checkSavedForm(raw: unknown, fixedDefault: number): RestoredForm {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const str = (k: 'prompt' | 'subjectPrompt') => (typeof r[k] === 'string' ? (r[k] as string) : DEFAULTS[k]);
  const bool = (k: string, fallback: boolean) => (typeof r[k] === 'boolean' ? (r[k] as boolean) : fallback);
  const num = (k: keyof typeof LIMITS, integer: boolean, fallback: number): number => {
    const v = r[k];
    const { min, max } = LIMITS[k];
    const ok = typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v));
    return ok ? v : fallback;
  };
  const fixedIterations = num('iterations', true, fixedDefault);
  return {
    mode: r.mode === 'edit' ? 'edit' : 'generate',
    params: {
      prompt: str('prompt'),
      subjectPrompt: str('subjectPrompt'),
      seed: num('seed', true, DEFAULTS.seed),
      sampler: samplerKind(r.sampler) ?? DEFAULTS.sampler,
      steps: num('steps', true, DEFAULTS.steps),
      guidance: num('guidance', false, DEFAULTS.guidance),
      editGuidance: num('editGuidance', false, DEFAULTS.editGuidance),
      splitRatio: num('splitRatio', false, DEFAULTS.splitRatio),
      simThreshold: num('simThreshold', false, DEFAULTS.simThreshold),
      iterations: bool('stopFixed', DEFAULTS.iterations !== null) ? fixedIterations : null,
      compositeBackground: bool('compositeBackground', DEFAULTS.compositeBackground),
    },
    fixedIterations,
    variations: variationCount(r.variations) ?? VARIATION_COUNTS[0],
  };
}

function readStored(): unknown {
  try {
    const text = localStorage.getItem(FORM_KEY);
    return text === null ? null : JSON.parse(text);
  } catch {
    return null; // no storage (private mode, blocked) or damaged JSON: the defaults
  }
}

/** Wires saving the form on changes; `setMode` and `params` put a restored form back. */
export function createFormMemory(deps: { setMode(mode: Mode): void; params: ParamsForm }): FormMemory {
  const { setMode, params } = deps;
  let timer = 0;

  function save(): void {
    clearTimeout(timer);
    timer = 0;
    const values: FormValues & { mode: Mode } = { mode: state.mode, ...params.snapshot() };
    try {
      localStorage.setItem(FORM_KEY, JSON.stringify(values));
    } catch {
      // Storage full, blocked or absent: the form is simply not kept.
    }
  }

  function saveSoon(): void {
    clearTimeout(timer);
    timer = window.setTimeout(save, 300);
  }

  function restore(): void {
    const f = checkSavedForm(readStored(), Number($<HTMLInputElement>('iterations').defaultValue) || 1);
    setMode(f.mode);
    params.write(f.params, f.fixedIterations);
    params.setVariations(f.variations);
  }

  // Every form field is in #inputs (other controls there only cause a needless save).
  const inputs = $('inputs');
  inputs.addEventListener('input', saveSoon);
  inputs.addEventListener('change', saveSoon);
  for (const id of ['reset-params', 'seed-dice']) $(id).addEventListener('click', saveSoon);
  // A change still waiting for its save is written when the page goes away (or to the background,
  // where a mobile browser may end it without a pagehide).
  const flush = () => {
    if (timer) save();
  };
  window.addEventListener('pagehide', flush);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flush();
  });

  return { restore, save };
}
