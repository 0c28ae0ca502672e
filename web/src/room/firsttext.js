// The first file's text before the live doc (#18 item 5). A large project's doc is tens of
// megabytes (seconds on a desktop, minutes on a phone's network); the file the page opens first
// is kilobytes. The page fetches it first (GET /api/sessions/{id}/files/first), shows it as
// read-only plain text, and the editor takes over once the live doc shows a file.
import { h } from '../lib/dom.js'

/** The tab this page had open last time (tabs.js keeps it), for the server to pick the same file. */
export function rememberedTab (session) {
  try {
    const active = JSON.parse(localStorage.getItem(`tandem.tabs.${session}`) || 'null')?.active
    return typeof active === 'string' ? active : null
  } catch { return null }
}

/** Start the request now, before the editor's code competes for the network. Never rejects. */
export function fetchFirstText (session, { token = null, path = null } = {}) {
  const q = new URLSearchParams()
  if (path) q.set('path', path)
  if (token) q.set('token', token)
  return fetch(`/api/sessions/${encodeURIComponent(session)}/files/first?${q}`, { credentials: 'same-origin' })
    .then(r => (r.ok ? r.json() : null))
    .catch(() => null)
}

/**
 * Show the fetched text in `wrap` until `dismiss()`, unless a live file is already on screen.
 * @param {HTMLElement} wrap  the editor's container
 * @param {Promise<{path: string, text: string, truncated: boolean}|null>} pending
 * @param {{showing: () => boolean}} opts  whether the editor already shows a live file
 */
export function mountFirstText (wrap, pending, { showing }) {
  let el = null
  let done = false
  pending.then(data => {
    if (done || !data || showing()) return
    el = h('div.first-text', { id: 'first-text', dataset: { path: data.path }, role: 'region', 'aria-label': `${data.path} (loading the live document)` },
      h('div.first-text-head', {}, h('strong', {}, data.path), ' · read-only until the live document has loaded…'),
      h('pre', {}, data.text + (data.truncated ? '\n…' : '')))
    wrap.append(el)
    document.body.dataset.firstText = 'shown'
  })
  return {
    dismiss () {
      done = true
      if (!el) return
      el.remove()
      el = null
      document.body.dataset.firstText = 'live'
    }
  }
}
