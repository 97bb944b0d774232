// Bundles the TypeScript modules that the unit tests cover (tests/unit/*.test.mjs) into
// target/ts-unit/ as plain ES modules, because Node 20 cannot import .ts files.
// Run: node tests/unit/build.mjs && node --test tests/unit/   (npm run test:unit)

import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where the bundles go; the tests import from here. */
export const OUT = join(ROOT, 'target/ts-unit');

/** Entry points: the modules with pure logic (none touches the DOM when imported). */
const ENTRIES = {
  weights: 'www/src/weights.ts',
  config: 'www/src/config.ts',
  image: 'www/src/image.ts',
  png: 'www/src/png.ts',
  'saved-form': 'www/src/ui/saved-form.ts',
  'selftest-memory': 'www/src/ui/selftest-memory.ts',
  'run-progress': 'www/src/ui/run-progress.ts',
  'score-line': 'www/src/ui/score-line.ts',
  contract: 'www/src/generated/contract.ts',
  'gemm-tuning': 'www/src/gemm-tuning.ts',
  'mask-raster': 'www/src/mask-raster.ts',
};

await build({
  absWorkingDir: ROOT,
  entryPoints: ENTRIES,
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outdir: OUT,
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
});
console.log(`bundled ${Object.keys(ENTRIES).join(', ')} into ${OUT}`);
