// A lightweight y-websocket protocol client over `ws`, encoded with y-protocols and
// lib0 directly (no WebsocketProvider: it is too heavy for thousands of clients).
// One RawClient = one socket, one Y.Doc, optionally one Awareness.
import { EventEmitter } from 'node:events'
import { Y, syncProtocol, awarenessProtocol, encoding, decoding, WebSocket } from '../../../tests/node/lib/deps.mjs'

export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_AUTH = 2
export const MSG_QUERY_AWARENESS = 3

const isLoopbackHost = (h) => h === 'localhost' || h === '[::1]' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)

/** Throw unless `url` targets this machine: load is only ever sent to loopback. */
export const assertLoopback = (url) => {
  const host = new URL(url).hostname
  if (!isLoopbackHost(host)) throw new Error(`refusing to generate load against ${host}: only loopback targets (127.0.0.0/8, localhost, [::1]) are allowed`)
}

/** `base` + '/' + room (+ ?token=…), as WebsocketProvider builds it. */
export const roomUrl = (base, room, token) =>
  base.replace(/\/+$/, '') + '/' + room + (token ? '?token=' + encodeURIComponent(token) : '')

const encodeSync = (write) => {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, MSG_SYNC)
  write(enc)
  return encoding.toUint8Array(enc)
}

/**
 * Events: 'synced' (server's sync step 2 applied), 'message' (after each processed
 * message), 'close' (code, reason).
 */
export class RawClient extends EventEmitter {
  /**
   * @param {string} url full room URL
   * @param {object} opts
   * @param {boolean} [opts.applyRemote=true] apply incoming updates (false: only the handshake)
   * @param {boolean} [opts.sendLocal=true] send this doc's local updates to the server
   * @param {boolean} [opts.awareness=false] create an Awareness for this client
   * @param {string} [opts.name]
   */
  constructor (url, { applyRemote = true, sendLocal = true, awareness = false, name = '' } = {}) {
    super()
    this.name = name
    this.url = url
    this.doc = new Y.Doc()
    this.awareness = awareness ? new awarenessProtocol.Awareness(this.doc) : null
    this.applyRemote = applyRemote
    this.ws = null
    this.startedAt = null // socket open requested
    this.openedAt = null
    this.step2At = null // server's sync step 2 arrived
    this.syncedAt = null // ... and was applied
    this.step2Bytes = 0
    this.closed = null // {code, reason} once closed
    this.error = null
    this.received = 0
    this.awarenessReceived = 0
    this.permissionDenied = null
    // Order check: the clock each client's updates have reached here; an update that starts past
    // it overtook an earlier one of that client (counted once synced: before the server's step 2
    // live updates may legitimately arrive ahead of the history).
    this.clocks = new Map()
    this.outOfOrder = 0
    if (sendLocal) {
      this.doc.on('update', (update, origin) => { if (origin !== this) this.sendUpdate(update) })
    }
  }

  get synced () { return this.syncedAt !== null }

  start () {
    this.startedAt = performance.now()
    const ws = new WebSocket(this.url, { perMessageDeflate: false, maxPayload: 512 * 1024 * 1024 })
    this.ws = ws
    ws.binaryType = 'nodebuffer'
    ws.on('open', () => {
      this.openedAt = performance.now()
      this.send(encodeSync((enc) => syncProtocol.writeSyncStep1(enc, this.doc)))
    })
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return
      this.received++
      try {
        this._read(data)
      } catch (err) {
        this.error = `bad message from server: ${err.message}`
      }
      this.emit('message', this)
    })
    ws.on('error', (err) => { this.error = err.message || String(err) })
    ws.on('unexpected-response', (_req, res) => {
      this.error = `HTTP ${res.statusCode} on upgrade`
      ws.terminate()
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      if (this.awareness) this.awareness.destroy()
      this.emit('close', code, this.closed.reason)
    })
    return this
  }

  _noteOrder (update) {
    const { from, to } = Y.parseUpdateMeta(update)
    for (const [client, start] of from) {
      const have = this.clocks.get(client) ?? 0
      if (start > have && this.step2At !== null) this.outOfOrder++
      this.clocks.set(client, Math.max(have, to.get(client) ?? 0))
    }
  }

  _read (buf) {
    const dec = decoding.createDecoder(buf)
    const type = decoding.readVarUint(dec)
    if (type === MSG_SYNC) {
      const syncType = decoding.readVarUint(dec)
      if (syncType === syncProtocol.messageYjsSyncStep1) {
        this.send(encodeSync((enc) => syncProtocol.readSyncStep1(dec, enc, this.doc)))
      } else if (syncType === syncProtocol.messageYjsSyncStep2) {
        const first = this.step2At === null
        if (first) this.step2At = performance.now()
        const update = decoding.readVarUint8Array(dec)
        if (first) this.step2Bytes = update.length
        this._noteOrder(update)
        Y.applyUpdate(this.doc, update, this)
        if (first) {
          this.syncedAt = performance.now()
          this.emit('synced', this)
        }
      } else if (syncType === syncProtocol.messageYjsUpdate) {
        const update = decoding.readVarUint8Array(dec)
        this._noteOrder(update)
        if (this.applyRemote) Y.applyUpdate(this.doc, update, this)
      }
    } else if (type === MSG_AWARENESS) {
      this.awarenessReceived++
      if (this.awareness && this.applyRemote) {
        awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(dec), this)
      }
    } else if (type === MSG_QUERY_AWARENESS) {
      if (this.awareness) this.sendAwareness()
    } else if (type === MSG_AUTH) {
      // y-protocols/auth: varUint 0 = permission denied, then the reason
      if (decoding.readVarUint(dec) === 0) this.permissionDenied = decoding.readVarString(dec)
    }
  }

  send (u8) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(u8)
  }

  sendUpdate (update) {
    this.send(encodeSync((enc) => syncProtocol.writeUpdate(enc, update)))
  }

  /** Set a local awareness state and send it. */
  setAwareness (state) {
    this.awareness.setLocalState(state)
    this.sendAwareness()
  }

  sendAwareness () {
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, MSG_AWARENESS)
    encoding.writeVarUint8Array(enc, awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.doc.clientID]))
    this.send(encoding.toUint8Array(enc))
  }

  get bufferedAmount () { return this.ws ? this.ws.bufferedAmount : 0 }

  /** Close politely; sockets still connecting are dropped. */
  close () {
    if (!this.ws) return
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate()
    else if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000)
    if (this.awareness) this.awareness.destroy()
    this.doc.destroy()
  }

  /** Short description for failure reports. */
  describe () {
    if (this.closed) return `closed ${this.closed.code}${this.closed.reason ? ' ' + this.closed.reason : ''}`
    if (this.error) return `error ${this.error}`
    if (this.openedAt === null) return 'not open'
    if (!this.synced) return 'open, no sync step 2'
    return 'synced'
  }
}

/** Resolve once every client in `clients` is closed, or after `ms`. */
export const closeAll = (clients, ms = 2000) => new Promise((resolve) => {
  let open = 0
  const timer = setTimeout(resolve, ms)
  const done = () => { if (--open <= 0) { clearTimeout(timer); resolve() } }
  for (const c of clients) {
    if (c.ws && c.ws.readyState !== WebSocket.CLOSED && !c.closed) {
      open++
      c.ws.once('close', done)
    }
    c.close()
  }
  if (open === 0) { clearTimeout(timer); resolve() }
})
