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
