// A fresh server's first shell prompt in the browser: open a room, open the terminal panel, and
// wait (however long the sandbox bring-up takes) until the shell prompt shows — no reload.
// Usage: node bench/web/first_shell.mjs BASE_URL   -> one JSON line.
import { launch, openRoom, person, until } from '../../tests/browser/harness.mjs'

const [base] = process.argv.slice(2)
const browser = await launch()
try {
  const p = await person(browser, base, { name: 'Newcomer', color: '#12a594' })
  const t0 = Date.now()
  await openRoom(p.page, `first-run-${Date.now().toString(36)}`, { editor: false })
  const roomMs = Date.now() - t0
  await p.page.click('#panels [data-panel=terminal]')
  const phases = []
  const seen = setInterval(async () => {
    const phase = await p.page.evaluate(() => document.querySelector('#panels')?.dataset.sandbox).catch(() => null)
    if (phase && phases[phases.length - 1] !== phase) phases.push(phase)
  }, 1000)
  await p.page.waitForSelector('#panels[data-terminal=running]', { timeout: 45 * 60 * 1000 })
  await until(p.page, () => {
    const t = window.tandem.panels.terminals.get('main')?.term
    if (!t) return false
    const buf = t.buffer.active
    for (let i = 0; i < buf.length; i++) if (/[$#] $/.test(buf.getLine(i)?.translateToString(false).trimEnd() + ' ')) return true
    return false
  }, null, { what: 'the shell prompt', timeout: 60000 })
  clearInterval(seen)
  console.log(JSON.stringify({ roomMs, promptMs: Date.now() - t0, phases }))
} finally {
  await browser.close()
}
