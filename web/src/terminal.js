// Terminal panel (lazy entry): xterm.js attached to WebSocket /term/{session}/{terminal}.
// Binary frames carry terminal bytes both ways; text frames are JSON control messages.
import { Terminal } from '@xterm/xterm'
import '@xterm/xterm/css/xterm.css'

/**
 * @param {HTMLElement} container
 * @param {{session: string, name: string, token: string|null, readOnly: boolean,
 *          onUnavailable: (why: string) => void, onStatus: (s: string) => void, onTyping: (b: boolean) => void}} opts
 */
export function openTerminal (container, opts) {
  const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 13, disableStdin: opts.readOnly, scrollback: 5000 })
  term.open(container)
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const q = opts.token ? '?token=' + encodeURIComponent(opts.token) : ''
  const ws = new WebSocket(`${scheme}://${location.host}/term/${encodeURIComponent(opts.session)}/${encodeURIComponent(opts.name)}${q}`)
  ws.binaryType = 'arraybuffer'
  let opened = false
  const encoder = new TextEncoder()
  const fit = () => {
    const el = container.querySelector('.xterm-screen')
    const cell = term._core?._renderService?.dimensions?.css?.cell
    if (!el || !cell?.width) return
    const cols = Math.max(20, Math.floor(container.clientWidth / cell.width))
    const rows = Math.max(5, Math.floor(container.clientHeight / cell.height))
    if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows)
  }
  const ro = new ResizeObserver(fit)
  ro.observe(container)
  term.onResize(({ cols, rows }) => { if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'resize', cols, rows })) })
  let typingTimer = 0
  term.onData(data => {
    if (ws.readyState !== 1 || opts.readOnly) return
    ws.send(encoder.encode(data))
    opts.onTyping(true)
    clearTimeout(typingTimer)
    typingTimer = setTimeout(() => opts.onTyping(false), 1500)
  })
  ws.onopen = () => { opened = true; opts.onStatus('running'); fit(); ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows })) }
  ws.onmessage = e => {
    if (typeof e.data !== 'string') return term.write(new Uint8Array(e.data))
    let msg
    try { msg = JSON.parse(e.data) } catch { return }
    if (msg.type === 'status') opts.onStatus(String(msg.status || ''))
    if (msg.type === 'exit') { opts.onStatus('exited'); term.write(`\r\n[process exited${msg.code !== undefined ? ' with code ' + msg.code : ''}]\r\n`) }
    if (msg.type === 'error') opts.onUnavailable(String(msg.message || msg.reason || 'Terminal error'))
  }
  ws.onclose = e => {
    if (!opened) opts.onUnavailable(e.reason || 'Terminals are not available yet on this server.')
    else opts.onStatus(e.reason ? `closed: ${e.reason}` : 'disconnected')
  }
  return { term, close: () => { ro.disconnect(); ws.close(); term.dispose() } }
}
