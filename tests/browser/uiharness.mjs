// Helpers for the room-UI scenarios on the authenticated server: each person is a browser context
// holding the cookies the Python setup got for them (tests/browser/ui_support.py, TANDEM_SETUP).
import path from 'node:path'
import { ARTIFACTS, AssertionError } from './harness.mjs'

export const setup = JSON.parse(process.env.TANDEM_SETUP || '{}')

export const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, name) })

/** `who`'s browser (their login or guest cookie), opened on the session's room. */
export async function enter (browser, base, who, { viewport, device, room = true, query = '' } = {}) {
  const opts = device ? { ...device } : { viewport: viewport || { width: 1400, height: 900 } }
  const context = await browser.newContext({ ...opts, baseURL: base })
  const cookies = setup.people[who]
  if (!cookies) throw new AssertionError(`no setup for ${who}`)
  await context.addCookies(cookies.map(c => ({ ...c, url: base })))
  const page = await context.newPage()
  page.on('pageerror', err => console.error(`[${who}] pageerror:`, err.message))
  page.on('console', msg => { if (msg.type() === 'error') console.error(`[${who}] console:`, msg.text()) })
  page.on('dialog', d => d.accept())
  if (room) await openSessionRoom(page, query)
  return { context, page, who }
}

export async function openSessionRoom (page, query = '') {
  await page.goto(`/s/${encodeURIComponent(setup.session)}${query}`)
  await page.waitForSelector('#conn[data-state=online]', { timeout: 15000 })
}

/** Presence as a page sees it: [{name, color, id, self}] of every person (not the server). */
export const presence = page => page.evaluate(() => {
  const out = []
  window.tandem.ctx.awareness.getStates().forEach((st, id) => {
    if (st?.user) out.push({ client: id, self: id === window.tandem.ctx.awareness.clientID, ...st.user })
  })
  return out
})
