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

/** A person in their own browser context (own storage, own IndexedDB). */
export async function person (browser, base, { name, color, viewport, device, storageState } = {}) {
  const opts = device ? { ...device } : { viewport: viewport || { width: 1400, height: 900 } }
  const context = await browser.newContext({ ...opts, baseURL: base, storageState })
  await context.addInitScript(([n, c]) => {
    if (!localStorage.getItem('tandem.identity')) {
      localStorage.setItem('tandem.identity', JSON.stringify({ id: 'u-' + n.toLowerCase(), name: n, color: c }))
    }
    // What the editor shows (Monaco renders spaces as non-breaking ones).
    window.__screen = () => (document.querySelector('#editor .view-lines')?.textContent || '').replace(/\u00a0/g, ' ')
  }, [name, color])
  const page = await context.newPage()
  page.on('pageerror', err => console.error(`[${name}] pageerror:`, err.message))
  page.on('console', msg => { if (msg.type() === 'error') console.error(`[${name}] console:`, msg.text()) })
  page.on('dialog', d => d.accept())
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
