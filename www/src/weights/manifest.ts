// The converted model's manifest as the page uses it: the failure type of the weights code, the
// check of a manifest's text (by the core's parser, injected: one rule, in Rust), the load order
// of its components and byte formatting for messages.

import type { Manifest } from '../generated/contract.js';
import { COMPONENTS, METRIC_COMPONENTS, type FailureKind } from '../protocol.js';

/** `models/manifest.json` as written by `ezigen convert` (types generated from the Rust side). */
export type { Manifest, ComponentEntry, ShardEntry, TensorEntry } from '../generated/contract.js';

/** A failure with the category the page explains (see protocol.ts FailureKind). */
export class WeightsError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'WeightsError';
  }
}

/** A byte count in decimal units for messages: "999 B", "1.5 GB", "12 MB". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/**
 * Parses and checks a manifest's text, throwing an Error whose message names the problem: the
 * core's `parseManifest` (crate/src/web.rs, `Manifest::from_json`) in the worker, so the page and
 * the CLI apply one rule; tests inject a simpler one.
 */
export type ManifestParser = (text: string) => Manifest;

/**
 * Parses the manifest read from `where` (e.g. "at /models/manifest.json", for the message) with
 * `parse`; what the parser throws becomes a WeightsError('no-model') that names the place, keeps
 * the parser's message and says how to fix it. The parser's result is returned as it is.
 */
export function checkManifest(text: string, where: string, parse: ManifestParser): Manifest {
  try {
    return parse(text);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/\.$/, '');
    throw new WeightsError('no-model', `The model manifest ${where} is not valid: ${why}. Convert the weights again with \`ezigen convert\`.`);
  }
}

/**
 * The two parts of a converted model, loaded separately: the generation model, and the optional
 * metric models (METRIC_COMPONENTS: CLIP's text tower and DINO) that only the scores need, loaded
 * when the user turns the scores on.
 */
export type ModelPart = 'model' | 'metrics';

const isMetric = (c: string) => (METRIC_COMPONENTS as readonly string[]).includes(c);

/**
 * The manifest's components of `part` in load order: for the model the known ones first (in
 * COMPONENTS order), then unknown ones (the core's parser refuses those, so in practice none);
 * the metric components never. For the metrics the metric components it has, in
 * METRIC_COMPONENTS order.
 */
export function componentOrder(m: Manifest, part: ModelPart = 'model'): string[] {
  if (part === 'metrics') return METRIC_COMPONENTS.filter((c) => c in m.components);
  const known = COMPONENTS.filter((c) => c in m.components) as string[];
  const extra = Object.keys(m.components).filter((c) => !known.includes(c) && !isMetric(c));
  return [...known, ...extra];
}

/** Said when the scores are turned on for a model converted without the metric models. */
export const NO_METRICS_MESSAGE =
  'This model was converted without the metric models, so its results cannot be scored. ' +
  'Convert it with `ezigen convert … --dino DIR` (DINO ViT-S/16; CLIP\'s text tower comes from `--clip`) to see scores.';
