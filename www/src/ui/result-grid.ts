// The variations of a run (#variations-section): one tile per variation, waiting, being made,
// done (its image and seed, and its scores when they are on; a click shows it large, a link
// downloads its PNG) or not made (the run was cancelled or failed). Shown for runs of more than
// one variation; it stays until the next run starts.

import { $, show } from '../dom.js';
import { drawRgba } from '../image.js';
import type { ResultItem } from './history.js';
import { scoreLine } from './score-line.js';
import { state } from './state.js';

/** What the grid needs from the results. */
export interface ResultGridDeps {
  /** Shows `item` large and restores its settings (the user selected its tile). */
  select(item: ResultItem): void;
}

/** The grid's operations. */
export interface ResultGrid {
  /** Run `runId` of `count` variations with seeds seed, seed + 1, … starts: its tiles, all waiting. */
  start(runId: number, count: number, seed: number): void;
  /** Variation `index` (from 0) is being made. */
  running(index: number): void;
  /**
   * Variation `index` of run `runId` is done: its tile shows `item`; `subjectReused` as the run
   * reported it (ignored when another run's tiles are shown by now).
   */
  fill(runId: number, index: number, item: ResultItem, subjectReused: boolean): void;
  /** The run ended early: tiles still waiting or being made say they were not made (`why`). */
  stopped(why: string): void;
  /** Marks the tile of `item` as the one shown (none when it is not in the grid). */
  markShown(item: ResultItem | null): void;
  /** Shows the scores of the done tiles as they stand now (some arrived, or the scores were turned on or off). */
  showScores(): void;
}

/** What a tile says while it has no image, by state. */
const WAITING_TEXT = { pending: 'Waiting…', running: 'Being made…' } as const;

/** Wires the grid of variations. */
export function createResultGrid(deps: ResultGridDeps): ResultGrid {
  const grid = $('result-grid');
  /** Object URLs of the tiles' download links (revoked when the next run replaces the grid). */
  let urls: string[] = [];
  let tiles: HTMLLIElement[] = [];
  /** The results of the done tiles, by tile. */
  let items: (ResultItem | null)[] = [];
  /** The run whose tiles are shown. */
  let shownRun = 0;

  /** The scores line of tile `index` (hidden while the scores are off or there are none). */
  function scoresOf(index: number): void {
    const item = items[index];
    const line = tiles[index]?.querySelector<HTMLElement>('.variation-scores');
    if (!item || !line) return;
    line.textContent = item.scores ? scoreLine(item.scores) : '';
    line.dataset.state = item.scores?.state ?? '';
    show(line, state.scores && item.scores !== null);
  }

  function placeholder(li: HTMLLIElement, text: string): void {
    const box = li.querySelector('.variation-wait');
    if (box) box.textContent = text;
  }

  function start(runId: number, count: number, seed: number): void {
    shownRun = runId;
    for (const u of urls) URL.revokeObjectURL(u);
    urls = [];
    items = Array.from({ length: count }, () => null);
    tiles = Array.from({ length: count }, (_, i) => {
      const li = document.createElement('li');
      li.className = 'variation';
      li.dataset.variation = String(i);
      li.dataset.seed = String(seed + i);
      li.dataset.state = 'pending';
      const wait = document.createElement('div');
      wait.className = 'variation-wait';
      wait.textContent = WAITING_TEXT.pending;
      const cap = document.createElement('span');
      cap.className = 'variation-seed hint';
      cap.textContent = `${i + 1} · seed ${seed + i}`;
      li.append(wait, cap);
      return li;
    });
    grid.replaceChildren(...tiles);
    grid.setAttribute('aria-label', `${count} variations of this run`);
    show($('variations-section'), count > 1);
  }

  function running(index: number): void {
    const li = tiles[index];
    if (!li || li.dataset.state !== 'pending') return;
    li.dataset.state = 'running';
    placeholder(li, WAITING_TEXT.running);
  }

  function fill(runId: number, index: number, item: ResultItem, subjectReused: boolean): void {
    const li = tiles[index];
    if (!li || runId !== shownRun) return;
    const seed = item.params.seed;
    li.dataset.state = 'done';
    li.dataset.key = item.key;
    li.dataset.seed = String(seed);
    li.dataset.subjectReused = String(subjectReused);
    const pick = document.createElement('button');
    pick.type = 'button';
    pick.className = 'variation-pick';
    pick.setAttribute('aria-label', `Variation ${index + 1}, seed ${seed}: show it large and put its settings into the form`);
    const canvas = document.createElement('canvas');
    drawRgba(canvas, item.image);
    canvas.setAttribute('aria-hidden', 'true');
    pick.append(canvas);
    pick.addEventListener('click', () => deps.select(item));
    const url = URL.createObjectURL(item.blob);
    urls.push(url);
    const link = document.createElement('a');
    link.className = 'button small';
    link.href = url;
    link.download = item.filename;
    link.textContent = 'Download';
    link.setAttribute('aria-label', `Download variation ${index + 1} (seed ${seed}) as PNG`);
    const cap = document.createElement('span');
    cap.className = 'variation-seed hint';
    cap.textContent = `${index + 1} · seed ${seed}`;
    const foot = document.createElement('div');
    foot.className = 'variation-foot';
    foot.append(cap, link);
    const scores = document.createElement('p');
    scores.className = 'variation-scores hint';
    scores.hidden = true;
    li.replaceChildren(pick, foot, scores);
    items[index] = item;
    scoresOf(index);
  }

  function stopped(why: string): void {
    for (const li of tiles) {
      if (li.dataset.state !== 'pending' && li.dataset.state !== 'running') continue;
      li.dataset.state = 'skipped';
      placeholder(li, why);
    }
  }

  function markShown(item: ResultItem | null): void {
    for (const li of tiles) li.setAttribute('aria-current', String(item !== null && li.dataset.key === item.key));
  }

  return { start, running, fill, stopped, markShown, showScores: () => tiles.forEach((_, i) => scoresOf(i)) };
}
