// Results: the shown image with its caption and its scores (when they are on, ui/scores.ts), the
// before/after toggle (edit), the PNG download with the parameters in a tEXt chunk, the tiles of
// a run's variations (result-grid.ts) and the history (history.ts); selecting a tile or an entry
// shows it and restores its settings.

import { presetOf } from './params.js';
import { $, show } from '../dom.js';
import { drawRgba, rgbaToPngBlob } from '../image.js';
import { asciiJson, insertTextChunk } from '../png.js';
import type { EditParams, Reply, ScoreState } from '../protocol.js';
import { createHistory, type ResultItem } from './history.js';
import type { ResultGrid } from './result-grid.js';
import { scoreLine } from './score-line.js';
import { elapsed, type RunPanel } from './run-panel.js';
import { state, type Mode } from './state.js';

/** What the results need from the rest of the page. */
export interface ResultsDeps {
  run: Pick<RunPanel, 'noteResult' | 'current'>;
  /** The tiles of the run's variations. */
  grid: ResultGrid;
  setMode(mode: Mode): void;
  writeParams(p: EditParams): void;
}

/** The results' operations. */
export interface Results {
  /** A variation's final image arrived: shows it, adds it to its tile and the history, prepares its PNG. */
  onResult(r: Extract<Reply, { type: 'result' }>): Promise<void>;
  /** Shows `item` large and puts its settings back into the form (a tile or history entry was selected). */
  select(item: ResultItem): void;
  /** Shows the results kept from earlier visits in the history (once, at start). */
  restoreHistory(): Promise<void>;
  /** Some history entry (or the shown result) still shows `bitmap` (as its before image). */
  shows(bitmap: ImageBitmap): boolean;
  /** The worker's scores of a result (computing, computed or failed). */
  onScores(r: Extract<Reply, { type: 'scores' }>): void;
  /** Shows or hides the results' score lines (the scores were turned on or off). */
  showScores(): void;
}

/** The key of variation `variation` of run `id` (this visit). */
const runKey = (id: number, variation: number) => `run-${id}-${variation}`;

function slug(text: string): string {
  const s = text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return s || 'image';
}

function fileName(mode: Mode, p: EditParams): string {
  return `ezigen${mode === 'edit' ? '-edit' : ''}_seed${p.seed}_split${p.splitRatio}_${slug(p.prompt)}.png`;
}

function setBefore(on: boolean): void {
  const ba = $('before-after');
  ba.setAttribute('aria-pressed', String(on));
  ba.textContent = on ? 'Show after' : 'Show before';
  show($('before-canvas'), on);
  show($('result-canvas'), !on);
}

/** Wires the before/after and download buttons. */
export function createResults(deps: ResultsDeps): Results {
  let shown: ResultItem | null = null;
  /** The run during which the user selected a result: its later variations are not shown over it. */
  let pickedDuring: number | null = null;
  const history = createHistory({ select: (item) => select(item), shown: () => shown });
  /** This visit's results by key (their scores arrive after their run). */
  const byKey = new Map<string, ResultItem>();
  /** Scores that arrived while their result was still being prepared (its PNG). */
  const early = new Map<string, ScoreState>();

  function select(item: ResultItem): void {
    pickedDuring = deps.run.current()?.id ?? null;
    deps.setMode(item.mode);
    deps.writeParams(item.params);
    showResult(item);
  }

  async function onResult(r: Extract<Reply, { type: 'result' }>): Promise<void> {
    const { id, variation, seed, image, ms, iterations, similarity } = r;
    const run = deps.run.noteResult(r);
    if (!run) return;
    const params: EditParams = { ...run.params, seed };
    const meta = {
      app: 'ezigen-web',
      mode: run.mode,
      model: state.model.name,
      precision: state.model.precision,
      ...(run.mode === 'generate'
        ? (({ compositeBackground: _c, editGuidance: _e, ...rest }) => rest)(params)
        : (({ guidance: _g, ...rest }) => rest)(params)),
      preset: presetOf(params.sampler, params.steps) ?? 'custom',
      subjectPhotos: run.subjects,
      ...(run.count > 1 ? { variation: variation + 1, variations: run.count } : {}),
      width: image.width,
      height: image.height,
      iterationsRun: iterations,
      similarity,
      seconds: Math.round(ms) / 1000,
    };
    const png = new Uint8Array(await (await rgbaToPngBlob(image)).arrayBuffer());
    const blob = new Blob([insertTextChunk(png, 'parameters', asciiJson(meta)) as Uint8Array<ArrayBuffer>], { type: 'image/png' });
    const key = runKey(id, variation);
    const item: ResultItem = {
      key,
      mode: run.mode,
      params,
      image,
      source: run.source ? run.source.bitmap : null,
      blob,
      url: URL.createObjectURL(blob),
      filename: fileName(run.mode, params),
      ms,
      iterations,
      similarity,
      model: state.model.name,
      tiny: state.model.tiny,
      subjects: run.subjects,
      scores: early.get(key) ?? null,
    };
    early.delete(key);
    byKey.set(key, item);
    history.add(item);
    deps.grid.fill(id, variation, item, r.subjectReused);
    if (pickedDuring !== id) showResult(item);
    else deps.grid.markShown(shown);
    const last = variation + 1 >= run.count;
    $('run-status').textContent =
      run.count === 1
        ? `Done in ${elapsed(ms)}.`
        : last
          ? `All ${run.count} variations done in ${elapsed(performance.now() - run.t0)}.`
          : `Variation ${variation + 1} of ${run.count} done in ${elapsed(ms)}.`;
  }

  function showResult(item: ResultItem): void {
    shown = item;
    const canvas = $<HTMLCanvasElement>('result-canvas');
    drawRgba(canvas, item.image);
    const before = $<HTMLCanvasElement>('before-canvas');
    before.width = item.image.width;
    before.height = item.image.height;
    const ba = $('before-after');
    if (item.source) {
      // Display only: the photo scaled to the result's size for the before/after toggle.
      before.getContext('2d')!.drawImage(item.source, 0, 0, item.image.width, item.image.height);
    }
    show(ba, !!item.source);
    setBefore(false);
    const p = item.params;
    const sim = item.similarity !== null ? ` · similarity ${item.similarity.toFixed(3)}` : '';
    const subjects = item.subjects !== null && item.subjects > 1 ? ` · ${item.subjects} subject photos` : '';
    $('result-caption').textContent =
      `${item.image.width} × ${item.image.height} · seed ${p.seed} · split ${p.splitRatio} · ${item.iterations} iteration${item.iterations === 1 ? '' : 's'}${sim}${subjects} · ${elapsed(item.ms)}` +
      (item.tiny ? ' · tiny test model (noise)' : '');
    renderScores();
    const fig = $('result');
    fig.dataset.width = String(item.image.width);
    fig.dataset.height = String(item.image.height);
    show(fig, true);
    show($('result-empty'), false);
    history.markShown(item);
    deps.grid.markShown(item);
  }

  /** The shown result's score line (hidden while the scores are off or it has none). */
  function renderScores(): void {
    const el = $('result-scores');
    const s = shown?.scores ?? null;
    el.textContent = s ? scoreLine(s) : '';
    el.dataset.state = s?.state ?? '';
    show(el, state.scores && s !== null);
  }

  function onScores(r: Extract<Reply, { type: 'scores' }>): void {
    const key = runKey(r.id, r.variation);
    const item = byKey.get(key);
    if (!item) {
      early.set(key, r.result);
      return;
    }
    item.scores = r.result;
    deps.grid.showScores();
    if (shown === item) renderScores();
  }

  $('before-after').addEventListener('click', () => setBefore($('before-after').getAttribute('aria-pressed') !== 'true'));
  $('download').addEventListener('click', () => {
    if (!shown) return;
    const a = document.createElement('a');
    a.href = shown.url;
    a.download = shown.filename;
    document.body.append(a);
    a.click();
    a.remove();
  });

  return {
    onResult,
    select,
    restoreHistory: history.restore,
    shows: (bitmap) => shown?.source === bitmap || history.shows(bitmap),
    onScores,
    showScores: () => {
      renderScores();
      deps.grid.showScores();
    },
  };
}
