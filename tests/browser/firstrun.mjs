// First run in the browser: a page opened while the sandbox image is still being built shows the
// build in its terminal panel, then turns into a live shell by itself (no reload).
// `node firstrun.mjs NAME BASE_URL`; TANDEM_SIGNAL_FILE is written once the page shows the build.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { ARTIFACTS, assert, openRoom, person, run, until } from './harness.mjs'

/** The terminal panel of `room` in a fresh page, running. */
async function terminalOf (browser, base, room) {
  const p = await person(browser, base, { name: 'Vera', color: '#12a594' })
  await openRoom(p.page, room, { editor: false })
  await p.page.click('#panels [data-panel=terminal]')
  await p.page.waitForSelector('#panels[data-terminal=running]', { timeout: 60000 })
  return p
}

const scenarios = {
  // Before a server restart: leave a marker in the terminal's output.
  async typeMarker (browser, base) {
    const p = await terminalOf(browser, base, process.env.TANDEM_ROOM)
    await p.page.click('#terminal .xterm')
    await p.page.keyboard.type('echo marker-$((40+2))\n')
    await until(p.page, () => document.querySelector('#terminal').textContent.includes('marker-42'), null, { what: 'the marker', timeout: 20000 })
  },

  // After it: one line says the shell is new, and the old output is still above the new prompt.
  async seeReplaced (browser, base) {
    const p = await terminalOf(browser, base, process.env.TANDEM_ROOM)
    await p.page.waitForSelector('.term-replaced:not([hidden])', { timeout: 20000 })
    const line = await p.page.textContent('.term-replaced')
    assert(/^Previous shell ended at .+ — server restart; this is a new shell\.$/.test(line), 'the replaced-shell line: ' + line)
    await until(p.page, () => document.querySelector('#terminal').textContent.includes('marker-42'), null, { what: 'the old scrollback', timeout: 20000 })
    await p.page.locator('#panels').screenshot({ path: path.join(ARTIFACTS, 'firstrun-replaced.png') })
    return { line }
  },


  async buildThenShell (browser, base) {
    const p = await person(browser, base, { name: 'Nora', color: '#12a594' })
    const room = `firstrun-${Date.now().toString(36)}`
    await openRoom(p.page, room, { editor: false })
    const loads = await p.page.evaluate(() => performance.getEntriesByType('navigation').length)
    await p.page.click('#panels [data-panel=terminal]')
    await p.page.waitForSelector('#panels[data-sandbox=building_image] .term-off[data-phase=building_image]', { timeout: 30000 })
    const building = await p.page.textContent('#terminal-note')
    assert(/Building the sandbox image/.test(building), 'the panel says the image is being built: ' + building)
    await p.page.locator('#panels').screenshot({ path: path.join(ARTIFACTS, 'firstrun-building.png') })
    writeFileSync(process.env.TANDEM_SIGNAL_FILE, 'building shown\n')
    const t0 = Date.now()
    await p.page.waitForSelector('#panels[data-terminal=running]', { timeout: 120000 })
    const toShellMs = Date.now() - t0
    await p.page.click('#terminal .xterm')
    await p.page.keyboard.type('echo first-$((6*7))\n')
    await until(p.page, () => {
      const t = window.tandem.panels.terminals.get('main')?.term
      if (!t) return false
      const buf = t.buffer.active
      for (let i = 0; i < buf.length; i++) if ((buf.getLine(i)?.translateToString(true) ?? '').trim() === 'first-42') return true
      return false
    }, null, { what: 'the shell to answer in the page', timeout: 30000 })
    await p.page.locator('#panels').screenshot({ path: path.join(ARTIFACTS, 'firstrun-shell.png') })
    const reloads = await p.page.evaluate(() => performance.getEntriesByType('navigation').length)
    assert(reloads === loads, 'the page was not reloaded')
    const sameDoc = await p.page.evaluate(() => Boolean(window.tandem?.ctx))
    assert(sameDoc, 'the room is still live')
    return { toShellMs }
  }
}

await run(scenarios)
