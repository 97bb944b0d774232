// The parameters form: prompt, subject class, seed, the advanced settings, when to stop and how
// many variations to make; reading and validating it against LIMITS, and writing parameters back
// (defaults, history).

import { $, setInvalid } from '../dom.js';
import { DEFAULTS, LIMITS, PRESETS, SAMPLERS, type EditParams, type Preset, type SamplerKind } from '../protocol.js';
import { state } from './state.js';

/** The form's parameters and variation count, or the first invalid field and what is wrong with it. */
export type ParamsResult = { params: EditParams; variations: number } | { error: string; field: HTMLElement };

/** The variation counts the form offers (the #variations select); the first is the default. */
export const VARIATION_COUNTS: readonly number[] = [1, 2, 4];

/** `v` as a variation count the form offers, or null. */
export const variationCount = (v: unknown): number | null => (typeof v === 'number' && VARIATION_COUNTS.includes(v) ? v : null);

/** The parameters form's operations. */
export interface ParamsForm {
  /** Reads and validates the form for the current mode. */
  read(): ParamsResult;
  /**
   * Puts `p` into the form; `fixedIterations` fills the iteration count field when `p` stops
   * automatically (the count the user typed is kept for when they switch back).
   */
  write(p: EditParams, fixedIterations?: number): void;
  /** The form's values as they are, unchecked (for saving; see saved-form.ts). */
  snapshot(): FormValues;
  /** Sets the variation count (one of VARIATION_COUNTS). */
  setVariations(n: number): void;
}

/**
 * The form's raw values: numbers as typed (null for an empty or unreadable field, maybe outside
 * LIMITS), `iterations` the count field even while stopping automatically.
 */
export interface FormValues {
  prompt: string;
  subjectPrompt: string;
  seed: number | null;
  sampler: SamplerKind;
  steps: number | null;
  guidance: number | null;
  editGuidance: number | null;
  splitRatio: number | null;
  simThreshold: number | null;
  stopFixed: boolean;
  iterations: number | null;
  compositeBackground: boolean;
  /** How many variations a run makes (one of VARIATION_COUNTS). */
  variations: number;
}

const num = (id: string) => $<HTMLInputElement>(id);

/**
 * The numeric fields: element id, the option's key in LIMITS (and DEFAULTS), its name in
 * messages, and whether it must be whole. Their ranges and defaults come from the contract
 * (index.html holds none of them).
 */
const NUMBER_FIELDS: readonly [string, keyof typeof LIMITS, string, boolean][] = [
  ['seed', 'seed', 'The seed', true],
  ['steps', 'steps', 'Steps', true],
  ['guidance', 'guidance', 'The guidance scale', false],
  ['edit-guidance', 'editGuidance', 'The guidance scale', false],
  ['split', 'splitRatio', 'The split ratio', false],
  ['sim-threshold', 'simThreshold', 'The similarity threshold', false],
  ['iterations', 'iterations', 'The number of iterations', true],
];

/** Sets every numeric field's range from LIMITS and its default from DEFAULTS (the fixed iteration count keeps index.html's). */
function applyContract(): void {
  for (const [id, key] of NUMBER_FIELDS) {
    const el = num(id);
    el.min = String(LIMITS[key].min);
    el.max = String(LIMITS[key].max);
    const d: unknown = DEFAULTS[key];
    if (typeof d === 'number') el.defaultValue = el.value = String(d);
  }
}

/** The samplers' names for people. */
export const SAMPLER_LABELS: Record<SamplerKind, string> = { ddpm: "DDPM (the paper's)", ddim: 'DDIM', dpmpp: 'DPM-Solver++' };

/** `v` as a sampler the core knows, or null. */
export const samplerKind = (v: unknown): SamplerKind | null => (SAMPLERS as readonly unknown[]).includes(v) ? (v as SamplerKind) : null;

/** The preset whose sampler and steps these are, or null ("custom"). */
export function presetOf(sampler: SamplerKind, steps: number): Preset | null {
  return PRESETS.find((p) => p.sampler === sampler && p.steps === steps)?.preset ?? null;
}

/** The speed of a run in one or two words: its preset ("Fast"), or "DDIM, 30 steps". */
export function speedLabel(sampler: SamplerKind, steps: number): string {
  const preset = presetOf(sampler, steps);
  return preset ? `${preset.charAt(0).toUpperCase()}${preset.slice(1)}` : `${SAMPLER_LABELS[sampler]}, ${steps} steps`;
}

/** "Paper — DDPM, 50 steps: the paper's sampler (slowest)". */
const presetLabel = (p: (typeof PRESETS)[number]) => `${p.preset.charAt(0).toUpperCase()}${p.preset.slice(1)} — ${p.description}`;

/** The #sampler select's sampler. */
const readSampler = (): SamplerKind => samplerKind($<HTMLSelectElement>('sampler').value) ?? DEFAULTS.sampler;

/** Shows in #preset the preset that the sampler and steps fields make, or "Custom". */
function syncPreset(): void {
  const preset = presetOf(readSampler(), Number(num('steps').value));
  const select = $<HTMLSelectElement>('preset');
  select.value = preset ?? 'custom';
  select.querySelector<HTMLOptionElement>('option[value="custom"]')!.hidden = preset !== null;
}

/** Fills the #preset and #sampler selects from the core's lists. */
function fillSelects(): void {
  const preset = $<HTMLSelectElement>('preset');
  preset.replaceChildren(
    ...PRESETS.map((p) => new Option(presetLabel(p), p.preset)),
    Object.assign(new Option('Custom (see Advanced settings)', 'custom'), { hidden: true }),
  );
  $<HTMLSelectElement>('sampler').replaceChildren(...SAMPLERS.map((s) => new Option(SAMPLER_LABELS[s], s)));
}

/** The #variations select's count (the default when it holds something else). */
const readVariations = (): number => variationCount(Number($<HTMLSelectElement>('variations').value)) ?? VARIATION_COUNTS[0];

/**
 * Reads and checks the form. Every numeric field that counts in the current mode is marked
 * invalid (aria-invalid) when out of range or not a number, and unmarked when fixed; the first
 * invalid one is returned with its message.
 */
function readParams(): ParamsResult {
  const val = (id: string, key: keyof typeof LIMITS, name: string, integer: boolean) => {
    const el = num(id);
    const v = Number(el.value);
    const { min, max } = LIMITS[key];
    const kind = integer ? 'a whole number' : 'a number';
    if (el.validity?.badInput) return { err: `${name} is not a number: it must be ${kind} from ${min} to ${max}.` };
    if (el.value.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      return { err: `${name} must be ${kind} from ${min} to ${max}.` };
    }
    return { v };
  };
  const fields = NUMBER_FIELDS;
  const out: Record<string, number> = {};
  let first: { error: string; field: HTMLElement } | null = null;
  for (const [id, key, name, integer] of fields) {
    const skip =
      (id === 'iterations' && !$<HTMLInputElement>('stop-fixed').checked) ||
      (id === 'guidance' && state.mode === 'edit') ||
      (id === 'edit-guidance' && state.mode === 'generate');
    const r = skip ? null : val(id, key, name, integer);
    setInvalid(num(id), r !== null && 'err' in r);
    if (r === null) continue;
    if ('err' in r) first ??= { error: r.err!, field: $(id) };
    else out[key] = r.v;
  }
  if (first) return first;
  // The variations use seeds seed … seed + n − 1: the last must be a seed too.
  const variations = readVariations();
  const seedMax = LIMITS.seed.max - (variations - 1);
  if (out.seed > seedMax) {
    setInvalid(num('seed'), true);
    return {
      error: `With ${variations} variations the seed must be at most ${seedMax} (the variations use seeds seed to seed + ${variations - 1}).`,
      field: $('seed'),
    };
  }
  return {
    variations,
    params: {
      prompt: $<HTMLTextAreaElement>('prompt').value.trim(),
      subjectPrompt: $<HTMLInputElement>('subject-prompt').value.trim(),
      seed: out.seed,
      sampler: readSampler(),
      steps: out.steps,
      guidance: out.guidance ?? (Number(num('guidance').value) || DEFAULTS.guidance),
      editGuidance: out.editGuidance ?? (Number(num('edit-guidance').value) || DEFAULTS.editGuidance),
      splitRatio: out.splitRatio,
      simThreshold: out.simThreshold,
      iterations: $<HTMLInputElement>('stop-fixed').checked ? out.iterations : null,
      compositeBackground: $<HTMLInputElement>('composite').checked,
    },
  };
}

/** Wires the form; `refresh` re-checks the run button after every change. */
export function createParamsForm(deps: { refresh(): void }): ParamsForm {
  const { refresh } = deps;
  applyContract();
  fillSelects();
  syncPreset();

  function write(p: EditParams, fixedIterations?: number): void {
    $<HTMLTextAreaElement>('prompt').value = p.prompt;
    $<HTMLInputElement>('subject-prompt').value = p.subjectPrompt;
    num('seed').value = String(p.seed);
    $<HTMLSelectElement>('sampler').value = p.sampler;
    num('steps').value = String(p.steps);
    syncPreset();
    num('guidance').value = String(p.guidance);
    num('edit-guidance').value = String(p.editGuidance);
    num('split').value = String(p.splitRatio);
    num('sim-threshold').value = String(p.simThreshold);
    $<HTMLInputElement>('stop-auto').checked = p.iterations === null;
    $<HTMLInputElement>('stop-fixed').checked = p.iterations !== null;
    if (p.iterations !== null) num('iterations').value = String(p.iterations);
    else if (fixedIterations !== undefined) num('iterations').value = String(fixedIterations);
    num('iterations').disabled = p.iterations === null;
    num('sim-threshold').disabled = p.iterations !== null;
    $<HTMLInputElement>('composite').checked = p.compositeBackground;
    refresh();
  }

  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      $<HTMLButtonElement>('run').click();
    }
  });
  $('seed-dice').addEventListener('click', () => {
    num('seed').value = String(crypto.getRandomValues(new Uint32Array(1))[0] % 1_000_000_000);
    refresh();
  });
  $('reset-params').addEventListener('click', () => write({ ...DEFAULTS, prompt: $<HTMLTextAreaElement>('prompt').value, subjectPrompt: $<HTMLInputElement>('subject-prompt').value }));
  for (const id of ['stop-auto', 'stop-fixed']) {
    $(id).addEventListener('change', () => {
      const fixed = $<HTMLInputElement>('stop-fixed').checked;
      num('iterations').disabled = !fixed;
      num('sim-threshold').disabled = fixed;
      refresh();
    });
  }
  for (const id of ['prompt', 'subject-prompt', 'seed', 'steps', 'guidance', 'edit-guidance', 'split', 'sim-threshold', 'iterations']) {
    $(id).addEventListener('input', () => refresh());
  }
  $('variations').addEventListener('change', () => refresh());
  $('preset').addEventListener('change', () => {
    const info = PRESETS.find((p) => p.preset === $<HTMLSelectElement>('preset').value);
    if (!info) return;
    $<HTMLSelectElement>('sampler').value = info.sampler;
    num('steps').value = String(info.steps);
    syncPreset();
    refresh();
  });
  $('sampler').addEventListener('change', () => {
    syncPreset();
    refresh();
  });
  $('steps').addEventListener('input', () => syncPreset());

  function snapshot(): FormValues {
    const raw = (id: string): number | null => {
      const v = num(id).value.trim();
      return v === '' || !Number.isFinite(Number(v)) ? null : Number(v);
    };
    return {
      prompt: $<HTMLTextAreaElement>('prompt').value,
      subjectPrompt: $<HTMLInputElement>('subject-prompt').value,
      seed: raw('seed'),
      sampler: readSampler(),
      steps: raw('steps'),
      guidance: raw('guidance'),
      editGuidance: raw('edit-guidance'),
      splitRatio: raw('split'),
      simThreshold: raw('sim-threshold'),
      stopFixed: $<HTMLInputElement>('stop-fixed').checked,
      iterations: raw('iterations'),
      compositeBackground: $<HTMLInputElement>('composite').checked,
      variations: readVariations(),
    };
  }

  function setVariations(n: number): void {
    $<HTMLSelectElement>('variations').value = String(variationCount(n) ?? VARIATION_COUNTS[0]);
    refresh();
  }

  return { read: readParams, write, snapshot, setVariations };
}
