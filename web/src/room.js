// The room page /s/{session}: file tree, tabs, the editor (Monaco, loaded lazily), presence,
// follow mode, comments, connection and saved status, terminal and screen-share panels.
import * as Y from 'yjs'
import { $, h } from './lib/dom.js'
import { loadIdentity } from './lib/identity.js'
import { bindStatus, openSession } from './room/connection.js'
import { commentRanges, createCommentsPanel } from './room/comments.js'
import { createFile, movedTo } from './room/files.js'
import { createHistoryPanel } from './room/history.js'
import { createPanels } from './room/panels.js'
import { createPresenceBar, cursorStyles, people } from './room/presence.js'
import { guardRefused, showRefusedNotice } from './room/refused.js'
import { createTabs } from './room/tabs.js'
import { createTree } from './room/tree.js'
import { firstTextRequest, mountFirstText } from './room/firsttext.js'
import { watchAccess } from './room/access.js'
import { mountInvite } from './room/invite.js'
import { mountTitle } from './room/title.js'

const assets = JSON.parse($('#tandem-assets').textContent)
const session = decodeURIComponent(location.pathname.replace(/^\/s\//, '').split('/')[0] || '')
const params = new URLSearchParams(location.search)
const token = params.get('token')
// The first file's text, requested by the page before this code loaded (see room/firsttext.js).
const firstTextData = firstTextRequest()
const phone = matchMedia('(max-width: 760px)').matches
// Who this page is: the server renders the principal it stamps on presence, comments and
// terminal lines (one name and colour everywhere). Only `--no-auth` lets the client name itself.
const served = JSON.parse($('#tandem-identity')?.textContent || 'null')
const role = served?.role || (params.get('view') === '1' ? 'viewer' : 'editor')
const mayEdit = role === 'owner' || role === 'editor'
const mayComment = mayEdit || role === 'commenter'
// Viewers and commenters read the code (commenters still comment); the server enforces it too.
const viewer = params.get('view') === '1' || !mayEdit
const readOnly = viewer || (phone && matchMedia('(pointer: coarse)').matches)
document.body.dataset.mode = readOnly ? 'view' : 'edit'
const canManage = role === 'owner'
document.body.dataset.role = role
document.body.dataset.comment = String(mayComment)
$('.badge.view-only').title = mayComment ? 'You can read, follow and comment' : 'You can read and follow'

const identity = served ? { id: served.id, name: served.name, color: served.color } : loadIdentity()
const ctx = openSession(session, { token, name: identity.name, first: firstTextData })
const firstText = mountFirstText(firstTextData, { showing: () => Boolean(ed && document.body.dataset.file) })
const { awareness } = ctx
awareness.setLocalState({
  user: { id: identity.id, name: identity.name, color: identity.color, role: viewer && role !== 'commenter' ? 'viewer' : role },
  file: null,
  selection: null,
  viewport: null,
  terminal: null,
  following: null,
  sharing: false,
  signal: null
})
bindStatus(ctx, { statusEl: $('#conn'), savedEl: $('#saved'), bannerEl: $('#offline') })
watchAccess(ctx.provider)
// A change the server refuses (a role that may not make it) never stays on screen as saved.
if (!mayEdit) guardRefused(ctx, { session, role })
cursorStyles(awareness)

const loadCss = href => {
  if (!href || document.querySelector(`link[href="${href}"]`)) return
  document.head.append(h('link', { rel: 'stylesheet', href }))
}

/** Map<file, people other than me in it>. */
function presenceByFile () {
  const m = new Map()
  for (const p of people(awareness)) {
    if (p.self || !p.file) continue
    if (!m.has(p.file)) m.set(p.file, [])
    m.get(p.file).push(p)
  }
  return m
}

// ---- errors as a toast
let toastTimer = 0
function toast (msg, ms = 4000) {
  const el = $('#toast')
  el.textContent = msg
  el.hidden = false
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => { el.hidden = true }, ms)
}

// ---- phone panes
function showPane (name) {
  document.body.dataset.pane = name
  for (const b of document.querySelectorAll('.phone-nav [data-pane]')) b.setAttribute('aria-current', String(b.dataset.pane === name))
}
for (const b of document.querySelectorAll('.phone-nav [data-pane]')) b.addEventListener('click', () => showPane(b.dataset.pane))
showPane('code')

// ---- editor (lazy)
const FIRST_TEXT_WAIT_MS = 3000 // the editor waits at most this long for the first text
let ed = null
let lastSelection = null
const editorLoaded = (async () => {
  // After the first text (kilobytes): on a slow link the editor's megabyte would arrive first.
  await Promise.race([firstTextData, new Promise(resolve => setTimeout(resolve, FIRST_TEXT_WAIT_MS))])
  loadCss(assets['editor.css'])
  const { createEditor } = await import('./editor.js')
  ed = createEditor($('#editor'), ctx, {
    readOnly,
    compact: phone,
    workerUrl: assets['editor.worker.js'],
    onLocalIntent: key => { if (following !== null && (key === 'Escape' || !readOnly)) stopFollowing() },
    onSelection: sel => { lastSelection = sel; comments.selectionChanged() }
  })
  ed.setCommentSource(file => commentRanges(ctx, file))
  document.body.dataset.editor = 'ready'
  if (tabs.active()) activate(tabs.active(), { keepFollow: true })
  applyFollow()
})().catch(err => { console.error(err); toast('The editor failed to load: ' + err.message) })

// ---- tabs, tree, activation
const tabs = createTabs($('#tabs'), {
  key: `tandem.tabs.${session}`,
  presence: presenceByFile,
  onActivate: path => activate(path),
  onClose: path => ed?.close(path)
})

function activate (path, { keepFollow = false } = {}) {
  if (!keepFollow) stopFollowing()
  if (path && !ctx.files.has(path)) path = null
  if (path) tabs.open(path)
  awareness.setLocalStateField('file', path)
  document.body.dataset.file = path || ''
  $('#empty').hidden = Boolean(path)
  if (ed) ed.show(path)
  if (ed && path) firstText.dismiss() // the editor shows a live file now
  tree.reveal(path || '')
  comments.render()
  if (path && document.body.dataset.pane === 'files') showPane('code')
}

const tree = createTree($('#tree'), ctx, {
  readOnly,
  onOpen: path => activate(path),
  activePath: () => tabs.active(),
  presence: presenceByFile,
  onError: toast
})
if (!readOnly) {
  $('#new-file').addEventListener('click', () => tree.startCreate('file'))
  $('#new-folder').addEventListener('click', () => tree.startCreate('folder'))
}

// Renames/moves keep tabs (and follow) on the same file; deletes close them.
ctx.files.observe(event => {
  let reactivate = null
  for (const [key, change] of event.changes.keys) {
    if (change.action === 'add') continue
    const wasActive = tabs.active() === key
    const isOpen = tabs.paths().includes(key)
    ed?.close(key)
    if (change.action === 'update') { if (wasActive) reactivate = key; continue }
    const to = movedTo(ctx.meta, key)
    if (to && ctx.files.has(to)) {
      tabs.retarget(key, to)
      if (wasActive) reactivate = to
    } else if (isOpen) {
      tabs.drop(key)
      if (wasActive) reactivate = tabs.active() || ''
    }
  }
  if (reactivate !== null) activate(reactivate || null, { keepFollow: true })
  tabs.render()
  if (!tabs.active()) openDefault()
})

// The file whose text the page showed first (room/firsttext.js): the editor opens that one.
let firstTextPath = null
firstTextData.then(data => { firstTextPath = data?.path ?? null })

function openDefault () {
  if (tabs.active() && ctx.files.has(tabs.active())) return activate(tabs.active(), { keepFollow: true })
  // A large doc arrives in pieces: wait for the file on screen rather than open whichever came first.
  if (firstTextPath && !ctx.files.has(firstTextPath) && !ctx.provider.synced) return
  const open = tabs.paths().find(p => ctx.files.has(p))
  const main = ctx.meta.get('main')
  const shown = firstTextPath && ctx.files.has(firstTextPath) ? firstTextPath : null
  const first = open || shown || (typeof main === 'string' && ctx.files.has(main) ? main : [...ctx.files.keys()].sort()[0])
  if (first) activate(first, { keepFollow: true })
}
ctx.idb.on('synced', openDefault)
ctx.provider.on('sync', s => {
  if (!s) return
  if (!ctx.files.size) firstText.dismiss() // nothing live to take over from it
  // Tabs remembered from an earlier visit whose files are gone now.
  for (const p of tabs.paths()) if (!ctx.files.has(p)) tabs.drop(p)
  openDefault()
})

// ---- presence, jump, follow
let following = null
const FOLLOW_GRACE_MS = 10000
let followLost = 0 // timer: the followed person is missing from presence
const presenceBar = createPresenceBar($('#presence'), awareness, {
  max: 5, // more people: "+N" with a list (the bar never clips)
  palette: served?.palette,
  onPickColor: served ? pickColor : null,
  following: () => following,
  onJump: p => { jumpTo(p.clientID); if (p.terminal) panels.openTerminal(p.terminal) },
  onFollow: p => (p ? startFollowing(p.clientID) : stopFollowing()),
  onTerminal: p => panels.openTerminal(p.terminal),
  onShare: p => panels.share.watchPerson(p)
})
const peopleList = createPresenceBar($('#people'), awareness, {
  palette: served?.palette,
  onPickColor: served ? pickColor : null,
  following: () => following,
  onJump: p => { jumpTo(p.clientID); showPane('code') },
  onFollow: p => { showPane('code'); p ? startFollowing(p.clientID) : stopFollowing() }, // (a share may open)
  onTerminal: p => { panels.openTerminal(p.terminal); showPane('code') },
  onShare: p => panels.share.watchPerson(p)
})
// Re-render tabs and tree only when who-is-in-which-file changed (not on every cursor move).
let presenceKey = ''
awareness.on('change', () => {
  const key = JSON.stringify([...presenceByFile()].map(([f, ps]) => [f, ps.map(p => p.clientID + p.color + p.name)]))
  if (key === presenceKey) return
  presenceKey = key
  tabs.render()
  tree.render()
})

/** My colour in this session: the server stores it and re-stamps me everywhere (accounts keep it). */
async function pickColor (color) {
  try {
    const csrf = (await (await fetch('/api/auth/csrf')).json()).csrf_token
    const q = token ? `?token=${encodeURIComponent(token)}` : ''
    const r = await fetch(`/api/sessions/${encodeURIComponent(session)}/me/color${q}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ color })
    })
    if (!r.ok) throw new Error((await r.json().catch(() => null))?.detail || `HTTP ${r.status}`)
    identity.color = (await r.json()).color
    awareness.setLocalStateField('user', { ...awareness.getLocalState().user, color: identity.color })
  } catch (err) {
    toast('Your colour was not changed: ' + err.message)
  }
}

function jumpTo (clientID) {
  const st = awareness.getStates().get(clientID)
  if (!st?.file || !ctx.files.has(st.file)) return
  activate(st.file)
  const head = st.selection?.head
  if (!head || !ed) return
  const abs = Y.createAbsolutePositionFromRelativePosition(head, ctx.doc)
  if (abs) ed.revealOffset(abs.index)
}

function startFollowing (clientID) {
  following = clientID
  awareness.setLocalStateField('following', clientID)
  const p = people(awareness).find(q => q.clientID === clientID)
  const banner = $('#follow-banner')
  banner.hidden = false
  banner.style.setProperty('--user-color', p?.color || '#888')
  $('#follow-name').textContent = p?.name || 'someone'
  document.body.dataset.following = String(clientID)
  applyFollow()
  presenceBar.render()
  peopleList.render()
}

function stopFollowing () {
  if (following === null) return
  clearTimeout(followLost)
  followLost = 0
  following = null
  awareness.setLocalStateField('following', null)
  $('#follow-banner').hidden = true
  delete document.body.dataset.following
  presenceBar.render()
  peopleList.render()
}

// A followed person missing from presence may be reconnecting (or we are: offline, the provider
// forgets everyone): follow mode ends only when they stay away while we are in the room.
function followGone () {
  followLost = 0
  if (following === null || awareness.getStates().get(following)?.user) return
  if (ctx.provider.synced) stopFollowing()
  else followLost = setTimeout(followGone, FOLLOW_GRACE_MS)
}

function applyFollow () {
  if (following === null) return
  const st = awareness.getStates().get(following)
  if (!st?.user) {
    if (!followLost) followLost = setTimeout(followGone, FOLLOW_GRACE_MS)
    return
  }
  clearTimeout(followLost)
  followLost = 0
  if (st.file && st.file !== tabs.active() && ctx.files.has(st.file)) activate(st.file, { keepFollow: true })
  if (ed && st.viewport) ed.followView(st.viewport)
}
awareness.on('change', applyFollow)
$('#stop-follow').addEventListener('click', stopFollowing)
// Typing stops following only where typing edits (a read-only page has only Esc and the button).
$('#follow-hint').textContent = readOnly ? ' — press Esc to stop' : ' — type or press Esc to stop'
addEventListener('keydown', e => { if (e.key === 'Escape') stopFollowing() })

// ---- comments
const lineOf = (file, index) => {
  const text = ctx.files.get(file)?.toString() || ''
  let line = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++
  return line
}
const comments = createCommentsPanel($('#comments'), ctx, {
  // The principal's identity (the server checks it against the connection's principal).
  author: () => ({ id: identity.id, name: identity.name, color: identity.color }),
  mayComment,
  selection: () => lastSelection,
  currentFile: () => tabs.active(),
  lineOf,
  reveal: (file, start, end) => {
    activate(file)
    ed?.revealOffset(start, end)
    if (phone) showPane('code')
  }
})

// ---- panels, share link, service worker
// (`name`/`color`/`view` describe this client on /term when the server runs with --no-auth; with
// accounts the server decides who it is, and `name` only names a share-link guest.)
const panels = createPanels($('#panels'), {
  session, token, readOnly, ctx, loadCss, assets,
  query: { name: identity.name, color: identity.color, view: viewer ? '1' : null },
  light: phone || params.has('light'), // phones watch the relay's light tier (360p, a few fps)
  onShareOpen: () => { if (phone) showPane('screen') }
})
$('.phone-nav [data-pane=screen]').addEventListener('click', () => panels.select('share'))
// Version history through the REST API (restores reach everyone as ordinary doc updates).
const versionHistory = createHistoryPanel($('#panels'), $('[data-panel-body=history]'), {
  session, token, readOnly, ctx, query: { name: identity.name, color: identity.color, view: viewer ? '1' : null }
})
// The session title (owners rename it in place) and the Invite dialog (links, people, room URL).
const title = mountTitle($('#title'), { ctx, session, canManage, onError: toast })
mountInvite($('#invite'), {
  session,
  canManage,
  roomUrl: location.origin + location.pathname + (viewer && document.body.dataset.auth === 'off' ? '?view=1' : ''),
  title: title.title,
  toast
})
if ('serviceWorker' in navigator && !params.has('nosw')) {
  // Once the editor has loaded: the shell's files are then in the HTTP cache, so installing the
  // worker (precaching the shell) neither competes with the first load for a phone's bandwidth
  // nor downloads them twice.
  // Then it keeps what this page loaded before it was in control (the language of the open file):
  // a reload offline needs those too.
  editorLoaded.finally(async () => {
    try {
      await navigator.serviceWorker.register('/sw.js', { scope: '/' })
      const reg = await navigator.serviceWorker.ready
      const urls = performance.getEntriesByType('resource').map(e => e.name)
        .filter(u => new URL(u).pathname.startsWith('/static/dist/'))
      reg.active?.postMessage({ type: 'keep', urls })
    } catch (err) {
      console.warn('service worker', err)
    }
  })
}

// A first file for an empty new room, so there is something to type in. The server reads the
// session's workspace into the doc before the first sync, so a room with a project (text files
// in `files`, binaries in `blobs`) never gets one; the server also never lets this text replace
// a workspace file (sandbox/filesync WELCOME_TEXT is the same string).
ctx.provider.on('sync', s => {
  if (s && !readOnly && ctx.files.size === 0 && ctx.doc.getMap('blobs').size === 0 && !ctx.meta.get('initialized')) {
    ctx.doc.transact(() => {
      ctx.meta.set('initialized', true)
      if (!ctx.meta.get('title')) ctx.meta.set('title', title.title())
    })
    try { createFile(ctx, 'main.py', '# Welcome to Tandem. Everyone in this room edits this file together.\n'); ctx.meta.set('main', 'main.py') } catch { /* a peer created it */ }
  }
})

showRefusedNotice(session, msg => toast(msg, 12000))

// My role changed while the page is open (the owner changed it): the server re-stamps my presence
// and sends it back; the page reloads so that every control matches the new role.
const ROLE_KEY = 'tandem.role.' + session
awareness.on('change', ({ updated }) => {
  if (!served || !updated.includes(awareness.clientID)) return
  const now = awareness.getLocalState()?.user?.role
  if (!now || now === role) return
  try { sessionStorage.setItem(ROLE_KEY, now) } catch { /* the reload still fixes the controls */ }
  location.reload()
})
try {
  const changed = sessionStorage.getItem(ROLE_KEY)
  sessionStorage.removeItem(ROLE_KEY)
  if (changed) { document.body.dataset.roleChanged = changed; toast(`Your role in this session is now ${changed}.`, 8000) }
} catch { /* no storage */ }

// For tests and debugging.
window.tandem = { ctx, session, readOnly, tree, editor: () => ed, editorLoaded, following: () => following, activate, panels, history: versionHistory }
