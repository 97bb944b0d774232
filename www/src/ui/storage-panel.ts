// Browser storage in the model panel: what the weights cache holds (#storage-info), the
// storage note (#storage-note), and deleting the cached weights with a confirmation.

import { $, show } from '../dom.js';
import type { StorageInfo } from '../protocol.js';
import { WEIGHTS_CACHE, formatBytes } from '../weights.js';
import type { WorkerClient } from '../worker-client.js';
import { openPanel } from './panel.js';

/** The storage part of the model panel. */
export interface StoragePanel {
  /** Shows what browser storage holds. */
  show(s: StorageInfo): void;
  /** Shows a note about storage or the model under the storage line. */
  note(text: string): void;
  /** Asks whether to delete the cached weights. */
  askDelete(): void;
}

/** Wires the storage controls; deleting goes through the worker while it is up. */
export function createStoragePanel(client: WorkerClient): StoragePanel {
  let storage: StorageInfo | null = null;

  function showStorage(s: StorageInfo): void {
    storage = s;
    const parts = [`Stored weights: ${s.weightShards ? `${formatBytes(s.weightsBytes)} in ${s.weightShards} files` : 'none'}`];
    if (s.usage !== null && s.quota !== null) parts.push(`this site uses ${formatBytes(s.usage)} of ${formatBytes(s.quota)} allowed`);
    const el = $('storage-info');
    el.textContent = parts.join(' · ');
    el.dataset.shards = String(s.weightShards);
    $<HTMLButtonElement>('cache-delete').disabled = s.weightShards === 0;
  }

  function note(text: string): void {
    const el = $('storage-note');
    el.textContent = text;
    show(el, true);
  }

  function askDelete(): void {
    const s = storage;
    $('cache-confirm-text').textContent =
      `Delete the stored weights${s && s.weightsBytes ? ` (${formatBytes(s.weightsBytes)})` : ''}? ` +
      'A loaded model keeps working until the page is reloaded; after that it is downloaded again.';
    show($('cache-confirm'), true);
    openPanel();
    $('cache-confirm-no').focus();
  }

  $('cache-delete').addEventListener('click', askDelete);
  $('cache-confirm-no').addEventListener('click', () => show($('cache-confirm'), false));
  $('cache-confirm-yes').addEventListener('click', () => {
    show($('cache-confirm'), false);
    if (client.running && client.ready) client.send({ type: 'delete-cache' });
    else void caches.delete(WEIGHTS_CACHE).then(() => showStorage({ usage: null, quota: null, weightsBytes: 0, weightShards: 0 }));
  });

  return { show: showStorage, note, askDelete };
}
