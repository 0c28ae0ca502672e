// The bottom panels: the shared terminal (xterm.js, lazy) and screen share (a video element).
// Until the server offers /term and /signal, they say so instead of failing silently.
import { $, h } from '../lib/dom.js'
import { connectScreenShare } from './screenshare.js'
import { createTerminalPanel } from './terminals.js'

/**
 * @param {{session: string, token: string|null, readOnly: boolean, ctx: object, loadCss: (url: string) => void, assets: object}} opts
 */
export function createPanels (root, opts) {
  const tabs = root.querySelectorAll('[role=tab][data-panel]')
  const terminals = createTerminalPanel(root, $('[data-panel-body=terminal]', root), opts)
  const shareNote = $('#share-note', root)
  let selected = null

  const select = (name, term) => {
    selected = name
    for (const t of tabs) t.setAttribute('aria-selected', String(t.dataset.panel === name))
    for (const p of root.querySelectorAll('[data-panel-body]')) p.hidden = p.dataset.panelBody !== name
    root.dataset.open = 'true'
    if (name === 'terminal') terminals.show(term)
    else terminals.hidden()
  }
  for (const t of tabs) t.addEventListener('click', () => (selected === t.dataset.panel && root.dataset.open === 'true') ? collapse() : select(t.dataset.panel))
  const collapse = () => { root.dataset.open = 'false'; selected = null; terminals.hidden(); for (const t of tabs) t.setAttribute('aria-selected', 'false') }

  createSharePanel(root, shareNote, opts, select)
  /** Open the Terminal panel on one terminal (the presence bar's "in the terminal" click). */
  const openTerminal = name => select('terminal', name)
  return { select, collapse, openTerminal, terminals }
}

// Screen share: editors start/stop (getDisplayMedia); everyone watches a sharer in a video panel;
// awareness `sharing` feeds presence; following someone who starts sharing opens their share.
function createSharePanel (root, note, opts, select) {
  const body = note.parentElement
  const video = h('video', { autoplay: true, playsInline: true, muted: true, hidden: true, style: { width: '100%', maxHeight: '60vh', background: '#000' } })
  const button = h('button.ghost', { type: 'button', hidden: opts.readOnly }, 'Share your screen')
  const list = h('div.share-list')
  body.append(button, list, video)
  const phone = opts.readOnly && matchMedia('(pointer: coarse)').matches
  let current = null
  const share = connectScreenShare({
    session: opts.session,
    token: opts.token,
    light: phone || new URLSearchParams(location.search).has('light'),
    onChange: st => {
      current = st
      const sharers = st.peers.filter(p => p.sharing && p.id !== st.me)
      note.hidden = Boolean(st.sharing || sharers.length) && !st.error
      note.textContent = st.error || 'Nobody is sharing a screen.'
      button.textContent = st.sharing ? 'Stop sharing' : 'Share your screen'
      list.replaceChildren(...sharers.map(p => h('button.ghost', {
        type: 'button',
        'aria-pressed': String(st.watching === p.id),
        onclick: () => st.watching === p.id ? share.stopWatching() : share.watch(p.id)
      }, `${st.watching === p.id ? 'Stop watching' : 'Watch'} ${p.name}`)))
      if (st.watching && !sharers.some(p => p.id === st.watching)) share.stopWatching()
      video.hidden = !st.remote
      if (video.srcObject !== st.remote) video.srcObject = st.remote
      root.querySelector('[data-panel=share]').dataset.live = String(sharers.length > 0)
      if (opts.ctx.awareness.getLocalState()?.sharing !== st.sharing) opts.ctx.awareness.setLocalStateField('sharing', st.sharing)
      followShare()
    }
  })
  button.addEventListener('click', async () => {
    try {
      if (current?.sharing) share.stop()
      else await share.start()
    } catch (err) {
      note.hidden = false
      note.textContent = `Screen share did not start: ${err?.message || err}`
    }
  })
  // Follow mode: when the followed person shares, open the panel on their share.
  function followShare () {
    const aw = opts.ctx.awareness
    const followed = aw.getLocalState()?.following
    const st = followed != null ? aw.getStates().get(followed) : null
    if (!st?.sharing || !current) return
    const peer = current.peers.find(p => p.sharing && p.userId === st.user?.id)
    if (peer && current.watching !== peer.id) { select('share'); share.watch(peer.id) }
  }
  opts.ctx.awareness.on('change', followShare)
}
