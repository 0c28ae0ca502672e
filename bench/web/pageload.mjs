// Page budgets in headless Chromium: time from navigation to the first file visible in the room
// (a seeded room, fresh browser context each run), and the landing page's JS over the wire.
// Usage: node bench/web/pageload.mjs BASE_URL [RUNS]   -> one JSON line.
import { launch, openRoom, person, until } from '../../tests/browser/harness.mjs'

const [base, runsArg] = process.argv.slice(2)
const runs = Number(runsArg || 10)
const browser = await launch()
try {
  const room = `pageload-${Date.now().toString(36)}`
  const seeder = await person(browser, base, { name: 'Seeder', color: '#e5484d' })
  await openRoom(seeder.page, room) // seeds main.py ("Welcome to Tandem")
  await seeder.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]')
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
} finally {
  await browser.close()
}
