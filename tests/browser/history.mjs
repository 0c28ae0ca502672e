// Version history in real Chromium against a real Tandem server: `node history.mjs NAME BASE_URL`.
// Two editors (and a viewer) in one room; the History panel checkpoints, diffs and restores through
// the REST API, and the restore reaches every open editor as an ordinary document update.
import path from 'node:path'
import {
  ARTIFACTS, assert, caret, closeDialog, createLink, docText, eq, joinLink, newSession, person, run, signUp, until
} from './harness.mjs'

const HISTORY = '#panels [data-panel-body=history]'
const room = tag => `${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`
const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, name) })

/** Wait until the file's text in the page's doc is `text`, and the editor shows `visible`. */
async function shows (page, file, text, visible, what) {
  await until(page, ([f, t, v]) => window.tandem.ctx.files.get(f)?.toString() === t && window.__screen().includes(v),
    [file, text, visible], { what, timeout: 15000 })
}

async function openHistory (page) {
  await page.click('#panels [data-panel=history]')
  await page.waitForSelector(`${HISTORY}[data-loaded=true]`)
}

const scenarios = {
  async restore (browser, base) {
    // The default server: Alice signs up (or logs in) and starts the session; Bob joins by link.
    const a = await person(browser, base, { name: 'Alice', color: '#e5484d' })
    const b = await person(browser, base, { name: 'Bob', color: '#0090ff' })
    await signUp(a.page, a.name)
    await newSession(a.page, room('history'))
    await a.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]')
    const editorLink = await createLink(a.page, 'editor')
    const viewerLink = await createLink(a.page, 'viewer')
    await closeDialog(a.page)
    await joinLink(b.page, editorLink, b.name)
    await b.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]')

    // A types; once the server has it (the "Saved" indicator), A saves a checkpoint in the panel.
    await caret(a.page, 2, 1)
    await a.page.keyboard.type('VERSION = 1')
    const v1 = await docText(a.page, 'main.py')
    assert(v1.includes('VERSION = 1'), `A's edit in A's doc: ${JSON.stringify(v1)}`)
    await shows(b.page, 'main.py', v1, 'VERSION = 1', "A's first edit on B")
    await a.page.waitForSelector('#saved[data-state=saved]')
    await openHistory(a.page)
    await a.page.click(`${HISTORY} .hist-checkpoint`)
    const checkpoint = `${HISTORY} .hist-item[data-kind=manual]`
    await a.page.waitForSelector(checkpoint)
    await until(a.page, sel => document.querySelector(sel)?.textContent.includes('Alice'), `${checkpoint} .hist-who`,
      { what: 'the checkpoint names Alice' })

    // A types more.
    await caret(a.page, 2, 12)
    await a.page.keyboard.type(' + 41')
    const v2 = await docText(a.page, 'main.py')
    assert(v2.includes('VERSION = 1 + 41'), `A's second edit: ${JSON.stringify(v2)}`)
    await shows(b.page, 'main.py', v2, 'VERSION = 1 + 41', "A's second edit on B")
    await a.page.waitForSelector('#saved[data-state=saved]')

    // A picks the checkpoint: its diff against now shows the line as it was and as it is.
    await a.page.click(`${HISTORY} .hist-refresh`)
    await a.page.click(`${checkpoint} .hist-pick`)
    const file = `${HISTORY} .hist-file[data-path="main.py"]`
    await a.page.waitForSelector(`${file}[data-status=changed]`)
    const rows = await a.page.$$eval(`${file} .dl`, els => els.map(e => [e.className.split(' ')[1], e.querySelector('.code').textContent]))
    assert(rows.some(([k, t]) => k === 'del' && t === '-VERSION = 1'), `the old line in the diff: ${JSON.stringify(rows)}`)
    assert(rows.some(([k, t]) => k === 'add' && t === '+VERSION = 1 + 41'), `the new line in the diff: ${JSON.stringify(rows)}`)
    await shot(a.page, 'history-diff.png')

    // A restores the file: both editors show the checkpoint's content.
    await a.page.click(`${file} .hist-restore-file`)
    await shows(a.page, 'main.py', v1, 'VERSION = 1', 'the restored file on A')
    await shows(b.page, 'main.py', v1, 'VERSION = 1', 'the restored file on B')
    for (const p of [a.page, b.page]) assert(!(await p.evaluate(() => window.__screen())).includes('+ 41'), 'the later edit is gone from the screen')

    // Both keep editing the restored file: B types, A sees it (and the other way round).
    await caret(b.page, 2, 1)
    await b.page.keyboard.type('# bob: ')
    await shows(a.page, 'main.py', v1.replace('VERSION = 1', '# bob: VERSION = 1'), '# bob: VERSION = 1', "B's edit after the restore on A")
    await caret(a.page, 2, 19)
    await a.page.keyboard.type(' # alice')
    const after = await docText(a.page, 'main.py')
    await shows(b.page, 'main.py', after, '# bob: VERSION = 1 # alice', "A's edit after the restore on B")

    // The history lists the restore, for A (refreshed by the restore) and for B (on opening).
    const restored = `${HISTORY} .hist-item[data-kind=restore]`
    for (const p of [a.page, b.page]) {
      if (p === b.page) await openHistory(b.page)
      await p.waitForSelector(restored)
      const note = await p.$eval(`${restored} .hist-note`, el => el.textContent)
      assert(/restored main\.py to version \d+/.test(note), `the restore's note: ${note}`)
      eq(await p.$eval(`${restored} .hist-files`, el => el.textContent), 'main.py', 'the restore changed main.py')
      assert((await p.$eval(`${restored} .hist-who`, el => el.textContent)).includes('Alice'), 'the restore names Alice')
    }
    // "This file" lists main.py's versions: the checkpoint and the restore among them.
    await b.page.click(`${HISTORY} .hist-scope [data-scope=file]`)
    await until(b.page, sel => document.querySelector(sel)?.dataset.scope === 'file' &&
      document.querySelector(`${sel} .hist-item[data-kind=restore]`) && document.querySelector(`${sel} .hist-item[data-kind=manual]`),
    HISTORY, { what: "main.py's versions on B" })
    await shot(b.page, 'history.png')

    // A viewer reads the same history, without checkpoint or restore buttons.
    const c = await person(browser, base, { name: 'Cleo', color: '#46a758' })
    await joinLink(c.page, viewerLink, c.name, { editor: false })
    await openHistory(c.page)
    await c.page.waitForSelector(restored)
    await c.page.click(`${checkpoint} .hist-pick`)
    await c.page.waitForSelector(`${file} .dl`)
    eq(await c.page.$$eval(`${HISTORY} .hist-restore-file:not([hidden]), ${HISTORY} .hist-restore-all:not([hidden]), ${HISTORY} .hist-checkpoint:not([hidden])`, els => els.length),
      0, 'restore and checkpoint buttons for a viewer')
    const versions = await a.page.$$eval(`${HISTORY} .hist-item`, els => els.length)
    return { versions }
  }
}

run(scenarios)
