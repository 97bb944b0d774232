// The photo to edit (edit mode): its image slot, the mask painted over it, and uploading a
// black-and-white mask file instead (resized to the photo when its size differs).

import { $, fieldError, show } from '../dom.js';
import { ImageInputError, decodeImageFile, maskFromImage, resizeMaskNearest, type CoreDecoder, type DecodedImage } from '../image.js';
import { MaskCanvas, createMaskToolbar } from '../mask-canvas.js';
import type { MaskImage } from '../protocol.js';
import { ImageSlot } from './image-slot.js';
import type { MaskKeys } from './mask-keys.js';

/** What the photo input needs from the rest of the page. */
export interface InputDeps {
  keys: MaskKeys;
  /** The core's image decode (decode-client.ts). */
  decode: CoreDecoder;
  /** True while a run or the history still shows `img`. */
  inUse(img: DecodedImage): boolean;
  /** Re-checks whether the run button can run. */
  refresh(): void;
}

/** The photo to edit and its mask. */
export interface SourceInput {
  slot: ImageSlot;
  /** The mask of the area to edit. */
  canvas: MaskCanvas;
}

/** Two sizes have the same aspect ratio within one pixel of rounding (a scaled copy). */
export function sameAspect(w1: number, h1: number, w2: number, h2: number): boolean {
  // w1/h1 vs w2/h2, allowing the mask's side to be off by one pixel after scaling.
  return Math.abs(w1 * h2 - w2 * h1) <= Math.max(h2, w2);
}

/** Creates the photo input (#source-…) and its mask painter (#mask-…). */
export function createSourceInput(deps: InputDeps): SourceInput {
  const { keys, refresh } = deps;
  const canvas = new MaskCanvas({ label: 'Mask over the photo to edit' });
  $('mask-host').append(canvas.element);
  $('mask-toolbar-host').append(createMaskToolbar('mask', canvas, 'Mask'));
  canvas.attached();
  keys.track(canvas, $('mask-toolbar-host'));
  canvas.addEventListener('change', () => refresh());

  const slot = new ImageSlot({
    prefix: 'source',
    canvas,
    removable: false,
    inUse: deps.inUse,
    decode: deps.decode,
    onLoad: () => {
      show($('mask-note'), false);
      fieldError('mask-error', null);
      keys.activate(canvas);
    },
    onChange: refresh,
  });

  $('mask-upload-button').addEventListener('click', () => $<HTMLInputElement>('mask-upload').click());
  $<HTMLInputElement>('mask-upload').addEventListener('change', async (ev) => {
    const input = ev.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file || !slot.image) return;
    fieldError('mask-error', null);
    show($('mask-note'), false);
    let img: DecodedImage;
    try {
      img = await decodeImageFile(file, deps.decode);
    } catch (e) {
      fieldError('mask-error', e instanceof ImageInputError ? e.message : String(e));
      return;
    }
    img.bitmap.close();
    let m: MaskImage = maskFromImage(img.rgba);
    const { width, height } = slot.image.rgba;
    const notes: string[] = [];
    // Another shape than the photo: stretched to fit, which may move the area (a warning).
    const stretched = m.width !== width || m.height !== height ? !sameAspect(m.width, m.height, width, height) : false;
    if (stretched) {
      notes.push(
        `The mask (${m.width} × ${m.height} px) has another shape than the photo (${width} × ${height} px): it was stretched to fit, so the marked area may be out of place. Check it on the photo, or upload a mask of the photo's shape.`,
      );
      m = resizeMaskNearest(m, width, height);
    } else if (m.width !== width || m.height !== height) {
      notes.push(`The mask was ${m.width} × ${m.height} px; it was resized to the photo's ${width} × ${height} px (nearest neighbour).`);
      m = resizeMaskNearest(m, width, height);
    }
    if (!m.data.some((v) => v !== 0)) notes.push('The uploaded mask is all black, so nothing is marked for editing; white marks the area to edit.');
    canvas.setMask(m);
    if (notes.length) {
      $('mask-note').textContent = notes.join(' ');
      $('mask-note').classList.toggle('warn', stretched);
      show($('mask-note'), true);
    }
  });

  return { slot, canvas };
}
