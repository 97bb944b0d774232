// Shared by the unit tests: where the bundled modules are (see build.mjs), an independent
// CRC-32, and small PNG files built from chunks.

import { crc32 as zlibCrc32 } from 'node:zlib';

import { PNG_SIGNATURE, encodePng, pngChunk } from '../../www/tools/png-encode.mjs';

/** Imports a bundled module from target/ts-unit/ (run build.mjs first). */
export const load = (name) => import(new URL(`../../target/ts-unit/${name}.mjs`, import.meta.url).href);

/** CRC-32 as PNG uses it: node's zlib.crc32, independent of the page's own (www/src/png.ts). */
export const crc32 = (bytes) => zlibCrc32(bytes) >>> 0;

/** One PNG chunk: length, type, data, CRC over type and data. */
export const chunk = pngChunk;

export { PNG_SIGNATURE };

/** A valid RGBA PNG of `width`×`height` (every byte 128), optionally with extra chunks before IEND. */
export function makePng(width, height, extra = []) {
  return encodePng(width, height, () => [128, 128, 128, 128], { extra });
}

/** The chunks of a PNG as { type, data, crc, offset }. */
export function chunks(png) {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out = [];
  let i = 8;
  while (i + 12 <= buf.length) {
    const len = buf.readUInt32BE(i);
    out.push({ type: buf.toString('latin1', i + 4, i + 8), data: buf.subarray(i + 8, i + 8 + len), crc: buf.readUInt32BE(i + 8 + len), offset: i });
    i += 12 + len;
  }
  return out;
}
