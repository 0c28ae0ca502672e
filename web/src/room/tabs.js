// Open-file tabs: one per open path, the active one highlighted, remembered per session.
import { h } from '../lib/dom.js'
import { basename } from './files.js'

/**
 * @param {HTMLElement} root
 * @param {{key: string, onActivate: (path: string|null) => void, onClose: (path: string) => void,
 *          presence: () => Map<string, Array<{name, color}>>}} opts
 */
export function createTabs (root, opts) {
  let paths = []
  let active = null
  try {
    const saved = JSON.parse(localStorage.getItem(opts.key) || 'null')
    if (saved && Array.isArray(saved.paths)) { paths = saved.paths.filter(p => typeof p === 'string'); active = saved.active ?? null }
  } catch { /* start empty */ }

  const persist = () => { try { localStorage.setItem(opts.key, JSON.stringify({ paths, active })) } catch { /* ignore */ } }

  function render () {
    const presence = opts.presence()
    root.replaceChildren(...paths.map(p => h('div.tab', {
      role: 'tab',
      'aria-selected': String(p === active),
      title: p,
      dataset: { path: p },
      onclick: () => opts.onActivate(p),
      onauxclick: e => { if (e.button === 1) close(p) }
    },
    h('span.tab-name', {}, basename(p)),
    h('span.dots', {}, (presence.get(p) || []).map(u => h('span.dot', { style: { background: u.color }, title: u.name }))),
    h('button.tab-close', { 'aria-label': `Close ${p}`, onclick: e => { e.stopPropagation(); close(p) } }, '×'))))
    persist()
  }

  function open (path) {
    if (!paths.includes(path)) paths.push(path)
    active = path
    render()
  }

  function close (path) {
    const i = paths.indexOf(path)
    if (i < 0) return
    paths.splice(i, 1)
    if (active === path) active = paths[Math.min(i, paths.length - 1)] ?? null
    render()
    opts.onClose(path)
    opts.onActivate(active)
  }

  /** A file was renamed/moved: keep its tab, under the new path. */
  function retarget (from, to) {
    const i = paths.indexOf(from)
    if (i < 0) return false
    if (paths.includes(to)) paths.splice(i, 1)
    else paths[i] = to
    if (active === from) active = to
    render()
    return true
  }

  /** A file was deleted: drop its tab without activating anything new here. */
  function drop (path) {
    const i = paths.indexOf(path)
    if (i < 0) return
    paths.splice(i, 1)
    if (active === path) active = paths[Math.min(i, paths.length - 1)] ?? null
    render()
  }

  return { open, close, retarget, drop, render, active: () => active, paths: () => [...paths] }
}
