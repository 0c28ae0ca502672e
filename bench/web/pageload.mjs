// Page budgets in headless Chromium: time from navigation to the first file visible in the room
// (a seeded room, fresh browser context each run), and the landing page's JS over the wire.
// Usage: node bench/web/pageload.mjs BASE_URL [RUNS] [--phone]   -> one JSON line.
//
// --phone: a first visit on a phone instead: device emulation (390x844, DPR 3, touch, mobile UA)
// and the CPU slowed 4x through CDP; each run is a fresh context (empty HTTP cache, no service
// worker). It also reports when the service worker controls the page (its precache is complete:
// the room works offline) and what that precache stored. The network: `python -m bench.pageload
// --phone` puts BASE_URL behind bench/throttle.py (slow 4G: 150 ms RTT, 1.6 Mbit/s down, 750 kbit/s
// up, shared by the page and its service worker); --cdp-network throttles through CDP's
// Network.emulateNetworkConditions instead, which covers the page's requests but NOT the service
// worker's (so a big precache looks free).
import { launch, openRoom, person, until } from '../../tests/browser/harness.mjs'

const args = process.argv.slice(2)
const phone = args.includes('--phone')
const cdpNetwork = args.includes('--cdp-network')
const [base, runsArg] = args.filter(a => !a.startsWith('--'))
const runs = Number(runsArg || 10)
const browser = await launch()

const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 3,
  isMobile: true,
  hasTouch: true,
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36'
}
const SLOW_4G = { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 }

async function seedRoom () {
  const room = `pageload-${Date.now().toString(36)}`
  const seeder = await person(browser, base, { name: 'Seeder', color: '#e5484d' })
  await openRoom(seeder.page, room) // seeds main.py ("Welcome to Tandem")
  await seeder.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]')
  return room
}

async function phoneRuns () {
  const room = await seedRoom()
  const first = []
  const ready = []
  const transferred = []
  let stored = null
  for (let i = 0; i < runs; i++) {
    const p = await person(browser, base, { name: `Phone ${i}`, color: '#0090ff', device: PHONE })
    const cdp = await p.context.newCDPSession(p.page)
    await cdp.send('Network.enable')
    if (cdpNetwork) await cdp.send('Network.emulateNetworkConditions', SLOW_4G)
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 })
    let bytes = 0
    cdp.on('Network.loadingFinished', e => { bytes += e.encodedDataLength })
    const t0 = Date.now()
    await p.page.goto(`/s/${encodeURIComponent(room)}`)
    await until(p.page, () => window.__screen && window.__screen().includes('Welcome to Tandem'), null, { what: 'first file', timeout: 120000 })
    first.push(Date.now() - t0)
    await until(p.page, () => !!navigator.serviceWorker.controller, null, { what: 'service worker in control', timeout: 120000 })
    ready.push(Date.now() - t0)
    transferred.push(bytes)
    stored = await p.page.evaluate(async () => {
      let files = 0
      let bytes = 0
      for (const key of await caches.keys()) {
        if (!key.startsWith('tandem-')) continue
        const cache = await caches.open(key)
        for (const req of await cache.keys()) {
          files++
          bytes += (await (await cache.match(req)).blob()).size
        }
      }
      return { files, bytes }
    })
    await p.context.close()
  }
  process.stdout.write(JSON.stringify({
    ok: true,
    profile: cdpNetwork ? 'phone, CDP network' : 'phone',
    runs,
    first_file_ms: stats(first),
    offline_ready_ms: stats(ready),
    page_bytes_transferred: stats(transferred),
    sw_cache_after_first_visit: stored
  }) + '\n')
}

function stats (values) {
  const v = [...values].sort((a, b) => a - b)
  const pick = q => v[Math.min(v.length - 1, Math.floor(q * v.length))]
  return { p50: pick(0.5), p99: pick(0.99), max: v.at(-1) }
}

async function desktopRuns () {
  const room = await seedRoom()
  const times = []
  for (let i = 0; i < runs; i++) {
    const p = await person(browser, base, { name: `Reader ${i}`, color: '#0090ff' })
    const t0 = Date.now()
    await p.page.goto(`/s/${encodeURIComponent(room)}`)
    await until(p.page, () => window.__screen && window.__screen().includes('Welcome to Tandem'), null, { what: 'first file', timeout: 20000 })
    times.push(Date.now() - t0)
    await p.context.close()
  }
  // Landing page: every script it loads, as transferred (gzip when the server offers it).
  const l = await person(browser, base, { name: 'Landing' })
  let jsBytes = 0
  l.page.on('response', async r => {
    if (r.request().resourceType() === 'script') {
      const sizes = await r.request().sizes().catch(() => null)
      if (sizes) jsBytes += sizes.responseBodySize
    }
  })
  await l.page.goto('/', { waitUntil: 'networkidle' })
  times.sort((a, b) => a - b)
  const pick = q => times[Math.min(times.length - 1, Math.floor(q * times.length))]
  process.stdout.write(JSON.stringify({ ok: true, runs, first_file_ms: { p50: pick(0.5), p99: pick(0.99), max: times.at(-1) }, landing_js_bytes: jsBytes }) + '\n')
}

try {
  if (phone) {
    await phoneRuns()
  } else {
    await desktopRuns()
  }
} finally {
  await browser.close()
}
