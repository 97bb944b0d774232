// The history list (#history-section): this visit's results and those kept from earlier visits
// (history-store.ts: the newest HISTORY_LIMIT, in IndexedDB), newest first. Selecting one shows
// it and puts its settings back into the form; "Clear history" deletes the list and the stored
// entries. When browser storage fails, the list works for this visit and a note says so.

import { speedLabel } from './params.js';
import { $, show } from '../dom.js';
import { bitmapToRgba } from '../image.js';
import { createHistoryStore, HISTORY_LIMIT, type SavedResult, type StoredResult } from '../history-store.js';
import type { EditParams, RgbaImage, ScoreState } from '../protocol.js';
import type { Mode } from './state.js';

/** A result in the history: what is stored of it, plus what only lives on the page. */
export interface ResultItem
  extends Pick<StoredResult, 'mode' | 'params' | 'filename' | 'ms' | 'iterations' | 'similarity' | 'model' | 'tiny'> {
  /** Unique in the list ("run-<id>" this visit, "saved-<key>" from storage). */
  key: string;
  image: RgbaImage;
  /** The photo it edited (this visit only: photos are never stored). */
  source: ImageBitmap | null;
  /** The PNG offered for download, and its object URL. */
  blob: Blob;
  url: string;
  /** How many subject photos it was made from (null: not recorded, an older stored entry). */
  subjects: number | null;
  /**
   * Its scores (ui/scores.ts), or null when none were computed: this visit only, not stored (an
   * entry from an earlier visit has no subject photos to compare with).
   */
  scores: ScoreState | null;
}

/** What the history needs from the results. */
export interface HistoryDeps {
  /** Shows `item` and restores its settings (the user selected it). */
  select(item: ResultItem): void;
  /** The result shown now, which keeps its object URL when the history is cleared. */
  shown(): ResultItem | null;
}

/** The history's operations. */
export interface HistoryList {
  /** Adds a result of this visit at the top and stores it for later visits. */
  add(item: ResultItem): void;
  /** Appends the results stored by earlier visits (once, at start). */
  restore(): Promise<void>;
  /** Marks the entry of `item` as the one shown. */
  markShown(item: ResultItem): void;
  /** Some entry still shows `bitmap` (as its before image). */
  shows(bitmap: ImageBitmap): boolean;
}

/** Prompts longer than this are shortened with "…" in the history captions. */
const CAPTION_PROMPT_CHARS = 28;

/** A prompt cut to `max` characters at a word where it can be, with "…" when cut. */
export function shortPrompt(prompt: string, max = CAPTION_PROMPT_CHARS): string {
  const p = prompt.trim().replace(/\s+/g, ' ');
  if (p.length <= max) return p;
  const cut = p.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,.;:]+$/, '')}…`;
}

/**
 * A history entry's caption: mode, the shortened prompt, the seed and, for a sampler other than
 * the paper's DDPM, the speed ("Edit · “a toy on the sofa” · seed 33 · Fast").
 */
export function historyCaption(mode: Mode, p: EditParams): string {
  const speed = p.sampler === 'ddpm' ? '' : ` · ${speedLabel(p.sampler, p.steps)}`;
  return `${mode === 'edit' ? 'Edit' : 'Generate'} · “${shortPrompt(p.prompt)}” · seed ${p.seed}${speed}`;
}

/** Decodes a stored PNG back to RGBA (lossless: the pixels are the result's own). */
async function decodePng(png: ArrayBuffer): Promise<RgbaImage> {
  const bitmap = await createImageBitmap(new Blob([png], { type: 'image/png' }), {
    premultiplyAlpha: 'none',
    colorSpaceConversion: 'none',
  });
  try {
    return bitmapToRgba(bitmap);
  } finally {
    bitmap.close();
  }
}

/** Wires the history list and its "Clear history" button. */
export function createHistory(deps: HistoryDeps): HistoryList {
  const items: ResultItem[] = [];
  const list = $('history');
  const note = $('history-note');
  const store = createHistoryStore((why) => {
    note.textContent = `History is not saved in this browser (${why}): it is lost when the page is reloaded.`;
    show(note, true);
  });
  $('history-limit').textContent = String(HISTORY_LIMIT);

  function entry(item: ResultItem, saved: boolean): HTMLLIElement {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'history-item';
    b.dataset.id = item.key;
    b.dataset.saved = String(saved);
    const img = document.createElement('img');
    img.src = item.url;
    img.alt = '';
    const cap = document.createElement('span');
    cap.textContent = historyCaption(item.mode, item.params);
    const mode = item.mode === 'edit' ? 'Edit' : 'Generate';
    b.setAttribute(
      'aria-label',
      `${mode}: “${item.params.prompt}”, seed ${item.params.seed}, split ${item.params.splitRatio}. Show it and restore its settings.`,
    );
    b.title = item.params.prompt;
    b.append(img, cap);
    b.addEventListener('click', () => deps.select(item));
    li.append(b);
    return li;
  }

  function add(item: ResultItem): void {
    items.unshift(item);
    const li = entry(item, false);
    list.prepend(li);
    show($('history-section'), true);
    void (async () => {
      const key = await store.add({
        mode: item.mode,
        params: item.params,
        png: await item.blob.arrayBuffer(),
        filename: item.filename,
        ms: item.ms,
        iterations: item.iterations,
        similarity: item.similarity,
        model: item.model,
        tiny: item.tiny,
        ...(item.subjects !== null ? { subjects: item.subjects } : {}),
        savedAt: Date.now(),
      });
      if (key !== null) li.querySelector('button')!.dataset.saved = 'true';
    })();
  }

  async function toItem(r: SavedResult): Promise<ResultItem | null> {
    try {
      const blob = new Blob([r.png], { type: 'image/png' });
      return {
        key: `saved-${r.key}`,
        mode: r.mode,
        params: r.params,
        image: await decodePng(r.png),
        source: null,
        blob,
        url: URL.createObjectURL(blob),
        filename: r.filename,
        ms: r.ms,
        iterations: r.iterations,
        similarity: r.similarity,
        model: r.model,
        tiny: r.tiny === true,
        subjects: typeof r.subjects === 'number' && Number.isInteger(r.subjects) && r.subjects > 0 ? r.subjects : null,
        scores: null,
      };
    } catch {
      return null; // an undecodable image: skip the entry
    }
  }

  async function restore(): Promise<void> {
    const restored = (await Promise.all((await store.load()).map(toItem))).filter((i): i is ResultItem => i !== null);
    if (restored.length > 0) {
      items.push(...restored);
      list.append(...restored.map((i) => entry(i, true)));
      show($('history-section'), true);
    }
    list.dataset.restored = String(restored.length); // done (the tests wait for it)
  }

  $('history-clear').addEventListener('click', () => {
    if (!window.confirm(`Delete all ${items.length} results in the history? This cannot be undone.`)) return;
    const shown = deps.shown();
    for (const i of items) if (i !== shown) URL.revokeObjectURL(i.url);
    items.length = 0;
    list.replaceChildren();
    show($('history-section'), false);
    void store.clear();
  });

  return {
    add,
    restore,
    markShown: (item) => {
      for (const b of list.querySelectorAll<HTMLElement>('button')) b.setAttribute('aria-current', String(b.dataset.id === item.key));
    },
    shows: (bitmap) => items.some((h) => h.source === bitmap),
  };
}
