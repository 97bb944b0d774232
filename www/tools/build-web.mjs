// Bundles the page into dist/ with content-hashed names (called by `build_web` in build.sh, after
// the type check). A file whose name carries the hash of its bytes never changes under that name,
// so the server may let browsers keep it for a year and the service worker serves it from its
// cache without asking the network (www/serve.mjs, www/static/sw.js).
//
//   ezigen_bg.<hash>.wasm   www/pkg/ezigen_bg.wasm (wasm-bindgen output)
//   tokenizer.json.<hash>.gz crate/assets/tokenizer.json.gz (only the page's converter fetches it)
//   worker.<hash>.js        www/src/worker.ts bundled, the wasm name built in (EZIGEN_WASM_FILE)
//   main.<hash>.js          www/src/main.ts bundled, the worker name built in (EZIGEN_WORKER_FILE)
//   style.<hash>.css        www/style.css
//
// In that order, since each name is part of the next file's bytes. index.html (rewritten to the
// hashed names), sw.js (this build's id and asset list written into its `const BUILD` line, so
// every build is a new service worker version), manifest.webmanifest and the icons keep their
// names; asset-manifest.json lists the hashed files. dist/models (build_models) and
// dist/config.json (the deployment's settings, www/src/config.ts) are left alone; everything else
// in dist/ is replaced.
//
// Weights on another origin: `--weights-base-url URL` writes dist/config.json
// (`{"weightsBaseUrl": URL}`). When dist/config.json names an absolute weights URL, its origin is
// written into index.html's CSP meta tag (connect-src 'self' <origin>, nothing else), for static
// hosts that cannot send headers; www/serve.mjs sends the same policy as a header. A config.json
// changed after the build needs a new build (or the same edit of the meta tag).
//
//   node www/tools/build-web.mjs [--out dist] [--weights-base-url https://cdn.example.org/ezigen/]

import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { CSP, cspFor, readConfig, weightsOriginOf } from '../serve.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const argOut = process.argv.indexOf('--out');
const OUT = resolve(ROOT, argOut > 0 ? process.argv[argOut + 1] : 'dist');
const argBase = process.argv.indexOf('--weights-base-url');
/** `--weights-base-url`: written into dist/config.json. */
const WEIGHTS_BASE_URL = argBase > 0 ? process.argv[argBase + 1] : null;
/** Hex digits of the SHA-256 in a hashed name (www/serve.mjs and sw.js match exactly this many). */
const HASH_DIGITS = 8;

/** `name.ext` → `name.<hash of bytes>.ext`. */
function hashedName(name, bytes) {
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, HASH_DIGITS);
  const dot = name.lastIndexOf('.');
  return `${name.slice(0, dot)}.${hash}${name.slice(dot)}`;
}

/** Writes `bytes` into OUT under its hashed name and returns that name. */
function emit(name, bytes) {
  const out = hashedName(name, bytes);
  writeFileSync(join(OUT, out), bytes);
  return out;
}

/** Bundles one entry point in memory, with `define`s for the hashed names it refers to. */
async function bundle(entry, define) {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    outdir: OUT,
    define: Object.fromEntries(Object.entries(define).map(([k, v]) => [k, JSON.stringify(v)])),
    logLevel: 'warning',
  });
  const js = result.outputFiles.filter((f) => f.path.endsWith('.js'));
  if (js.length !== 1) throw new Error(`${entry}: expected one bundle, got ${js.length}`);
  return js[0].contents;
}

/** Replaces `from` by `to` in `text`; fails unless `from` occurs exactly once. */
function replaceOnce(text, from, to, what) {
  const parts = text.split(from);
  if (parts.length !== 2) throw new Error(`${what}: expected ${JSON.stringify(from)} once, found it ${parts.length - 1} times`);
  return parts.join(to);
}

// dist/ without what an earlier build left there (but with the converted models and config.json).
mkdirSync(OUT, { recursive: true });
for (const entry of readdirSync(OUT)) {
  if (entry !== 'models' && entry !== 'config.json') rmSync(join(OUT, entry), { recursive: true, force: true });
}
if (WEIGHTS_BASE_URL) writeFileSync(join(OUT, 'config.json'), `${JSON.stringify({ weightsBaseUrl: WEIGHTS_BASE_URL }, null, 2)}\n`);
/** The weights' origin from dist/config.json (null: weights on the page's own origin); a bad file fails the build. */
let weightsOrigin = null;
try {
  weightsOrigin = weightsOriginOf(readConfig(OUT) ?? {});
} catch (e) {
  throw new Error(`${join(OUT, 'config.json')}: ${e.message}`);
}

const wasm = emit('ezigen_bg.wasm', readFileSync(join(ROOT, 'www/pkg/ezigen_bg.wasm')));
// The CLIP tokenizer, which only the page's converter needs: a file of its own (not in the wasm),
// cached by the service worker when first asked for (`lazy`), not at install.
const tokenizer = emit('tokenizer.json.gz', readFileSync(join(ROOT, 'crate/assets/tokenizer.json.gz')));
const worker = emit('worker.js', await bundle('www/src/worker.ts', { EZIGEN_WASM_FILE: wasm, EZIGEN_TOKENIZER_FILE: tokenizer }));
const main = emit('main.js', await bundle('www/src/main.ts', { EZIGEN_WASM_FILE: wasm, EZIGEN_WORKER_FILE: worker }));
const style = emit('style.css', readFileSync(join(ROOT, 'www/style.css')));
const assets = { 'main.js': main, 'worker.js': worker, 'style.css': style, 'ezigen_bg.wasm': wasm };
const lazy = { 'tokenizer.json.gz': tokenizer };
/** The build's id: a hash over the hashed names (it changes whenever any of them does). */
const id = createHash('sha256').update([...Object.values(assets), ...Object.values(lazy)].join('\n')).digest('hex').slice(0, HASH_DIGITS);

let html = readFileSync(join(ROOT, 'www/index.html'), 'utf8');
html = replaceOnce(html, 'href="style.css"', `href="${style}"`, 'index.html');
html = replaceOnce(html, 'src="main.js"', `src="${main}"`, 'index.html');
// The meta tag must hold exactly serve.mjs's policy; with a weights origin, that origin is added.
html = replaceOnce(html, `content="${CSP}"`, `content="${cspFor(weightsOrigin)}"`, 'index.html (CSP meta tag = serve.mjs CSP)');
writeFileSync(join(OUT, 'index.html'), html);

cpSync(join(ROOT, 'www/static'), OUT, { recursive: true });
const swLine = /^const BUILD = .*;$/m;
const sw = readFileSync(join(ROOT, 'www/static/sw.js'), 'utf8');
if ((sw.match(new RegExp(swLine.source, 'gm')) ?? []).length !== 1) throw new Error('sw.js: expected one `const BUILD = …;` line');
writeFileSync(join(OUT, 'sw.js'), sw.replace(swLine, `const BUILD = ${JSON.stringify({ id, assets: Object.values(assets), lazy: Object.values(lazy) })};`));
writeFileSync(join(OUT, 'asset-manifest.json'), `${JSON.stringify({ build: id, assets, lazy }, null, 2)}\n`);

console.log(`build ${id}: ${Object.values(assets).join(', ')}${weightsOrigin ? `; weights from ${weightsOrigin} (config.json)` : ''}`);
