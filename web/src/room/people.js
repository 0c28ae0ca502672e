// Who has access to the session and with which role (the owner's view): change a role or remove
// someone. The server re-checks open connections within a second, so both take effect live.
import { h } from '../lib/dom.js'
import { api } from '../lib/api.js'

const ROLES = ['editor', 'commenter', 'viewer']

export function mountPeople (box, { session: sessionId, toast }) {
  const base = `/api/sessions/${encodeURIComponent(sessionId)}/participants`

  async function refresh () {
    let list, session
    try {
      [list, session] = await Promise.all([api('GET', base), api('GET', `/api/sessions/${encodeURIComponent(sessionId)}`)])
    } catch (err) { box.replaceChildren(h('p.muted', {}, err.message)); return }
    const owner = h('li.participant.owner', { dataset: { role: 'owner' } },
      h('span.pname', {}, session.owner), h('span.kind.muted.small', {}, 'owner (you)'))
    if (!list.length) {
      box.replaceChildren(h('ul.people-list', {}, owner), h('p.muted.no-people', {}, 'Only you so far. Invite someone with a link above.'))
      return
    }
    box.replaceChildren(h('ul.people-list', {}, owner, list.map(p => {
      const select = h('select.role', { 'aria-label': `Role of ${p.name}` },
        ROLES.map(r => h('option', { value: r, selected: r === p.role }, r)))
      select.addEventListener('change', async () => {
        try {
          await api('PATCH', `${base}/${encodeURIComponent(p.id)}`, { role: select.value })
          toast(`${p.name} is now ${select.value}`)
        } catch (err) { toast(`Role change failed: ${err.message}`) }
        await refresh()
      })
      const remove = h('button.small.danger.remove', {
        type: 'button',
        onclick: async () => {
          if (!confirm(`Remove ${p.name} from this session?`)) return
          try {
            await api('DELETE', `${base}/${encodeURIComponent(p.id)}`)
            toast(`${p.name} was removed`)
          } catch (err) { toast(`Remove failed: ${err.message}`) }
          await refresh()
        }
      }, 'Remove')
      return h('li.participant', { dataset: { participant: p.id, role: p.role } },
        h('span.pname', {}, p.name),
        h('span.kind.muted.small', {}, p.kind === 'guest' ? 'guest' : 'account'),
        select, remove)
    })))
  }
  return { refresh }
}
