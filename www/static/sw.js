// Service worker: keeps the app shell (page, scripts, styles, wasm, manifest, icons) in Cache
// Storage so the page opens offline, and so that a second visit loads the scripts and the 11 MB
// wasm without the network. Model weights are not handled here: the app's worker keeps them in
// their own cache (www/src/weights.ts) and they never pass through this file.
//
// Two kinds of files (www/tools/build-web.mjs makes them):
// - content-hashed (main.<hash>.js, worker.<hash>.js, style.<hash>.css, ezigen_bg.<hash>.wasm,
//   and tokenizer.json.<hash>.gz, which only a conversion fetches, so it is cached on first use
//   rather than at install): cache first. A name's bytes never change, so a cached copy is
//   always right; the network is only asked for a file not cached yet.
// - stable names (index.html, asset-manifest.json, manifest.webmanifest, icons): network first,
//   cache as fallback, so a new deploy (a new index.html naming new hashed files) is picked up
//   on the next visit and the page still opens offline. The server answers them with 304 when
//   nothing changed (ETag), so this costs a round trip, not a download.
//
// Each build writes its id and hashed files into the `const BUILD` line below, so every build is
// a new service worker version: it installs by fetching the hashed files it lacks (those that did
// not change stay cached), and when it activates it drops the hashed files that its build no
// longer names. The pages of one build therefore always get that build's main.js, worker.js and
// wasm together.
//
// config.json (the deployment's settings, www/src/config.ts) is a stable name too. Its absence is
// an answer as well: a 404 for it is kept like a file, so that an offline visit of a site without
// config.json still knows the weights are in models/. Weights on another origin (config.json's
// weightsBaseUrl) are never seen here: cross-origin requests go straight to the network.

const BUILD = { id: 'dev', assets: [], lazy: [] };

const SHELL_CACHE = 'ezigen-shell-v2';
/** Files with stable names: network first. */
const STABLE = ['./', 'index.html', 'asset-manifest.json', 'config.json', 'manifest.webmanifest', 'icons/icon.svg', 'icons/icon-192.png', 'icons/icon-512.png'];
/** A content-hashed name (the same pattern as HASHED in www/serve.mjs). */
const HASHED = /\.[0-9a-f]{8}\.(?:js|css|wasm|gz)$/;

const scoped = (path) => new URL(path, self.registration.scope).href;
const stableUrls = new Set(STABLE.map(scoped));
/** This build's hashed files: `assets` are fetched at install, `lazy` ones (the tokenizer, which
 * only a conversion needs) are kept once a page asked for them. */
const assetUrls = new Set([...BUILD.assets, ...BUILD.lazy].map(scoped));
const configUrl = scoped('config.json');

/** Whether `res` for `key` is worth keeping: a good answer, or config.json's 404 ("no config"). */
const keepable = (key, res) => (res.ok && res.type === 'basic') || (key === configUrl && res.status === 404);

/** Fetches `path` and stores it under its URL; failures are left for a later visit. */
async function store(cache, path, init) {
  try {
    const res = await fetch(path, init);
    if (res.ok || keepable(scoped(path), res)) await cache.put(scoped(path), res);
  } catch {
    // Offline during install: the next online visit fills it in.
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // One by one, so a single missing file does not leave the whole shell uncached.
      await Promise.all([
        ...STABLE.map((path) => store(cache, path, { cache: 'no-cache' })),
        // Hashed files already cached (by an earlier build that shared them) are kept as they are.
        ...BUILD.assets.map(async (path) => {
          if (!(await cache.match(scoped(path)))) await store(cache, path, {});
        }),
      ]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('ezigen-shell-') && name !== SHELL_CACHE) await caches.delete(name);
      }
      // Hashed files of earlier builds: no page of this build asks for them again.
      const cache = await caches.open(SHELL_CACHE);
      for (const req of await cache.keys()) {
        if (HASHED.test(new URL(req.url).pathname) && !assetUrls.has(req.url)) await cache.delete(req);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  url.search = '';
  url.hash = '';
  if (req.mode === 'navigate') event.respondWith(networkFirst(req, scoped('index.html')));
  else if (stableUrls.has(url.href)) event.respondWith(networkFirst(req, url.href));
  else if (HASHED.test(url.pathname)) event.respondWith(cacheFirst(req, url.href));
  // Weights and everything else: straight to the network.
});

async function networkFirst(req, key) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const res = await fetch(req);
    if (keepable(key, res)) {
      await cache.put(key, res.clone());
    }
    return res;
  } catch (err) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw err;
  }
}

async function cacheFirst(req, key) {
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(key);
  if (cached) return cached;
  const res = await fetch(req);
  // Only this build's files are kept (an older page may still ask for its own).
  if (res.ok && res.type === 'basic' && assetUrls.has(key)) await cache.put(key, res.clone());
  return res;
}
