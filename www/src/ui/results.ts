// Results: the shown image with its caption, the before/after toggle (edit), the PNG download
// with the parameters in a tEXt chunk, and the history (history.ts: select to restore).

import { $, show } from '../dom.js';
import { drawRgba, rgbaToPngBlob } from '../image.js';
import { asciiJson, insertTextChunk } from '../png.js';
import type { EditParams, RgbaImage } from '../protocol.js';
import { createHistory, type ResultItem } from './history.js';
import { elapsed, type RunPanel } from './run-panel.js';
import { state, type Mode } from './state.js';

/** What the results need from the rest of the page. */
export interface ResultsDeps {
  run: Pick<RunPanel, 'claim' | 'addPreview'>;
  setMode(mode: Mode): void;
  writeParams(p: EditParams): void;
}

/** The results' operations. */
export interface Results {
  /** A run's final image arrived: shows it, adds it to the history and prepares its PNG. */
  onResult(id: number, image: RgbaImage, ms: number, iterations: number, similarity: number | null): Promise<void>;
  /** Shows the results kept from earlier visits in the history (once, at start). */
  restoreHistory(): Promise<void>;
  /** Some history entry (or the shown result) still shows `bitmap` (as its before image). */
  shows(bitmap: ImageBitmap): boolean;
}

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
  const history = createHistory({
    select: (item) => {
      deps.setMode(item.mode);
      deps.writeParams(item.params);
      showResult(item);
    },
    shown: () => shown,
  });

  async function onResult(id: number, image: RgbaImage, ms: number, iterations: number, similarity: number | null): Promise<void> {
    const run = deps.run.claim(id);
    if (!run) return;
    // The last iteration may arrive only as the result: keep the strip complete.
    if (!$('previews').querySelector(`li[data-iteration="${iterations}"]`)) deps.run.addPreview(iterations, similarity, image);
    const meta = {
      app: 'ezigen-web',
      mode: run.mode,
      model: state.model.name,
      precision: state.model.precision,
      ...(run.mode === 'generate'
        ? (({ compositeBackground: _c, editGuidance: _e, ...rest }) => rest)(run.params)
        : (({ guidance: _g, ...rest }) => rest)(run.params)),
      width: image.width,
      height: image.height,
      iterationsRun: iterations,
      similarity,
      seconds: Math.round(ms) / 1000,
    };
    const png = new Uint8Array(await (await rgbaToPngBlob(image)).arrayBuffer());
    const blob = new Blob([insertTextChunk(png, 'parameters', asciiJson(meta)) as Uint8Array<ArrayBuffer>], { type: 'image/png' });
    const item: ResultItem = {
      key: `run-${id}`,
      mode: run.mode,
      params: run.params,
      image,
      source: run.source ? run.source.bitmap : null,
      blob,
      url: URL.createObjectURL(blob),
      filename: fileName(run.mode, run.params),
      ms,
      iterations,
      similarity,
      model: state.model.name,
      tiny: state.model.tiny,
    };
    history.add(item);
    showResult(item);
    $('run-status').textContent = `Done in ${elapsed(ms)}.`;
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
    $('result-caption').textContent =
      `${item.image.width} × ${item.image.height} · seed ${p.seed} · split ${p.splitRatio} · ${item.iterations} iteration${item.iterations === 1 ? '' : 's'}${sim} · ${elapsed(item.ms)}` +
      (item.tiny ? ' · tiny test model (noise)' : '');
    const fig = $('result');
    fig.dataset.width = String(item.image.width);
    fig.dataset.height = String(item.image.height);
    show(fig, true);
    show($('result-empty'), false);
    history.markShown(item);
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
    restoreHistory: history.restore,
    shows: (bitmap) => shown?.source === bitmap || history.shows(bitmap),
  };
}
