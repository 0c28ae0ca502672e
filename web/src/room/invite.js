// The Invite dialog: the owner creates a share link for a role (with an optional expiry and
// maximum uses), copies it or shows it as a QR code (the encoder loads only when asked), sees the
// active links and revokes one (whoever it admitted loses access, live). Below, the People list
// (people.js). Everyone gets the plain room URL, for people who already have access.
import { h } from '../lib/dom.js'
import { ago, api } from '../lib/api.js'
import { mountPeople } from './people.js'

const EXPIRY = [['', 'Never'], ['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']]
const ROLES = [
  ['editor', 'Editor — edits files, types in terminals'],
  ['commenter', 'Commenter — reads and comments'],
  ['viewer', 'Viewer — reads and follows along']
]

function linkProblem (l) {
  if (l.expires_at && new Date(l.expires_at.endsWith('Z') || /[+-]\d\d:\d\d$/.test(l.expires_at) ? l.expires_at : l.expires_at + 'Z') <= new Date()) return 'expired'
  if (l.max_uses !== null && l.uses >= l.max_uses) return 'used up'
  return null
}

function until (iso) {
  if (!iso) return 'never expires'
  const t = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : iso + 'Z')
  return 'expires ' + t.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })
}

async function copy (text, button, toast) {
  try {
    await navigator.clipboard.writeText(text)
    const was = button.textContent
    button.textContent = 'Copied'
    setTimeout(() => { button.textContent = was }, 1500)
  } catch {
    toast('Copy it from the box: the browser refused the clipboard')
  }
}

/**
 * @param {HTMLButtonElement} button  the top bar's Invite button
 * @param {{session: string, canManage: boolean, roomUrl: string, title: () => string, toast: (m: string) => void}} opts
 */
export function mountInvite (button, { session, canManage, roomUrl, title, toast }) {
  const base = `/api/sessions/${encodeURIComponent(session)}`
  const roleSel = h('select#invite-role', { 'aria-label': 'Role' }, ROLES.map(([v, label]) => h('option', { value: v }, label)))
  const expirySel = h('select#invite-expiry', { 'aria-label': 'Expires' }, EXPIRY.map(([v, label]) => h('option', { value: v }, label)))
  const usesInput = h('input#invite-uses', { type: 'number', min: 1, max: 100000, placeholder: 'no limit', 'aria-label': 'Maximum uses' })
  const createBtn = h('button.primary#invite-create', { type: 'submit' }, 'Create link')
  const error = h('p.form-error#invite-error', { role: 'alert', hidden: true })
  const created = h('div.invite-created#invite-created', { hidden: true })
  const linksList = h('ul.invite-links#invite-links')
  const peopleBox = h('div.people-box#people-list')
  const roomInput = h('input#room-url', { readonly: true, value: roomUrl, 'aria-label': 'Room link' })
  const roomCopy = h('button.small#room-url-copy', { type: 'button', onclick: () => copy(roomUrl, roomCopy, toast) }, 'Copy')

  const form = h('form.invite-form#invite-form', {},
    h('label', {}, 'Role', roleSel),
    h('div.row-inline', {},
      h('label', {}, 'Expires', expirySel),
      h('label', {}, 'Max uses', usesInput)),
    createBtn, error)

  const heading = h('h2', {}, 'Invite people')
  const dialog = h('dialog.invite-dialog#invite-dialog', { 'aria-label': 'Invite people' },
    h('div.dialog-head', {}, heading,
      h('button.ghost.small.close', { type: 'button', 'aria-label': 'Close', onclick: () => dialog.close() }, '✕')),
    canManage
      ? h('section.invite-new', {}, h('h3', {}, 'New invite link'), form, created)
      : h('p.muted', {}, document.body.dataset.auth === 'off'
        ? 'This server runs without accounts (--no-auth): anyone with the room link can join.'
        : 'Only the owner can create invite links. Ask them for one, or share the room link with people who already have access.'),
    canManage ? h('section', {}, h('h3', {}, 'Links'), h('p.muted.small', {}, 'Revoking a link also removes everyone who joined with it.'), linksList) : null,
    canManage ? h('section', {}, h('h3', {}, 'People with access'), peopleBox) : null,
    h('section.room-url', {},
      h('h3', {}, 'Room link'),
      h('p.muted.small', {}, 'For people who already have access. Anyone else needs an invite link.'),
      h('div.row-inline', {}, roomInput, roomCopy)))
  document.body.append(dialog)

  const people = canManage ? mountPeople(peopleBox, { session, toast }) : null

  async function refreshLinks () {
    let links
    try { links = await api('GET', `${base}/links`) } catch (err) { linksList.replaceChildren(h('li.muted', {}, err.message)); return }
    // Used-up and expired links admit no one new, but whoever they admitted keeps access until
    // the link is revoked: they stay listed, with their state.
    const live = links.filter(l => !l.revoked_at).reverse()
    if (!live.length) { linksList.replaceChildren(h('li.muted.empty-links', {}, 'No links yet.')); return }
    linksList.replaceChildren(...live.map(l => {
      const problem = linkProblem(l)
      const revoke = h('button.small.danger.revoke', {
        type: 'button',
        onclick: async () => {
          revoke.disabled = true
          try {
            await api('DELETE', `${base}/links/${encodeURIComponent(l.id)}`)
            toast(`${l.role} link revoked: whoever joined with it lost access`)
          } catch (err) { toast(`Revoke failed: ${err.message}`); revoke.disabled = false }
          await refreshLinks()
          await people?.refresh()
        }
      }, 'Revoke')
      return h('li.invite-link', { dataset: { link: l.id, role: l.role } },
        h('span.role-tag', {}, l.role),
        h('span.uses', {}, `${l.uses}${l.max_uses !== null ? ' / ' + l.max_uses : ''} used`),
        problem ? h('span.state.muted', {}, problem) : null,
        h('span.expiry.muted', {}, until(l.expires_at)),
        h('span.created.muted', {}, `created ${ago(l.created_at)}`),
        revoke)
    }))
  }

  function showCreated (link) {
    const input = h('input#invite-url', { readonly: true, value: link.url, 'aria-label': 'Invite link' })
    const copyBtn = h('button.primary.small#invite-copy', { type: 'button', onclick: () => copy(link.url, copyBtn, toast) }, 'Copy link')
    const qrBox = h('div.qr#invite-qr', { hidden: true })
    const qrBtn = h('button.small#invite-qr-show', {
      type: 'button',
      onclick: async () => {
        qrBtn.disabled = true
        try {
          const mod = await import('qrcode')
          const QR = mod.default ?? mod // a CommonJS package
          qrBox.innerHTML = await QR.toString(link.url, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' })
          qrBox.hidden = false
          qrBtn.hidden = true
        } catch (err) { toast(`QR code failed: ${err.message}`); qrBtn.disabled = false }
      }
    }, 'Show QR code')
    created.replaceChildren(
      h('p.small', {}, `A ${link.role} link — ${link.max_uses ? `${link.max_uses} use${link.max_uses > 1 ? 's' : ''}, ` : ''}${until(link.expires_at)}. Copy it now: it is shown only once.`),
      h('div.row-inline', {}, input, copyBtn, qrBtn),
      qrBox)
    created.hidden = false
    created.dataset.role = link.role
  }

  form.addEventListener('submit', async e => {
    e.preventDefault()
    error.hidden = true
    createBtn.disabled = true
    const body = { role: roleSel.value }
    if (expirySel.value) body.expires_in_seconds = Number(expirySel.value)
    if (usesInput.value) body.max_uses = Number(usesInput.value)
    try {
      showCreated(await api('POST', `${base}/links`, body))
      await refreshLinks()
    } catch (err) {
      error.textContent = err.message
      error.hidden = false
    } finally {
      createBtn.disabled = false
    }
  })

  button.addEventListener('click', () => {
    heading.textContent = `Invite people to “${title()}”`
    created.hidden = true
    if (!dialog.open) dialog.showModal()
    if (canManage) { refreshLinks(); people.refresh() }
  })
  return { dialog, refreshLinks }
}
