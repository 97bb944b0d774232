// A small static file server for the built app (dist/). Used by `./build.sh serve` and by the
// browser tests. Serves the right MIME types (application/wasm for streaming compilation) and
// the same Content-Security-Policy as the page's meta tag.
//
// Weights on another origin: when `<dir>/config.json` names a `weightsBaseUrl` on another origin
// (www/src/config.ts), that origin is added to the CSP's connect-src, and nothing else is. The file
// is read once, when the server starts; restart it after changing config.json.
//
// Headers the page needs, and why there is no COEP: the app uses no SharedArrayBuffer (the wasm
// memory is not shared: built without atomics, no threads) and nothing that needs
// crossOriginIsolated, so Cross-Origin-Embedder-Policy would buy nothing. It would cost: every
// cross-origin resource would need CORS or a Cross-Origin-Resource-Policy header, and many static
// hosts cannot send it. Cross-Origin-Opener-Policy: same-origin is kept as plain hardening (no
// popups are used); it is optional. Required are only the MIME types (application/wasm).
//
// Caching: content-hashed files (main.<hash>.js, ezigen_bg.<hash>.wasm, … from
// www/tools/build-web.mjs) never change under their name, so browsers may keep them for a year
// without asking again (`immutable`). Everything else (index.html, sw.js, asset-manifest.json,
// the model files) is `no-cache`: kept, but revalidated on each use with its ETag /
// Last-Modified, which this server answers with 304 Not Modified when the file is unchanged.
//
//   node www/serve.mjs [--dir dist] [--port 8080] [--host 127.0.0.1]

import { createServer } from 'node:http';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  // The tokenizer, fetched as bytes (a `gzip` content type, never a Content-Encoding).
  '.gz': 'application/gzip',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

/** The Content-Security-Policy with connect-src `connect` (the same as index.html's meta tag for 'self'). */
function policy(connect) {
  return (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; " +
    `img-src 'self' blob: data:; connect-src ${connect}; object-src 'none'; base-uri 'none'; form-action 'none'`
  );
}

/** The CSP without a weights host elsewhere (connect-src 'self'). */
export const CSP = policy("'self'");

/** The CSP for weights at `weightsOrigin` (null or the page's own origin: plain CSP). */
export function cspFor(weightsOrigin) {
  return weightsOrigin ? policy(`'self' ${weightsOrigin}`) : CSP;
}

/**
 * The origin of config.json's `weightsBaseUrl` when it is an absolute http(s) URL (the only case
 * that needs a CSP source); null when there is no such setting or it is relative to the page.
 * Throws with a message when the config is not valid JSON or the URL is unusable (the page
 * checks the same rules, www/src/config.ts, and says so in its model panel).
 */
export function weightsOriginOf(config) {
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new Error('config.json is not a JSON object');
  const base = config.weightsBaseUrl;
  if (base === undefined) return null;
  if (typeof base !== 'string' || base.trim() === '') throw new Error('config.json: "weightsBaseUrl" must be a non-empty string');
  if (!/^[a-z][a-z0-9+.-]*:/i.test(base.trim())) return null; // relative: the page's own origin
  const url = new URL(base.trim());
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`config.json: "weightsBaseUrl" must be http(s), not ${url.protocol}`);
  return url.origin;
}

/** Reads `<dir>/config.json`: its parsed object, or null when there is none. Throws on bad JSON. */
export function readConfig(dir) {
  let text;
  try {
    text = readFileSync(join(dir, 'config.json'), 'utf8');
  } catch {
    return null;
  }
  return JSON.parse(text);
}

/** A content-hashed file name: `name.<8 hex digits>.js|css|wasm|gz` (the same pattern as in sw.js). */
export const HASHED = /\.[0-9a-f]{8}\.(?:js|css|wasm|gz)$/;

/** The Cache-Control of `path`: a year and `immutable` for hashed names, revalidation otherwise. */
export function cacheControl(path) {
  return HASHED.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/** A weak ETag from a file's size and modification time (as most static servers make it). */
function etagOf(st) {
  return `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}

/**
 * Whether the request's validators match the file (answer 304): If-None-Match (weak comparison,
 * `*` matches) decides when present, else If-Modified-Since against the mtime in whole seconds.
 */
function notModified(req, etag, st) {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    const bare = (t) => t.trim().replace(/^W\//, '');
    return inm.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
  }
  const ims = Date.parse(req.headers['if-modified-since'] ?? '');
  return Number.isFinite(ims) && Math.floor(st.mtimeMs / 1000) * 1000 <= ims;
}

/**
 * Starts serving `dir`; resolves with the server once it listens. Port 0 picks a free port.
 * `onRequest(req, res, path)` sees every request first and may answer it itself (return true);
 * the browser tests use it to record requests and to stand in for a server. `config` is the
 * deployment config whose weights origin goes into the CSP; by default `<dir>/config.json`
 * (none: connect-src 'self'). A config.json that cannot be used is reported on stderr and
 * leaves the CSP at 'self' (the page then explains the problem itself).
 */
export function serve({ dir = 'dist', port = 8080, host = '127.0.0.1', onRequest = null, config } = {}) {
  const root = resolve(dir);
  let csp = CSP;
  try {
    csp = cspFor(weightsOriginOf((config === undefined ? readConfig(root) : config) ?? {}));
  } catch (e) {
    console.error(`serve: ${join(root, 'config.json')} is not usable (${e.message}); connect-src stays 'self'`);
  }
  const server = createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    if (onRequest && onRequest(req, res, path)) return;
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    let st;
    try {
      st = statSync(file);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (!st.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const etag = etagOf(st);
    const headers = {
      'content-security-policy': csp,
      // Optional hardening; no COEP (see the top of this file).
      'cross-origin-opener-policy': 'same-origin',
      'x-content-type-options': 'nosniff',
      'cache-control': cacheControl(path),
      etag,
      'last-modified': st.mtime.toUTCString(),
    };
    if ((req.method === 'GET' || req.method === 'HEAD') && notModified(req, etag, st)) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      ...headers,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(server));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const server = await serve({ dir: arg('dir', 'dist'), port: Number(arg('port', 8080)), host: arg('host', '127.0.0.1') });
  const { address, port } = server.address();
  console.log(`EZIGen is served at http://${address}:${port}/ (Ctrl+C to stop)`);
}
