// Presence: everyone in the room (from awareness), the file each one is in, remote cursor colours
// and name labels (one CSS rule set per awareness client), click to jump, follow.
import { h, initials } from '../lib/dom.js'

const COLOR = /^#[0-9a-f]{6}$/i

/** People in the room: awareness states that carry a user (the server's own entry does not). */
export function people (awareness) {
  const out = []
  awareness.getStates().forEach((state, clientID) => {
    const u = state?.user
    if (!u || typeof u.name !== 'string') return
    out.push({
      clientID,
      self: clientID === awareness.clientID,
      id: String(u.id || clientID),
      name: u.name.slice(0, 40) || 'Someone',
      color: COLOR.test(u.color) ? u.color : '#888888',
      role: u.role || 'editor',
      file: typeof state.file === 'string' ? state.file : null,
      following: state.following ?? null,
      terminal: typeof state.terminal?.id === 'string' ? state.terminal.id.slice(0, 40) : null,
      typing: Boolean(state.terminal?.id && state.terminal?.typing),
      sharing: Boolean(state.sharing),
      signal: typeof state.signal === 'string' ? state.signal.slice(0, 64) : null // signaling peer id
    })
  })
  return out.sort((a, b) => (b.self - a.self) || a.name.localeCompare(b.name) || a.clientID - b.clientID)
}

// A remote cursor's name label shows while that person moves or types and fades after this
// long (as in Live Share and Zed): a label that always stands over the line above the caret
// hides the code under it, worst on a phone.
const LABEL_MS = 3000

/** Inject cursor/selection CSS for each remote client (y-monaco's class names). */
export function cursorStyles (awareness) {
  const style = h('style', { id: 'tandem-cursors' })
  document.head.append(style)
  const moved = new Map() // clientID -> [selection as JSON, when it last changed]
  let timer = 0
  const render = () => {
    const now = Date.now()
    let next = Infinity
    const states = awareness.getStates()
    style.textContent = people(awareness).filter(p => !p.self).map(p => {
      const id = p.clientID
      const selection = JSON.stringify(states.get(id)?.selection ?? null)
      const seen = moved.get(id)
      if (!seen || seen[0] !== selection) moved.set(id, [selection, now])
      const since = now - moved.get(id)[1]
      if (since < LABEL_MS) next = Math.min(next, LABEL_MS - since)
      const label = JSON.stringify(p.name).replace(/</g, '\\3C ')
      return `.yRemoteSelection-${id}{background-color:${p.color}40}` +
        `.yRemoteSelectionHead-${id}{position:absolute;box-sizing:border-box;height:100%;border-left:2px solid ${p.color}}` +
        `.yRemoteSelectionHead-${id}::after{content:${label};background:${p.color};` +
        `transition:opacity .4s;opacity:${since < LABEL_MS ? 1 : 0}}`
    }).join('\n')
    for (const id of moved.keys()) if (!states.has(id)) moved.delete(id)
    clearTimeout(timer)
    if (next !== Infinity) timer = setTimeout(render, next + 20)
  }
  awareness.on('change', render)
  render()
}

/** A small menu in a fixed popover next to `anchor` (closed by a click elsewhere or Esc). */
function popover (anchor, cls, children) {
  document.querySelector('.popover')?.remove()
  const box = h(`div.popover.${cls}`, { role: 'dialog' }, children)
  const r = anchor.getBoundingClientRect()
  document.body.append(box)
  // Anchored on the side of the screen the anchor is on, so it grows into the page.
  if (r.left > innerWidth / 2) box.style.right = `${Math.max(8, innerWidth - r.right)}px`
  else box.style.left = `${Math.max(8, r.left)}px`
  box.style.top = `${r.bottom + 6}px`
  const close = e => {
    if (e.type === 'keydown' ? e.key !== 'Escape' : box.contains(e.target) || e.target.closest?.('.more, .avatar')) return
    box.remove()
    removeEventListener('pointerdown', close, true)
    removeEventListener('keydown', close, true)
  }
  addEventListener('pointerdown', close, true)
  addEventListener('keydown', close, true)
  return box
}

/**
 * The presence bar.
 * @param {HTMLElement} root
 * @param {{onJump: (p) => void, onFollow: (p) => void, following: () => number|null, onTerminal?: (p) => void,
 *   onShare?: (p) => void, max?: number, palette?: string[], onPickColor?: (color: string) => void}} opts
 *   `max`: show at most this many chips, the rest behind a "+N" button with a list;
 *   `onPickColor`: my own chip opens a palette to pick my colour.
 */
export function createPresenceBar (root, awareness, opts) {
  let moreOpen = null // the "+N" list, while open

  const chip = (p, list, following) => {
    const followers = list.filter(q => q.following === p.clientID).length
    return h('div.person', {
      dataset: { client: String(p.clientID), name: p.name, self: String(p.self), terminal: p.terminal || '', typing: String(p.typing), sharing: String(p.sharing), color: p.color },
      style: { '--user-color': p.color },
      title: `${p.name}${p.self ? ' (you)' : ''}${p.file ? ' — ' + p.file : ''}${p.role === 'viewer' ? ' — viewer' : ''}`
    },
    h('button.avatar', {
      'aria-label': p.self ? `${p.name} (you)${opts.onPickColor ? ' — pick your colour' : ''}` : `Jump to ${p.name}`,
      onclick: e => { if (!p.self) opts.onJump(p); else if (opts.onPickColor) pickColor(e.currentTarget, p.color) }
    }, initials(p.name)),
    h('span.who', {},
      h('span.pname', {}, p.self ? `${p.name} (you)` : p.name),
      h('span.pfile', {}, p.file || 'no file open'),
      followers ? h('span.pfollowers', {}, ` · ${followers} following`) : null,
      p.terminal
        ? h('button.pterm', {
          type: 'button',
          title: `${p.self ? 'You are' : p.name + ' is'} ${p.typing ? 'typing in' : 'in'} terminal ${p.terminal} — open it`,
          onclick: () => opts.onTerminal?.(p)
        }, p.typing ? `⌨ typing in ${p.terminal}` : `▸ ${p.terminal}`)
        : null,
      p.sharing
        ? h('button.pshare', {
          type: 'button',
          title: p.self ? 'You are sharing your screen' : `${p.name} is sharing a screen — watch it`,
          disabled: p.self,
          onclick: () => opts.onShare?.(p)
        }, p.self ? '▣ sharing your screen' : '▣ sharing — watch')
        : null),
    p.self
      ? null
      : h('button.follow', {
        'aria-pressed': String(following === p.clientID),
        onclick: () => opts.onFollow(following === p.clientID ? null : p)
      }, following === p.clientID ? 'Following' : 'Follow'))
  }

  function pickColor (anchor, current) {
    popover(anchor, 'color-menu', [
      h('div.popover-title', {}, 'Your colour'),
      h('div.swatches', {}, (opts.palette || []).map(c => h('button.swatch', {
        type: 'button',
        style: { background: c },
        title: c,
        'aria-label': `Colour ${c}`,
        'aria-pressed': String(c === current),
        dataset: { color: c },
        onclick: () => { document.querySelector('.popover')?.remove(); opts.onPickColor(c) }
      })))
    ])
  }

  const render = () => {
    const list = people(awareness)
    const following = opts.following()
    const max = opts.max || Infinity
    const shown = list.length > max ? list.slice(0, max - 1) : list
    const rest = list.slice(shown.length)
    const more = rest.length
      ? h('button.more', {
        type: 'button',
        'aria-expanded': String(Boolean(moreOpen?.isConnected)),
        'aria-label': `${rest.length} more people`,
        title: rest.map(p => p.name).join(', '),
        onclick: e => {
          if (moreOpen?.isConnected) { moreOpen.remove(); moreOpen = null; return }
          moreOpen = popover(e.currentTarget, 'presence-more', [])
          render()
        }
      }, `+${rest.length}`)
      : null
    root.replaceChildren(...shown.map(p => chip(p, list, following)), more || '')
    if (moreOpen?.isConnected) {
      if (rest.length) moreOpen.replaceChildren(h('div.popover-title', {}, `${list.length} people here`), ...rest.map(p => chip(p, list, following)))
      else { moreOpen.remove(); moreOpen = null }
    }
    document.body.dataset.people = String(list.length)
  }
  awareness.on('change', render)
  render()
  return { render }
}
