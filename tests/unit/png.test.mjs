// www/src/png.ts: tEXt chunks inserted after IHDR and read back, their CRCs, ASCII-only JSON.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunk, chunks, crc32, load, makePng } from './helpers.mjs';

const { asciiJson, insertTextChunk, readTextChunks } = await load('png');

test('insertTextChunk then readTextChunks gives back the keyword and text', () => {
  const png = insertTextChunk(makePng(4, 3), 'parameters', '{"seed":3154,"prompt":"a dog"}');
  assert.deepEqual(readTextChunks(png), { parameters: '{"seed":3154,"prompt":"a dog"}' });
});

test('the tEXt chunk sits right after IHDR and holds keyword NUL text', () => {
  const png = insertTextChunk(makePng(4, 3), 'k', 'v1');
  assert.deepEqual(
    chunks(png).map((c) => c.type),
    ['IHDR', 'tEXt', 'IDAT', 'IEND'],
  );
  const text = chunks(png)[1];
  assert.equal(text.offset, 8 + 12 + 13, 'after the signature and the 13-byte IHDR');
  assert.deepEqual([...text.data], [0x6b, 0x00, 0x76, 0x31]);
});

test('the inserted chunk has the right CRC-32 (checked against an independent CRC)', () => {
  const png = insertTextChunk(makePng(2, 2), 'parameters', 'hello');
  const text = chunks(png).find((c) => c.type === 'tEXt');
  const expected = crc32(Buffer.concat([Buffer.from('tEXt', 'latin1'), text.data]));
  assert.equal(text.crc, expected);
});

test('the CRC oracle itself is right (check value of "123456789", the IEND CRC)', () => {
  assert.equal(crc32(Buffer.from('123456789', 'latin1')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('IEND', 'latin1')), 0xae426082);
});

test('every chunk of the result still has a valid CRC', () => {
  const png = insertTextChunk(makePng(5, 7), 'a', 'b');
  for (const c of chunks(png)) {
    assert.equal(c.crc, crc32(Buffer.concat([Buffer.from(c.type, 'latin1'), c.data])), `${c.type} CRC`);
  }
});

test('the original bytes are kept: removing the inserted chunk gives the input back', () => {
  const input = makePng(6, 2);
  const out = insertTextChunk(input, 'key', 'some text');
  const added = 12 + 'key\0some text'.length;
  assert.equal(out.length, input.length + added);
  const at = 8 + 12 + 13;
  const without = Buffer.concat([Buffer.from(out.subarray(0, at)), Buffer.from(out.subarray(at + added))]);
  assert.ok(without.equals(input));
  assert.equal(input[at + 4], 0x49, 'the input is not modified (IDAT still follows IHDR)');
});

test('insertTextChunk refuses bytes that are not a PNG', () => {
  assert.throws(() => insertTextChunk(new TextEncoder().encode('GIF89a, certainly not a PNG file'), 'k', 'v'), /not a PNG/);
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xd9]);
  assert.throws(() => insertTextChunk(jpeg, 'k', 'v'), /not a PNG/);
});

test('insertTextChunk works on a PNG that lies inside a larger buffer (byteOffset ≠ 0)', () => {
  const png = makePng(3, 3);
  const backing = new Uint8Array(png.length + 16);
  backing.set(png, 16);
  const view = backing.subarray(16);
  assert.deepEqual(readTextChunks(insertTextChunk(view, 'x', 'y')), { x: 'y' });
});

test('readTextChunks reads every tEXt chunk, as Latin-1', () => {
  const png = makePng(2, 2, [chunk('tEXt', Buffer.from('Author\0Ana', 'latin1')), chunk('tEXt', Buffer.from('Title\0caf\xe9', 'latin1'))]);
  assert.deepEqual(readTextChunks(png), { Author: 'Ana', Title: 'café' });
});

test('readTextChunks stops at IEND and ignores tEXt without a keyword', () => {
  const png = Buffer.concat([
    makePng(1, 1, [chunk('tEXt', Buffer.from('\0no keyword', 'latin1'))]),
    chunk('tEXt', Buffer.from('after\0IEND', 'latin1')),
  ]);
  assert.deepEqual(readTextChunks(png), {});
});

test('asciiJson escapes everything outside ASCII as \\uXXXX and stays valid JSON', () => {
  const value = { prompt: 'café “dog”', n: 1 };
  const s = asciiJson(value);
  assert.equal(s, '{"prompt":"caf\\u00e9 \\u201cdog\\u201d","n":1}');
  assert.ok(/^[\x00-\x7e]*$/.test(s), 'pure ASCII (no DEL either)');
  assert.deepEqual(JSON.parse(s), value);
});

test('asciiJson escapes DEL and astral characters (as surrogate pairs)', () => {
  assert.equal(asciiJson('\x7f'), '"\\u007f"');
  assert.equal(asciiJson('🐶'), '"\\ud83d\\udc36"');
  assert.equal(JSON.parse(asciiJson('🐶')), '🐶');
});

test('asciiJson leaves plain ASCII JSON unchanged', () => {
  const value = { a: [1, 2.5, null], b: 'x "quoted" \\ back' };
  assert.equal(asciiJson(value), JSON.stringify(value));
});
