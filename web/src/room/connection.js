// One session = one Y.Doc: the WebSocket provider, IndexedDB persistence (offline reloads show
// the last synced content), the connection status and the "saved" indicator.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import { fromBase64 } from 'lib0/buffer'

/**
 * @param {string} session
 * @param {{token?: string|null, name?: string|null}} opts  `name` names this person where the
 *   server lets the client say it (--no-auth, share-link guests): version history's authors.
 */
export function openSession (session, { token = null, name = null } = {}) {
  const doc = new Y.Doc()
  const idb = new IndexeddbPersistence('tandem:' + session, doc)
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const params = { ...(token ? { token } : {}), ...(name ? { name } : {}) }
  const provider = new WebsocketProvider(`${scheme}://${location.host}/yjs`, encodeURIComponent(session), doc, { params })
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
 * The durable state vector the server publishes in its awareness entry ({tandem: {durable}}).
 * @returns {Map<number, number>|null}
 */
export function durableStateVector (awareness) {
  for (const state of awareness.getStates().values()) {
    const durable = state?.tandem?.durable
    if (typeof durable === 'string') {
      try { return Y.decodeStateVector(fromBase64(durable)) } catch { return null }
    }
  }
  return null
}

/**
 * Saved when everything this client wrote is in the server's durable state vector.
 * @returns {'saved'|'saving'|'unknown'}
 */
export function saveState (doc, awareness) {
  const local = Y.getState(doc.store, doc.clientID)
  if (local === 0) return 'saved'
  const durable = durableStateVector(awareness)
  if (durable === null) return 'unknown'
  return (durable.get(doc.clientID) || 0) >= local ? 'saved' : 'saving'
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
    const saved = online ? saveState(doc, awareness) : (Y.getState(doc.store, doc.clientID) === 0 ? 'saved' : 'local')
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
  doc.on('update', render)
  awareness.on('change', render)
  idb.on('synced', render)
  addEventListener('online', render)
  addEventListener('offline', render)
  // A status that never leaves "connecting" (server down on first load) becomes offline.
  setTimeout(() => { if (status === 'connecting' && !provider.wsconnected) { status = 'disconnected'; render() } }, 4000)
  render()
}
