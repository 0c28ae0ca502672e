// A room holding a real project past the frame limit (tests/browser/test_large_room.py):
// the first file's text is on screen before the live doc has synced, the editor then takes over,
// and a warm reload (the doc in IndexedDB) sends kilobytes and is never closed.
import { assert, eq, person, run, until } from './harness.mjs'

const ROOM = 'large-project'
const SMALL = 64 * 1024

// In every page of the context, before the app: what the page sends on its WebSockets, the codes
// they close with, and the order of two moments (first text shown, live doc synced).
const instrument = () => {
  window.__ws = { sent: 0, maxSent: 0, closes: [] }
  const send = WebSocket.prototype.send
  WebSocket.prototype.send = function (data) {
    const n = data.byteLength ?? data.size ?? data.length ?? 0
    window.__ws.sent += n
    window.__ws.maxSent = Math.max(window.__ws.maxSent, n)
    if (!this.__watched) { this.__watched = true; this.addEventListener('close', e => window.__ws.closes.push(e.code)) }
    return send.call(this, data)
  }
  window.__events = []
  const seen = new Set()
  const note = (name, extra = {}) => { if (!seen.has(name)) { seen.add(name); window.__events.push({ name, ...extra }) } }
  new MutationObserver(() => {
    const body = document.body
    if (!body) return
    if (body.dataset.firstText === 'shown') {
      const provider = window.tandem?.ctx?.provider
      note('first-text', {
        path: document.querySelector('#first-text')?.dataset.path,
        text: document.querySelector('#first-text pre')?.textContent,
        synced: provider ? provider.synced : false,
        liveFiles: window.tandem?.ctx?.files.size ?? 0
      })
    }
    if (body.dataset.connection === 'online') note('synced')
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-first-text', 'data-connection'] })
}

const scenarios = {
  async firstText (browser, base) {
    const p = await person(browser, base, { name: 'Reader', color: '#0090ff' })
    await p.context.addInitScript(instrument)
    const first = await (await p.context.request.get(`/api/sessions/${ROOM}/files/first`)).json()
    await p.page.goto(`/s/${ROOM}`)
    await until(p.page, () => window.__events.some(e => e.name === 'synced'), null, { what: 'live doc synced', timeout: 180000 })
    const events = await p.page.evaluate(() => window.__events)
    eq(events.map(e => e.name).join(','), 'first-text,synced', 'order of first text and sync')
    const shown = events[0]
    eq(shown.path, first.path, 'file shown first')
    eq(shown.text, first.text, 'its text')
    eq(shown.synced, false, 'the live doc was not synced when the text showed')
    // The editor takes over with the live file; the plain text goes.
    await p.page.waitForSelector('body[data-editor=ready]', { timeout: 120000 })
    await until(p.page, () => document.body.dataset.firstText === 'live' && !document.querySelector('#first-text'), null, { what: 'editor took over', timeout: 60000 })
    eq(await p.page.evaluate(() => document.body.dataset.file), first.path, 'the editor opened the same file')
    const cold = await p.page.evaluate(() => ({ ...window.__ws, files: window.tandem.ctx.files.size }))
    assert(cold.closes.length === 0, `cold load closed: ${cold.closes}`)
    // Let IndexedDB hold the whole doc (y-indexeddb writes each update as it arrives).
    await until(p.page, async () => {
      const idb = window.tandem.ctx.idb
      return idb.synced && (await idb.db && true)
    }, null, { what: 'local copy', timeout: 60000 })

    // Warm reload: the local copy loads, then the page connects and sends only what changed.
    await p.page.reload()
    await until(p.page, () => window.__events.some(e => e.name === 'synced'), null, { what: 'warm sync', timeout: 180000 })
    const warm = await p.page.evaluate(() => ({ ...window.__ws, files: window.tandem.ctx.files.size }))
    eq(warm.files, cold.files, 'files after the warm reload')
    assert(warm.closes.length === 0, `warm reload closed with ${warm.closes}`)
    assert(warm.sent < SMALL, `warm reload sent ${warm.sent} bytes (largest frame ${warm.maxSent})`)
    return { files: cold.files, warmSentBytes: warm.sent, coldSentBytes: cold.sent }
  },

  // Work done offline that is larger than one frame may carry goes up in pieces on reconnect.
  async offlineWork (browser, base) {
    const room = 'offline-work'
    const p = await person(browser, base, { name: 'Writer', color: '#e5484d' })
    await p.context.addInitScript(instrument)
    await p.page.goto(`/s/${room}`)
    await until(p.page, () => window.__events.some(e => e.name === 'synced') && window.tandem.ctx.files.has('main.py'), null, { what: 'room synced', timeout: 60000 })
    const wrote = await p.page.evaluate(() => {
      const { ctx } = window.tandem
      ctx.provider.disconnect()
      window.__ws.sent = 0
      window.__ws.maxSent = 0
      const YText = ctx.files.get('main.py').constructor
      const line = 'offline work that nobody has seen yet, line after line\n'
      const text = line.repeat(Math.ceil(700000 / line.length))
      ctx.doc.transact(() => { for (let i = 0; i < 26; i++) ctx.files.set(`big/f${i}.txt`, new YText(text)) })
      ctx.provider.connect()
      return { files: 26, length: text.length, line }
    })
    assert(wrote.files * wrote.length > 16 * 1024 * 1024, 'more than one frame may carry')
    // The server has every file (its REST view of the room), and nothing was closed.
    const deadline = Date.now() + 120000
    for (;;) {
      const r = await p.context.request.get(`/api/sessions/${room}/files/first?path=big/f25.txt`)
      const got = r.ok() ? await r.json() : null
      // (the first text is a file's beginning: 256 Ki characters at most)
      if (got && got.path === 'big/f25.txt' && got.files === 27 && got.text.startsWith(wrote.line)) break
      assert(Date.now() < deadline, 'the server never got the offline work')
      await p.page.waitForTimeout(200) // polling the server with a deadline
    }
    const ws = await p.page.evaluate(() => window.__ws)
    eq(ws.closes.filter(code => code !== 1005).length, 0, `closes ${ws.closes}`) // 1005: our own disconnect
    assert(ws.maxSent <= 1024 * 1024 + 64, `largest frame sent ${ws.maxSent}`)
    assert(ws.sent > 16 * 1024 * 1024, `sent ${ws.sent}`)
    return { sent: ws.sent, maxSent: ws.maxSent }
  }
}

run(scenarios)
