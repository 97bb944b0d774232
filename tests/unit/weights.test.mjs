// www/src/weights.ts: manifest parsing and validation (each refusal names what is wrong),
// component load order, the model plan, byte formatting and the local-folder source.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { FilesSource, NO_METRICS_MESSAGE, WeightsError, componentOrder, formatBytes, parseManifest, planMetrics, planModel } = await load('weights');

const SHA_A = 'a'.repeat(64);
const SHA_B = 'B'.repeat(64);

/** A valid manifest (as `ezigen convert` writes it); `edit` changes a fresh copy. */
function manifest(edit = () => {}) {
  const m = {
    format: 'ezigen-shards',
    version: 1,
    name: 'tiny-test',
    dtype: 'f32',
    total_bytes: 300,
    components: {
      unet: { bytes: 200, shards: ['unet-0.safetensors'] },
      tokenizer: { bytes: 100, shards: ['tokenizer.safetensors'] },
    },
    shards: {
      'unet-0.safetensors': { component: 'unet', bytes: 200, sha256: SHA_A },
      'tokenizer.safetensors': { component: 'tokenizer', bytes: 100, sha256: SHA_B },
    },
  };
  edit(m);
  return JSON.stringify(m);
}

/** Asserts that parsing `text` is refused as 'no-model' with a message matching `why` (RegExp, or a string it contains). */
function refused(text, why) {
  assert.throws(
    () => parseManifest(text, 'at models/manifest.json'),
    (e) => {
      assert.ok(e instanceof WeightsError, `a WeightsError, got ${e}`);
      assert.equal(e.kind, 'no-model');
      assert.match(e.message, /^The model manifest at models\/manifest\.json is not valid: /);
      if (typeof why === 'string') assert.ok(e.message.includes(why), `${JSON.stringify(why)} in ${JSON.stringify(e.message)}`);
      else assert.match(e.message, why);
      return true;
    },
  );
}

// --- parseManifest: accepted ---------------------------------------------------------------------

test('parseManifest accepts a valid manifest and keeps its fields', () => {
  const m = parseManifest(manifest(), 'at models/manifest.json');
  assert.equal(m.name, 'tiny-test');
  assert.equal(m.dtype, 'f32');
  assert.equal(m.total_bytes, 300);
  assert.deepEqual(Object.keys(m.shards), ['unet-0.safetensors', 'tokenizer.safetensors']);
});

test('parseManifest: "tiny" defaults to false and only true counts as true', () => {
  assert.equal(parseManifest(manifest(), 'x').tiny, false);
  assert.equal(parseManifest(manifest((m) => (m.tiny = true)), 'x').tiny, true);
  assert.equal(parseManifest(manifest((m) => (m.tiny = 'yes')), 'x').tiny, false);
});

test('parseManifest lower-cases the sha256 of every shard', () => {
  assert.equal(parseManifest(manifest(), 'x').shards['tokenizer.safetensors'].sha256, 'b'.repeat(64));
});

test('parseManifest computes a missing total_bytes from the shards', () => {
  assert.equal(parseManifest(manifest((m) => delete m.total_bytes), 'x').total_bytes, 300);
  assert.equal(parseManifest(manifest((m) => (m.total_bytes = -1)), 'x').total_bytes, 300);
});

// --- parseManifest: refused, naming the problem --------------------------------------------------

test('parseManifest refuses text that is not JSON', () => {
  refused('{ not json', /it is not JSON \(/);
});

test('parseManifest refuses JSON that is not an object', () => {
  refused('null', /it is not a JSON object/);
});

test('parseManifest refuses another format, naming "format"', () => {
  refused(manifest((m) => (m.format = 'safetensors')), /"format" is "safetensors", expected "ezigen-shards"/);
});

test('parseManifest refuses another version, naming "version"', () => {
  refused(manifest((m) => (m.version = 2)), /"version" 2 is not supported by this page \(1\)/);
});

test('parseManifest refuses a manifest without "name"', () => {
  refused(manifest((m) => delete m.name), /"name" is missing/);
});

test('parseManifest refuses an unknown dtype, naming "dtype"', () => {
  refused(manifest((m) => (m.dtype = 'bf16')), /"dtype" is "bf16"/);
});

test('parseManifest refuses a manifest without "components"', () => {
  refused(manifest((m) => delete m.components), /"components" is missing/);
});

test('parseManifest refuses a manifest without "shards"', () => {
  refused(manifest((m) => delete m.shards), /"shards" is missing/);
});

test('parseManifest refuses shard names that are paths or URLs', () => {
  for (const bad of ['../secret.bin', '/etc/passwd', 'a\\b.bin', 'https://example.com/x.bin', 'dir/../x']) {
    refused(
      manifest((m) => (m.shards[bad] = { component: 'unet', bytes: 1, sha256: SHA_A })),
      `shard name ${JSON.stringify(bad)} is not a plain file name`,
    );
  }
});

test('parseManifest refuses a shard without a component, naming the shard', () => {
  refused(manifest((m) => delete m.shards['unet-0.safetensors'].component), /shard unet-0\.safetensors has no component/);
});

test('parseManifest refuses a shard without a valid byte size', () => {
  refused(manifest((m) => (m.shards['unet-0.safetensors'].bytes = 1.5)), /shard unet-0\.safetensors has no byte size/);
  refused(manifest((m) => delete m.shards['unet-0.safetensors'].bytes), /shard unet-0\.safetensors has no byte size/);
});

test('parseManifest refuses a shard whose sha256 is not 64 hex digits', () => {
  refused(manifest((m) => (m.shards['tokenizer.safetensors'].sha256 = 'abc')), /shard tokenizer\.safetensors has no sha256/);
});

test('parseManifest refuses a component without a shard list', () => {
  refused(manifest((m) => (m.components.vae_decoder = { bytes: 0 })), /component vae_decoder lists no shards/);
});

test('parseManifest refuses a component that names a shard missing from "shards"', () => {
  refused(manifest((m) => m.components.unet.shards.push('unet-1.safetensors')), /component unet names shard unet-1\.safetensors, which is not in "shards"/);
});

test('parseManifest refuses a shard listed under another component', () => {
  refused(manifest((m) => (m.shards['unet-0.safetensors'].component = 'vae_decoder')), /shard unet-0\.safetensors belongs to vae_decoder, not unet/);
});

test('parseManifest tells how to fix it (convert again)', () => {
  refused(manifest((m) => delete m.name), /Convert the weights again with `ezigen convert`\.$/);
});

// --- componentOrder, planModel ---------------------------------------------------------------------

test('componentOrder: known components in load order first, unknown ones after in manifest order', () => {
  const m = parseManifest(
    manifest((m) => {
      m.components = { zeta: { shards: [] }, vae_decoder: { shards: [] }, unet: m.components.unet, alpha: { shards: [] }, tokenizer: m.components.tokenizer };
    }),
    'x',
  );
  assert.deepEqual(componentOrder(m), ['tokenizer', 'unet', 'vae_decoder', 'zeta', 'alpha']);
});

test('planModel: shards in load order, sizes per component, nothing cached from a folder', async () => {
  const source = {
    kind: 'files',
    describe: (f) => `${f} in the chosen folder`,
    manifest: async () => ({ text: manifest(), offline: false }),
  };
  const plan = await planModel(source, null, new AbortController().signal);
  assert.deepEqual(plan.shards.map((s) => s.file), ['tokenizer.safetensors', 'unet-0.safetensors']);
  assert.deepEqual(plan.info.components, [
    { component: 'tokenizer', bytes: 100, shards: 1 },
    { component: 'unet', bytes: 200, shards: 1 },
  ]);
  assert.equal(plan.info.totalBytes, 300);
  assert.equal(plan.info.toDownloadBytes, 0);
  assert.equal(plan.info.cachedShards, 0);
});

/** The manifest with the metric models (clip_text in two shards, dino in one) next to the model. */
const withMetrics = () =>
  manifest((m) => {
    m.components.dino = { bytes: 40, shards: ['dino-0.safetensors'] };
    m.components.clip_text = { bytes: 70, shards: ['clip_text-0.safetensors', 'clip_text-1.safetensors'] };
    m.shards['dino-0.safetensors'] = { component: 'dino', bytes: 40, sha256: 'c'.repeat(64) };
    m.shards['clip_text-0.safetensors'] = { component: 'clip_text', bytes: 50, sha256: 'd'.repeat(64) };
    m.shards['clip_text-1.safetensors'] = { component: 'clip_text', bytes: 20, sha256: 'e'.repeat(64) };
    m.total_bytes = 410;
  });

const folder = (text) => ({
  kind: 'files',
  describe: (f) => `${f} in the chosen folder`,
  manifest: async () => ({ text, offline: false }),
});

test('componentOrder: the metric models are a part of their own, never in the model part', () => {
  const m = parseManifest(withMetrics(), 'x');
  assert.deepEqual(componentOrder(m), ['tokenizer', 'unet']);
  assert.deepEqual(componentOrder(m, 'model'), ['tokenizer', 'unet']);
  assert.deepEqual(componentOrder(m, 'metrics'), ['clip_text', 'dino']);
  assert.deepEqual(componentOrder(parseManifest(manifest(), 'x'), 'metrics'), []);
});

test('planModel leaves the metric models out: no shard, no byte of them', async () => {
  const plan = await planModel(folder(withMetrics()), null, new AbortController().signal);
  assert.deepEqual(plan.shards.map((s) => s.file), ['tokenizer.safetensors', 'unet-0.safetensors']);
  assert.deepEqual(plan.info.components.map((c) => c.component), ['tokenizer', 'unet']);
  assert.equal(plan.info.totalBytes, 300);
});

test('planMetrics: only the metric shards, with their sizes summed', async () => {
  const plan = await planMetrics(withMetrics(), folder(''), null);
  assert.deepEqual(plan.shards.map((s) => s.file), ['clip_text-0.safetensors', 'clip_text-1.safetensors', 'dino-0.safetensors']);
  assert.deepEqual(plan.info.components, [
    { component: 'clip_text', bytes: 70, shards: 2 },
    { component: 'dino', bytes: 40, shards: 1 },
  ]);
  assert.equal(plan.info.totalBytes, 110);
  assert.equal(plan.info.shardCount, 3);
  assert.equal(plan.info.toDownloadBytes, 0, 'a folder downloads nothing');
});

test('planMetrics refuses a model converted without them as no-model, saying how to convert it', async () => {
  for (const text of [manifest(), manifest((m) => (m.components.dino = { bytes: 0, shards: [] }))]) {
    await assert.rejects(planMetrics(text, folder(''), null), (e) => {
      assert.ok(e instanceof WeightsError);
      assert.equal(e.kind, 'no-model');
      assert.equal(e.message, NO_METRICS_MESSAGE);
      return true;
    });
  }
  assert.match(NO_METRICS_MESSAGE, /converted without the metric models/);
  assert.match(NO_METRICS_MESSAGE, /`ezigen convert … --dino DIR`/);
});

// --- formatBytes ---------------------------------------------------------------------------------

test('formatBytes: bytes below 1000, then decimal units with one decimal below 10', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1000), '1.0 kB');
  assert.equal(formatBytes(12_345_678), '12 MB');
  assert.equal(formatBytes(1_500_000_000), '1.5 GB');
  assert.equal(formatBytes(2e15), '2000 TB');
});

// --- FilesSource (a folder chosen with <input webkitdirectory>) ----------------------------------

const inFolder = (path, text) => {
  const f = new File([text], path.split('/').pop());
  Object.defineProperty(f, 'webkitRelativePath', { value: path });
  return f;
};

test('FilesSource reads the shallowest manifest.json of the folder', async () => {
  const src = new FilesSource([inFolder('out/old/manifest.json', 'old'), inFolder('out/manifest.json', 'new')]);
  assert.deepEqual(await src.manifest(), { text: 'new', offline: false });
});

test('FilesSource refuses a folder without manifest.json as no-model', async () => {
  await assert.rejects(new FilesSource([inFolder('out/unet-0.safetensors', 'x')]).manifest(), (e) => e instanceof WeightsError && e.kind === 'no-model' && /no manifest\.json/.test(e.message));
});

test('FilesSource refuses a shard whose size differs from the manifest as corrupt-shard', async () => {
  const src = new FilesSource([inFolder('out/manifest.json', '{}'), inFolder('out/unet-0.safetensors', 'four')]);
  const signal = new AbortController().signal;
  assert.deepEqual([...(await src.shard('unet-0.safetensors', 4, () => {}, signal))], [...Buffer.from('four')]);
  await assert.rejects(src.shard('unet-0.safetensors', 5, () => {}, signal), (e) => e.kind === 'corrupt-shard' && /has 4 bytes, the manifest says 5/.test(e.message));
  await assert.rejects(src.shard('vae.safetensors', 1, () => {}, signal), (e) => e.kind === 'bad-input' && /lacks vae\.safetensors/.test(e.message));
});
