// One image input of the page (the photo to edit, the subject): its drop zone, file input,
// drag-and-drop onto its whole section, Replace (and Remove) buttons, the error line, and the
// editor that shows the loaded image in a MaskCanvas. Both inputs are this one component,
// configured by an element-id prefix.

import { $, fieldError, show } from '../dom.js';
import { ImageInputError, decodeImageFile, type DecodedImage } from '../image.js';
import type { MaskCanvas } from '../mask-canvas.js';

/** How an image slot is set up. */
export interface ImageSlotOptions {
  /**
   * Element-id prefix: the slot uses `<prefix>-drop`, `-file`, `-section`, `-error`, `-editor`,
   * `-replace`, `-meta` and, when `removable`, `-remove`.
   */
  prefix: string;
  /** Shows the loaded image. */
  canvas: MaskCanvas;
  /** Has a Remove button. */
  removable: boolean;
  /** True while something else still shows `img` (then its bitmap is not closed). */
  inUse(img: DecodedImage): boolean;
  /** Runs after a new image is shown in the canvas. */
  onLoad(img: DecodedImage): void;
  /** Runs after the image changed (loaded or removed). */
  onChange(): void;
}

function describe(img: DecodedImage): string {
  return `${img.name} · ${img.rgba.width} × ${img.rgba.height} px`;
}

/** An image input: file picker, drag-and-drop, Replace/Remove, decoding with clear errors. */
export class ImageSlot {
  /** The loaded image, or null. */
  image: DecodedImage | null = null;
  /** The section the slot lives in (paste goes to the slot that holds the focus). */
  readonly section: HTMLElement;

  constructor(private readonly opts: ImageSlotOptions) {
    const p = opts.prefix;
    const zone = $(`${p}-drop`);
    const input = $<HTMLInputElement>(`${p}-file`);
    const section = $(`${p}-section`);
    this.section = section;
    const onFile = (f: File) => void this.load(f);
    zone.addEventListener('click', () => input.click());
    zone.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        input.click();
      }
    });
    input.addEventListener('click', (e) => e.stopPropagation());
    input.addEventListener('change', () => {
      const f = input.files?.[0];
      input.value = '';
      if (f) onFile(f);
    });
    section.addEventListener('dragover', (e) => {
      if (!e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      section.classList.add('dragging');
    });
    section.addEventListener('dragleave', (e) => {
      if (!section.contains(e.relatedTarget as Node | null)) section.classList.remove('dragging');
    });
    section.addEventListener('drop', (e) => {
      e.preventDefault();
      section.classList.remove('dragging');
      const f = e.dataTransfer?.files?.[0];
      if (f) onFile(f);
      else fieldError(`${p}-error`, 'Drop an image file (PNG, JPEG or WebP).');
    });
    $(`${p}-replace`).addEventListener('click', () => $<HTMLInputElement>(`${p}-file`).click());
    if (this.opts.removable) $(`${p}-remove`).addEventListener('click', () => this.remove());
  }

  /** Decodes `file` and shows it, or says next to the input why it cannot be used. */
  async load(file: File): Promise<void> {
    const { prefix: p, canvas } = this.opts;
    fieldError(`${p}-error`, null);
    let img: DecodedImage;
    try {
      img = await decodeImageFile(file);
    } catch (e) {
      fieldError(`${p}-error`, e instanceof ImageInputError ? e.message : `That file could not be read: ${(e as Error).message}`);
      return;
    }
    this.release(this.image);
    this.image = img;
    show($(`${p}-drop`), false);
    show($(`${p}-editor`), true);
    show($(`${p}-replace`), true);
    if (this.opts.removable) show($(`${p}-remove`), true);
    $(`${p}-meta`).textContent = describe(img);
    canvas.setImage(img.bitmap, img.rgba.width, img.rgba.height);
    this.opts.onLoad(img);
    this.opts.onChange();
  }

  /** Empties the slot and shows its drop zone again. */
  remove(): void {
    const p = this.opts.prefix;
    this.release(this.image);
    this.image = null;
    show($(`${p}-drop`), true);
    show($(`${p}-editor`), false);
    show($(`${p}-replace`), false);
    if (this.opts.removable) show($(`${p}-remove`), false);
    fieldError(`${p}-error`, null);
    $(`${p}-drop`).focus();
    this.opts.onChange();
  }

  /** Frees a replaced image's bitmap unless something still shows it. */
  private release(img: DecodedImage | null): void {
    if (!img) return;
    if (this.opts.inUse(img)) return;
    img.bitmap.close();
  }
}
