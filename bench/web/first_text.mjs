// First text of a large room (bench/first_text.py): from navigation start (the page's time
// origin) to the first file's first line on screen (the plain-text first view or the editor,
// whichever shows it; checked every 16 ms in the page), and to the live doc synced. Fresh
// browser context per run (empty HTTP cache, IndexedDB, no service worker).
// Usage: node bench/web/first_text.mjs BASE_URL ROOM LINE RUNS [--phone] [--no-sync]
//   --phone: device emulation (390x844, DPR 3, touch, mobile UA) and 4x CPU throttling (CDP)
//   --no-sync: stop at the first text (on a throttled network the doc takes minutes)
// -> one JSON line {first_text_ms: [...], synced_ms: [...]}
import { launch, person, until } from '../../tests/browser/harness.mjs'

const args = process.argv.slice(2)
const phone = args.includes('--phone')
const noSync = args.includes('--no-sync')
const [base, room, line, runsArg] = args.filter(a => !a.startsWith('--'))
const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 3,
  isMobile: true,
  hasTouch: true,
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36'
}

const browser = await launch()
const first = []
const synced = []
try {
  for (let i = 0; i < Number(runsArg || 3); i++) {
    const p = await person(browser, base, { name: `Reader ${i}`, color: '#0090ff', device: phone ? PHONE : undefined })
    if (phone) {
      const cdp = await p.context.newCDPSession(p.page)
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 })
    }
    await p.context.addInitScript(l => {
      const timer = setInterval(() => {
        const plain = document.querySelector('#first-text pre')?.textContent || ''
        if (!window.__firstTextAt && (plain.includes(l) || (window.__screen && window.__screen().includes(l)))) window.__firstTextAt = performance.now()
        if (!window.__syncedAt && document.body?.dataset.connection === 'online') window.__syncedAt = performance.now()
        if (window.__firstTextAt && window.__syncedAt) clearInterval(timer)
      }, 16)
    }, line)
    await p.page.goto(`/s/${encodeURIComponent(room)}?nosw`, { waitUntil: 'commit' })
    first.push(Math.round(await until(p.page, () => window.__firstTextAt, null, { what: 'first text', timeout: 400000 })))
    if (!noSync) synced.push(Math.round(await until(p.page, () => window.__syncedAt, null, { what: 'live doc', timeout: 300000 })))
    await p.context.close()
  }
} finally {
  await browser.close()
}
process.stdout.write(JSON.stringify({ ok: true, first_text_ms: first, synced_ms: synced }) + '\n')
