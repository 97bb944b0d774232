// Image files in the page: decoding to RGBA (through the core, in a worker), masks from files or
// alpha channels, and display compositing. No model math: resizing and normalising for the model
// happen in Rust.

import { MASK_FOREGROUND_MIN, type MaskImage, type RgbaImage } from './protocol.js';

/** The one mask rule (crate/src/contract.rs): a byte at or above MASK_FOREGROUND_MIN is foreground. */
export const isForeground = (v: number): boolean => v >= MASK_FOREGROUND_MIN;

/** A user-facing problem with an input file; `message` is shown next to the input. */
export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/** A decoded image: its RGBA pixels and a bitmap for drawing. */
export interface DecodedImage {
  name: string;
  rgba: RgbaImage;
  bitmap: ImageBitmap;
  /** Some pixel is not fully opaque. */
  hasAlpha: boolean;
}

/**
 * The core's decode of an image file's bytes (`decodeImage`, run in a worker by
 * decode-client.ts): RGBA pixels, upright by the EXIF orientation; it rejects with an Error whose
 * message is a clause that reads after the file's name.
 */
export type CoreDecoder = (bytes: Uint8Array) => Promise<RgbaImage>;

/**
 * Decodes a PNG/JPEG/WebP file through the core (the same rules as the CLI: formats, EXIF
 * orientation, the largest side, the aspect limit, damaged files); throws ImageInputError with a
 * message that names the file.
 */
export async function decodeImageFile(file: Blob & { name?: string }, decode: CoreDecoder): Promise<DecodedImage> {
  const name = file.name || 'pasted image';
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await file.arrayBuffer());
  } catch (e) {
    throw new ImageInputError(`${name} could not be read (${(e as Error).message}).`);
  }
  let rgba: RgbaImage;
  try {
    rgba = await decode(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ImageInputError(`${name}: ${why}.`);
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(toImageData(rgba), { premultiplyAlpha: 'none' });
  } catch (e) {
    throw new ImageInputError(`${name} is too large for this browser to show (${(e as Error).message}).`);
  }
  let hasAlpha = false;
  const d = rgba.data;
  for (let i = 3; i < d.length; i += 4) {
    if (d[i] !== 255) {
      hasAlpha = true;
      break;
    }
  }
  return { name, rgba, bitmap, hasAlpha };
}

/** Draws a bitmap and reads its pixels back as RGBA (the page's own PNGs from the history). */
export function bitmapToRgba(bitmap: ImageBitmap): RgbaImage {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new ImageInputError('This browser could not create a canvas to read the image.');
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  return { width, height, data };
}

/** Mask from the alpha channel: opaque enough (the mask rule on alpha) = foreground. */
export function maskFromAlpha(img: RgbaImage): MaskImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = isForeground(img.data[i * 4 + 3]) ? 255 : 0;
  return { width: img.width, height: img.height, data: out };
}

/**
 * Mask from a black/white mask file: white (bright and opaque) = painted. A mask saved with
 * transparency (transparent = not painted) works too.
 */
export function maskFromImage(img: RgbaImage): MaskImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const j = i * 4;
    const lum = (d[j] * 299 + d[j + 1] * 587 + d[j + 2] * 114) / 1000;
    out[i] = isForeground(d[j + 3]) && isForeground(lum) ? 255 : 0;
  }
  return { width: img.width, height: img.height, data: out };
}

/** Nearest-neighbour resize of a mask (keeps it strictly black/white). */
export function resizeMaskNearest(m: MaskImage, width: number, height: number): MaskImage {
  if (m.width === width && m.height === height) return m;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(m.height - 1, Math.floor(((y + 0.5) * m.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(m.width - 1, Math.floor(((x + 0.5) * m.width) / width));
      out[y * width + x] = m.data[sy * m.width + sx];
    }
  }
  return { width, height, data: out };
}

/** Display compositing: the subject where the mask is painted, white elsewhere. */
export function whitenOutside(img: RgbaImage, mask: MaskImage): ImageData {
  const out = new ImageData(img.width, img.height);
  const o = out.data;
  const d = img.data;
  for (let i = 0, n = img.width * img.height; i < n; i++) {
    const j = i * 4;
    if (isForeground(mask.data[i])) {
      // Composite over white, as a transparent pixel would show.
      const a = d[j + 3] / 255;
      o[j] = d[j] * a + 255 * (1 - a);
      o[j + 1] = d[j + 1] * a + 255 * (1 - a);
      o[j + 2] = d[j + 2] * a + 255 * (1 - a);
    } else {
      o[j] = o[j + 1] = o[j + 2] = 255;
    }
    o[j + 3] = 255;
  }
  return out;
}

/** RGBA → ImageData (shares the bytes where possible). */
export function toImageData(img: RgbaImage): ImageData {
  const d = img.data;
  const clamped = d instanceof Uint8ClampedArray ? d : new Uint8ClampedArray(d.buffer, d.byteOffset, d.byteLength);
  return new ImageData(clamped as Uint8ClampedArray<ArrayBuffer>, img.width, img.height);
}

/** Draws an RGBA image into a canvas, resizing the canvas to the image. */
export function drawRgba(canvas: HTMLCanvasElement, img: RgbaImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(toImageData(img), 0, 0);
}

/** Encodes RGBA as PNG through a canvas. */
export async function rgbaToPngBlob(img: RgbaImage): Promise<Blob> {
  const canvas = new OffscreenCanvas(img.width, img.height);
  canvas.getContext('2d')!.putImageData(toImageData(img), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

/** Copies RGBA bytes into a fresh buffer (for transferring to the worker). */
export function copyRgba(img: RgbaImage): RgbaImage & { data: Uint8Array } {
  return { width: img.width, height: img.height, data: new Uint8Array(img.data) };
}
