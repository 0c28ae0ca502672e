// Shared helpers for the browser scenarios: launch Debian's Chromium through playwright-core
// (from web/node_modules), open rooms, wait on conditions (never fixed sleeps), assert.
import { createRequire } from 'node:module'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '..', '..', 'web', 'package.json'))
const { chromium, devices } = require('playwright-core')

export const ARTIFACTS = path.join(here, 'artifacts')
mkdirSync(ARTIFACTS, { recursive: true })

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]

/** `args`: extra Chromium flags for one script's launches (e.g. fake screen capture). */
export async function launch ({ args = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.TANDEM_CHROMIUM || '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, ...args],
    headless: true
  })
}

export { devices }

export class AssertionError extends Error {}

export function assert (cond, msg) {
  if (!cond) throw new AssertionError(msg)
}

export function eq (actual, expected, msg) {
  if (actual !== expected) throw new AssertionError(`${msg}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
}

/** A person in their own browser context (own storage, own IndexedDB). `seed: false` leaves the
 * page's local identity alone (a newcomer: the name comes from sign-up or the join page only). */
export async function person (browser, base, { name, color, viewport, device, storageState, seed = true } = {}) {
  const opts = device ? { ...device } : { viewport: viewport || { width: 1400, height: 900 } }
  const context = await browser.newContext({ ...opts, baseURL: base, storageState })
  await context.addInitScript(([n, c, s]) => {
    if (s && !localStorage.getItem('tandem.identity')) {
      localStorage.setItem('tandem.identity', JSON.stringify({ id: 'u-' + n.toLowerCase(), name: n, color: c }))
    }
    // What the editor shows (Monaco renders spaces as non-breaking ones).
    window.__screen = () => (document.querySelector('#editor .view-lines')?.textContent || '').replace(/\u00a0/g, ' ')
  }, [name, color, seed])
  const page = await context.newPage()
  page.on('pageerror', err => console.error(`[${name}] pageerror:`, err.message))
  page.on('console', msg => { if (msg.type() === 'error') console.error(`[${name}] console:`, msg.text()) })
  // Every page of the context (tabs opened later too) accepts confirm() and reports alert().
  const dialogs = pg => pg.on('dialog', d => { if (d.type() === 'alert') console.error(`[${name}] alert: ${d.message()}`); d.accept() })
  dialogs(page)
  context.on('page', dialogs)
  return { context, page, name }
}

/** Open a room and wait until it is live and the editor has loaded. */
export async function openRoom (page, room, { query = '', editor = true } = {}) {
  await page.goto(`/s/${encodeURIComponent(room)}${query}`)
  await page.waitForSelector('#conn[data-state=online]', { timeout: 15000 })
  if (editor) await page.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
}

/** Text of a file in the page's Y.Doc. */
export function docText (page, file) {
  return page.evaluate(f => window.tandem.ctx.files.get(f)?.toString() ?? null, file)
}

/** Wait until fn (run in the page with arg) returns truthy; returns its value. */
export async function until (page, fn, arg, { timeout = 10000, what = 'condition' } = {}) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout, polling: 50 })
    return await handle.jsonValue()
  } catch (err) {
    throw new AssertionError(`timed out waiting for ${what}: ${err.message.split('\n')[0]}`)
  }
}

/** Put the caret in the editor at (line, column) via the Monaco API and focus it. */
export async function caret (page, line, column) {
  await page.evaluate(([l, c]) => {
    const ed = window.tandem.editor().editor
    ed.setPosition({ lineNumber: l, column: c })
    ed.focus()
  }, [line, column])
}

export async function run (scenarios, launchOptions = {}) {
  const [name, base] = process.argv.slice(2)
  const fn = scenarios[name]
  if (!fn || !base) {
    console.error(`usage: node ${process.argv[1]} <${Object.keys(scenarios).join('|')}> <base-url>`)
    process.exit(2)
  }
  const browser = await launch(launchOptions)
  const started = Date.now()
  try {
    const info = await fn(browser, base)
    console.log(JSON.stringify({ scenario: name, ok: true, ms: Date.now() - started, ...(info || {}) }))
  } catch (err) {
    console.error(err instanceof AssertionError ? `FAILED: ${err.message}` : err)
    process.exitCode = 1
  } finally {
    await browser.close()
  }
}

// ---- the authenticated server, through the UI only (no REST call, no token composed here) ----

export const PASSWORD = 'correct horse battery staple'

/** Sign up through the pages; when the username is taken (an earlier scenario on the same
 * server), log in instead. Ends on the home page. Returns whether an account was created. */
export async function signUp (page, username, { password = PASSWORD } = {}) {
  await page.goto('/signup')
  await page.fill('#username', username)
  await page.fill('#password', password)
  await Promise.all([page.waitForNavigation(), page.click('main button[type=submit]')])
  const taken = await page.$('.error')
  if (taken) {
    const msg = await taken.textContent()
    if (!/taken/.test(msg)) throw new AssertionError(`sign-up of ${username} failed: ${msg}`)
    await logIn(page, username, { password })
    return false
  }
  await page.waitForSelector(`#account-name:text-is("${username}")`)
  return true
}

/** Log in through the login page; ends on the home page. */
export async function logIn (page, username, { password = PASSWORD } = {}) {
  await page.goto('/login')
  await page.fill('#username', username)
  await page.fill('#password', password)
  await Promise.all([page.waitForNavigation(), page.click('main button[type=submit]')])
  const err = await page.$('.error')
  if (err) throw new AssertionError(`login of ${username} failed: ${await err.textContent()}`)
  await page.waitForSelector(`#account-name:text-is("${username}")`)
}

/** New session from the home page (title → the room); returns the session id once the room is live. */
export async function newSession (page, title, { editor = true } = {}) {
  if (!/^\/(home)?$/.test(new URL(page.url()).pathname)) await page.goto('/')
  const form = page.locator('#new-session-form')
  if (!(await form.isVisible())) await page.click('#new-session')
  await page.fill('#new-title', title)
  await Promise.all([page.waitForURL(/\/s\/[^/?#]+$/), page.click('#new-session-form button[type=submit]')])
  await page.waitForSelector('#conn[data-state=online]', { timeout: 15000 })
  if (editor) await page.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
  return decodeURIComponent(new URL(page.url()).pathname.slice(3))
}

/** In the room: Invite → a link for `role` (optional expiry seconds as offered, max uses) → its URL. */
export async function createLink (page, role, { expiry = '', maxUses = null } = {}) {
  if (!(await page.locator('#invite-dialog[open]').count())) await page.click('#invite')
  await page.waitForSelector('#invite-dialog[open] #invite-form')
  await page.selectOption('#invite-role', role)
  await page.selectOption('#invite-expiry', String(expiry))
  await page.fill('#invite-uses', maxUses === null ? '' : String(maxUses))
  const before = await page.$eval('#invite-created', el => el.querySelector('#invite-url')?.value || '')
  await page.click('#invite-create')
  const url = await until(page, ([r, prev]) => {
    const box = document.querySelector('#invite-created')
    const v = box && !box.hidden && box.dataset.role === r ? box.querySelector('#invite-url')?.value : ''
    return v && v !== prev ? v : null
  }, [role, before], { what: `the new ${role} link` })
  await page.waitForSelector(`#invite-links .invite-link[data-role=${role}]`)
  return url
}

export async function closeDialog (page) {
  await page.click('#invite-dialog .close')
  await page.waitForSelector('#invite-dialog:not([open])', { state: 'attached' })
}

/** Open an invite link and join: as a guest under `name`, or as the signed-in account. */
export async function joinLink (page, url, name, { editor = true } = {}) {
  await page.goto(url)
  if (name && await page.locator('#name').count()) await page.fill('#name', name)
  await Promise.all([page.waitForURL(/\/s\/[^/?#]+$/), page.click('main button[type=submit]')])
  await page.waitForSelector('#conn[data-state=online]', { timeout: 15000 })
  if (editor) await page.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
  return decodeURIComponent(new URL(page.url()).pathname.slice(3))
}

/** A fresh session owned by `owner` (signed up or logged in through the UI) and, for each guest,
 * a link of `role` joined under the guest's name. The pages stay in the room. */
export async function sharedRoom (owner, title, guests = []) {
  await signUp(owner.page, owner.name)
  const session = await newSession(owner.page, title)
  for (const { who, role = 'editor', editor = true } of guests) {
    const url = await createLink(owner.page, role)
    await closeDialog(owner.page)
    await joinLink(who.page, url, who.name, { editor })
  }
  return session
}
