// One image input of the page (the photo to edit): its drop zone, file input, drag-and-drop onto
// its whole section, Replace (and Remove) buttons, the error line, and the editor that shows the
// loaded image in a MaskCanvas, configured by an element-id prefix. `wireFileSource` (chooser,
// drop zone, drag-and-drop) is shared with the subject's list of photos (subject-input.ts).

import { $, fieldError, show } from '../dom.js';
import { ImageInputError, decodeImageFile, type CoreDecoder, type DecodedImage } from '../image.js';
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
  /** The core's image decode (decode-client.ts). */
  decode: CoreDecoder;
  /** Runs after a new image is shown in the canvas. */
  onLoad(img: DecodedImage): void;
  /** Runs after the image changed (loaded or removed). */
  onChange(): void;
}

/** The elements an image input takes files from. */
export interface FileSource {
  /** The drop zone: a click, Enter or Space opens the file chooser. */
  zone: HTMLElement;
  /** The (visually hidden) file input. */
  input: HTMLInputElement;
  /** Files dropped anywhere on this section are taken too. */
  section: HTMLElement;
}

/**
 * Wires a file source: the drop zone opens the chooser, chosen or dropped files go to
 * `onFiles` (never empty; several when the input allows `multiple`), and a drop without files
 * gets a message through `onError`.
 */
export function wireFileSource(el: FileSource, onFiles: (files: File[]) => void, onError: (text: string) => void): void {
  const { zone, input, section } = el;
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  input.addEventListener('click', (e) => e.stopPropagation());
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    if (files.length) onFiles(files);
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
    const files = [...(e.dataTransfer?.files ?? [])];
    if (files.length) onFiles(files);
    else onError('Drop an image file (PNG, JPEG or WebP).');
  });
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
    this.section = $(`${p}-section`);
    wireFileSource(
      { zone: $(`${p}-drop`), input: $<HTMLInputElement>(`${p}-file`), section: this.section },
      (files) => void this.load(files[0]),
      (text) => fieldError(`${p}-error`, text),
    );
    $(`${p}-replace`).addEventListener('click', () => $<HTMLInputElement>(`${p}-file`).click());
    if (this.opts.removable) $(`${p}-remove`).addEventListener('click', () => this.remove());
  }

  /** Decodes `file` and shows it, or says next to the input why it cannot be used. */
  async load(file: File): Promise<void> {
    const { prefix: p, canvas } = this.opts;
    fieldError(`${p}-error`, null);
    let img: DecodedImage;
    try {
      img = await decodeImageFile(file, this.opts.decode);
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
