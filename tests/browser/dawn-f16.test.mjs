// The f16 path through Dawn/Tint, the WGSL compiler of Chrome, which headless Chromium's
// SwiftShader cannot exercise (it has no `shader-f16`). The *same wasm* the page uses runs under
// Node with the `webgpu` package (Dawn) on lavapipe (Mesa 25, installed by ./build.sh setup):
// the WGSL kernel self-check in f16 and f32, the smoke computation against the native CPU
// backend, and a short f16 generation with the tiny model compared with the native wgpu f16 run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { inflateSync } from 'node:zlib';
import { ROOT, cli, contract } from './helpers.mjs';
import { makePng } from './app-helpers.mjs';

const PKG = join(ROOT, 'www/pkg');
const MODELS = join(ROOT, 'dist/models');

/** Decodes an 8-bit RGB/RGBA PNG (what the CLI writes) to RGBA bytes. */
function decodePng(buf) {
  let i = 8;
  let width = 0;
  let height = 0;
  let channels = 4;
  const idat = [];
  while (i + 12 <= buf.length) {
    const len = buf.readUInt32BE(i);
    const type = buf.subarray(i + 4, i + 8).toString('latin1');
    const body = buf.subarray(i + 8, i + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.equal(body[8], 8, '8-bit PNG');
      channels = { 2: 3, 6: 4 }[body[9]];
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    i += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      px[y * stride + x] = (v + [0, a, b, (a + b) >> 1, paeth][filter]) & 255;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let k = 0; k < width * height; k++) {
    for (let ch = 0; ch < 3; ch++) rgba[k * 4 + ch] = px[k * channels + ch];
    rgba[k * 4 + 3] = channels === 4 ? px[k * channels + 3] : 255;
  }
  return { width, height, rgba };
}

async function startCore() {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  globalThis.Window ??= class {};
  const gpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true });
  const glue = await import(join(PKG, 'ezigen.js'));
  await glue.default({ module_or_path: readFileSync(join(PKG, 'ezigen_bg.wasm')) });
  return { Session: glue.Session, gpu };
}

test('f16 WGSL under Dawn/Tint: kernel self-check, smoke, and a tiny f16 generation', async () => {
  const { Session } = await startCore();
  const session = await Session.create();
  const adapter = session.adapter();
  console.log(`Dawn adapter: ${adapter.name} (${adapter.backend}), shader-f16 ${adapter.shader_f16}`);
  assert.equal(adapter.shader_f16, true, 'Dawn offers shader-f16 on Mesa 25 lavapipe (run ./build.sh setup to install it)');

  for (const f16 of [true, false]) {
    const checks = await session.kernelCheck(f16);
    for (const c of checks) console.log(`Dawn kernel check ${c.kernel} ${c.dtype}: ran ${c.ran}, rel ${c.rel_err.toExponential(2)} (tol ${c.tolerance})`);
    assert.equal(checks.length, 4);
    assert.ok(checks.every((c) => c.ok && c.dtype === (f16 ? 'f16' : 'f32')), JSON.stringify(checks));
  }

  const smoke = await session.smoke(true);
  const cpu = cli('smoke', '--backend', 'cpu', '--dtype', 'f32');
  let diff = 0;
  let mag = 0;
  smoke.values.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - cpu.values[i]));
    mag = Math.max(mag, Math.abs(cpu.values[i]));
  });
  console.log(`Dawn f16 smoke vs native CPU f32: max abs diff ${diff.toExponential(2)} of max ${mag.toFixed(3)}`);
  assert.ok(diff <= 2e-2 * mag);

  // The tiny model in f16 from the converted shards, as the worker loads it.
  const manifest = JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8'));
  session.beginModel(JSON.stringify(manifest), true);
  for (const component of contract.COMPONENTS) {
    for (const shard of manifest.components[component].shards) session.loadShard(component, readFileSync(join(MODELS, shard)), shard);
    session.finishComponent(component);
  }
  assert.equal(session.modelReady(), true);

  const [w, h] = [48, 36];
  const pixel = (x, y) => [200, (x * 5) & 255, (y * 7) & 255, 255];
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgba.set(pixel(x, y), (y * w + x) * 4);
  const params = { ...contract.DEFAULT_OPTIONS, prompt: 'a dog in police outfit', subjectPrompt: 'a dog', seed: 3154, steps: 3, iterations: 1 };
  let image = null;
  await session.generate({ ...params, subjects: [{ image: { width: w, height: h, data: rgba }, mask: null }] }, (ev) => {
    if (ev.type === 'image' && ev.final) image = ev.image;
    return true;
  });
  assert.ok(image, 'the run produced a final image');

  // The same run natively (wgpu f16 on lavapipe through naga): same seed, same model.
  const dir = mkdtempSync(join(tmpdir(), 'ezigen-dawn-'));
  writeFileSync(join(dir, 'subject.png'), makePng(w, h, pixel));
  const out = join(dir, 'native.png');
  const run = spawnSync(join(ROOT, 'target/release/ezigen'), [
    'generate', '--subject', join(dir, 'subject.png'), '--out', out, '--prompt', params.prompt, '--subject-prompt', params.subjectPrompt,
    '--seed', '3154', '--steps', '3', '--iterations', '1', '--backend', 'wgpu', '--dtype', 'f16', '--weights', MODELS,
  ], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const native = decodePng(readFileSync(out));
  assert.deepEqual([image.width, image.height], [native.width, native.height]);
  let sum = 0;
  let max = 0;
  let n = 0;
  for (let i = 0; i < native.width * native.height; i++) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(image.data[i * 4 + c] - native.rgba[i * 4 + c]);
      sum += d;
      max = Math.max(max, d);
      n++;
    }
  }
  console.log(`Dawn f16 generate vs native wgpu f16: mean |diff| ${(sum / n).toFixed(3)} levels, max ${max}`);
  assert.ok(sum / n <= 2, 'Dawn and native f16 runs agree (mean difference ≤ 2 of 255 levels)');
  session.free();
});
