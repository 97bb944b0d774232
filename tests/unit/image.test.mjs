// www/src/image.ts: the page's side of decoding an image file, and the mask helpers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { ImageInputError, decodeImageFile, maskFromAlpha, maskFromImage, resizeMaskNearest } = await load('image');

// --- decoding goes through the core ---------------------------------------------------------------
// The rules (formats, sizes, the aspect limit, damaged files) are the core's (RgbaImage::
// decode_photo, tested in tests/pipeline_rules.rs); the page's part is reading the file, handing
// its bytes to the decoder and putting the file's name in front of the core's reason.

test('decodeImageFile hands the whole file to the core and names the file in its refusal', async () => {
  let seen = null;
  const decode = async (b) => {
    seen = b;
    throw Object.assign(new Error('not a PNG, JPEG or WebP image (its first bytes are no image signature); choose a photo in one of these formats'), { kind: 'bad-input' });
  };
  const file = Object.assign(new Blob(['just some text, not an image\n']), { name: 'notes.png' });
  await assert.rejects(
    decodeImageFile(file, decode),
    (e) => e instanceof ImageInputError && e.message === 'notes.png: not a PNG, JPEG or WebP image (its first bytes are no image signature); choose a photo in one of these formats.',
  );
  assert.deepEqual([...seen], [...Buffer.from('just some text, not an image\n')]);
});

test('decodeImageFile calls a pasted image without a name "pasted image"', async () => {
  const decode = async () => {
    throw new Error('the file is empty (0 bytes)');
  };
  await assert.rejects(decodeImageFile(new Blob([]), decode), { name: 'ImageInputError', message: 'pasted image: the file is empty (0 bytes).' });
});

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
