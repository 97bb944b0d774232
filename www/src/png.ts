// PNG text metadata: inserts a tEXt chunk right after IHDR (byte-level chunk insertion; the
// pixels are untouched) and reads it back.

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** tEXt is Latin-1: keep JSON pure ASCII by escaping everything else as \uXXXX. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Returns a copy of `png` with a tEXt chunk `keyword`=`text` after IHDR (text: ASCII). */
export function insertTextChunk(png: Uint8Array, keyword: string, text: string): Uint8Array {
  if (!SIGNATURE.every((b, i) => png[i] === b)) throw new Error('not a PNG');
  const ihdrLen = new DataView(png.buffer, png.byteOffset).getUint32(8);
  const at = 8 + 12 + ihdrLen; // after signature and the IHDR chunk
  const data = new TextEncoder().encode(`${keyword}\0${text}`);
  const chunk = new Uint8Array(12 + data.length);
  const dv = new DataView(chunk.buffer);
  dv.setUint32(0, data.length);
  chunk.set([0x74, 0x45, 0x58, 0x74], 4); // "tEXt"
  chunk.set(data, 8);
  dv.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  const out = new Uint8Array(png.length + chunk.length);
  out.set(png.subarray(0, at), 0);
  out.set(chunk, at);
  out.set(png.subarray(at), at + chunk.length);
  return out;
}

/** Reads every tEXt chunk of a PNG as keyword → text. */
export function readTextChunks(png: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let i = 8;
  while (i + 12 <= png.length) {
    const len = dv.getUint32(i);
    const type = String.fromCharCode(...png.subarray(i + 4, i + 8));
    if (type === 'tEXt') {
      const body = png.subarray(i + 8, i + 8 + len);
      const zero = body.indexOf(0);
      if (zero > 0) out[new TextDecoder('latin1').decode(body.subarray(0, zero))] = new TextDecoder('latin1').decode(body.subarray(zero + 1));
    }
    if (type === 'IEND') break;
    i += 12 + len;
  }
  return out;
}
