// Browser scenarios against a real Tandem server: `node scenarios.mjs NAME BASE_URL`.
// Each prints one JSON line on success and exits non-zero with a reason on failure.
// The server is the default, authenticated one: rooms come from the UI (sign up or log in, New
// session, Invite, join by link); `landing` alone runs against `--no-auth` (its point).
import path from 'node:path'
import {
  ARTIFACTS, assert, caret, closeDialog, createLink, docText, eq, joinLink, newSession, person, run, signUp, until
} from './harness.mjs'

const room = tag => `${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`
const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, name) })

/** `#rrggbb` → the `rgb(r, g, b)` getComputedStyle reports. */
const rgb = hex => `rgb(${[1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`

/** The colour the server stamped on `name` (as the page `page` sees them in presence). */
const stampedColor = (page, name) => until(page, n => [...window.tandem.ctx.awareness.getStates().values()]
  .find(s => s.user?.name === n)?.user?.color, name, { what: `${name}'s colour in presence` })

/** A fresh session owned by Alice (signed up or logged in through the UI), her page in it. */
async function ownRoom (a, tag) {
  await signUp(a.page, a.name)
  return newSession(a.page, room(tag))
}

/** Join `who` into the room of `owner` with a new link of `role`, under `who.name`. */
async function invite (owner, who, role, { editor = true } = {}) {
  const url = await createLink(owner.page, role)
  await closeDialog(owner.page)
  return joinLink(who.page, url, who.name, { editor })
}

/** Two people in one fresh room; A arrives first (owner; seeds main.py), then B (editor link). */
async function pair (browser, base, tag) {
  const a = await person(browser, base, { name: 'Alice', color: '#e5484d' })
  const b = await person(browser, base, { name: 'Bob', color: '#0090ff' })
  const name = await ownRoom(a, tag)
  await a.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]')
  const url = await createLink(a.page, 'editor')
  await closeDialog(a.page)
  const t0 = Date.now()
  await joinLink(b.page, url, b.name, { editor: false })
  await until(b.page, () => window.__screen().includes('Welcome to Tandem'), null, { what: 'first file visible', timeout: 20000 })
  const firstFileMs = Date.now() - t0
  await b.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]')
  return { name, a, b, firstFileMs }
}

/** Replace a file's content through A's doc (the same path the editor takes) and wait for B. */
async function setContent (from, to, file, text) {
  await from.page.evaluate(([f, t]) => {
    const y = window.tandem.ctx.files.get(f)
    y.doc.transact(() => { y.delete(0, y.length); y.insert(0, t) })
  }, [file, text])
  await until(to.page, ([f, t]) => window.tandem.ctx.files.get(f)?.toString() === t, [file, text], { what: `${file} to sync` })
}

/** The text lines of a terminal's buffer (scrollback and screen) in a page. */
const termLines = (page, name = 'main') => page.evaluate(n => {
  const t = window.tandem.panels.terminals.get(n)?.term
  if (!t) return []
  const buf = t.buffer.active
  const out = []
  for (let i = 0; i < buf.length; i++) out.push(buf.getLine(i)?.translateToString(true) ?? '')
  return out
}, name)

/** Wait until a terminal in the page shows a line that (trimmed) equals `text`. */
const termShows = async (page, text, name = 'main', timeout = 15000) => {
  try {
    return await until(page, ([t, n]) => {
      const term = window.tandem.panels.terminals.get(n)?.term
      if (!term) return false
      const buf = term.buffer.active
      for (let i = 0; i < buf.length; i++) if ((buf.getLine(i)?.translateToString(true) ?? '').trim() === t) return true
      return false
    }, [text, name], { what: `"${text}" in terminal ${name}`, timeout })
  } catch (err) {
    const state = await page.evaluate(() => document.querySelector('#panels').dataset.terminal)
    const lines = (await termLines(page, name)).filter(l => l.trim())
    const who = await page.evaluate(() => window.tandem.ctx.awareness.getLocalState()?.user?.name)
    err.message += ` (${who}'s page; panel state ${state}; screen: ${JSON.stringify(lines.slice(-8))})`
    throw err
  }
}

const scenarios = {
  async landing (browser, base) {
    const p = await person(browser, base, { name: 'Lena', color: '#46a758' })
    await p.page.goto('/')
    await p.page.fill('#name', 'Lena Test')
    await p.page.click('#colors .swatch[data-color="#6e56cf"]')
    await p.page.click('#new-session')
    await p.page.waitForURL(/\/s\/[a-z0-9]+$/)
    await p.page.waitForSelector('#presence .person[data-self=true][data-name="Lena Test"]')
    const color = await p.page.$eval('#presence .person[data-self=true]', el => el.style.getPropertyValue('--user-color'))
    eq(color, '#6e56cf', 'chosen colour')
  },

  async typing (browser, base) {
    const { a, b, firstFileMs } = await pair(browser, base, 'typing')
    const t0 = Date.now()
    await caret(a.page, 2, 1)
    await a.page.keyboard.type('print("hello from Alice")')
    await until(b.page, () => window.__screen().includes('print("hello from Alice")'), null, { what: "A's text on B's screen" })
    const latency = Date.now() - t0
    // B sees A's cursor, in A's colour, with A's name as its label.
    const aId = await a.page.evaluate(() => window.tandem.ctx.doc.clientID)
    // (Decorations are re-created on every awareness change: query afresh each time.)
    const label = await until(b.page, id => {
      const el = document.querySelector(`.yRemoteSelectionHead-${id}`)
      const content = el && getComputedStyle(el, '::after').content
      return content && content !== 'none' ? content : null
    }, aId, { what: "A's cursor label on B" })
    eq(label, '"Alice"', 'cursor label')
    const border = await until(b.page, id => {
      const el = document.querySelector(`.yRemoteSelectionHead-${id}`)
      return el ? getComputedStyle(el).borderLeftColor : null
    }, aId, { what: "A's cursor colour on B" })
    eq(border, rgb(await stampedColor(b.page, 'Alice')), 'cursor colour')
    // The presence bar lists Alice in main.py; clicking her avatar jumps there.
    await b.page.waitForSelector(`#presence .person[data-name="Alice"] .pfile:text-is("main.py")`)
    // A's edit is durable on the server: the indicator says so.
    await a.page.waitForSelector('#saved[data-state=saved]')
    const durable = await a.page.evaluate(() => [...window.tandem.ctx.awareness.getStates().values()].some(s => s.tandem?.durable))
    assert(durable, 'the server publishes its durable state vector')
    // The terminal panel explains that terminals are not there yet (until /term exists).
    await b.page.click('#panels [data-panel=terminal]')
    await b.page.waitForSelector('#panels[data-terminal=unavailable] #terminal-note:not([hidden])')
    await shot(b.page, 'room.png')
    return { typingToRemoteMs: latency, firstFileMs }
  },

  async rename (browser, base) {
    const { a, b } = await pair(browser, base, 'rename')
    // A creates notes.md through the tree.
    await a.page.click('#new-file')
    await a.page.fill('#tree input.inline', 'notes.md')
    await a.page.press('#tree input.inline', 'Enter')
    await a.page.waitForSelector('#tabs .tab[data-path="notes.md"][aria-selected=true]')
    await caret(a.page, 1, 1)
    await a.page.keyboard.type('# Notes')
    // B opens it.
    await b.page.click('#tree li[data-path="notes.md"] .row')
    await b.page.waitForSelector('#tabs .tab[data-path="notes.md"][aria-selected=true]')
    await until(b.page, () => window.__screen().includes('# Notes'), null, { what: 'notes.md content on B' })
    // A renames it into a folder.
    await a.page.hover('#tree li[data-path="notes.md"] .row')
    await a.page.click('#tree li[data-path="notes.md"] [data-action=rename]')
    await a.page.fill('#tree input.inline', 'docs/notes.md')
    await a.page.press('#tree input.inline', 'Enter')
    // B's tree and tab follow; its editor shows the same content.
    await b.page.waitForSelector('#tree li[data-path="docs/notes.md"]')
    await b.page.waitForSelector('#tabs .tab[data-path="docs/notes.md"][aria-selected=true]')
    eq(await b.page.$('#tree li[data-path="notes.md"]'), null, 'old path gone from the tree')
    eq(await b.page.$('#tabs .tab[data-path="notes.md"]'), null, 'old tab gone')
    await until(b.page, () => window.__screen().includes('# Notes'), null, { what: 'renamed file content on B' })
    eq(await b.page.evaluate(() => window.tandem.editor().current()), 'docs/notes.md', "B's editor file")
    // Edits after the rename still reach the other side.
    await caret(b.page, 1, 8)
    await b.page.keyboard.type(' (moved)')
    await until(a.page, () => window.tandem.ctx.files.get('docs/notes.md')?.toString() === '# Notes (moved)', null, { what: "B's edit after rename on A" })
  },

  async undo (browser, base) {
    const { a, b } = await pair(browser, base, 'undo')
    await setContent(a, b, 'main.py', 'one\ntwo\n')
    await caret(a.page, 1, 4)
    await a.page.keyboard.type(' alice')
    await until(b.page, () => window.tandem.ctx.files.get('main.py').toString() === 'one alice\ntwo\n', null, { what: "A's edit on B" })
    await caret(b.page, 2, 4)
    await b.page.keyboard.type(' bob')
    await until(a.page, () => window.tandem.ctx.files.get('main.py').toString() === 'one alice\ntwo bob\n', null, { what: "B's edit on A" })
    // A undoes: only A's edit goes, on both sides.
    await a.page.evaluate(() => window.tandem.editor().focus())
    await a.page.keyboard.press('Control+z')
    await until(a.page, () => window.tandem.ctx.files.get('main.py').toString() === 'one\ntwo bob\n', null, { what: "A's undo on A" })
    await until(b.page, () => window.tandem.ctx.files.get('main.py').toString() === 'one\ntwo bob\n', null, { what: "A's undo on B" })
    // A undoes again: nothing of B's is touched.
    await a.page.keyboard.press('Control+z')
    eq(await docText(a.page, 'main.py'), 'one\ntwo bob\n', 'second undo leaves B alone')
    // Redo brings A's edit back.
    await a.page.keyboard.press('Control+Shift+z')
    await until(b.page, () => window.tandem.ctx.files.get('main.py').toString() === 'one alice\ntwo bob\n', null, { what: "A's redo on B" })
  },

  async follow (browser, base) {
    const { a, b } = await pair(browser, base, 'follow')
    const long = Array.from({ length: 300 }, (_, i) => `line_${i + 1} = ${i + 1}`).join('\n') + '\n'
    await a.page.evaluate(text => {
      const { ctx } = window.tandem
      const Y = ctx.files.get('main.py').constructor
      ctx.files.set('big.py', new Y(text))
    }, long)
    await b.page.waitForSelector('#tree li[data-path="big.py"]')
    // Clicking A in the presence bar jumps to A's file.
    await a.page.click('#tree li[data-path="big.py"] .row')
    await b.page.waitForSelector('#presence .person[data-name="Alice"] .pfile:text-is("big.py")')
    await b.page.click('#presence .person[data-name="Alice"] button.avatar')
    await b.page.waitForSelector('#tabs .tab[data-path="big.py"][aria-selected=true]')
    await b.page.click('#tabs .tab[data-path="main.py"]')
    await a.page.click('#tree li[data-path="main.py"] .row')
    await b.page.waitForSelector('#presence .person[data-name="Alice"] .pfile:text-is("main.py")')
    // B follows A.
    await b.page.click('#presence .person[data-name="Alice"] button.follow')
    await b.page.waitForSelector('#follow-banner:not([hidden])')
    await until(a.page, () => [...window.tandem.ctx.awareness.getStates().values()].some(s => s.user?.name === 'Bob' && s.following !== null), null, { what: "B's following in awareness" })
    // A switches file: B goes along.
    await a.page.click('#tree li[data-path="big.py"] .row')
    await b.page.waitForSelector('#tabs .tab[data-path="big.py"][aria-selected=true]')
    // A scrolls: B shows the same lines.
    await a.page.evaluate(() => { const ed = window.tandem.editor().editor; ed.setScrollTop(ed.getTopForLineNumber(200)) })
    await until(b.page, () => {
      const r = window.tandem.editor().editor.getVisibleRanges()[0]
      return r && r.startLineNumber >= 198 && r.startLineNumber <= 202
    }, null, { what: 'B scrolled to line 200 with A' })
    const line = await b.page.evaluate(() => window.tandem.editor().editor.getVisibleRanges()[0].startLineNumber)
    await shot(b.page, 'follow.png')
    // Escape stops following; A's next move no longer moves B.
    await b.page.evaluate(() => window.tandem.editor().focus())
    await b.page.keyboard.press('Escape')
    await b.page.waitForSelector('#follow-banner[hidden]', { state: 'attached' })
    await until(a.page, () => [...window.tandem.ctx.awareness.getStates().values()].some(s => s.user?.name === 'Bob' && s.following === null), null, { what: 'B stopped following (awareness)' })
    await a.page.click('#tree li[data-path="main.py"] .row')
    await until(b.page, () => [...window.tandem.ctx.awareness.getStates().values()].some(s => s.user?.name === 'Alice' && s.file === 'main.py'), null, { what: "A's file change seen by B" })
    eq(await b.page.evaluate(() => window.tandem.editor().current()), 'big.py', 'B stays after unfollowing')
    // Typing also stops following.
    await b.page.click('#presence .person[data-name="Alice"] button.follow')
    await b.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]')
    await caret(b.page, 1, 1)
    await b.page.keyboard.type('x')
    await b.page.waitForSelector('#follow-banner[hidden]', { state: 'attached' })
    return { followedLine: line }
  },

  async comments (browser, base) {
    const { a, b } = await pair(browser, base, 'comments')
    await setContent(a, b, 'main.py', 'import os\n\ndef target():\n    return 42\n')
    // A selects "def target():" (line 3) and comments on it.
    await a.page.evaluate(() => {
      const ed = window.tandem.editor().editor
      ed.setSelection({ startLineNumber: 3, startColumn: 1, endLineNumber: 3, endColumn: 14 })
      ed.focus()
    })
    await a.page.click('#comments button.add-comment:not([disabled])')
    await a.page.fill('#comments form.new-comment textarea', 'Rename this?')
    await a.page.click('#comments form.new-comment button[type=submit]')
    const thread = '#comments .thread[data-file="main.py"]'
    await b.page.waitForSelector(`${thread}[data-lines="3–3"]`)
    eq(await b.page.textContent(`${thread} blockquote`), 'def target():', 'quoted code')
    // Lines inserted above move the thread with the code.
    await caret(b.page, 1, 1)
    await b.page.keyboard.type('# one\n# two\n# three\n')
    await a.page.waitForSelector(`${thread}[data-lines="6–6"]`)
    await b.page.waitForSelector(`${thread}[data-lines="6–6"]`)
    eq(await a.page.textContent(`${thread} blockquote`), 'def target():', 'quoted code after insert')
    const highlighted = await a.page.evaluate(() => {
      const ed = window.tandem.editor().editor
      return ed.getModel().getAllDecorations().filter(d => d.options.className === 'comment-range').map(d => d.range.startLineNumber)
    })
    eq(JSON.stringify(highlighted), '[6]', 'editor highlight line')
    // B replies; A resolves; B sees it resolved, then reopens.
    await b.page.fill(`${thread} .reply textarea`, 'Sure')
    await b.page.click(`${thread} .reply button`)
    await a.page.waitForSelector(`${thread} .message:nth-of-type(2) .body:text-is("Sure")`)
    await a.page.click(`${thread} button.resolve`)
    await b.page.waitForSelector('#comments .thread', { state: 'detached' }) // resolved threads are filtered out
    await b.page.check('#comments input.show-resolved')
    await b.page.waitForSelector(`${thread}[data-resolved=true]`)
    await b.page.click(`${thread} button.resolve`)
    await a.page.waitForSelector(`${thread}[data-resolved=false]`)
    await shot(a.page, 'comments.png')
  },

  async terminal (browser, base) {
    const { name, a, b } = await pair(browser, base, 'term')
    const xterm = '#panels .term-view[data-term=main] .xterm-screen'
    // A opens the terminal panel: the sandbox starts and the shell runs.
    await a.page.click('#panels [data-panel=terminal]')
    await a.page.waitForSelector('#panels[data-terminal=running]', { timeout: 60000 })
    await a.page.waitForSelector(xterm)
    await b.page.click('#panels [data-panel=terminal]')
    await b.page.waitForSelector('#panels[data-terminal=running]', { timeout: 30000 })
    // A types a command; B sees A in the terminal, typing, in the presence bar.
    await a.page.click(xterm)
    await b.page.waitForSelector('#presence .person[data-name="Alice"][data-terminal=main]')
    const typingSeen = b.page.waitForSelector('#presence .person[data-name="Alice"][data-typing=true]', { timeout: 15000 })
    const t0 = Date.now()
    await a.page.keyboard.type('echo hi-$((6*7))')
    await typingSeen
    await a.page.keyboard.press('Enter')
    await termShows(b.page, 'hi-42')
    const outputMs = Date.now() - t0
    await termShows(a.page, 'hi-42')
    // B sees an attribution mark in A's colour, with A's name, on the command's line.
    const line = (await termLines(b.page)).findIndex(l => l.includes('echo hi-$((6*7))'))
    assert(line >= 0, 'the command line is in B\'s terminal')
    const mark = await until(b.page, l => {
      const el = document.querySelector(`#panels .term-view[data-term=main] .xterm-decoration.term-author[data-line="${l}"]`)
      return el ? { color: getComputedStyle(el).backgroundColor, author: el.dataset.author, title: el.title, width: el.getBoundingClientRect().width } : null
    }, line, { what: "A's attribution mark on B's command line" })
    eq(mark.color, rgb(await stampedColor(b.page, 'Alice')), 'attribution colour')
    eq(mark.author, 'Alice', 'attribution author')
    assert(mark.title.includes('Alice'), 'hover names the author: ' + mark.title)
    const marks = await b.page.evaluate(() => window.tandem.panels.terminals.get('main').marks())
    assert(!marks.some(m => m.line === line + 1), 'the output line carries no input mark: ' + JSON.stringify(marks))
    // Clicking A's "in the terminal" entry opens the terminal panel.
    await b.page.click('#panels [data-panel=terminal]') // collapse
    await b.page.waitForSelector('#panels[data-open=false]')
    await b.page.click('#presence .person[data-name="Alice"] button.pterm')
    await b.page.waitForSelector('#panels[data-open=true] [data-panel=terminal][aria-selected=true]')
    await b.page.locator('#panels').screenshot({ path: path.join(ARTIFACTS, 'terminal.png') })

    // A viewer (?view=1) watches but cannot type: no input leaves the page, and the server
    // refuses it too.
    const v = await person(browser, base, { name: 'Vera', color: '#46a758' })
    await invite(a, v, 'viewer', { editor: false })
    await v.page.click('#panels [data-panel=terminal]')
    await v.page.waitForSelector('#panels[data-terminal=running]', { timeout: 30000 })
    await v.page.waitForSelector('#panels .term-ro:not([hidden])')
    await termShows(v.page, 'hi-42')
    eq(await v.page.isVisible('#panels .term-restart'), false, 'no Restart for a viewer')
    await v.page.click('#panels .term-view[data-term=main] .xterm-screen')
    await v.page.keyboard.type('echo viewer-$((1+2))')
    await v.page.keyboard.press('Enter')
    const refused = await v.page.evaluate(async room => {
      const ws = new WebSocket(`ws://${location.host}/term/${encodeURIComponent(room)}/main`)
      ws.binaryType = 'arraybuffer'
      return await new Promise(resolve => {
        const timer = setTimeout(() => resolve('timeout'), 10000)
        ws.onmessage = e => {
          if (typeof e.data !== 'string') return
          const msg = JSON.parse(e.data)
          if (msg.type === 'resync') ws.send(new TextEncoder().encode('echo raw-$((2+3))\r'))
          if (msg.type === 'error') { clearTimeout(timer); ws.close(); resolve(msg.code) }
        }
      })
    }, name)
    eq(refused, 'read_only', "the server's answer to a viewer's input")
    // A's next command shows up everywhere; nothing the viewer typed ever reached the shell.
    await a.page.click(xterm)
    await a.page.keyboard.type('echo after-$((40+2))')
    await a.page.keyboard.press('Enter')
    await termShows(v.page, 'after-42')
    for (const p of [a.page, v.page]) {
      const text = (await termLines(p)).join('\n')
      assert(!text.includes('viewer-') && !text.includes('raw-'), 'viewer input reached the terminal: ' + text)
    }

    // The shell exits: everyone sees the exit code; an editor restarts it.
    await a.page.keyboard.type('exit 3')
    await a.page.keyboard.press('Enter')
    await b.page.waitForSelector('#panels[data-terminal=exited] .term-status:text-is("exited (code 3)")')
    await v.page.waitForSelector('#panels[data-terminal=exited]')
    await a.page.click('#panels .term-restart:visible')
    await b.page.waitForSelector('#panels[data-terminal=running]', { timeout: 30000 })
    await a.page.waitForSelector('#panels[data-terminal=running]')

    // A second named terminal: the "+" opens it, the others see its tab.
    await a.page.click('#panels .term-new')
    eq(await a.page.inputValue('#panels input.term-name'), 'term2', 'suggested name')
    await a.page.press('#panels input.term-name', 'Enter')
    await a.page.waitForSelector('#panels .term-tab[data-term=term2][aria-selected=true]')
    await a.page.waitForSelector('#panels[data-terminal=running]', { timeout: 30000 })
    await b.page.waitForSelector('#panels .term-tab[data-term=term2]')
    await v.page.waitForSelector('#panels .term-tab[data-term=term2]')
    await b.page.click('#panels .term-tab[data-term=term2]')
    await b.page.waitForSelector('#panels .term-tab[data-term=term2][aria-selected=true]')
    await b.page.waitForSelector('#panels[data-terminal=running]', { timeout: 30000 })
    await a.page.click('#panels .term-view[data-term=term2] .xterm-screen')
    await a.page.keyboard.type('echo two-$((1+1))')
    await a.page.keyboard.press('Enter')
    await termShows(b.page, 'two-2', 'term2')
    await v.page.click('#panels .term-tab[data-term=term2]')
    await termShows(v.page, 'two-2', 'term2')
    await v.page.waitForSelector('#panels[data-terminal=running] .term-ro:not([hidden])')
    return { outputToRemoteMs: outputMs }
  },

  // Against a server with TANDEM_MAX_ACTIVE_SANDBOXES=1 (#16 item 6).
  async sandboxLimit (browser, base) {
    const a = await person(browser, base, { name: 'Alice', color: '#e5484d' })
    const b = await person(browser, base, { name: 'Bob', color: '#0090ff' })
    await ownRoom(a, 'full-a')
    await a.page.click('#panels [data-panel=terminal]')
    await a.page.waitForSelector('#panels[data-terminal=running]', { timeout: 60000 })
    // Bob's session wants a second sandbox: his panel says why he has no terminal, and retries.
    await ownRoom(b, 'full-b')
    await b.page.click('#panels [data-panel=terminal]')
    const note = '#panels[data-terminal=reconnecting] #terminal-note:not([hidden])'
    await b.page.waitForSelector(note, { timeout: 30000 })
    eq(await b.page.textContent(note), 'all 1 sandboxes are in use; try again when one frees', 'the refusal')
    await shot(b.page, 'sandbox-limit.png')
    // Alice leaves: her terminal is hung up, her sandbox freed, and Bob's panel gets a shell.
    await a.page.context().close()
    await b.page.waitForSelector('#panels[data-terminal=running]', { timeout: 90000 })
    await until(b.page, () => document.querySelector('#terminal-note')?.hidden !== false, null, { what: 'the note gone' })
    return {}
  },

  async mobile (browser, base) {
    const a = await person(browser, base, { name: 'Alice', color: '#e5484d' })
    await ownRoom(a, 'mobile')
    await a.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]')
    const phone = await person(browser, base, {
      name: 'Pat',
      color: '#46a758',
      device: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36' }
    })
    const p = phone.page
    const url = await createLink(a.page, 'viewer')
    await closeDialog(a.page)
    const t0 = Date.now()
    await joinLink(p, url, phone.name)
    await until(p, () => window.__screen().includes('Welcome to Tandem'), null, { what: 'first file visible on the phone' })
    const firstFileMs = Date.now() - t0
    eq(await p.evaluate(() => document.body.dataset.mode), 'view', 'viewer mode')
    // The viewer cannot type.
    await p.tap('#editor .view-lines')
    await p.keyboard.type('zzz')
    await p.evaluate(() => window.tandem.editor().editor.trigger('test', 'type', { text: 'yyy' }))
    const text = await docText(p, 'main.py')
    assert(!text.includes('zzz') && !text.includes('yyy'), 'viewer typed into the document: ' + JSON.stringify(text))
    // Live edits and A's cursor show up on the phone.
    await caret(a.page, 2, 1)
    await a.page.keyboard.type('live = True')
    await until(p, () => window.__screen().includes('live = True'), null, { what: 'live edit on the phone' })
    const aId = await a.page.evaluate(() => window.tandem.ctx.doc.clientID)
    await p.waitForSelector(`.yRemoteSelectionHead-${aId}`)
    // Phone panes: files, people (follow), comments.
    await p.tap('.phone-nav [data-pane=files]')
    await p.waitForSelector('#tree li[data-path="main.py"]', { state: 'visible' })
    await p.tap('.phone-nav [data-pane=people]')
    await p.tap('#people .person[data-name="Alice"] button.follow')
    await p.waitForSelector('body[data-pane=code] #follow-banner:not([hidden])')
    await shot(p, 'mobile.png')
    // The manifest is served and the service worker controls the page.
    const manifest = await p.evaluate(async () => (await fetch(document.querySelector('link[rel=manifest]').href)).json())
    eq(manifest.name, 'Tandem', 'manifest name')
    assert(manifest.icons.some(i => i.sizes === '512x512'), 'manifest has a 512 icon')
    await until(p, () => navigator.serviceWorker.ready.then(r => Boolean(r.active)), null, { what: 'service worker active', timeout: 20000 })
    // The worker precaches only the shell, and keeps what this first visit loaded before it was in
    // control (the open file's language among them): all of it is cached for an offline reload.
    await until(p, async () => {
      const used = performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)
        .filter(u => u.startsWith('/static/dist/'))
      const keys = await caches.keys()
      const cache = await caches.open(keys.find(k => k.startsWith('tandem-')))
      for (const u of used) if (!(await cache.match(u))) return false
      return used.some(u => u.includes('/chunks/'))
    }, null, { what: 'assets of the first visit in the service worker cache', timeout: 20000 })
    await p.reload()
    await until(p, () => Boolean(navigator.serviceWorker.controller), null, { what: 'service worker controls the page' })
    // Chromium's own installability checks (what its install prompt requires) find nothing missing.
    const cdp = await p.context().newCDPSession(p)
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors')
    // "in-incognito" is the test browser's throwaway profile, not the app.
    const appErrors = installabilityErrors.filter(e => e.errorId !== 'in-incognito')
    eq(JSON.stringify(appErrors), '[]', 'installability errors')
    await p.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
    await until(p, () => window.__screen().includes('live = True'), null, { what: 'content after online reload' })
    // Offline reload: the shell comes from the service worker, the content from IndexedDB.
    await phone.context.setOffline(true)
    await p.reload()
    await p.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
    await until(p, () => window.__screen().includes('live = True'), null, { what: 'content after offline reload' })
    // Highlighted: the language's tokenizer (a lazily loaded chunk) came from the cache too.
    await until(p, () => document.querySelectorAll('#editor .view-lines span[class^=mtk]:not(.mtk1)').length > 0, null, { what: 'syntax colours after offline reload' })
    await p.waitForSelector('#offline:not([hidden])', { timeout: 15000 })
    await shot(p, 'mobile-offline.png')
    await phone.context.setOffline(false)
    return { firstFileVisibleMs: firstFileMs }
  }
}

run(scenarios)
