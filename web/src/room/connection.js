// One session = one Y.Doc: the WebSocket provider, IndexedDB persistence (offline reloads show
// the last synced content), the connection status and the "saved" indicator.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import { fromBase64 } from 'lib0/buffer'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { splitUpdate } from '../lib/updatesplit.js'

// How long the page waits for its local copy before connecting without it.
const LOCAL_LOAD_TIMEOUT_MS = 10000
// A document update the page sends goes in pieces of about this size (the server's frame limit
// is 16 MiB by default: much offline work, or a server restored from an older backup, exceeds it).
const SEND_PIECE_BYTES = 1024 * 1024

/** y-websocket's socket, sending a large sync step 2 or update as several updates. Made when a
 * session opens, not at import: Node (the tests that import this module) has no WebSocket. */
let PiecewiseSocket = null
function piecewiseSocket () {
  PiecewiseSocket ??= class extends WebSocket {
    send (data) {
      const pieces = data?.byteLength > SEND_PIECE_BYTES ? cutSyncMessage(data) : null
      if (!pieces) return super.send(data)
      for (const piece of pieces) super.send(piece)
    }
  }
  return PiecewiseSocket
}

/** A sync message cut into update messages (null: not a document update, or it would not parse). */
function cutSyncMessage (data) {
  try {
    const decoder = decoding.createDecoder(new Uint8Array(data))
    if (decoding.readVarUint(decoder) !== 0) return null // messageSync
    const kind = decoding.readVarUint(decoder)
    if (kind !== 1 && kind !== 2) return null // syncStep2, update
    return splitUpdate(decoding.readVarUint8Array(decoder), SEND_PIECE_BYTES).map(piece => {
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      encoding.writeVarUint(encoder, 2) // an update: the server applies a step 2 the same way
      encoding.writeVarUint8Array(encoder, piece)
      return encoding.toUint8Array(encoder)
    })
  } catch (err) {
    console.warn('an update could not be cut; sent whole', err)
    return null
  }
}

/**
 * @param {string} session
 * @param {{token?: string|null, name?: string|null, first?: Promise<unknown>|null}} opts  `name`
 *   names this person where the server lets the client say it (--no-auth, share-link guests):
 *   version history's authors. `first`: connect once it settles too (the first file's text,
 *   room/firsttext.js: kilobytes that must not queue behind the doc's megabytes on a slow link).
 */
export function openSession (session, { token = null, name = null, first = null } = {}) {
  const doc = new Y.Doc()
  const idb = new IndexeddbPersistence('tandem:' + session, doc)
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const params = { ...(token ? { token } : {}), ...(name ? { name } : {}) }
  // Connect only once the local copy is in the doc. Connected earlier, the provider forwards
  // IndexedDB's load as one local update (the whole doc, up to the server, over its frame limit:
  // #18 finding 5) and its SyncStep1 carries an empty state vector (the whole doc comes down
  // again). Connected after, both directions of a warm reload carry only what changed.
  const provider = new WebsocketProvider(`${scheme}://${location.host}/yjs`, encodeURIComponent(session), doc, { params, connect: false, WebSocketPolyfill: piecewiseSocket() })
  let started = false
  const start = () => { if (!started) { started = true; provider.connect() } }
  const local = idb.whenSynced.then(() => null, () => null)
  Promise.all([local, first]).then(start, start)
  // A storage that never answers (blocked by another tab's upgrade) or a first-text request that
  // hangs must not keep the page offline.
  setTimeout(start, LOCAL_LOAD_TIMEOUT_MS)
  return {
    doc,
    idb,
    provider,
    awareness: provider.awareness,
    files: doc.getMap('files'),
    meta: doc.getMap('meta'),
    terminals: doc.getMap('terminals'),
    comments: doc.getArray('comments')
  }
}

/**
 * The server's own announcement ({tandem: {durable, deletes, node}}). The server strips `tandem`
 * from every client's state, so only its entry carries it; should two entries ever carry it, none
 * is trusted (the page then says "Synced", never a "Saved" someone else could fake).
 * @returns {{durable: Map<number, number>, deletes: string|null}|null}
 */
function serverAnnouncement (awareness) {
  let found = null
  let count = 0
  for (const state of awareness.getStates().values()) {
    const tandem = state?.tandem
    if (tandem && typeof tandem === 'object') { count++; found = tandem }
  }
  if (count !== 1 || typeof found.durable !== 'string') return null
  try {
    return { durable: Y.decodeStateVector(fromBase64(found.durable)), deletes: typeof found.deletes === 'string' ? found.deletes : null }
  } catch { return null }
}

/** The durable state vector of the server's announcement, or null. */
export function durableStateVector (awareness) {
  return serverAnnouncement(awareness)?.durable ?? null
}

/**
 * A digest of a doc's delete set, computed the same way as the server's
 * (backend/rooms/durability.py): clients in ascending order, each one's ranges sorted and merged,
 * written as `client:clock+len,...;` and hashed with 32-bit FNV-1a, in hex.
 */
export function deleteSetDigest (doc) {
  const ds = Y.createDeleteSetFromStructStore(doc.store)
  const clients = [...ds.clients.keys()].sort((a, b) => a - b)
  let text = ''
  for (const client of clients) {
    const ranges = ds.clients.get(client).map(r => [r.clock, r.len]).sort((a, b) => a[0] - b[0])
    const merged = []
    for (const [clock, len] of ranges) {
      const last = merged[merged.length - 1]
      if (last && clock <= last[0] + last[1]) last[1] = Math.max(last[1], clock + len - last[0])
      else merged.push([clock, len])
    }
    if (!merged.length) continue
    text += client + ':' + merged.map(([clock, len]) => clock + '+' + len).join(',') + ';'
  }
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash.toString(16).padStart(8, '0')
}

// Docs with local deletions the server has not yet announced as durable: a pure deletion never
// moves the state vector, so the delete-set digest is what shows it persisted.
const pendingDeletes = new WeakSet()

/** Note this doc's own deletions (call once per doc). */
export function trackDeletions (doc) {
  doc.on('afterTransaction', tr => {
    if (tr.local && tr.deleteSet.clients.size > 0) pendingDeletes.add(doc)
  })
}

/**
 * Saved when everything this client wrote is in the server's durable state: its inserts (the
 * durable state vector) and its deletions (the durable delete-set digest equals this doc's).
 * @returns {'saved'|'saving'|'unknown'}
 */
export function saveState (doc, awareness) {
  const local = Y.getState(doc.store, doc.clientID)
  const deleting = pendingDeletes.has(doc)
  if (local === 0 && !deleting) return 'saved'
  const server = serverAnnouncement(awareness)
  if (server === null) return 'unknown'
  if ((server.durable.get(doc.clientID) || 0) < local) return 'saving'
  if (deleting) {
    if (server.deletes === null || server.deletes !== deleteSetDigest(doc)) return 'saving'
    pendingDeletes.delete(doc)
  }
  return 'saved'
}

/** Wire the topbar status, the saved indicator and the offline banner. */
export function bindStatus ({ doc, provider, awareness, idb }, { statusEl, savedEl, bannerEl }) {
  let status = 'connecting'
  let synced = false
  const render = () => {
    const online = navigator.onLine && status === 'connected'
    statusEl.dataset.state = online ? (synced ? 'online' : 'syncing') : status
    statusEl.textContent = online ? (synced ? 'Live' : 'Syncing…') : (status === 'connecting' ? 'Connecting…' : 'Offline')
    statusEl.title = online ? 'Connected to the room' : 'Not connected: edits are kept on this device and sync when the connection returns'
    bannerEl.hidden = online || status === 'connecting'
    const saved = online ? saveState(doc, awareness) : (Y.getState(doc.store, doc.clientID) === 0 && !pendingDeletes.has(doc) ? 'saved' : 'local')
    savedEl.dataset.state = saved
    savedEl.textContent = { saved: 'Saved', saving: 'Saving…', unknown: 'Synced', local: 'Kept on this device' }[saved]
    document.body.dataset.connection = statusEl.dataset.state
  }
  provider.on('status', e => { status = e.status; render() })
  provider.on('sync', s => { synced = s; render() })
  provider.on('closed', e => {
    status = 'closed'
    bannerEl.textContent = `The room closed the connection (${e.code}${e.reason ? ': ' + e.reason : ''}).`
    render()
  })
  trackDeletions(doc)
  doc.on('update', render)
  awareness.on('change', render)
  idb.on('synced', render)
  addEventListener('online', render)
  addEventListener('offline', render)
  // A status that never leaves "connecting" (server down on first load) becomes offline; counted
  // from when the provider may connect (after the local copy loaded, see openSession).
  const arm = () => setTimeout(() => { if (status === 'connecting' && !provider.wsconnected) { status = 'disconnected'; render() } }, 4000)
  idb.whenSynced.then(arm, arm)
  render()
}
