// Landing page. With accounts (the default): the home list of my sessions (home.js), or sign up /
// log in. With `--no-auth`: pick a name and colour (kept in localStorage) and start or join a room
// by id (any room name opens a room there).
import { COLORS, loadIdentity, randomId, saveIdentity } from './lib/identity.js'
import { mountHome } from './home.js'

function mountNoAuth () {
  const identity = loadIdentity()
  const form = document.getElementById('identity')
  const nameInput = document.getElementById('name')
  const swatches = document.getElementById('colors')
  const preview = document.getElementById('preview')

  function render () {
    nameInput.value = identity.name
    preview.textContent = identity.name
    preview.style.setProperty('--user-color', identity.color)
    swatches.replaceChildren(...COLORS.map(color => {
      const b = document.createElement('button')
      b.type = 'button'
      b.className = 'swatch'
      b.style.background = color
      b.title = color
      b.setAttribute('aria-label', `Colour ${color}`)
      b.setAttribute('aria-pressed', String(color === identity.color))
      b.dataset.color = color
      b.addEventListener('click', () => { identity.color = color; saveIdentity(identity); render() })
      return b
    }))
  }

  nameInput.addEventListener('input', () => {
    identity.name = nameInput.value.trim() || identity.name
    preview.textContent = nameInput.value.trim() || identity.name
    saveIdentity(identity)
  })
  form.addEventListener('submit', e => e.preventDefault())

  document.getElementById('new-session').addEventListener('click', () => {
    saveIdentity(identity)
    location.assign('/s/' + randomId(10))
  })

  document.getElementById('join').addEventListener('submit', e => {
    e.preventDefault()
    const raw = document.getElementById('join-id').value.trim()
    if (!raw) return
    // Accept a bare session id or a full room link.
    const m = raw.match(/\/s\/([^/?#]+)/)
    location.assign('/s/' + (m ? m[1] : encodeURIComponent(raw)))
  })
  render()
}

if (document.body.dataset.auth === 'off') mountNoAuth()
else mountHome(document.getElementById('home'))
// After the page has loaded, so precaching the room's shell never delays the landing page.
if ('serviceWorker' in navigator) {
  const register = () => navigator.serviceWorker.register('/sw.js').catch(() => {})
  if (document.readyState === 'complete') register()
  else window.addEventListener('load', register, { once: true })
}
