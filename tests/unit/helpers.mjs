// Shared by the unit tests: where the bundled modules are (see build.mjs), an independent
// CRC-32, and small PNG files built from chunks.

import { deflateSync } from 'node:zlib';
import * as zlib from 'node:zlib';

/** Imports a bundled module from target/ts-unit/ (run build.mjs first). */
export const load = (name) => import(new URL(`../../target/ts-unit/${name}.mjs`, import.meta.url).href);

/** CRC-32 as PNG uses it: node's zlib.crc32 where present, else a bit-by-bit implementation. */
export function crc32(bytes) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(bytes) >>> 0;
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC over type and data. */
export function chunk(type, data = Buffer.alloc(0)) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A valid RGBA PNG of `width`×`height` (all pixels grey), optionally with extra chunks before IEND. */
export function makePng(width, height, extra = []) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(height * (width * 4 + 1), 128);
  for (let y = 0; y < height; y++) raw[y * (width * 4 + 1)] = 0; // filter byte
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), ...extra, chunk('IEND')]);
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
