// When the server ends this page's access (a revoked link, a removed member, a deleted session),
// say so plainly over the whole page instead of leaving a room that no longer syncs.
const WHY = {
  4401: 'Your access expired.',
  4403: 'You no longer have access to this session.',
  4404: 'This session was deleted.'
}

export function watchAccess (provider) {
  provider.on('closed', e => {
    const heading = WHY[e.code]
    if (!heading) return
    document.body.dataset.access = 'lost'
    const box = document.createElement('div')
    box.className = 'access-lost'
    box.setAttribute('role', 'alertdialog')
    box.setAttribute('aria-live', 'assertive')
    const card = document.createElement('div')
    const h = document.createElement('h2')
    h.textContent = heading
    const p = document.createElement('p')
    p.textContent = e.reason ? `The server said: ${e.reason}.` : 'Ask the owner for a new invite link.'
    const a = document.createElement('a')
    a.href = '/'
    a.textContent = 'Go to my sessions'
    card.append(h, p, a)
    box.append(card)
    document.body.append(box)
  })
}

const ROLE_WORDS = { owner: 'owner', editor: 'an editor', commenter: 'a commenter', viewer: 'a viewer' }

/**
 * The owner changed this person's role while the page is open: the server restamps the page's own
 * presence (a remote update of our own client id). The server enforces the new role from then on;
 * the page offers a reload so its controls match it.
 */
export function watchRole (awareness, { initialRole }) {
  let shown = initialRole
  awareness.on('change', ({ updated }, origin) => {
    if (origin === 'local' || !updated.includes(awareness.clientID)) return
    const role = awareness.getLocalState()?.user?.role
    if (!ROLE_WORDS[role] || role === shown) return
    shown = role
    document.body.dataset.roleNow = role
    let bar = document.querySelector('.role-changed')
    if (!bar) {
      bar = document.createElement('div')
      bar.className = 'banner role-changed'
      bar.setAttribute('role', 'alert')
      document.querySelector('.topbar')?.after(bar)
    }
    const reload = document.createElement('button')
    reload.type = 'button'
    reload.className = 'small'
    reload.textContent = 'Reload'
    reload.addEventListener('click', () => location.reload())
    bar.replaceChildren(`The owner made you ${ROLE_WORDS[role]}. Reload to get the matching controls. `, reload)
  })
}
