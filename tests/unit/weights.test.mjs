// www/src/weights.ts (www/src/weights/): the wrapper around the core's manifest parser,
// component load order, the model plan, byte formatting and the local-folder source.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { FilesSource, NO_METRICS_MESSAGE, WeightsError, checkManifest, componentOrder, formatBytes, planMetrics, planModel } = await load('weights');

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

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

/** A chosen folder as the plan sees it: only its manifest, with `text`. */
const folder = (text) => ({
  kind: 'files',
  describe: (f) => `${f} in the chosen folder`,
  manifest: async () => ({ text, offline: false }),
});

/** The parser the tests inject in place of the core's parseManifest (the test manifests are complete). */
const parse = (text) => JSON.parse(text);

/** A parser that refuses everything the way the core does: an Error with kind 'no-model'. */
const refusing = (message) => () => {
  throw Object.assign(new Error(message), { kind: 'no-model' });
};

// --- checkManifest: the core's parser, wrapped -------------------------------------------------------
// What a manifest may hold is the core's rule (crate/src/weights/manifest.rs, tested in
// tests/convert.rs `manifest_from_json_refuses_every_broken_manifest`); the page only wraps it.

test('checkManifest returns the parser\'s result as it is, given the text', () => {
  const result = { name: 'parsed' };
  let seen = null;
  assert.equal(
    checkManifest('the text', 'at models/manifest.json', (text) => {
      seen = text;
      return result;
    }),
    result,
  );
  assert.equal(seen, 'the text');
});

test('checkManifest turns what the parser throws into a no-model WeightsError naming the place and the problem', () => {
  const core = 'model configuration: manifest.json: dtype `bf16` is not f16 or f32';
  assert.throws(
    () => checkManifest(manifest(), 'at models/manifest.json', refusing(core)),
    (e) => {
      assert.ok(e instanceof WeightsError, `a WeightsError, got ${e}`);
      assert.equal(e.kind, 'no-model');
      assert.equal(e.message, `The model manifest at models/manifest.json is not valid: ${core}. Convert the weights again with \`ezigen convert\`.`);
      return true;
    },
  );
});

test('checkManifest wraps anything thrown, also a JSON syntax error or a non-Error', () => {
  assert.throws(() => checkManifest('{ not json', 'x', parse), (e) => e instanceof WeightsError && e.kind === 'no-model' && /^The model manifest x is not valid: .*JSON/.test(e.message));
  assert.throws(
    () =>
      checkManifest('', 'x', () => {
        throw 'a string';
      }),
    (e) => e instanceof WeightsError && e.kind === 'no-model' && e.message.includes('is not valid: a string. Convert'),
  );
});

test('checkManifest does not double the full stop of a message that has one', () => {
  assert.throws(() => checkManifest('', 'x', refusing('format version 2 is not supported.')), (e) => e.message.includes('is not supported. Convert'));
});

test('planModel checks the manifest with the injected parser, naming where it was read', async () => {
  let seen = null;
  const plan = await planModel(folder(manifest()), null, new AbortController().signal, (text) => {
    seen = text;
    return parse(text);
  });
  assert.equal(seen, manifest());
  assert.equal(plan.manifestText, manifest());
  await assert.rejects(planModel(folder(manifest()), null, new AbortController().signal, refusing('component `zeta` is not one this build knows')), (e) => {
    assert.ok(e instanceof WeightsError);
    assert.equal(e.kind, 'no-model');
    assert.match(e.message, /^The model manifest manifest\.json in the chosen folder is not valid: component `zeta` is not one this build knows\. /);
    return true;
  });
});

test('planMetrics checks the manifest with the injected parser too', async () => {
  await assert.rejects(planMetrics(withMetrics(), folder(''), null, refusing('the metric models (clip_text, dino) are incomplete')), (e) => {
    assert.ok(e instanceof WeightsError);
    assert.equal(e.kind, 'no-model');
    assert.match(e.message, /is not valid: the metric models \(clip_text, dino\) are incomplete\./);
    return true;
  });
});

// --- componentOrder, planModel ---------------------------------------------------------------------

test('componentOrder: known components in load order first, unknown ones after in manifest order', () => {
  const m = parse(
    manifest((m) => {
      m.components = { zeta: { shards: [] }, vae_decoder: { shards: [] }, unet: m.components.unet, alpha: { shards: [] }, tokenizer: m.components.tokenizer };
    }),
  );
  assert.deepEqual(componentOrder(m), ['tokenizer', 'unet', 'vae_decoder', 'zeta', 'alpha']);
});

test('planModel: shards in load order, sizes per component, nothing cached from a folder', async () => {
  const source = {
    kind: 'files',
    describe: (f) => `${f} in the chosen folder`,
    manifest: async () => ({ text: manifest(), offline: false }),
  };
  const plan = await planModel(source, null, new AbortController().signal, parse);
  assert.deepEqual(plan.shards.map((s) => s.file), ['tokenizer.safetensors', 'unet-0.safetensors']);
  assert.deepEqual(plan.info.components, [
    { component: 'tokenizer', bytes: 100, shards: 1 },
    { component: 'unet', bytes: 200, shards: 1 },
  ]);
  assert.equal(plan.info.totalBytes, 300);
  assert.equal(plan.info.toDownloadBytes, 0);
  assert.equal(plan.info.cachedShards, 0);
});


test('componentOrder: the metric models are a part of their own, never in the model part', () => {
  const m = parse(withMetrics());
  assert.deepEqual(componentOrder(m), ['tokenizer', 'unet']);
  assert.deepEqual(componentOrder(m, 'model'), ['tokenizer', 'unet']);
  assert.deepEqual(componentOrder(m, 'metrics'), ['clip_text', 'dino']);
  assert.deepEqual(componentOrder(parse(manifest()), 'metrics'), []);
});

test('planModel leaves the metric models out: no shard, no byte of them', async () => {
  const plan = await planModel(folder(withMetrics()), null, new AbortController().signal, parse);
  assert.deepEqual(plan.shards.map((s) => s.file), ['tokenizer.safetensors', 'unet-0.safetensors']);
  assert.deepEqual(plan.info.components.map((c) => c.component), ['tokenizer', 'unet']);
  assert.equal(plan.info.totalBytes, 300);
});

test('planMetrics: only the metric shards, with their sizes summed', async () => {
  const plan = await planMetrics(withMetrics(), folder(''), null, parse);
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
    await assert.rejects(planMetrics(text, folder(''), null, parse), (e) => {
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
