// The full-size UNet step through the browser's own engine: the page's wasm build under Node with
// Dawn (npm `webgpu`, Chrome's WebGPU implementation and WGSL compiler), on whatever adapter Dawn
// picks (the card on a GPU machine, lavapipe here). Random SD 2.1-base weights built in the wasm
// (Session.loadRandomModel), the GEMM tuning of the page (Session.tuneGemm) unless --no-tune,
// then the benchmark's stages. One JSON line per record on stdout (backend "dawn").
//
//   node tests/bench/dawn_step.mjs [--pkg www/pkg] [--tokenizer FILE.gz] [--dtype f16|f32]
//        [--latent N] [--only unet_step,vae_decode] [--repeats N] [--no-tune] [--tune-budget-ms MS]
//        [--webgpu DIR]
//
// gpu.sh runs it from the GPU bundle (make_gpu_bundle.sh --dawn) with `--webgpu DIR`, the carried
// `webgpu` package.

import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const pkg = opt('pkg', join(ROOT, 'www/pkg'));
const dtype = opt('dtype', 'f16');
const latent = Number(opt('latent', '64'));
const only = opt('only', 'unet_step,vae_decode').split(',');
const repeats = Number(opt('repeats', '5'));
// The app's tokenizer (the build writes dist/tokenizer.json.<hash>.gz; the bundle carries it).
const tokenizer =
  opt('tokenizer', null) ??
  (() => {
    for (const dir of [pkg, join(ROOT, 'dist')]) {
      const f = readdirSync(dir).find((n) => /^tokenizer\.json(\.[0-9a-f]+)?\.gz$/.test(n));
      if (f) return join(dir, f);
    }
    return join(ROOT, 'crate/assets/tokenizer.json.gz');
  })();

// `--webgpu DIR`: the carried package (ES modules do not follow NODE_PATH).
const webgpuDir = opt('webgpu', null);
const { create, globals } = await import(webgpuDir ? pathToFileURL(join(webgpuDir, 'index.js')).href : 'webgpu');
Object.assign(globalThis, globals);
globalThis.Window ??= class {};
const gpu = create([]);
Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `node ${process.version} + dawn` }, configurable: true });
const glue = await import(join(pkg, 'ezigen.js'));
await glue.default({ module_or_path: readFileSync(join(pkg, 'ezigen_bg.wasm')) });
const session = await glue.Session.create();
const adapter = session.adapter();
const labels = { backend: 'dawn', adapter: adapter.name, driver: adapter.driver, model: 'sd21-random' };
console.error(`Dawn adapter: ${adapter.name} (${adapter.backend}, ${adapter.device_type}), shader-f16 ${adapter.shader_f16}`);

let t0 = performance.now();
session.loadRandomModel(dtype === 'f16', readFileSync(tokenizer));
console.log(JSON.stringify({ bench: 'load', ms: performance.now() - t0, ...labels }));
if (!args.includes('--no-tune')) {
  t0 = performance.now();
  const report = await session.tuneGemm(navigator.userAgent, Number(opt('tune-budget-ms', '60000')));
  const chosen = {};
  for (const c of Object.values(report.table.choices)) chosen[c] = (chosen[c] ?? 0) + 1;
  console.log(JSON.stringify({ bench: 'tune', ms: performance.now() - t0, problems: report.problems.length, skipped: report.skipped, chosen, ...labels }));
}
await session.benchmark({ repeats, pipeline: false, latent, only, labels }, (record) => console.log(JSON.stringify(record)));
session.free();
process.exit(0);
