// The Screen share panel: editors start/stop sharing (getDisplayMedia), everyone sees who shares and
// watches one share in the video. Awareness carries `sharing` and `signal` (this page's signaling
// peer id) so the presence bar shows sharers and a follower finds the share of the person followed.
import { $, h } from '../lib/dom.js'
import { connectScreenShare } from './screenshare.js'

/**
 * @param {HTMLElement} root the panels section
 * @param {HTMLElement} body the share panel's body (holds #share-note and the #screen video)
 * @param {{session: string, token: string|null, query?: object, readOnly: boolean, light: boolean,
 *   ctx: object, select: (name: string) => void, onOpen?: () => void}} opts
 */
export function createSharePanel (root, body, opts) {
  const note = $('#share-note', body)
  const video = $('#screen', body)
  const button = h('button.share-toggle', { type: 'button', hidden: opts.readOnly }, 'Share your screen')
  const list = h('div.share-list')
  // The sharer sees what they share (a small muted preview) and who is watching it.
  const viewers = h('span.share-viewers', { role: 'status' })
  const preview = h('video.share-preview', { muted: true, autoplay: true, playsInline: true, hidden: true, 'aria-label': 'Your shared screen' })
  body.prepend(h('div.share-bar', {}, button, list, viewers))
  body.append(preview)
  const tab = root.querySelector('[data-panel=share]')
  const aw = opts.ctx.awareness
  let current = null
  let followedShare = null // "client:peer" that follow mode already opened (once per share)

  const share = connectScreenShare({
    session: opts.session,
    token: opts.token,
    query: opts.query,
    light: opts.light,
    onChange: render
  })

  function render (st) {
    current = st
    const sharers = st.peers.filter(p => p.sharing)
    const watched = sharers.find(p => p.id === st.watching)
    button.textContent = st.sharing ? 'Stop sharing' : 'Share your screen'
    button.setAttribute('aria-pressed', String(st.sharing))
    list.replaceChildren(...sharers.map(p => h('button.ghost', {
      type: 'button',
      dataset: { peer: p.id },
      'aria-pressed': String(st.watching === p.id),
      onclick: () => st.watching === p.id ? share.stopWatching() : share.watch(p.id)
    }, `${st.watching === p.id ? 'Stop watching' : 'Watch'} ${p.name}`)))
    note.textContent = st.error ||
      (watched ? `Connecting to ${watched.name}'s screen…` : null) ||
      (st.sharing ? 'You are sharing your screen.' : null) ||
      (sharers.length ? `${sharers.map(p => p.name).join(', ')} ${sharers.length > 1 ? 'are' : 'is'} sharing: pick one to watch.` : 'Nobody is sharing a screen.')
    note.hidden = Boolean(st.remote) && !st.error
    video.hidden = !st.remote
    if (video.srcObject !== st.remote) video.srcObject = st.remote
    preview.hidden = !st.preview
    if (preview.srcObject !== st.preview) preview.srcObject = st.preview
    const names = st.viewers.map(id => st.peers.find(p => p.id === id)?.name || 'someone')
    viewers.hidden = !st.sharing
    viewers.textContent = names.length ? `Watching you: ${names.join(', ')}` : 'Nobody is watching yet'
    viewers.dataset.count = String(names.length)
    Object.assign(body.dataset, { sharing: String(st.sharing), mode: st.mode || '', watching: st.watching || '', light: String(opts.light) })
    tab.dataset.live = String(sharers.length > 0)
    document.body.dataset.shareLive = String(sharers.length > 0)
    const mine = aw.getLocalState()
    if (mine && (mine.sharing !== st.sharing || mine.signal !== st.me)) {
      aw.setLocalState({ ...mine, sharing: st.sharing, signal: st.me })
    }
    followShare()
  }

  button.addEventListener('click', async () => {
    button.disabled = true
    try {
      if (current?.sharing) share.stop()
      else await share.start()
    } catch (err) {
      note.hidden = false
      note.textContent = `Screen share did not start: ${err?.message || err}`
    } finally { button.disabled = false }
  })

  /** The signaling peer sharing for a person of the presence bar (awareness `signal`, else the user id). */
  const peerOf = person => current?.peers.find(p => p.sharing && (person.signal ? p.id === person.signal : p.userId === person.id))

  function open (peer) {
    opts.select('share')
    opts.onOpen?.()
    share.watch(peer.id)
  }

  // Follow mode: when the followed person shares (or already does), open their share once.
  function followShare () {
    const followed = aw.getLocalState()?.following
    const st = followed != null ? aw.getStates().get(followed) : null
    if (followed == null) followedShare = null
    if (!st?.sharing || !current) return
    const peer = peerOf({ signal: st.signal, id: st.user?.id })
    const key = `${followed}:${peer?.id}`
    if (!peer || followedShare === key) return
    followedShare = key
    if (current.watching !== peer.id) open(peer)
  }
  aw.on('change', followShare)

  return {
    share,
    /** Watch a person's share (the presence bar's "sharing" button); false when none is found. */
    watchPerson (person) {
      const peer = peerOf(person)
      if (peer) open(peer)
      return Boolean(peer)
    }
  }
}
