// www/src/image.ts: recognising PNG/JPEG/WebP by their bytes, reading width and height from
// the headers, the refusals that happen before decoding, and the mask helpers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG_SIGNATURE, load, makePng } from './helpers.mjs';

const { ImageInputError, decodeImageFile, headerSize, maskFromAlpha, maskFromImage, resizeMaskNearest, sniffFormat, tooElongated } = await load('image');
const { MAX_ASPECT_RATIO } = await load('contract');

const bytes = (...parts) => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : [...p])));
const u16be = (v) => [v >> 8, v & 255];
const u16le = (v) => [v & 255, v >> 8];
const u24le = (v) => [v & 255, (v >> 8) & 255, (v >> 16) & 255];
const u32le = (v) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];

// JPEG pieces: start of image, a JFIF APP0 segment, a start-of-frame of the given marker.
const SOI = [0xff, 0xd8];
const APP0 = [0xff, 0xe0, ...u16be(16), ...Buffer.from('JFIF\0', 'latin1'), 1, 1, 0, 0, 1, 0, 1, 0, 0];
const sof = (marker, w, h) => [0xff, marker, ...u16be(17), 8, ...u16be(h), ...u16be(w), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1];

// WebP: RIFF header, then the first chunk's fourcc and payload.
const webp = (fourcc, payload) => bytes('RIFF', u32le(4 + 8 + payload.length), 'WEBP', fourcc, u32le(payload.length), payload);

// --- sniffFormat ---------------------------------------------------------------------------------

test('sniffFormat: the PNG signature is png', () => {
  assert.equal(sniffFormat(new Uint8Array(PNG_SIGNATURE)), 'png');
});

test('sniffFormat: FF D8 FF is jpeg', () => {
  assert.equal(sniffFormat(bytes(SOI, APP0)), 'jpeg');
});

test('sniffFormat: RIFF….WEBP is webp', () => {
  assert.equal(sniffFormat(webp('VP8L', [0x2f, 0, 0, 0, 0])), 'webp');
});

test('sniffFormat: other RIFF files (WAVE) are not images', () => {
  assert.equal(sniffFormat(bytes('RIFF', u32le(36), 'WAVEfmt ')), null);
});

test('sniffFormat: text, an empty file and a cut PNG signature are null', () => {
  assert.equal(sniffFormat(bytes('just some text, not an image')), null);
  assert.equal(sniffFormat(new Uint8Array(0)), null);
  assert.equal(sniffFormat(new Uint8Array(PNG_SIGNATURE.subarray(0, 4))), null, 'PNG needs its 8 signature bytes');
});

// --- headerSize: PNG -----------------------------------------------------------------------------

test('headerSize png: width and height from IHDR', () => {
  assert.deepEqual(headerSize(new Uint8Array(makePng(640, 480)), 'png'), { width: 640, height: 480 });
});

test('headerSize png: a huge claimed size is reported as is (the page refuses it)', () => {
  const head = new Uint8Array(makePng(1, 1).subarray(0, 33));
  new DataView(head.buffer).setUint32(16, 9000);
  new DataView(head.buffer).setUint32(20, 64);
  assert.deepEqual(headerSize(head, 'png'), { width: 9000, height: 64 });
});

test('headerSize png: a header cut before the height gives null', () => {
  assert.equal(headerSize(new Uint8Array(makePng(640, 480).subarray(0, 22)), 'png'), null);
});

// --- headerSize: JPEG ----------------------------------------------------------------------------

test('headerSize jpeg: baseline start-of-frame after APP0', () => {
  assert.deepEqual(headerSize(bytes(SOI, APP0, sof(0xc0, 400, 300)), 'jpeg'), { width: 400, height: 300 });
});

test('headerSize jpeg: a DHT segment (FF C4) is skipped, progressive SOF2 is read', () => {
  const dht = [0xff, 0xc4, ...u16be(5), 0, 1, 2];
  assert.deepEqual(headerSize(bytes(SOI, dht, sof(0xc2, 1920, 1080)), 'jpeg'), { width: 1920, height: 1080 });
});

test('headerSize jpeg: fill bytes (FF FF…) before a marker are skipped', () => {
  assert.deepEqual(headerSize(bytes(SOI, [0xff, 0xff], APP0, sof(0xc1, 33, 44)), 'jpeg'), { width: 33, height: 44 });
});

test('headerSize jpeg: a header that ends before the frame gives null', () => {
  assert.equal(headerSize(bytes(SOI, APP0, [0xff, 0xc0, 0, 17]), 'jpeg'), null);
});

test('headerSize jpeg: a byte that is not a marker gives null', () => {
  assert.equal(headerSize(bytes(SOI, [0x12, 0x34], APP0, sof(0xc0, 400, 300)), 'jpeg'), null);
});

// --- headerSize: WebP ----------------------------------------------------------------------------

test('headerSize webp VP8X: 24-bit canvas size minus one', () => {
  const payload = [0x10, 0, 0, 0, ...u24le(1000 - 1), ...u24le(700 - 1)];
  // A real file goes on after VP8X (ALPH/VP8L…): the reader looks one byte past the chunk.
  const file = bytes([...webp('VP8X', payload)], 'VP8L', u32le(0));
  assert.deepEqual(headerSize(file, 'webp'), { width: 1000, height: 700 });
});

test('headerSize webp VP8L: two 14-bit sizes minus one after the 0x2f signature', () => {
  const b = (3000 - 1) | ((2000 - 1) << 14);
  assert.deepEqual(headerSize(webp('VP8L', [0x2f, ...u32le(b)]), 'webp'), { width: 3000, height: 2000 });
});

test('headerSize webp VP8: 14-bit sizes after the start code, scale bits ignored', () => {
  const payload = [0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, ...u16le(320 | 0xc000), ...u16le(240 | 0x4000)];
  assert.deepEqual(headerSize(webp('VP8 ', payload), 'webp'), { width: 320, height: 240 });
});

test('headerSize webp: an unknown first chunk gives null', () => {
  assert.equal(headerSize(webp('ALPH', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 'webp'), null);
});

test('headerSize webp: a VP8X header cut short gives null', () => {
  const full = webp('VP8X', [0x10, 0, 0, 0, ...u24le(999), ...u24le(699)]);
  assert.equal(headerSize(full.subarray(0, 28), 'webp'), null);
});

// --- refusals before decoding ------------------------------------------------------------------

test('decodeImageFile refuses a file that is not an image, naming it', async () => {
  const file = Object.assign(new Blob(['just some text, not an image\n']), { name: 'notes.png' });
  await assert.rejects(decodeImageFile(file), (e) => e instanceof ImageInputError && /^notes\.png is not a PNG, JPEG or WebP image/.test(e.message));
});

test('decodeImageFile refuses a header larger than 8192 px before decoding, with its size', async () => {
  const head = new Uint8Array(makePng(1, 1));
  new DataView(head.buffer).setUint32(16, 9000);
  await assert.rejects(decodeImageFile(new Blob([head])), (e) => e instanceof ImageInputError && /9000 × 1 pixels.*8192/.test(e.message));
});

test('the aspect limit is the core\'s MAX_ASPECT_RATIO, inclusive', () => {
  assert.equal(MAX_ASPECT_RATIO, 4);
  assert.equal(tooElongated(2048, 512), false);
  assert.equal(tooElongated(512, 2048), false);
  assert.equal(tooElongated(2049, 512), true);
  assert.equal(tooElongated(40, 8000), true);
});

test('decodeImageFile refuses an 8000×40 header before decoding, saying to crop', async () => {
  const head = new Uint8Array(makePng(1, 1));
  new DataView(head.buffer).setUint32(16, 8000);
  new DataView(head.buffer).setUint32(20, 40);
  await assert.rejects(decodeImageFile(new Blob([head])), (e) => e instanceof ImageInputError && /8000 × 40 pixels, more elongated than 4:1.*crop/.test(e.message));
});

test('decodeImageFile refuses an empty file', async () => {
  await assert.rejects(decodeImageFile(Object.assign(new Blob([]), { name: 'empty.png' })), { name: 'ImageInputError', message: 'empty.png is empty.' });
});

// --- masks ---------------------------------------------------------------------------------------

test('maskFromAlpha: alpha ≥ 128 is foreground', () => {
  const rgba = { width: 4, height: 1, data: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 0, 128, 9, 9, 9, 255]) };
  assert.deepEqual([...maskFromAlpha(rgba).data], [0, 0, 255, 255]);
});

test('maskFromImage: bright and opaque is painted; dark or transparent is not', () => {
  const px = [[255, 255, 255, 255], [0, 0, 0, 255], [255, 255, 255, 0], [128, 128, 128, 255], [127, 127, 127, 255]];
  const m = maskFromImage({ width: 5, height: 1, data: new Uint8Array(px.flat()) });
  assert.deepEqual([...m.data], [255, 0, 0, 255, 0]);
});

test('resizeMaskNearest: 2×1 → 4×2 repeats each pixel, values stay 0/255', () => {
  const m = resizeMaskNearest({ width: 2, height: 1, data: new Uint8Array([255, 0]) }, 4, 2);
  assert.deepEqual({ width: m.width, height: m.height, data: [...m.data] }, { width: 4, height: 2, data: [255, 255, 0, 0, 255, 255, 0, 0] });
});
