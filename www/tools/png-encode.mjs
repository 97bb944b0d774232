// A minimal RGBA PNG encoder for Node tools and tests (icons, test images): node's zlib does
// the deflate and the CRC-32 (zlib.crc32, Node ≥ 20.15), so no PNG code of ours is needed here.
// The page's own PNG chunk code (www/src/png.ts) is tested against this one.
import { crc32, deflateSync } from 'node:zlib';

/** The 8-byte PNG signature. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One PNG chunk: length, type, data, CRC-32 over type and data. */
export function pngChunk(type, data = Buffer.alloc(0)) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/**
 * An 8-bit RGBA PNG of `width`×`height` whose pixels come from `pixel(x, y) → [r, g, b, a]`
 * (rounded and clamped), with optional `extra` chunks before IEND.
 */
export function encodePng(width, height, pixel, { extra = [], level = 6 } = {}) {
  const stride = width * 4 + 1;
  const raw = Buffer.alloc(height * stride); // filter byte 0 (none) on every row
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = pixel(x, y);
      for (let i = 0; i < 4; i++) raw[y * stride + 1 + x * 4 + i] = Math.max(0, Math.min(255, Math.round(p[i])));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw, { level })), ...extra, pngChunk('IEND')]);
}
