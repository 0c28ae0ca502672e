// Terminal panel (lazy entry): xterm.js attached to WebSocket /term/{session}/{terminal}.
// Binary frames carry terminal bytes both ways; text frames are JSON control messages:
//   server → client: resync {reason, status, cols, rows, exit_code} (reset; the next binary frame
//   is the scrollback), status {status} | {cols, rows}, exit {code}, attribution {author, at, nbytes},
//   error {code: read_only|sandbox_off|sandboxes_full|forbidden, message};
//   client → server: resize {cols, rows} (editors only), restart {}.
// Close codes: 4503 terminals off, 4400/4401/4403/4404, 1013 caps, 1001 closed/shutdown.
import { Terminal } from '@xterm/xterm'
import { FitAddon } from '@xterm/addon-fit'
import '@xterm/xterm/css/xterm.css'

// 1013: the session's node did not answer a tunnel (another node, or the same one, will).
const RECONNECT = new Set([1001, 1006, 1011, 1012, 1013])
const MAX_MARKS = 2000

/**
 * @param {HTMLElement} container
 * @param {{session: string, name: string, token: string|null, readOnly: boolean, query?: object,
 *          author?: (a: {id, name, color}) => {name: string, color: string},
 *          onState: (state: string, info: object) => void, onReadOnly?: () => void,
 *          onTyping: (b: boolean) => void, onFocus?: (b: boolean) => void}} opts
 */
const FONT_SIZE = 13

export function openTerminal (container, opts) {
  let readOnly = Boolean(opts.readOnly)
  const term = new Terminal({
    convertEol: false,
    cursorBlink: true,
    fontSize: FONT_SIZE,
    disableStdin: readOnly,
    scrollback: 5000,
    allowProposedApi: true, // registerDecoration (attribution marks) is still "proposed" in xterm 6
    theme: { background: '#0d1117' }
  })
  term.open(container)
  const encoder = new TextEncoder()
  let ws = null
  let disposed = false
  let attempt = 0
  let retryTimer = 0
  let state = ''
  let lastError = null // the last `error` frame
  let refusal = null // why the server cannot start this terminal now (all sandboxes in use): shown while retrying
  let want = null // the size this client would like (editors only)

  const setState = (s, info = {}) => { state = s; opts.onState(s, info) }

  // ---- size: editors fit the panel and ask the server; everyone renders the server's size
  // @xterm/addon-fit measures the cells (public API; no reaching into xterm's render service):
  // how many columns and rows of the current font fit the container.
  const fitAddon = new FitAddon()
  term.loadAddon(fitAddon)
  const proposed = () => {
    if (!container.clientWidth || !container.clientHeight) return null
    const dims = fitAddon.proposeDimensions()
    return dims && dims.cols > 0 && dims.rows > 0 ? dims : null
  }
  const fit = () => {
    const dims = proposed()
    if (!dims || readOnly) return
    const cols = Math.max(20, dims.cols)
    const rows = Math.max(5, dims.rows)
    if (!want || want.cols !== cols || want.rows !== rows) {
      want = { cols, rows }
      if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows)
      sendResize()
    }
  }
  const sendResize = () => {
    if (!readOnly && want && ws?.readyState === 1) ws.send(JSON.stringify({ type: 'resize', ...want }))
  }
  const serverSize = (cols, rows) => {
    if (cols > 0 && rows > 0 && (cols !== term.cols || rows !== term.rows)) term.resize(cols, rows)
    scaleToFit()
  }
  // A watcher renders the terminal at the size its editors chose: on a narrower screen (a phone)
  // the font shrinks until every column and row fits, instead of cutting off the right edge.
  const scaleToFit = () => {
    const dims = readOnly ? proposed() : null
    if (!dims) return
    const size = term.options.fontSize
    const scale = Math.min(dims.cols / term.cols, dims.rows / term.rows)
    const next = Math.max(5, Math.min(FONT_SIZE, Math.floor(size * scale * 4) / 4))
    if (next !== size) term.options.fontSize = next
  }
  const ro = new ResizeObserver(() => { fit(); scaleToFit() })
  ro.observe(container)

  // ---- input and typing presence
  let typingTimer = 0
  // Only the focused page sends: every attached xterm answers the shell's queries (cursor
  // position, device attributes), and those answers must reach the shell once, from whoever is in it.
  const focused = () => document.hasFocus() && document.activeElement === term.textarea
  term.onData(data => {
    if (ws?.readyState !== 1 || readOnly || !focused()) return
    ws.send(encoder.encode(data))
    opts.onTyping(true)
    clearTimeout(typingTimer)
    typingTimer = setTimeout(() => opts.onTyping(false), 1500)
  })
  term.textarea?.addEventListener('focus', () => opts.onFocus?.(true))
  term.textarea?.addEventListener('blur', () => { clearTimeout(typingTimer); opts.onFocus?.(false) })

  // ---- attribution: a thin mark in the author's colour on the line the cursor is on
  const marks = [] // {marker, deco, authors: Map<id, {name, color}>}
  const clearMarks = () => { for (const m of marks.splice(0)) { m.deco?.dispose(); m.marker.dispose() } }
  const paint = (m, el) => {
    const list = [...m.authors.values()]
    const last = list[list.length - 1]
    el.classList.add('term-author')
    el.style.setProperty('--user-color', last.color)
    el.dataset.author = last.name
    el.dataset.authors = list.map(a => a.name).join(', ')
    el.dataset.line = String(m.marker.line)
    el.title = 'Typed by ' + list.map(a => a.name).join(', ')
  }
  const attribute = raw => {
    const a = opts.author ? opts.author(raw) : raw
    const who = { name: String(a?.name || raw?.name || 'someone'), color: /^#[0-9a-f]{6}$/i.test(a?.color) ? a.color : '#888888' }
    const id = String(raw?.id || who.name)
    const buf = term.buffer.active
    const line = buf.baseY + buf.cursorY
    let m = marks.find(x => !x.marker.isDisposed && x.marker.line === line)
    if (m) {
      if (m.authors.has(id) && [...m.authors.keys()].pop() === id) return
      m.authors.delete(id)
      m.authors.set(id, who)
      if (m.deco?.element) paint(m, m.deco.element)
      return
    }
    const marker = term.registerMarker(0)
    if (!marker) return
    m = { marker, deco: null, authors: new Map([[id, who]]) }
    m.deco = term.registerDecoration({ marker, x: 0, width: 1, height: 1 })
    m.deco?.onRender(el => paint(m, el))
    marker.onDispose(() => { const i = marks.indexOf(m); if (i >= 0) marks.splice(i, 1); m.deco?.dispose() })
    marks.push(m)
    while (marks.length > MAX_MARKS) { const old = marks.shift(); old.deco?.dispose(); old.marker.dispose() }
  }

  // ---- the socket, reconnected with backoff while the page is open
  const url = () => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const q = new URLSearchParams()
    if (opts.token) q.set('token', opts.token)
    for (const [k, v] of Object.entries(opts.query || {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
    const qs = q.toString()
    return `${scheme}://${location.host}/term/${encodeURIComponent(opts.session)}/${encodeURIComponent(opts.name)}${qs ? '?' + qs : ''}`
  }

  function connect () {
    if (disposed) return
    lastError = null
    setState(attempt ? 'reconnecting' : 'connecting', { attempt, message: refusal })
    const sock = ws = new WebSocket(url())
    sock.binaryType = 'arraybuffer'
    sock.onopen = () => {
      if (sock !== ws) return
      want = null
      fit()
      sendResize()
    }
    sock.onmessage = e => {
      if (sock !== ws) return
      if (typeof e.data !== 'string') { term.write(new Uint8Array(e.data)); return }
      let msg
      try { msg = JSON.parse(e.data) } catch { return }
      switch (msg.type) {
        case 'resync':
          attempt = 0
          refusal = null
          term.write('', () => { term.reset(); clearMarks() })
          serverSize(msg.cols, msg.rows)
          if (msg.status === 'exited') setState('exited', { code: msg.exit_code ?? null })
          else setState(msg.status === 'starting' ? 'starting' : 'running', {})
          break
        case 'status':
          if (msg.cols && msg.rows) serverSize(msg.cols, msg.rows)
          if (msg.status) setState(msg.status === 'exited' ? 'exited' : msg.status, {})
          break
        case 'exit':
          term.write(`\r\n\x1b[2m[process exited${msg.code !== undefined && msg.code !== null ? ' with code ' + msg.code : ''}]\x1b[0m\r\n`)
          setState('exited', { code: msg.code ?? null })
          break
        case 'attribution':
          // After the output queued before it is parsed, so the cursor is where it was then.
          term.write('', () => {
            try { if (!disposed) attribute(msg.author || {}) } catch (err) { console.warn('attribution', err) }
          })
          break
        case 'error':
          lastError = msg
          if (msg.code === 'read_only') {
            readOnly = true
            term.options.disableStdin = true
            opts.onReadOnly?.()
          } else if (msg.code === 'sandboxes_full') {
            refusal = String(msg.message || 'all sandboxes are in use; try again when one frees')
          } else if (msg.code === 'sandbox_off') {
            setState('unavailable', { message: String(msg.message || 'terminals are off') })
          } else {
            opts.onState('error', { code: msg.code, message: String(msg.message || 'terminal error') })
          }
          break
      }
    }
    sock.onclose = e => {
      if (sock !== ws || disposed) return
      ws = null
      if (e.code === 4503 || lastError?.code === 'sandbox_off') {
        return setState('unavailable', { message: lastError?.message || e.reason || 'terminals are off on this server' })
      }
      if (RECONNECT.has(e.code)) {
        const delay = Math.min(10000, 500 * 2 ** attempt) * (0.75 + Math.random() / 2)
        attempt++
        setState('reconnecting', { inMs: Math.round(delay), reason: e.reason || '', attempt, message: refusal })
        retryTimer = setTimeout(connect, delay)
        return
      }
      const why = {
        4400: 'bad request', 4401: 'not signed in', 4403: 'not allowed', 4404: 'no such terminal', 1013: 'too many terminals, try again later'
      }[e.code]
      setState(e.code === 4404 ? 'missing' : 'closed', { code: e.code, message: e.reason || why || 'disconnected' })
    }
  }
  const onPageHide = () => { disposed = true; ws?.close(1000) }
  addEventListener('pagehide', onPageHide)
  connect()

  return {
    term,
    get state () { return state },
    get readOnly () { return readOnly },
    marks: () => marks.filter(m => !m.marker.isDisposed).map(m => ({ line: m.marker.line, authors: [...m.authors.values()] })),
    restart () {
      if (readOnly) return
      if (ws?.readyState === 1) ws.send(JSON.stringify({ type: 'restart' }))
      else { clearTimeout(retryTimer); attempt = 0; if (!ws) connect() }
    },
    reconnect () { clearTimeout(retryTimer); attempt = 0; if (!ws) connect() },
    focus () { term.focus() },
    fit,
    close () {
      disposed = true
      clearTimeout(retryTimer)
      clearTimeout(typingTimer)
      removeEventListener('pagehide', onPageHide)
      ro.disconnect()
      ws?.close(1000)
      clearMarks()
      term.dispose()
    }
  }
}
