// Image files in the page: checking, decoding to RGBA (createImageBitmap + canvas), masks from
// files or alpha channels, and display compositing. No model math: resizing and normalising
// for the model happen in Rust.

import { MASK_FOREGROUND_MIN, MAX_ASPECT_RATIO, MAX_IMAGE_SIDE, type MaskImage, type RgbaImage } from './protocol.js';

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

type Format = 'png' | 'jpeg' | 'webp';

/** Recognises PNG, JPEG and WebP by their first bytes (the file name and type can lie). */
export function sniffFormat(head: Uint8Array): Format | null {
  if (head.length >= 8 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47) return 'png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  const ascii = (a: number, b: number) => String.fromCharCode(...head.subarray(a, b));
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return null;
}

/**
 * Reads width and height from the file header, so a huge image is refused before the browser
 * spends memory decoding it. Null when the header cannot be read (decoding will tell).
 */
export function headerSize(head: Uint8Array, format: Format): { width: number; height: number } | null {
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  try {
    if (format === 'png') {
      return { width: dv.getUint32(16), height: dv.getUint32(20) };
    }
    if (format === 'webp') {
      const chunk = String.fromCharCode(...head.subarray(12, 16));
      if (chunk === 'VP8X') return { width: 1 + (dv.getUint32(24, true) & 0xffffff), height: 1 + (dv.getUint32(27, true) & 0xffffff) };
      if (chunk === 'VP8L') {
        const b = dv.getUint32(21, true);
        return { width: 1 + (b & 0x3fff), height: 1 + ((b >> 14) & 0x3fff) };
      }
      if (chunk === 'VP8 ') return { width: dv.getUint16(26, true) & 0x3fff, height: dv.getUint16(28, true) & 0x3fff };
      return null;
    }
    // JPEG: walk the segments to the first start-of-frame marker.
    let i = 2;
    while (i + 9 < head.length) {
      if (head[i] !== 0xff) return null;
      const marker = head[i + 1];
      if (marker === 0xff) {
        i++;
        continue;
      }
      const len = dv.getUint16(i + 2);
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isSof) return { width: dv.getUint16(i + 7), height: dv.getUint16(i + 5) };
      i += 2 + len;
    }
  } catch {
    // Fall through: a header too short to read.
  }
  return null;
}

const tooLarge = (w: number, h: number) =>
  new ImageInputError(
    `This image is ${w} × ${h} pixels; the largest side this page accepts is ${MAX_IMAGE_SIDE} pixels. Please scale it down and try again.`,
  );

/** Whether a photo is more elongated than the core accepts (MAX_ASPECT_RATIO, crate/src/contract.rs). */
export const tooElongated = (w: number, h: number): boolean => Math.max(w, h) > MAX_ASPECT_RATIO * Math.min(w, h);

const elongated = (w: number, h: number) =>
  new ImageInputError(
    `This image is ${w} × ${h} pixels, more elongated than ${MAX_ASPECT_RATIO}:1. Please crop it to at most ${MAX_ASPECT_RATIO}:1 around the part that matters and try again.`,
  );

/** Draws a bitmap and reads its pixels back as RGBA. */
export function bitmapToRgba(bitmap: ImageBitmap): RgbaImage {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new ImageInputError('This browser could not create a canvas to read the image.');
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  return { width, height, data };
}

/** Checks and decodes a PNG/JPEG/WebP file; throws ImageInputError with a clear message. */
export async function decodeImageFile(file: Blob & { name?: string }): Promise<DecodedImage> {
  const name = file.name || 'pasted image';
  if (file.size === 0) throw new ImageInputError(`${name} is empty.`);
  const head = new Uint8Array(await file.slice(0, 64 * 1024).arrayBuffer());
  const format = sniffFormat(head);
  if (!format) {
    throw new ImageInputError(`${name} is not a PNG, JPEG or WebP image. Please choose a photo in one of these formats.`);
  }
  const size = headerSize(head, format);
  if (size && (size.width > MAX_IMAGE_SIDE || size.height > MAX_IMAGE_SIDE)) throw tooLarge(size.width, size.height);
  if (size && size.width > 0 && size.height > 0 && tooElongated(size.width, size.height)) throw elongated(size.width, size.height);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', premultiplyAlpha: 'none' });
  } catch {
    throw new ImageInputError(`${name} could not be decoded: the file looks like a ${format.toUpperCase()} image but is damaged or incomplete.`);
  }
  if (bitmap.width === 0 || bitmap.height === 0) {
    bitmap.close();
    throw new ImageInputError(`${name} has no pixels.`);
  }
  if (bitmap.width > MAX_IMAGE_SIDE || bitmap.height > MAX_IMAGE_SIDE) {
    const { width, height } = bitmap;
    bitmap.close();
    throw tooLarge(width, height);
  }
  if (tooElongated(bitmap.width, bitmap.height)) {
    const { width, height } = bitmap;
    bitmap.close();
    throw elongated(width, height);
  }
  let rgba: RgbaImage;
  try {
    rgba = bitmapToRgba(bitmap);
  } catch (e) {
    bitmap.close();
    if (e instanceof ImageInputError) throw e;
    throw new ImageInputError(`${name} is too large for this browser to read (${(e as Error).message}).`);
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
