// Service worker: keeps the app shell (page, scripts, styles, wasm, manifest, icons) in Cache
// Storage so the page opens offline. Model weights are not handled here: the app's worker keeps
// them in their own cache (www/src/weights.ts) and they never pass through this file.
//
// Update strategy: network first, cache as fallback. The shell is small and its parts must
// match each other (main.js, worker.js and ezigen_bg.wasm are built together), so when the
// network is there every request gets the current file and refreshes the cache; only when it is
// not (offline, server down) are the cached copies served. Stale-while-revalidate would open a
// little faster but could pair a new main.js with an old worker.js or wasm for one visit.

const SHELL_CACHE = 'ezigen-shell-v1';
const SHELL = [
  './',
  'index.html',
  'main.js',
  'worker.js',
  'style.css',
  'ezigen_bg.wasm',
  'manifest.webmanifest',
  'icons/icon.svg',
  'icons/icon-192.png',
  'icons/icon-512.png',
];
const shellUrls = new Set(SHELL.map((p) => new URL(p, self.registration.scope).href));

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // One by one, so a single missing file does not leave the whole shell uncached.
      await Promise.all(
        SHELL.map(async (path) => {
          try {
            const res = await fetch(path, { cache: 'no-cache' });
            if (res.ok) await cache.put(new URL(path, self.registration.scope).href, res);
          } catch {
            // Offline during install: the next online visit fills it in.
          }
        }),
      );
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
  const isNavigation = req.mode === 'navigate';
  const key = isNavigation ? new URL('index.html', self.registration.scope).href : url.href;
  if (!isNavigation && !shellUrls.has(key)) return; // weights and everything else: straight to the network
  event.respondWith(networkFirst(req, key));
});

async function networkFirst(req, key) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const res = await fetch(req);
    if (res.ok && res.type === 'basic') {
      await cache.put(key, res.clone());
    }
    return res;
  } catch (err) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw err;
  }
}
