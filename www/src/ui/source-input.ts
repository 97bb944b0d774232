// The photo to edit (edit mode): its image slot, the mask painted over it, and uploading a
// black-and-white mask file instead (resized to the photo when its size differs).

import { $, fieldError, show } from '../dom.js';
import { ImageInputError, decodeImageFile, maskFromImage, resizeMaskNearest, type DecodedImage } from '../image.js';
import { MaskCanvas, createMaskToolbar } from '../mask-canvas.js';
import type { MaskImage } from '../protocol.js';
import { ImageSlot } from './image-slot.js';
import type { MaskKeys } from './mask-keys.js';

/** What the photo input needs from the rest of the page. */
export interface InputDeps {
  keys: MaskKeys;
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
      img = await decodeImageFile(file);
    } catch (e) {
      fieldError('mask-error', e instanceof ImageInputError ? e.message : String(e));
      return;
    }
    img.bitmap.close();
    let m: MaskImage = maskFromImage(img.rgba);
    const { width, height } = slot.image.rgba;
    const notes: string[] = [];
    if (m.width !== width || m.height !== height) {
      notes.push(`The mask was ${m.width} × ${m.height} px; it was resized to the photo's ${width} × ${height} px (nearest neighbour).`);
      m = resizeMaskNearest(m, width, height);
    }
    if (!m.data.some((v) => v !== 0)) notes.push('The uploaded mask is all black, so nothing is marked for editing; white marks the area to edit.');
    canvas.setMask(m);
    if (notes.length) {
      $('mask-note').textContent = notes.join(' ');
      show($('mask-note'), true);
    }
  });

  return { slot, canvas };
}
