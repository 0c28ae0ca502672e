// Clients built on the OFFICIAL y-websocket WebsocketProvider (what browsers run),
// plus waits on its observable state. BroadcastChannel is disabled: Node 20 has a
// global BroadcastChannel, and providers of one process would otherwise sync
// through it instead of through the server under test.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { ScenarioError, onCleanup, until } from './cli.mjs'

/**
 * @typedef {object} Client
 * @property {string} name
 * @property {Y.Doc} doc
 * @property {WebsocketProvider} provider
 * @property {{code:number, reason:string}|null} closed  permanent close (4400-4499) reported by the provider
 * @property {{code:number, reason:string}|null} lastClose  last close of any kind
 * @property {string|null} lastError
 * @property {number} connects  how many times the socket opened
 * @property {number} openedAt  performance.now() of construction
 * @property {number|null} syncedAt  performance.now() of the first `synced`
 */

/** Connect one client to ROOM under the y-websocket base URL. Returns a Client. */
export const connect = (url, room, { token, name = 'client', doc = new Y.Doc(), connect: doConnect = true } = {}) => {
  // every provider adds a process 'exit' listener; many clients per process are intended
  process.setMaxListeners(0)
  const params = token ? { token } : {}
  const client = {
    name, doc, provider: null, closed: null, lastClose: null, lastError: null,
    connects: 0, openedAt: performance.now(), syncedAt: null
  }
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket, params, disableBc: true, connect: doConnect
  })
  client.provider = provider
  provider.on('status', ({ status }) => { if (status === 'connected') client.connects++ })
  provider.on('sync', (isSynced) => {
    if (isSynced && client.syncedAt === null) client.syncedAt = performance.now()
  })
  provider.on('connection-close', (event) => {
    client.lastClose = event ? { code: event.code, reason: String(event.reason || '') } : null
  })
  provider.on('connection-error', (event) => {
    client.lastError = String(event?.message || event?.error?.message || event?.type || event)
  })
  provider.on('closed', ({ code, reason }) => { client.closed = { code, reason: String(reason || '') } })
  onCleanup(() => { provider.destroy(); doc.destroy() })
  return client
}

/** Human-readable connection state for timeout messages. */
export const describeClient = (c) => {
  const p = c.provider
  const parts = [`${c.name}: connected=${p.wsconnected} synced=${p.synced} opens=${c.connects}`]
  if (c.lastClose) parts.push(`last close ${c.lastClose.code} ${c.lastClose.reason}`.trim())
  if (c.lastError) parts.push(`last error ${c.lastError}`)
  return parts.join(', ')
}

/** An Error if the server refused a client for good (close code 4400-4499), else null. */
export const permanentCloseError = (clients) => {
  for (const c of clients) {
    if (c.closed) {
      return new ScenarioError(
        `server closed ${c.name}'s connection with code ${c.closed.code}${c.closed.reason ? ` (${c.closed.reason})` : ''}`,
        { close_code: c.closed.code, close_reason: c.closed.reason })
    }
  }
  return null
}

/** Event sources that can change a client's connection state. */
export const connectionSources = (c) => [
  [c.provider, 'sync'], [c.provider, 'status'], [c.provider, 'connection-close'], [c.provider, 'closed']
]

/**
 * Wait until `check()` holds, re-checked on doc updates and connection events of `clients`
 * (plus `extra` sources). Fails early if the server closes one of them for good.
 */
export const waitClients = (label, clients, check, timeoutMs, extra = []) => until(
  label, check,
  [...clients.flatMap((c) => [[c.doc, 'update'], ...connectionSources(c)]), ...extra],
  timeoutMs,
  { describe: () => clients.map(describeClient).join('; '), abort: () => permanentCloseError(clients) }
)

export const waitSynced = (clients, timeoutMs) =>
  waitClients(`${clients.length === 1 ? clients[0].name : clients.length + ' clients'} to sync`,
    clients, () => clients.every((c) => c.provider.synced), timeoutMs)

/** Decoded state vector as a plain object {clientID: clock}. */
export const stateVector = (doc) => Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(doc)))

/** True when doc `a` contains everything doc/state vector `b` has seen. */
export const dominates = (a, svB) => {
  const svA = Y.decodeStateVector(Y.encodeStateVector(a))
  for (const [client, clock] of svB) {
    if ((svA.get(client) || 0) < clock) return false
  }
  return true
}

/**
 * Confirm the server holds everything `doc` has: a fresh probe client connects to the
 * same room and waits until its document dominates `doc`'s state vector.
 * Returns milliseconds spent.
 */
export const confirmServerHas = async (url, room, doc, { token, timeoutMs, name = 'probe' }) => {
  const t0 = performance.now()
  const target = Y.decodeStateVector(Y.encodeStateVector(doc))
  const probe = connect(url, room, { token, name })
  try {
    await waitSynced([probe], timeoutMs)
    await waitClients(`${name} to see the writer's state`, [probe], () => dominates(probe.doc, target), timeoutMs)
  } finally {
    probe.provider.destroy()
    probe.doc.destroy()
  }
  return performance.now() - t0
}

export { Y }
