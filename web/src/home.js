// The home list (`/` once signed in, or for a browser holding guest passes): my sessions with
// who is online and the last activity; New session (a title, then the room); rename and delete
// for owners, leave for everyone else.
import { $, h } from './lib/dom.js'
import { ago, api } from './lib/api.js'

const REFRESH_MS = 10000

export function mountHome (root) {
  const list = $('#session-list', root)
  const section = $('#sessions', root)
  const empty = $('#sessions-empty', root)
  const newBtn = $('#new-session', root)
  const form = $('#new-session-form', root)
  const signedIn = Boolean(root.dataset.account)
  let loaded = false

  function openNew () {
    if (!form) return
    form.hidden = false
    newBtn.hidden = true
    $('#new-title', form).focus()
  }
  function closeNew () {
    form.hidden = true
    newBtn.hidden = false
    $('#new-error', form).hidden = true
  }

  if (form) {
    newBtn.addEventListener('click', openNew)
    $('#new-cancel', form).addEventListener('click', closeNew)
    form.addEventListener('submit', async e => {
      e.preventDefault()
      const title = $('#new-title', form).value.trim()
      // Only spaces pass the input's `required`: say so rather than do nothing.
      if (!title) {
        const box = $('#new-error', form)
        box.textContent = 'Give the session a name.'
        box.hidden = false
        $('#new-title', form).focus()
        return
      }
      const submit = form.querySelector('[type=submit]')
      submit.disabled = true
      try {
        const s = await api('POST', '/api/sessions', { title })
        location.assign('/s/' + encodeURIComponent(s.id))
      } catch (err) {
        const box = $('#new-error', form)
        box.textContent = err.message
        box.hidden = false
        submit.disabled = false
      }
    })
  }

  function row (s) {
    const owner = s.role === 'owner'
    const li = h('li.session', { dataset: { session: s.id, role: s.role } })
    const open = h('a.open', { href: '/s/' + encodeURIComponent(s.id), title: s.title }, s.title)
    const online = s.online.length
      ? h('span.online', { title: s.online.join(', ') }, `● ${s.online.length} online: ${s.online.slice(0, 3).join(', ')}${s.online.length > 3 ? ' +' + (s.online.length - 3) : ''}`)
      : h('span', {}, 'nobody online')
    const meta = h('div.meta', {},
      h('span.role-tag', {}, s.guest ? `${s.role} · guest` : s.role),
      owner ? null : h('span', {}, `by ${s.owner}`),
      online,
      h('span', { title: s.last_activity || '' }, `active ${ago(s.last_activity)}`))
    const actions = h('div.actions', {})
    if (owner) {
      actions.append(
        h('button.small.rename', { type: 'button', onclick: () => startRename(li, s) }, 'Rename'),
        h('button.small.delete', { type: 'button', onclick: () => remove(s) }, 'Delete'))
    } else {
      actions.append(h('button.small.leave', { type: 'button', onclick: () => leave(s) }, 'Leave'))
    }
    li.append(open, actions, meta)
    return li
  }

  function startRename (li, s) {
    if (li.querySelector('.rename-form')) return
    const input = h('input', { value: s.title, maxlength: 200, 'aria-label': 'New title' })
    const f = h('form.rename-form', {},
      input,
      h('button.small.primary', { type: 'submit' }, 'Save'),
      h('button.small.ghost', { type: 'button', onclick: () => f.remove() }, 'Cancel'))
    f.addEventListener('submit', async e => {
      e.preventDefault()
      try {
        await api('PATCH', `/api/sessions/${encodeURIComponent(s.id)}`, { title: input.value })
        await refresh()
      } catch (err) { alert(err.message) }
    })
    li.append(f)
    input.focus()
    input.select()
  }

  async function remove (s) {
    if (!confirm(`Delete “${s.title}” for everyone? Its files, history and links go with it.`)) return
    try {
      await api('DELETE', `/api/sessions/${encodeURIComponent(s.id)}`)
    } catch (err) { alert(err.message) }
    await refresh()
  }

  async function leave (s) {
    if (!confirm(`Leave “${s.title}”? You will need a new invite to come back.`)) return
    try {
      await api('DELETE', `/api/sessions/${encodeURIComponent(s.id)}/membership`)
    } catch (err) { alert(err.message) }
    await refresh()
  }

  async function refresh () {
    let data
    try {
      data = await api('GET', '/api/home')
    } catch (err) {
      console.warn('home list', err)
      return
    }
    list.replaceChildren(...data.sessions.map(row))
    section.hidden = data.sessions.length === 0
    empty.hidden = !signedIn || data.sessions.length > 0
    document.body.dataset.sessions = String(data.sessions.length)
    if (!loaded) {
      loaded = true
      // The first account's sign-up (or New session while signed out) lands here: straight on.
      const wantsNew = new URLSearchParams(location.search).has('new')
      if (signedIn && (wantsNew || data.sessions.length === 0)) openNew()
      if (wantsNew) history.replaceState(null, '', location.pathname)
    }
  }

  refresh()
  setInterval(() => { if (document.visibilityState === 'visible') refresh() }, REFRESH_MS)
  addEventListener('focus', refresh)
  return { refresh }
}
