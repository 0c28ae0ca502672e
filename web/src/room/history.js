// The History panel: the session's versions (taken by the server on idle, at least every few
// minutes while edited, and on "Save checkpoint"), all of them or only those that changed the open
// file; per version when, who and which files; its diff against now; and, for editors, "Restore"
// of one file or of the whole session. A restore is a new change on top (the server applies it to
// the live document, so every open editor converges) and a version of its own, listed at the top.
import { h } from '../lib/dom.js'
import { renderUnifiedDiff } from './diffview.js'
import { historyApi } from './historyapi.js'

const POLL_MS = 10000 // while the panel is open: new versions appear after the server's idle delay
const KIND = { auto: '', manual: 'Checkpoint', restore: 'Restore' }
const STATUS = { changed: 'changed since', added: 'added since', removed: 'deleted since', unchanged: 'unchanged' }

/**
 * @param {HTMLElement} root  the panels section (its `data-open` says whether a panel is shown)
 * @param {HTMLElement} body  the History panel body
 * @param {{session: string, token: string|null, query?: object, readOnly: boolean, ctx: object}} opts
 */
export function createHistoryPanel (root, body, opts) {
  const api = historyApi(opts.session, opts)
  const { awareness } = opts.ctx
  const canEdit = !opts.readOnly

  const scopeAll = h('button', { type: 'button', dataset: { scope: 'all' }, onclick: () => setScope('all') }, 'All files')
  const scopeFile = h('button', { type: 'button', dataset: { scope: 'file' }, onclick: () => setScope('file') }, 'This file')
  const status = h('span.hist-status', { role: 'status', 'aria-live': 'polite' })
  const checkpointBtn = h('button.hist-checkpoint', { type: 'button', hidden: !canEdit, onclick: checkpoint, title: 'Keep the session as it is now as a named version' }, 'Save checkpoint')
  const refreshBtn = h('button.hist-refresh', { type: 'button', onclick: () => refresh() }, 'Refresh')
  const list = h('ol.hist-list', { 'aria-label': 'Versions, newest first' })
  const detail = h('div.hist-detail')
  body.append(
    h('div.hist-bar', {}, h('div.hist-scope', { role: 'group', 'aria-label': 'Show versions of' }, scopeAll, scopeFile),
      h('span.hist-spacer'), status, checkpointBtn, refreshBtn),
    h('div.hist-main', {}, list, detail))

  let scope = 'all'
  let versions = []
  let selected = null // version id
  let diff = null // the selected version's diff against now
  let listGen = 0 // a newer request makes the answers of older ones stale
  let diffGen = 0
  let timer = 0
  let busy = false

  const currentFile = () => awareness.getLocalState()?.file || null
  const scopedFile = () => (scope === 'file' ? currentFile() : null)
  const visible = () => !body.hidden && root.dataset.open === 'true'

  function say (text, error = false) {
    status.textContent = text
    status.dataset.error = String(error)
  }

  function setScope (next) {
    scope = next
    diff = null
    refresh()
  }

  /** The list again (and the selected version's diff: "now" has moved on). */
  async function refresh () {
    const gen = ++listGen
    const file = scopedFile()
    scopeAll.setAttribute('aria-pressed', String(scope === 'all'))
    scopeFile.setAttribute('aria-pressed', String(scope === 'file'))
    scopeFile.textContent = file ? `This file (${file.split('/').pop()})` : 'This file'
    let found = []
    if (scope === 'all' || file) {
      try {
        found = await api.list(file)
      } catch (err) {
        if (gen === listGen) say(`History is unavailable: ${err.message}`, true)
        return
      }
    }
    if (gen !== listGen) return
    versions = found
    body.dataset.loaded = 'true'
    if (status.dataset.error === 'true') say('')
    if (!versions.some(v => v.id === selected)) { selected = null; diff = null }
    render()
    if (selected !== null) await loadDiff()
  }

  function select (id) {
    selected = id
    diff = null
    render()
    return loadDiff()
  }

  async function loadDiff () {
    const gen = ++diffGen
    const id = selected
    try {
      const fresh = await api.diff(id, scopedFile())
      if (gen === diffGen && id === selected) { diff = fresh; renderDetail() }
    } catch (err) {
      if (gen === diffGen) say(`The diff did not load: ${err.message}`, true)
    }
  }

  async function act (label, fn) {
    if (busy) return
    busy = true
    body.dataset.busy = 'true'
    try {
      say(`${label}…`)
      say(await fn())
    } catch (err) {
      say(`${label} failed: ${err.message}`, true)
    } finally {
      busy = false
      body.dataset.busy = 'false'
      render()
    }
  }

  function checkpoint () {
    act('Saving a checkpoint', async () => {
      const v = await api.checkpoint()
      await refresh()
      return `Checkpoint saved: version ${v.id}`
    })
  }

  function restore (version, file) {
    const what = file || 'every file of the session'
    const ok = confirm(`Restore ${what} as in version ${version.id} (${when(version).full})?\n\n` +
      'Everyone in the room sees the change; what is there now stays in the history.')
    if (!ok) return
    act(`Restoring ${file || 'the session'}`, async () => {
      const result = await api.restore(version.id, file)
      await refresh()
      return result.restored.length
        ? `Restored ${result.restored.join(', ')} to version ${version.id}`
        : `Nothing to restore: already as in version ${version.id}`
    })
  }

  // ---- rendering

  function render () {
    body.dataset.scope = scope
    checkpointBtn.disabled = busy
    list.replaceChildren(...versions.map(item))
    if (!versions.length) {
      const file = currentFile()
      list.append(h('li.hist-empty', {}, scope === 'file' && !file
        ? 'Open a file to see its history.'
        : `No versions ${scope === 'file' ? 'changed ' + file : 'yet'}. The server keeps one after a pause in editing${canEdit ? ', or press “Save checkpoint”' : ''}.`))
    }
    renderDetail()
  }

  function item (v) {
    const t = when(v)
    const files = v.files.length ? v.files.join(', ') : 'no file changes'
    return h('li.hist-item', { dataset: { id: String(v.id), kind: v.kind }, 'aria-selected': String(v.id === selected) },
      h('button.hist-pick', { type: 'button', onclick: () => select(v.id), title: `Version ${v.id} · ${t.full}` },
        h('span.hist-line', {},
          h('time.hist-when', { datetime: t.iso }, t.short),
          KIND[v.kind] ? h('span.hist-kind', {}, KIND[v.kind]) : null,
          h('span.hist-id', {}, `#${v.id}`)),
        h('span.hist-who', {}, authors(v)),
        h('span.hist-files', {}, files),
        v.note ? h('span.hist-note', {}, v.note) : null))
  }

  /** Who: one name per person (a --no-auth server names each connection apart), in their colour when present. */
  function authors (v) {
    const names = [...new Set(v.authors.map(a => a.name))]
    if (!names.length) return h('span.muted', {}, 'nobody here')
    return names.flatMap((name, i) => [i ? ', ' : '', h('span.hist-author', { style: { '--user-color': colorOf(name) } }, name)])
  }

  function colorOf (name) {
    for (const st of awareness.getStates().values()) if (st?.user?.name === name && st.user.color) return st.user.color
    return 'inherit'
  }

  function renderDetail () {
    const v = versions.find(x => x.id === selected)
    if (!v) {
      detail.replaceChildren(h('p.hist-hint', {}, versions.length ? 'Pick a version to see what changed since then.' : ''))
      return
    }
    const t = when(v)
    const restoreAll = canEdit
      ? h('button.hist-restore-all', { type: 'button', disabled: busy, onclick: () => restore(v, null) }, 'Restore whole session')
      : null
    const head = h('div.hist-head', {},
      h('div.hist-title', {},
        h('strong', {}, `Version #${v.id}`), ' · ', h('time', { datetime: t.iso, title: t.full }, t.full),
        KIND[v.kind] ? h('span.hist-kind', {}, KIND[v.kind]) : null),
      h('div.hist-sub', {}, 'by ', authors(v), v.files.length ? ` · changed ${v.files.join(', ')}` : ''),
      restoreAll)
    detail.replaceChildren(head, diff ? files(v, diff) : h('p.hist-hint', {}, 'Loading the diff…'))
  }

  function files (v, result) {
    if (!result.files.length) return h('p.hist-hint.hist-same', {}, 'No differences: every file is as it was in this version.')
    return h('div.hist-files-diff', {}, result.files.map(f => {
      // A file added since the version has nothing to go back to (a whole-session restore removes it).
      const restorable = canEdit && f.status !== 'added' && f.status !== 'unchanged'
      return h('section.hist-file', { dataset: { path: f.path, status: f.status } },
        h('header', {},
          h('span.hist-path', {}, f.path),
          h('span.hist-fstatus', {}, STATUS[f.status] || f.status),
          restorable ? h('button.hist-restore-file', { type: 'button', disabled: busy, onclick: () => restore(v, f.path) }, 'Restore this file') : null),
        f.status === 'unchanged'
          ? h('p.hist-hint.hist-same', {}, 'The same as in this version.')
          : renderUnifiedDiff(f.diff))
    }))
  }

  // ---- when to refresh: opened, polled while open, the open file changes in "This file"

  let lastFile = currentFile()
  awareness.on('change', () => {
    const file = currentFile()
    if (file === lastFile) return
    lastFile = file
    if (scope === 'file' && visible()) refresh()
  })

  const watchVisibility = () => {
    clearInterval(timer)
    timer = 0
    if (!visible()) return
    refresh()
    timer = setInterval(() => { if (!busy) refresh() }, POLL_MS)
  }
  let wasVisible = false
  new MutationObserver(() => {
    if (visible() === wasVisible) return
    wasVisible = visible()
    watchVisibility()
  }).observe(root, { attributes: true, subtree: true, attributeFilter: ['hidden', 'data-open'] })

  render()
  return { refresh, select, restore, versions: () => versions }
}

/** A server time (UTC, with or without its zone) as ISO, short (time or "N min ago") and full. */
function when (v) {
  const raw = String(v.created_at)
  const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(raw) ? raw : raw + 'Z')
  const ago = Math.max(0, (Date.now() - date.getTime()) / 1000)
  const short = ago < 45 ? 'just now'
    : ago < 3600 ? `${Math.round(ago / 60)} min ago`
      : date.toLocaleString([], ago < 86400 ? { timeStyle: 'short' } : { dateStyle: 'short', timeStyle: 'short' })
  return { iso: date.toISOString(), short, full: date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' }) }
}
