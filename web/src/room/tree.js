// The file tree: nested folders and files from the `files` map, presence dots of who is in each
// file, inline create/rename, drag-and-drop moves, delete. A big tree (VIRTUAL_MIN rows and more)
// is virtualized: only the rows in view exist, so a change costs the same at 20 or 20,000 files.
import { h } from '../lib/dom.js'
import { basename, createFile, createFolder, deletePath, dirname, listFolders, movePath } from './files.js'

/**
 * @param {HTMLElement} root  the <ul> of the tree
 * @param {object} ctx  session context (files, meta, doc, ...)
 * @param {{onOpen: (path: string) => void, readOnly: boolean, activePath: () => string|null,
 *          presence: () => Map<string, Array<{name: string, color: string}>>, onError: (msg: string) => void}} opts
 */
const VIRTUAL_MIN = 400 // rows; below this every row is rendered (nested lists, simplest DOM)
const OVERSCAN = 10 // rows rendered above and below the visible ones

export function createTree (root, ctx, opts) {
  const expanded = new Set(JSON.parse(sessionStorage.getItem('tandem.expanded') || '[]'))
  let pending = null // {kind: 'file'|'folder', parent: string} while an inline create is open

  const persist = () => sessionStorage.setItem('tandem.expanded', JSON.stringify([...expanded]))

  function nodes () {
    const folders = listFolders(ctx.files, ctx.meta)
    const children = new Map([['', { folders: [], files: [] }]])
    for (const f of [...folders].sort()) children.set(f, { folders: [], files: [] })
    for (const f of folders) children.get(dirname(f)).folders.push(f)
    for (const p of [...ctx.files.keys()].sort()) children.get(dirname(p))?.files.push(p)
    return children
  }

  let deferred = false
  const editing = () => root.contains(document.activeElement) && document.activeElement.matches('input.inline')

  function render () {
    // Never pull an inline name input out from under the person typing in it.
    if (editing()) { deferred = true; return }
    deferred = false
    const tree = nodes()
    const active = opts.activePath()
    const presence = opts.presence()
    const flat = flatten(tree)
    if (flat.length >= VIRTUAL_MIN) return renderWindow(flat, active, presence)
    root.classList.remove('virtual')
    root.style.height = ''
    const build = (folder, depth) => {
      const { folders, files } = tree.get(folder)
      const items = []
      if (pending && pending.parent === folder) items.push(inlineCreate(depth))
      for (const f of folders.sort()) {
        const open = expanded.has(f)
        items.push(h('li', { role: 'treeitem', 'aria-expanded': String(open), dataset: { path: f, kind: 'folder' } },
          row(f, depth, 'folder', open),
          open ? h('ul', { role: 'group' }, build(f, depth + 1)) : null))
      }
      for (const p of files) {
        const here = presence.get(p) || []
        items.push(h('li', { role: 'treeitem', 'aria-selected': String(p === active), dataset: { path: p, kind: 'file' } },
          row(p, depth, 'file', false, here)))
      }
      return items
    }
    const items = build('', 0)
    root.replaceChildren(...items)
    if (!items.length) root.append(h('li.tree-empty', {}, opts.readOnly ? 'No files yet.' : 'No files yet — create one with “+ File”.'))
  }

  /** The visible rows in order: [{kind: 'create'|'folder'|'file', path, depth, open}]. */
  function flatten (tree) {
    const out = []
    const walk = (folder, depth) => {
      const { folders, files } = tree.get(folder)
      if (pending && pending.parent === folder) out.push({ kind: 'create', path: folder, depth })
      for (const f of folders.sort()) {
        const open = expanded.has(f)
        out.push({ kind: 'folder', path: f, depth, open })
        if (open) walk(f, depth + 1)
      }
      for (const p of files) out.push({ kind: 'file', path: p, depth })
    }
    walk('', 0)
    return out
  }

  let windowed = null // the rows of the last virtual render (scrolling renders another window)
  // The row height (CSS --tree-row), read once per layout: getComputedStyle on every render
  // would force a style pass over the whole page.
  let rowHeight = 0
  const rowHeightPx = () => (rowHeight ||= parseFloat(getComputedStyle(root).getPropertyValue('--tree-row')) || 26)
  addEventListener('resize', () => { rowHeight = 0 })
  function renderWindow (flat, active, presence) {
    windowed = flat
    root.classList.add('virtual')
    const height = rowHeightPx()
    root.style.height = `${flat.length * height}px`
    const scroller = root.closest('.sidebar') || root.parentElement
    const top = scroller.scrollTop - root.offsetTop
    const first = Math.max(0, Math.floor(top / height) - OVERSCAN)
    const last = Math.min(flat.length, Math.ceil((top + scroller.clientHeight) / height) + OVERSCAN)
    const items = []
    for (let i = first; i < last; i++) {
      const r = flat[i]
      const style = { top: `${i * height}px` }
      if (r.kind === 'create') { const li = inlineCreate(r.depth); li.style.top = style.top; items.push(li); continue }
      items.push(r.kind === 'folder'
        ? h('li', { role: 'treeitem', 'aria-expanded': String(r.open), 'aria-level': String(r.depth + 1), dataset: { path: r.path, kind: 'folder' }, style }, row(r.path, r.depth, 'folder', r.open))
        : h('li', { role: 'treeitem', 'aria-selected': String(r.path === active), 'aria-level': String(r.depth + 1), dataset: { path: r.path, kind: 'file' }, style }, row(r.path, r.depth, 'file', false, presence.get(r.path) || [])))
    }
    root.replaceChildren(...items)
  }

  /** Scroll a big tree so that `path`'s row is in view. */
  function scrollTo (path) {
    const i = windowed?.findIndex(r => r.path === path && r.kind !== 'create') ?? -1
    if (i < 0 || !root.classList.contains('virtual')) return
    const height = rowHeightPx()
    const scroller = root.closest('.sidebar') || root.parentElement
    const y = root.offsetTop + i * height
    if (y < scroller.scrollTop || y + height > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = y - scroller.clientHeight / 2
  }

  function row (path, depth, kind, open, here = []) {
    const label = h('span.name', {}, basename(path))
    const el = h('div.row', {
      style: { paddingLeft: `${8 + depth * 14}px` },
      draggable: !opts.readOnly,
      title: path,
      // Double-click renames. Not `dblclick`: the first click opens the file (or toggles the
      // folder) and re-renders the tree, so the second click lands on a new row and the
      // browser fires no dblclick; the second click's `detail` still counts 2.
      onclick: e => {
        if (e.detail === 2 && !opts.readOnly) { e.preventDefault(); rename(path, label); return }
        if (e.detail > 2) return
        if (kind === 'folder') { open ? expanded.delete(path) : expanded.add(path); persist(); render() } else opts.onOpen(path)
      },
      ondragstart: e => { e.dataTransfer.setData('text/x-tandem-path', path); e.dataTransfer.effectAllowed = 'move' },
      ondragover: e => { if (kind === 'folder') { e.preventDefault(); el.classList.add('drop') } },
      ondragleave: () => el.classList.remove('drop'),
      ondrop: e => { el.classList.remove('drop'); drop(e, path) }
    },
    h('span.icon', { 'aria-hidden': 'true' }, kind === 'folder' ? (open ? '▾' : '▸') : '•'),
    label,
    h('span.dots', {}, here.map(u => h('span.dot', { style: { background: u.color }, title: u.name }))),
    opts.readOnly
      ? null
      : h('span.actions', {},
        kind === 'folder' ? h('button.icon-btn', { title: 'New file here', 'aria-label': `New file in ${path}`, onclick: e => { e.stopPropagation(); startCreate('file', path) } }, '+') : null,
        h('button.icon-btn', { title: 'Rename or move', 'aria-label': `Rename ${path}`, dataset: { action: 'rename' }, onclick: e => { e.stopPropagation(); rename(path, label) } }, '✎'),
        h('button.icon-btn', { title: 'Delete', 'aria-label': `Delete ${path}`, dataset: { action: 'delete' }, onclick: e => { e.stopPropagation(); remove(path, kind) } }, '×')))
    return el
  }

  function drop (e, folder) {
    e.preventDefault()
    const from = e.dataTransfer.getData('text/x-tandem-path')
    if (!from || from === folder || dirname(from) === folder) return
    attempt(() => movePath(ctx, from, (folder ? folder + '/' : '') + basename(from)))
  }

  function attempt (fn) {
    try { fn(); return true } catch (err) { opts.onError(err.message); return false }
  }

  /** Replace `label` by an input; resolve with the value on Enter/blur, null on Escape. */
  function inlineInput (label, initial, select) {
    return new Promise(resolve => {
      const input = h('input.inline', { value: initial, spellcheck: false, 'aria-label': 'Name' })
      let done = false
      const finish = value => { if (!done) { done = true; resolve(value) } }
      input.addEventListener('keydown', e => {
        e.stopPropagation()
        // Leave the box too: while it has focus, render() defers (it never pulls an input out
        // from under the person typing), so the new folder would not show.
        if (e.key === 'Enter') { e.preventDefault(); finish(input.value.trim()); input.blur() }
        if (e.key === 'Escape') { e.preventDefault(); finish(null); input.blur() }
      })
      input.addEventListener('blur', () => finish(input.value.trim() || null))
      input.addEventListener('focusout', () => queueMicrotask(() => { if (deferred) render() }))
      input.addEventListener('click', e => e.stopPropagation())
      label.replaceWith(input)
      input.focus()
      input.setSelectionRange(select[0], select[1])
    })
  }

  async function rename (path, label) {
    const base = basename(path)
    const dot = base.lastIndexOf('.')
    const start = path.length - base.length
    const value = await inlineInput(label, path, [start, dot > 0 ? start + dot : path.length])
    if (value && value !== path) attempt(() => movePath(ctx, path, value))
    render()
  }

  function remove (path, kind) {
    const what = kind === 'folder' ? `the folder ${path} and everything in it` : path
    if (confirm(`Delete ${what}? Everyone in the room loses it.`)) deletePath(ctx, path)
  }

  function inlineCreate (depth) {
    const label = h('span.name')
    const li = h('li.creating', {}, h('div.row', { style: { paddingLeft: `${8 + depth * 14}px` } }, h('span.icon', {}, pending.kind === 'folder' ? '▸' : '•'), label))
    const { kind, parent } = pending
    queueMicrotask(async () => {
      const value = await inlineInput(label, '', [0, 0])
      pending = null
      if (value) {
        const full = (parent ? parent + '/' : '') + value
        if (kind === 'folder') {
          if (attempt(() => createFolder(ctx, full))) expanded.add(full)
        } else {
          let created = null
          if (attempt(() => { created = createFile(ctx, full) })) {
            for (let d = dirname(created); d; d = dirname(d)) expanded.add(d)
            persist()
            opts.onOpen(created)
          }
        }
      }
      render()
    })
    return li
  }

  function startCreate (kind, parent = '') {
    if (parent) expanded.add(parent)
    pending = { kind, parent }
    render()
  }

  /** Make sure a file's folders are expanded (when it is opened from elsewhere). */
  function reveal (path) {
    let changed = false
    for (let d = dirname(path); d; d = dirname(d)) if (!expanded.has(d)) { expanded.add(d); changed = true }
    if (changed) persist()
    render()
    scrollTo(path)
  }

  ctx.files.observe(render)
  // A virtualized tree renders the window of rows in view as it scrolls.
  let scrollFrame = 0
  ;(root.closest('.sidebar') || root.parentElement)?.addEventListener('scroll', () => {
    if (!root.classList.contains('virtual') || scrollFrame) return
    scrollFrame = requestAnimationFrame(() => { scrollFrame = 0; render() })
  }, { passive: true })
  ctx.meta.observe(e => { if (e.keysChanged.has('folders')) render() })
  root.addEventListener('dragover', e => { if (e.target === root) e.preventDefault() })
  root.addEventListener('drop', e => { if (e.target === root) drop(e, '') })
  render()
  return { render, startCreate, reveal }
}
