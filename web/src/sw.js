// Service worker (served at /sw.js, scope /): precaches the app shell only (web/build.mjs), serves
// hashed assets cache-first and caches the lazily loaded ones (Monaco's languages, the terminal) on
// first use; pages network-first with the cached room shell as the offline fallback.
/* global __PRECACHE__, __VERSION__ */
const CACHE = 'tandem-' + __VERSION__
const PRECACHE = __PRECACHE__
const ROOM_SHELL = '/s/__shell__'

self.addEventListener('install', event => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE)
    await cache.addAll(PRECACHE)
    await self.skipWaiting()
  })())
})

self.addEventListener('activate', event => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith('tandem-') && key !== CACHE) await caches.delete(key)
    await self.clients.claim()
  })())
})

// A page that loaded before this worker controlled it sends the hashed assets it used.
self.addEventListener('message', event => {
  const msg = event.data
  if (!msg || msg.type !== 'keep' || !Array.isArray(msg.urls)) return
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE)
    for (const raw of msg.urls.slice(0, 500)) {
      const url = new URL(String(raw), self.location.origin)
      if (url.origin !== self.location.origin || !url.pathname.startsWith('/static/dist/')) continue
      if (await cache.match(url.pathname)) continue
      try {
        const res = await fetch(url.pathname) // from the HTTP cache: the page just loaded it
        if (res.ok) await cache.put(url.pathname, res)
      } catch (err) {
        console.warn('service worker: could not keep', url.pathname, err)
      }
    }
  })())
})

self.addEventListener('fetch', event => {
  const req = event.request
  if (req.method !== 'GET') return
  const url = new URL(req.url)
  if (url.origin !== self.location.origin) return
  if (req.mode === 'navigate') {
    event.respondWith(page(req, url))
  } else if (url.pathname.startsWith('/static/')) {
    event.respondWith(asset(req))
  }
})

async function page (req, url) {
  const cache = await caches.open(CACHE)
  const isRoom = url.pathname.startsWith('/s/')
  try {
    const res = await fetch(req)
    if (res.ok) {
      // Any room page is the same shell: the session comes from the URL at run time.
      await cache.put(isRoom ? ROOM_SHELL : url.pathname, res.clone())
    }
    return res
  } catch (err) {
    const cached = await cache.match(isRoom ? ROOM_SHELL : url.pathname)
    if (cached) return cached
    return new Response('<!doctype html><meta charset=utf-8><title>Offline</title><p>You are offline and this page was not saved on this device.</p>',
      { status: 503, headers: { 'content-type': 'text/html; charset=utf-8' } })
  }
}

async function asset (req) {
  const cache = await caches.open(CACHE)
  const cached = await cache.match(req, { ignoreSearch: true })
  if (cached) return cached
  const res = await fetch(req)
  if (res.ok && new URL(req.url).pathname.startsWith('/static/dist/')) await cache.put(req, res.clone())
  return res
}
