// Screen share over /signal/{session}: perfect negotiation (viewers polite), browser mesh for a
// small audience, the server's relay beyond — the server says which (`sharing.mode`), we follow.
const RELAY = 'relay'

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

  async description (type, sdp) {
    const collision = type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable')
    this.ignoreOffer = !this.polite && collision
    if (this.ignoreOffer) return
    await this.pc.setRemoteDescription({ type, sdp })
    if (type === 'offer') {
      if (this.beforeAnswer) await this.beforeAnswer(this.pc)
      await this.pc.setLocalDescription()
      this.send({ type: 'answer', sdp: this.pc.localDescription.sdp })
    }
  }

  async candidate (c) {
    try { await this.pc.addIceCandidate(c || undefined) } catch (err) { if (!this.ignoreOffer) console.warn(err) }
  }

  close () { this.pc.close() }
}

/**
 * @param {{session: string, token: string|null, light: boolean, onChange: (state) => void}} opts
 */
export function connectScreenShare (opts) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const url = `${proto}//${location.host}/signal/${encodeURIComponent(opts.session)}` + (opts.token ? `?token=${encodeURIComponent(opts.token)}` : '')
  const ws = new WebSocket(url)
  const state = { me: null, peers: new Map(), iceServers: [], error: null, sharing: false, mode: null, watching: null, remote: null, closed: false }
  const peers = new Map() // key (peer id, or relay:stream) -> Peer
  let local = null // the MediaStream being shared
  let watchPeer = null
  const changed = () => opts.onChange({ ...state, peers: [...state.peers.values()] })
  const signal = msg => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)) }
  const keyOf = (from, stream) => from === RELAY ? `${RELAY}:${stream}` : from

  function closePeer (key) { peers.get(key)?.close(); peers.delete(key) }

  function publishToRelay () {
    const p = new Peer(signal, RELAY, { polite: false, stream: state.me, iceServers: state.iceServers })
    vp8First(p.pc.addTransceiver(local.getVideoTracks()[0], { direction: 'sendonly', streams: [local] }))
    peers.set(keyOf(RELAY, state.me), p)
  }

  function meshPeerFor (viewer) {
    // A viewer offers (recvonly); we answer with our track on its transceiver.
    const p = new Peer(signal, viewer, {
      polite: false,
      iceServers: state.iceServers,
      beforeAnswer: async pc => {
        const t = pc.getTransceivers().find(t => t.receiver.track.kind === 'video')
        if (t && local) { await t.sender.replaceTrack(local.getVideoTracks()[0]); t.direction = 'sendonly' }
      }
    })
    peers.set(viewer, p)
    return p
  }

  function connectWatch (sharer, mode) {
    if (watchPeer) { watchPeer.close(); peers.delete(watchPeer.key) }
    const to = mode === 'relay' ? RELAY : sharer
    const p = new Peer(signal, to, {
      polite: true,
      stream: mode === 'relay' ? sharer : undefined,
      light: opts.light,
      iceServers: state.iceServers,
      onTrack: stream => { state.remote = stream; changed() }
    })
    p.key = keyOf(to, sharer)
    p.mode = mode
    vp8First(p.pc.addTransceiver('video', { direction: 'recvonly' }))
    peers.set(p.key, p)
    watchPeer = p
  }

  ws.onopen = () => signal({ type: 'join' })
  ws.onclose = ev => { state.closed = true; state.error = ev.reason || (ev.code === 1000 ? null : `closed (${ev.code})`); changed() }
  ws.onmessage = async ev => {
    const m = JSON.parse(ev.data)
    switch (m.type) {
      case 'peers':
        state.me = m.id
        state.iceServers = m.iceServers
        for (const p of m.peers) state.peers.set(p.id, p)
        break
      case 'join': state.peers.set(m.from, m.peer); break
      case 'leave': state.peers.delete(m.from); closePeer(m.from); break
      case 'sharing': {
        const p = state.peers.get(m.from)
        if (p) { p.sharing = m.on; p.mode = m.mode || null }
        if (m.from === state.me) {
          if (m.on && m.mode === 'relay' && state.mode !== 'relay' && local) {
            for (const key of [...peers.keys()]) closePeer(key) // the mesh moves to the relay
            publishToRelay()
          }
          state.mode = m.on ? m.mode : null
        } else if (state.watching === m.from) {
          if (!m.on) { stopWatching(); break }
          if (!watchPeer || watchPeer.mode !== m.mode) connectWatch(m.from, m.mode)
        }
        break
      }
      case 'watch': if (!m.on) closePeer(m.from); break
      case 'offer': case 'answer': {
        const key = keyOf(m.from, m.stream)
        const p = peers.get(key) || (m.type === 'offer' && local ? meshPeerFor(m.from) : null)
        if (p) await p.description(m.type, m.sdp)
        break
      }
      case 'candidate': await peers.get(keyOf(m.from, m.stream))?.candidate(m.candidate); break
      case 'error': state.error = m.message; console.warn('screen share:', m.code, m.message); break
    }
    changed()
  }

  async function start () {
    local = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false })
    local.getVideoTracks()[0].addEventListener('ended', stop)
    state.sharing = true
    signal({ type: 'share', on: true })
    changed()
    return local
  }

  function stop () {
    if (!local) return
    for (const t of local.getTracks()) t.stop()
    local = null
    for (const key of [...peers.keys()]) if (key !== watchPeer?.key) closePeer(key)
    state.sharing = false
    state.mode = null
    signal({ type: 'share', on: false })
    changed()
  }

  function watch (sharer) {
    if (state.watching === sharer) return
    if (state.watching) stopWatching()
    state.watching = sharer
    signal({ type: 'watch', to: sharer, on: true, light: opts.light })
    changed()
  }

  function stopWatching () {
    if (state.watching) signal({ type: 'watch', to: state.watching, on: false })
    if (watchPeer) { watchPeer.close(); peers.delete(watchPeer.key); watchPeer = null }
    state.watching = null
    state.remote = null
    changed()
  }

  return { start, stop, watch, stopWatching, state: () => state, close: () => ws.close() }
}
