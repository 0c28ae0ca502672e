// Screen share over /signal/{session}: perfect negotiation (viewers polite), browser mesh for a
// small audience, the server's relay beyond — the server says which (`sharing.mode`), we follow.
const RELAY = 'relay'
// Close codes after which reconnecting cannot help (bad credentials, no access, abuse). Anything
// else (a restarting server closes with 1000, 1001 or 1012, or just goes away) reconnects.
const FINAL = new Set([4401, 4403, 4404, 4429])

function vp8First (transceiver) {
  // The relay forwards encoded frames as they are: every side speaks VP8.
  const caps = (window.RTCRtpReceiver?.getCapabilities?.('video')?.codecs || [])
  const prefs = caps.filter(c => /vp8|rtx/i.test(c.mimeType))
  if (prefs.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences(prefs)
}

class Peer {
  constructor (signal, to, { polite, stream, light, iceServers, beforeAnswer, onTrack }) {
    Object.assign(this, { signal, to, polite, stream, light, beforeAnswer })
    this.makingOffer = false
    this.ignoreOffer = false
    this.settingAnswer = false
    this.pc = new RTCPeerConnection({ iceServers })
    this.pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true
        await this.pc.setLocalDescription()
        this.send({ type: 'offer', sdp: this.pc.localDescription.sdp, light: this.light || undefined })
      } catch (err) { console.warn('screen share: offer failed', err) } finally { this.makingOffer = false }
    }
    this.pc.onicecandidate = ({ candidate }) => this.send({ type: 'candidate', candidate: candidate ? candidate.toJSON() : null })
    if (onTrack) this.pc.ontrack = ({ streams, track }) => onTrack(streams[0] || new MediaStream([track]))
  }

  send (msg) { this.signal({ ...msg, to: this.to, stream: this.stream }) }

  /** An offer or answer from the other side (the perfect negotiation pattern, W3C WebRTC §10.7). */
  async description (type, sdp) {
    const ready = !this.makingOffer && (this.pc.signalingState === 'stable' || this.settingAnswer)
    this.ignoreOffer = !this.polite && type === 'offer' && !ready
    if (this.ignoreOffer) return
    this.settingAnswer = type === 'answer'
    try { await this.pc.setRemoteDescription({ type, sdp }) } finally { this.settingAnswer = false }
    if (type === 'offer') {
      if (this.beforeAnswer) await this.beforeAnswer(this.pc)
      await this.pc.setLocalDescription()
      this.send({ type: 'answer', sdp: this.pc.localDescription.sdp })
    }
  }

  async candidate (c) {
    try { await this.pc.addIceCandidate(c || undefined) } catch (err) { if (!this.ignoreOffer) console.warn('screen share:', err) }
  }

  close () {
    this.pc.onnegotiationneeded = this.pc.onicecandidate = this.pc.ontrack = null
    this.pc.close()
  }
}

/**
 * @param {{session: string, token: string|null, query?: object, light: boolean, onChange: (state) => void}} opts
 *   `query`: how this page names itself on a `--no-auth` server (name, color, view), as on /term.
 */
export function connectScreenShare (opts) {
  const q = new URLSearchParams()
  if (opts.token) q.set('token', opts.token)
  for (const [k, v] of Object.entries(opts.query || {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const url = `${proto}//${location.host}/signal/${encodeURIComponent(opts.session)}` + (q.toString() ? `?${q}` : '')
  // `viewers`: who watches my share (the server tells a sharer); `preview`: my shared stream.
  const state = { me: null, peers: new Map(), iceServers: [], error: null, sharing: false, mode: null, watching: null, remote: null, closed: false, viewers: new Set(), preview: null }
  // One connection per (other side, share): `${peer id or relay}:${sharer id}`. Two people can share
  // and watch each other, so every message names its share (`stream`), in the mesh too.
  const peers = new Map()
  let ws = null
  let attempt = 0
  let local = null // the MediaStream being shared
  let watchPeer = null
  // The person (user id) whose share this page watched when the connection dropped: after a
  // server restart their share comes back under a new peer id, and watching resumes.
  let resumeUser = null
  const changed = () => opts.onChange({ ...state, peers: [...state.peers.values()], viewers: [...state.viewers] })
  const signal = msg => { if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)) }
  const keyOf = (from, stream) => `${from}:${stream}`

  function closePeer (key) { peers.get(key)?.close(); peers.delete(key) }
  function closeAll ({ keepWatch = false } = {}) {
    for (const key of [...peers.keys()]) if (!(keepWatch && key === watchPeer?.key)) closePeer(key)
    if (!keepWatch) watchPeer = null
  }

  function publishToRelay () {
    const p = new Peer(signal, RELAY, { polite: false, stream: state.me, iceServers: state.iceServers })
    vp8First(p.pc.addTransceiver(local.getVideoTracks()[0], { direction: 'sendonly', streams: [local] }))
    peers.set(keyOf(RELAY, state.me), p)
  }

  function meshPeerFor (viewer) {
    // A viewer offers (recvonly); we answer with our track on its transceiver.
    const p = new Peer(signal, viewer, {
      polite: false,
      stream: state.me,
      iceServers: state.iceServers,
      beforeAnswer: async pc => {
        const t = pc.getTransceivers().find(t => t.receiver.track.kind === 'video')
        if (t && local) { await t.sender.replaceTrack(local.getVideoTracks()[0]); t.direction = 'sendonly' }
      }
    })
    peers.set(keyOf(viewer, state.me), p)
    return p
  }

  function connectWatch (sharer, mode) {
    if (watchPeer) closePeer(watchPeer.key)
    const to = mode === 'relay' ? RELAY : sharer
    const p = new Peer(signal, to, {
      polite: true,
      stream: sharer,
      light: opts.light,
      iceServers: state.iceServers,
      onTrack: stream => { if (watchPeer === p) { state.remote = stream; changed() } }
    })
    p.key = keyOf(to, sharer)
    p.mode = mode
    vp8First(p.pc.addTransceiver('video', { direction: 'recvonly' }))
    peers.set(p.key, p)
    watchPeer = p
  }

  /** Stop watching; `tell`: the server still counts us as a viewer (not when the share ended). */
  function endWatch (tell) {
    if (tell && state.watching) signal({ type: 'watch', to: state.watching, on: false })
    if (watchPeer) closePeer(watchPeer.key)
    watchPeer = null
    state.watching = null
    state.remote = null
  }

  async function handle (m) {
    switch (m.type) {
      case 'peers': {
        state.me = m.id
        state.iceServers = m.iceServers
        state.error = null
        state.peers = new Map(m.peers.map(p => [p.id, p]))
        attempt = 0
        // After a reconnect: share again, and watch again if that share is still on.
        if (local) signal({ type: 'share', on: true })
        const sharer = state.watching && state.peers.get(state.watching)
        if (sharer?.sharing) signal({ type: 'watch', to: sharer.id, on: true, light: opts.light })
        else {
          endWatch(false)
          const again = resumeUser && [...state.peers.values()].find(p => p.sharing && p.userId === resumeUser)
          if (again) resumeWatch(again.id)
        }
        break
      }
      case 'join': state.peers.set(m.from, m.peer); break
      case 'leave':
        state.peers.delete(m.from)
        state.viewers.delete(m.from)
        if (state.watching === m.from) endWatch(false)
        closePeer(keyOf(m.from, state.me))
        break
      case 'sharing': {
        const p = state.peers.get(m.from)
        if (p) { p.sharing = m.on; p.mode = m.on ? m.mode : null }
        if (m.on && resumeUser && !state.watching && p?.userId === resumeUser) { resumeWatch(m.from); break }
        if (m.from === state.me) {
          if (m.on && m.mode === 'relay' && state.mode !== 'relay' && local) {
            closeAll({ keepWatch: true }) // the mesh moves to the relay
            publishToRelay()
          }
          state.mode = m.on ? m.mode : null
        } else if (state.watching === m.from) {
          if (!m.on) endWatch(false) // the server dropped every viewer of that share already
          else if (!watchPeer || watchPeer.mode !== m.mode) connectWatch(m.from, m.mode)
        }
        break
      }
      case 'watch':
        if (m.on) state.viewers.add(m.from)
        else { state.viewers.delete(m.from); closePeer(keyOf(m.from, state.me)) }
        break
      case 'offer': case 'answer': {
        // (Without `stream`: an offer is a viewer's of our share, an answer the sharer's.)
        const stream = m.stream || (m.type === 'offer' ? state.me : m.from)
        const mine = m.type === 'offer' && local && stream === state.me && m.from !== RELAY
        const p = peers.get(keyOf(m.from, stream)) || (mine ? meshPeerFor(m.from) : null)
        if (p) await p.description(m.type, m.sdp)
        break
      }
      case 'candidate': await peers.get(keyOf(m.from, m.stream || m.from))?.candidate(m.candidate ?? null); break
      case 'error':
        state.error = m.message
        console.warn('screen share:', m.code, m.message)
        if (m.code === 'forbidden' && local) stop() // this role may not share (changed meanwhile)
        break
    }
    changed()
  }

  function connect () {
    const sock = ws = new WebSocket(url)
    let queue = Promise.resolve()
    sock.onopen = () => signal({ type: 'join' })
    // One message at a time: an offer's answer must be set before the candidates that follow it.
    sock.onmessage = ev => {
      queue = queue.then(() => ws === sock && handle(JSON.parse(ev.data))).catch(err => console.warn('screen share:', err))
    }
    sock.onclose = ev => {
      if (ws !== sock) return
      if (state.watching) resumeUser = state.peers.get(state.watching)?.userId || resumeUser
      state.viewers.clear()
      closeAll()
      state.peers = new Map()
      state.me = null
      state.mode = null
      state.remote = null
      if (state.closed || FINAL.has(ev.code)) {
        if (!state.closed) state.error = ev.reason || `closed (${ev.code})`
        state.closed = true
      } else {
        // Server restart, network drop: come back, sharing/watching as before.
        state.error = 'Screen share reconnecting…'
        setTimeout(connect, Math.min(5000, 250 * 2 ** attempt++))
      }
      changed()
    }
  }
  connect()

  async function start () {
    if (local) return local
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false })
    if (local) { for (const t of stream.getTracks()) t.stop(); return local }
    local = stream
    local.getVideoTracks()[0].addEventListener('ended', stop) // the browser's own "Stop sharing"
    state.sharing = true
    state.preview = local
    state.error = null
    signal({ type: 'share', on: true })
    changed()
    return local
  }

  function stop () {
    if (!local) return
    for (const t of local.getTracks()) t.stop()
    local = null
    closeAll({ keepWatch: true })
    state.viewers.clear()
    state.preview = null
    state.sharing = false
    state.mode = null
    signal({ type: 'share', on: false })
    changed()
  }

  function resumeWatch (sharer) {
    resumeUser = null
    state.watching = sharer
    state.error = null
    signal({ type: 'watch', to: sharer, on: true, light: opts.light })
  }

  function watch (sharer) {
    resumeUser = null
    if (state.watching === sharer) return
    if (state.watching) endWatch(true)
    state.watching = sharer
    state.error = null
    signal({ type: 'watch', to: sharer, on: true, light: opts.light })
    changed()
  }

  function stopWatching () {
    resumeUser = null
    if (!state.watching) return
    endWatch(true)
    changed()
  }

  function close () {
    state.closed = true
    stop()
    ws?.close()
  }

  return { start, stop, watch, stopWatching, state: () => state, close, peerConnections: () => [...peers.values()].map(p => p.pc) }
}
