// The Terminal panel: a tab strip over the session's terminals (the doc's `terminals` map, written
// by the server), "+" for a new named terminal (editors), one xterm.js per opened terminal (the
// xterm bundle loads lazily, on first open), status / exit code / Restart, a read-only badge,
// the "unavailable" state with the server's reason and hint, and awareness `terminal` {id, typing}.
import { h } from '../lib/dom.js'
import { people } from './presence.js'

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/

/**
 * @param {HTMLElement} root   #panels (its dataset.terminal carries the shown terminal's state)
 * @param {HTMLElement} body   the terminal panel body
 * @param {{session: string, token: string|null, readOnly: boolean, ctx: object,
 *          loadCss: (url: string) => void, assets: object, identity?: object}} opts
 */
export function createTerminalPanel (root, body, opts) {
  const { ctx } = opts
  const box = body.querySelector('#terminal')
  const note = body.querySelector('#terminal-note')
  const tabsEl = h('div.term-tabs', { role: 'tablist', 'aria-label': 'Terminals' })
  const addBtn = h('button.term-new.small.ghost.edit-only', { type: 'button', title: 'New terminal', 'aria-label': 'New terminal', onclick: () => promptNew() }, '+')
  const statusEl = h('span.term-status', { role: 'status' })
  const roBadge = h('span.badge.term-ro', { hidden: true, title: 'You can watch this terminal but not type in it' }, 'Read only')
  const restartBtn = h('button.term-restart.small', { type: 'button', hidden: true, onclick: () => current()?.restart() }, 'Restart')
  const bar = h('div.term-bar', {}, tabsEl, addBtn, h('span.term-spacer'), roBadge, statusEl, restartBtn)
  // One line when the shown shell replaced another (server restart, shell exited, hung up).
  const replacedEl = h('div.term-replaced', { role: 'note', hidden: true })
  body.prepend(bar)
  box.before(replacedEl)
  if (opts.readOnly) roBadge.hidden = false

  /** name -> {el, inst (xterm controller or null), state, info} */
  const opened = new Map()
  let selected = null
  let mod = null
  let sandbox = null // GET /api/sandbox: the latest answer (a promise), refreshed while terminals are off
  let pollTimer = null

  const current = () => opened.get(selected)?.inst || null

  async function sandboxStatus (fresh = false) {
    if (!sandbox || fresh) {
      sandbox = fetch('/api/sandbox', { headers: { accept: 'application/json' }, cache: 'no-store' })
        .then(r => (r.ok ? r.json() : null)).catch(() => null)
    }
    return sandbox
  }

  function setNote (text) {
    note.hidden = !text
    note.textContent = text || ''
  }

  const PHASES = {
    waiting_for_engine: 'Terminals are off: no Docker engine answers',
    installing_engine: 'Installing the Docker engine…',
    image_missing: 'The sandbox image is missing',
    building_image: 'Building the sandbox image…',
    failed: 'Building the sandbox image failed',
    off: 'Terminals are off on this server'
  }

  const clock = s => (s >= 60 ? `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`)
  const capital = t => t.charAt(0).toUpperCase() + t.slice(1)

  /** The panel while terminals are off: why, how far their bring-up is, how to turn them on. */
  function unavailable (why, hint, st = null) {
    const phase = st?.phase || 'off'
    const reason = why && !/^\d+$/.test(why) ? why : 'Terminals are not available on this server.'
    const progress = typeof st?.progress === 'number' ? `${Math.round(st.progress * 100)}%` : ''
    const elapsed = typeof st?.elapsed_seconds === 'number' ? clock(st.elapsed_seconds) : ''
    const retry = st?.can_retry
      ? h('button.term-retry.small', { type: 'button', onclick: e => retryBuild(e.currentTarget) }, phase === 'failed' ? 'Retry the build' : 'Build it now')
      : null
    const coming = phase === 'building_image' || phase === 'installing_engine' || phase === 'waiting_for_engine' ||
      (phase === 'image_missing' && !st?.can_retry)
    note.hidden = false
    note.replaceChildren(h('div.term-off', { dataset: { phase } },
      h('strong', {}, PHASES[phase] || 'Terminals are unavailable'),
      h('div.term-reason', {}, capital(reason)),
      progress || elapsed ? h('div.term-progress', {}, [progress, elapsed && `${elapsed} so far`].filter(Boolean).join(' · ')) : null,
      st?.log ? h('div.term-log', {}, h('code', {}, st.log)) : null,
      hint ? h('div.hint', {}, phase === 'building_image' ? '' : 'To turn them on: ', h('code', {}, hint)) : null,
      coming && phase !== 'off' ? h('div.hint', {}, 'Terminals come on here by themselves when this is done; no reload needed.') : null,
      retry))
    root.dataset.terminal = 'unavailable'
    root.dataset.sandbox = phase
    statusEl.textContent = phase === 'building_image' ? `building image${progress ? ' ' + progress : ''}` : 'unavailable'
    restartBtn.hidden = true
    addBtn.hidden = true
    schedulePoll(phase)
  }

  async function retryBuild (btn) {
    btn.disabled = true
    try {
      const csrf = await fetch('/api/auth/csrf', { headers: { accept: 'application/json' } }).then(r => (r.ok ? r.json() : {})).catch(() => ({}))
      const headers = { accept: 'application/json' }
      if (csrf.csrf_token) headers['x-csrf-token'] = csrf.csrf_token
      await fetch('/api/sandbox/build', { method: 'POST', headers })
    } catch (err) {
      console.error('retrying the sandbox build failed', err)
    }
    poll()
  }

  /** While terminals are off, ask the server again; when they come on, connect the open terminals. */
  function schedulePoll (phase) {
    if (phase === 'off' || pollTimer) return
    pollTimer = setTimeout(poll, phase === 'building_image' || phase === 'installing_engine' ? 1000 : 2500)
  }

  async function poll () {
    clearTimeout(pollTimer)
    pollTimer = null
    const st = await sandboxStatus(true)
    const waiting = [...opened].filter(([, e]) => e.state === 'unavailable')
    if (!waiting.length) return
    if (!st || !st.enabled) {
      if (opened.get(selected)?.state === 'unavailable') unavailable(st?.reason, st?.hint, st)
      else schedulePoll(st?.phase || 'waiting_for_engine')
      return
    }
    delete root.dataset.sandbox
    addBtn.hidden = opts.readOnly
    for (const [name, e] of waiting) {
      e.inst?.close()
      e.el.remove()
      opened.delete(name)
    }
    if (selected && !opened.has(selected)) open(selected)
  }

  /** "previous shell ended at 10:42 — server restart; this is a new shell", from the doc entry. */
  function showReplaced () {
    const info = selected ? ctx.terminals.get(selected) : null
    const prev = info && typeof info.get === 'function' ? info.get('previous') : null
    const state = opened.get(selected)?.state
    if (!prev || !prev.reason || state === 'unavailable') {
      replacedEl.hidden = true
      delete replacedEl.dataset.reason
      return
    }
    const when = typeof prev.ended_at === 'number'
      ? new Date(prev.ended_at * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : 'an unknown time'
    replacedEl.textContent = `Previous shell ended at ${when} — ${prev.reason}; this is a new shell.`
    replacedEl.dataset.reason = prev.reason
    replacedEl.hidden = false
  }

  function showState () {
    const entry = opened.get(selected)
    const state = entry?.state || ''
    const info = entry?.info || {}
    root.dataset.terminal = state
    restartBtn.hidden = !(state === 'exited' || state === 'closed' || state === 'missing') || opts.readOnly || Boolean(entry?.inst?.readOnly)
    roBadge.hidden = !(opts.readOnly || entry?.inst?.readOnly)
    const labels = {
      connecting: 'connecting…',
      starting: 'starting…',
      running: 'running',
      exited: `exited${info.code !== undefined && info.code !== null ? ' (code ' + info.code + ')' : ''}`,
      reconnecting: 'reconnecting…',
      closed: `closed${info.message ? ': ' + info.message : ''}`,
      missing: 'not started yet',
      unavailable: 'unavailable'
    }
    statusEl.textContent = labels[state] || state
    statusEl.dataset.state = state
    if (state === 'running' || state === 'exited') setNote('')
    else if (state === 'connecting' || state === 'starting') setNote(entry?.seen ? '' : 'Connecting to the terminal…')
    else if (state === 'reconnecting') setNote(info.message || '') // e.g. all sandboxes are in use
    else if (state === 'missing') setNote(opts.readOnly ? 'Nobody has opened this terminal yet. It appears here when an editor starts it.' : 'This terminal is not running.')
    else if (state === 'closed') setNote(`The terminal connection closed${info.message ? ': ' + info.message : ''}.`)
    showReplaced()
    renderTabs()
  }

  async function onState (name, state, info) {
    const entry = opened.get(name)
    if (!entry) return
    if (state === 'error') {
      statusEl.textContent = info.message
      return
    }
    entry.state = state
    entry.info = info
    if (state === 'running' || state === 'exited') entry.seen = true
    if (name !== selected) return renderTabs()
    if (state === 'unavailable') {
      const st = await sandboxStatus(true)
      if (st?.enabled) return schedulePoll('ready')
      return unavailable(st?.reason || info.message, st?.hint, st)
    }
    showState()
  }

  // ---- awareness: the terminal I am in, and whether I am typing
  let focusedOn = null
  const setPresence = (id, typing) => {
    const prev = ctx.awareness.getLocalState()?.terminal
    const next = id ? { id, typing: Boolean(typing) } : null
    if (JSON.stringify(prev ?? null) !== JSON.stringify(next)) ctx.awareness.setLocalStateField('terminal', next)
  }

  async function open (name) {
    if (!NAME.test(name)) return
    selected = name
    for (const [n, e] of opened) e.el.hidden = n !== name
    let entry = opened.get(name)
    if (!entry) {
      entry = { el: h('div.term-view', { dataset: { term: name } }), inst: null, state: 'connecting', info: {} }
      opened.set(name, entry)
      box.append(entry.el)
      showState()
      const st = await sandboxStatus(true)
      if (st && st.enabled === false) {
        entry.state = 'unavailable'
        if (selected === name) unavailable(st.reason, st.hint, st)
        return
      }
      try {
        if (opts.assets['terminal.css']) opts.loadCss(opts.assets['terminal.css'])
        mod = mod || await import('../terminal.js')
      } catch (err) {
        opened.delete(name)
        entry.el.remove()
        return unavailable(String(err?.message || err))
      }
      entry.inst = mod.openTerminal(entry.el, {
        session: opts.session,
        name,
        token: opts.token,
        readOnly: opts.readOnly,
        query: opts.query,
        author: a => authorStyle(a),
        onState: (s, info) => onState(name, s, info),
        onReadOnly: () => { if (selected === name) showState() },
        onTyping: typing => setPresence(name, typing),
        onFocus: f => { focusedOn = f ? name : (focusedOn === name ? null : focusedOn); setPresence(focusedOn, false) }
      })
    } else if (entry.state === 'unavailable') {
      const st = await sandboxStatus(true)
      if (st?.enabled) return poll()
      unavailable(st?.reason, st?.hint, st)
      return
    }
    showState()
    requestAnimationFrame(() => entry.inst?.fit())
  }

  /** The attribution's author, in the colour the room shows them in when they are here. */
  function authorStyle (a) {
    const p = people(ctx.awareness).find(q => q.id === a?.id)
    return p ? { name: p.name, color: p.color } : { name: a?.name, color: a?.color }
  }

  /** "+": an inline name field in the tab strip (Enter opens the terminal, Esc cancels). */
  function promptNew () {
    if (opts.readOnly) return
    const existing = bar.querySelector('input.term-name')
    if (existing) return existing.focus()
    const taken = new Set([...ctx.terminals.keys(), ...opened.keys()])
    let n = 2
    while (taken.has('term' + n)) n++
    const input = h('input.term-name', { type: 'text', value: 'term' + n, maxlength: '40', 'aria-label': 'New terminal name', spellcheck: 'false' })
    const done = () => { input.remove(); addBtn.hidden = false }
    input.addEventListener('keydown', e => {
      if (e.key === 'Escape') { e.stopPropagation(); done() }
      if (e.key !== 'Enter') return
      const name = input.value.trim()
      if (!NAME.test(name)) { input.setCustomValidity('letters, digits, _ . - (up to 40)'); input.reportValidity(); return }
      done()
      open(name)
    })
    input.addEventListener('input', () => input.setCustomValidity(''))
    input.addEventListener('blur', () => setTimeout(done, 0))
    addBtn.hidden = true
    addBtn.after(input)
    input.focus()
    input.select()
  }

  // ---- the tab strip: terminals in the doc, plus the ones opened here
  function names () {
    const all = new Set(['main', ...ctx.terminals.keys(), ...opened.keys()])
    return [...all].sort((a, b) => (a === 'main' ? -1 : b === 'main' ? 1 : a.localeCompare(b)))
  }

  // Buttons are updated in place (never re-created), so a click that lands while awareness
  // changes (someone typing) still reaches its button.
  const tabButtons = new Map()
  function renderTabs () {
    const here = people(ctx.awareness).filter(p => !p.self && p.terminal)
    const list = names()
    for (const [name, btn] of tabButtons) if (!list.includes(name)) { btn.remove(); tabButtons.delete(name) }
    list.forEach((name, i) => {
      let btn = tabButtons.get(name)
      if (!btn) {
        btn = h('button.term-tab', { type: 'button', role: 'tab', dataset: { term: name }, onclick: () => open(name) },
          h('span.dot'), h('span.term-label', {}, name), h('span.term-whos'))
        tabButtons.set(name, btn)
      }
      if (tabsEl.children[i] !== btn) tabsEl.insertBefore(btn, tabsEl.children[i] || null)
      const info = ctx.terminals.get(name)
      const status = (info && typeof info.get === 'function' ? info.get('status') : null) || opened.get(name)?.state || ''
      const inIt = here.filter(p => p.terminal === name)
      const title = `${name}${status ? ' — ' + status : ''}${inIt.length ? ' — ' + inIt.map(p => p.name + (p.typing ? ' (typing)' : '')).join(', ') : ''}`
      btn.setAttribute('aria-selected', String(name === selected))
      if (btn.dataset.status !== status) btn.dataset.status = status
      if (btn.title !== title) btn.title = title
      const whosKey = JSON.stringify(inIt.map(p => [p.name, p.color, p.typing]))
      const whos = btn.querySelector('.term-whos')
      if (whos.dataset.key !== whosKey) {
        whos.dataset.key = whosKey
        whos.replaceChildren(...inIt.map(p => h('span.term-who', { style: { '--user-color': p.color }, dataset: { name: p.name, typing: String(p.typing) }, title: p.name + (p.typing ? ' is typing' : ' is here') })))
      }
    })
    const n = ctx.terminals.size
    const count = root.querySelector('[data-panel=terminal] .count')
    if (count && count.textContent !== (n ? String(n) : '')) count.textContent = n ? String(n) : ''
  }

  ctx.terminals.observeDeep(() => {
    // A viewer waiting for a terminal nobody had started: connect once an editor starts it.
    for (const [name, e] of opened) if (e.state === 'missing' && ctx.terminals.has(name)) e.inst?.reconnect()
    showReplaced()
    renderTabs()
  })
  ctx.awareness.on('change', () => renderTabs())
  renderTabs()

  return {
    /** Show the panel's terminal (the last selected, else `main`, or the one named). */
    show: name => open(name || selected || 'main'),
    hidden: () => setPresence(null, false),
    current,
    selected: () => selected,
    get: name => opened.get(name)?.inst || null
  }
}
