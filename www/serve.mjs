// A small static file server for the built app (dist/). Used by `./build.sh serve` and by the
// browser tests. Serves the right MIME types (application/wasm for streaming compilation) and
// the same Content-Security-Policy as the page's meta tag.
//
// Caching: content-hashed files (main.<hash>.js, ezigen_bg.<hash>.wasm, … from
// www/tools/build-web.mjs) never change under their name, so browsers may keep them for a year
// without asking again (`immutable`). Everything else (index.html, sw.js, asset-manifest.json,
// the model files) is `no-cache`: kept, but revalidated on each use with its ETag /
// Last-Modified, which this server answers with 304 Not Modified when the file is unchanged.
//
//   node www/serve.mjs [--dir dist] [--port 8080] [--host 127.0.0.1]

import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

export const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; " +
  "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'";

/** A content-hashed file name: `name.<8 hex digits>.js|css|wasm` (the same pattern as in sw.js). */
export const HASHED = /\.[0-9a-f]{8}\.(?:js|css|wasm)$/;

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
 * the browser tests use it to record requests and to stand in for a server.
 */
export function serve({ dir = 'dist', port = 8080, host = '127.0.0.1', onRequest = null } = {}) {
  const root = resolve(dir);
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
      'content-security-policy': CSP,
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
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
