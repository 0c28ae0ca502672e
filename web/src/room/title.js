// The session title in the top bar. The server renders the stored title (data-title); the doc's
// `meta.title` carries renames to open pages live. Owners rename in place: click, type, Enter.
import { api } from '../lib/api.js'

/**
 * @param {HTMLElement} el  #title (data-title: the stored title)
 * @param {{ctx: object, session: string, canManage: boolean, onError: (msg: string) => void}} opts
 */
export function mountTitle (el, { ctx, session, canManage, onError }) {
  const stored = el.dataset.title || session
  let current = stored
  const show = title => {
    current = title
    el.textContent = title
    el.title = canManage ? `${title} — click to rename` : title
    document.title = `${title} · Tandem`
  }
  show(stored)
  // Until the first sync, the doc's title is this device's copy (IndexedDB) or the server's state:
  // either may be older than the stored title. At the first sync an owner's page writes the stored
  // title into the doc; after it, every change of `meta.title` is a rename, shown live.
  let live = false
  ctx.meta.observe(e => {
    if (!live || !e.keysChanged.has('title')) return
    const t = ctx.meta.get('title')
    if (typeof t === 'string' && t && t !== session) show(t)
  })
  ctx.provider.on('sync', s => {
    if (!s || live) return
    live = true
    if (canManage && ctx.meta.get('title') !== current) ctx.meta.set('title', current)
  })
  if (!canManage) return { title: () => current }

  el.classList.add('editable')
  el.setAttribute('role', 'button')
  el.tabIndex = 0
  const edit = () => {
    if (el.querySelector('input')) return
    const input = document.createElement('input')
    input.className = 'title-input'
    input.value = current
    input.maxLength = 200
    input.setAttribute('aria-label', 'Session title')
    el.replaceChildren(input)
    input.focus()
    input.select()
    let done = false
    const finish = async save => {
      if (done) return
      done = true
      const title = input.value.trim()
      if (!save || !title || title === current) { show(current); return }
      try {
        const s = await api('PATCH', `/api/sessions/${encodeURIComponent(session)}`, { title })
        ctx.meta.set('title', s.title)
        show(s.title)
      } catch (err) {
        show(current)
        onError(`Rename failed: ${err.message}`)
      }
    }
    input.addEventListener('keydown', e => {
      if (e.key === 'Enter') { e.preventDefault(); finish(true) }
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); finish(false) }
    })
    input.addEventListener('blur', () => finish(true))
  }
  el.addEventListener('click', edit)
  el.addEventListener('keydown', e => { if (e.key === 'Enter' && e.target === el) edit() })
  return { title: () => current }
}
