// The bottom panels: the shared terminal (xterm.js, lazy) and screen share (a video element).
// Until the server offers /term and /signal, they say so instead of failing silently.
import { $ } from '../lib/dom.js'

/**
 * @param {{session: string, token: string|null, readOnly: boolean, ctx: object, loadCss: (url: string) => void, assets: object}} opts
 */
export function createPanels (root, opts) {
  const tabs = root.querySelectorAll('[role=tab][data-panel]')
  const termBox = $('#terminal', root)
  const termNote = $('#terminal-note', root)
  const shareNote = $('#share-note', root)
  let terminal = null
  let selected = null

  const select = name => {
    selected = name
    for (const t of tabs) t.setAttribute('aria-selected', String(t.dataset.panel === name))
    for (const p of root.querySelectorAll('[data-panel-body]')) p.hidden = p.dataset.panelBody !== name
    root.dataset.open = 'true'
    if (name === 'terminal') startTerminal()
  }
  for (const t of tabs) t.addEventListener('click', () => (selected === t.dataset.panel && root.dataset.open === 'true') ? collapse() : select(t.dataset.panel))
  const collapse = () => { root.dataset.open = 'false'; selected = null; for (const t of tabs) t.setAttribute('aria-selected', 'false') }

  function unavailable (why) {
    termNote.hidden = false
    termNote.textContent = why && !/^\d+$/.test(why) ? why : 'Terminals are not available yet on this server.'
    root.dataset.terminal = 'unavailable'
  }

  async function startTerminal () {
    if (terminal) return
    terminal = 'loading'
    termNote.hidden = false
    termNote.textContent = 'Connecting to the terminal…'
    try {
      if (opts.assets['terminal.css']) opts.loadCss(opts.assets['terminal.css'])
      const { openTerminal } = await import('../terminal.js')
      terminal = openTerminal(termBox, {
        session: opts.session,
        name: 'main',
        token: opts.token,
        readOnly: opts.readOnly,
        onUnavailable: unavailable,
        onStatus: s => { root.dataset.terminal = s; if (s === 'running') termNote.hidden = true },
        onTyping: typing => opts.ctx.awareness.setLocalStateField('terminal', { id: 'main', typing })
      })
    } catch (err) {
      unavailable(String(err?.message || err))
    }
  }

  // The server lists terminals in the `terminals` map; until one exists the note stays.
  const renderTerminals = () => {
    const n = opts.ctx.terminals.size
    root.querySelector('[data-panel=terminal] .count').textContent = n ? String(n) : ''
  }
  opts.ctx.terminals.observe(renderTerminals)
  renderTerminals()

  shareNote.textContent = 'Screen share is not available yet on this server.'
  return { select, collapse }
}
