// Converting the original published weights in the worker: the same Rust converter as
// `ezigen convert` (crate/src/convert), fed with the files the user picked. The core reads them
// by byte range (FileReaderSync on File.slice, never a whole file) and makes one shard at a
// time; each is stored in the weights cache before the next is made, so memory holds at most
// one shard and one input tensor. The model is then loaded from storage like a downloaded one.

import { Conversion } from '../pkg/ezigen.js';
import { TOKENIZER_FILE } from './build-info.js';
import type { ConvertProgress, PickedWeightFile, StorageInfo } from './protocol.js';
import { CONVERTED_MANIFEST_KEY, WeightsError, formatBytes, type WeightStore } from './weights.js';

/** Shards of a conversion in the page are at most this large (as the CLI's default). */
export const CONVERT_SHARD_BYTES = 64 << 20;

/** The name the page gives a model it converted. */
export const CONVERTED_NAME = 'sd21-base-ezigen (converted in this browser)';

export interface ConvertHooks {
  signal: AbortSignal;
  /** Storage before the conversion (null: unknown), for the space check. */
  storage: StorageInfo | null;
  onProgress(progress: ConvertProgress, warnings: string[]): void;
}

/** A conversion failure in the words the page shows (the core's message, with what to do). */
function convertError(e: unknown): WeightsError {
  if (e instanceof WeightsError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const end = /[.?!]$/.test(message) ? '' : '.';
  return new WeightsError(
    'bad-input',
    `The original weights could not be converted: ${message}${end} Choose the three folders as published (see "Convert the original weights").`,
  );
}

/**
 * The app's tokenizer.json.gz (written with the converted model), from the service worker's cache
 * or the network.
 */
async function fetchTokenizer(): Promise<Uint8Array> {
  const url = new URL(`./${TOKENIZER_FILE}`, import.meta.url);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new WeightsError(
      'network',
      `The app's tokenizer file (${TOKENIZER_FILE}) could not be downloaded (${e instanceof Error ? e.message : String(e)}); ` +
        'connect to the network once and convert again.',
    );
  }
  if (!res.ok) {
    throw new WeightsError('network', `The app's tokenizer file (${TOKENIZER_FILE}) could not be downloaded (HTTP ${res.status}); reload the page and convert again.`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Converts the picked files into the weights cache and stores the manifest under
 * CONVERTED_MANIFEST_KEY. On failure or cancel, the shards this run stored are deleted again.
 */
export async function convertIntoStore(files: PickedWeightFile[], store: WeightStore, hooks: ConvertHooks): Promise<void> {
  const tokenizer = await fetchTokenizer();
  let conv: Conversion;
  try {
    conv = new Conversion(files, { dtype: 'f16', shardBytes: CONVERT_SHARD_BYTES, name: CONVERTED_NAME, tiny: false }, tokenizer);
  } catch (e) {
    throw convertError(e);
  }
  const stored: { file: string; sha256: string }[] = [];
  try {
    const plan = conv.plan();
    const { storage } = hooks;
    if (storage && storage.quota !== null && storage.usage !== null && plan.outputBytes > storage.quota - storage.usage) {
      throw new WeightsError(
        'quota-exceeded',
        `The converted model needs ${formatBytes(plan.outputBytes)} of browser storage, but this site may only use ` +
          `${formatBytes(Math.max(0, storage.quota - storage.usage))} more (${formatBytes(storage.usage)} of ${formatBytes(storage.quota)} used).`,
      );
    }
    hooks.onProgress(conv.progress(), plan.warnings);
    for (;;) {
      if (hooks.signal.aborted) throw new WeightsError('cancelled', 'The conversion was cancelled; nothing of it was kept.');
      let shard;
      try {
        shard = conv.nextShard();
      } catch (e) {
        throw convertError(e);
      }
      if (!shard) break;
      const had = await store.has(shard.file, shard.sha256);
      await store.put(shard.file, shard.sha256, shard.bytes);
      if (!had) stored.push({ file: shard.file, sha256: shard.sha256 });
      hooks.onProgress(conv.progress(), plan.warnings);
      // Lets a cancel message reach the worker between shards.
      await new Promise((r) => setTimeout(r, 0));
    }
    if (!(await store.putManifest(CONVERTED_MANIFEST_KEY, conv.manifestJson()))) {
      throw new WeightsError('quota-exceeded', 'Browser storage is full: the converted model\'s manifest could not be saved.');
    }
  } catch (e) {
    for (const s of stored) await store.delete(s.file, s.sha256).catch(() => {});
    throw e;
  } finally {
    conv.free();
  }
}
