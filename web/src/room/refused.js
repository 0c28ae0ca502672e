// A change the server refuses never stays on the page as if it were saved.
//
// The room server drops updates a role may not make (a viewer's anything, a commenter's edit
// outside `comments`), but Yjs keeps them in the page's doc and its IndexedDB copy, so the page
// would show them (as "Saved" after a reload) for good. For roles that may not edit, this watches
// for changes the server will not keep, and then drops the local copy and reloads from the server,
// saying why:
//   - a change made on this page that a viewer, or a commenter outside comments, may not make;
//   - content the IndexedDB copy holds that the server lacks (its sync step 1 says what it has)
//     and that is not durable on the server within STUCK_MS (a commenter's offline comment is
//     kept; an edit from when the person had another role is not).
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { durableStateVector } from './connection.js'

const STUCK_MS = 8000
const KEY = session => 'tandem.refused.' + session

function rootOf (type) {
  let t = type
  while (t?._item?.parent) t = t._item.parent
  return t
}

/**
 * @param {{doc: Y.Doc, provider: any, idb: any, awareness: any, comments: Y.Array<any>}} ctx
 * @param {{session: string, role: string}} opts
 */
export function guardRefused (ctx, { session, role }) {
  const { doc, provider } = ctx
  const what = role === 'commenter' ? 'edit the code' : 'change anything'
  const because = `Changes made here were not saved: as a ${role} you cannot ${what} in this session. This page now shows the server's copy.`
  let serverState = null // Map<client, clock> from the server's last sync step 1
  const pending = new Map() // client -> {clock, since}
  // What this page holds that did not come from the server: the IndexedDB copy and local
  // changes (others' updates relayed meanwhile are the server's, whatever its step 1 said).
  const notFromServer = new Map() // client -> clock
  let restoring = false

  async function restore () {
    if (restoring) return
    restoring = true
    try { sessionStorage.setItem(KEY(session), because) } catch { /* private mode: no notice */ }
    try { await ctx.idb.clearData() } catch (err) { console.warn('dropping the local copy failed', err) }
    location.reload()
  }

  // Peek at the server's sync step 1 (its state vector) before y-websocket answers it.
  const handleSync = provider.messageHandlers[0]
  provider.messageHandlers[0] = (encoder, decoder, ...rest) => {
    try {
      const peek = decoding.createDecoder(decoder.arr.subarray(decoder.pos))
      if (decoding.readVarUint(peek) === 0) serverState = Y.decodeStateVector(decoding.readVarUint8Array(peek))
    } catch (err) { console.warn('sync step 1 unreadable', err) }
    return handleSync(encoder, decoder, ...rest)
  }

  // After the server's state is in and the IndexedDB copy loaded (either may come first).
  function checkAhead () {
    if (!provider.synced || !serverState || restoring) return
    const ahead = []
    for (const [client, clock] of notFromServer) {
      if (clock > (serverState.get(client) || 0)) ahead.push([client, clock])
    }
    if (!ahead.length) return
    if (role !== 'commenter') return restore() // a viewer writes nothing the server keeps
    for (const [client, clock] of ahead) pending.set(client, { clock, since: pending.get(client)?.since ?? Date.now() })
  }
  provider.on('sync', synced => { if (synced) checkAhead() })
  ctx.idb.on('synced', checkAhead)

  doc.on('afterTransaction', tr => {
    if (tr.origin !== provider) {
      for (const [client, clock] of tr.afterState) {
        if (clock > (tr.beforeState.get(client) || 0)) notFromServer.set(client, Math.max(clock, notFromServer.get(client) || 0))
      }
    }
    if (!tr.local || restoring) return
    // Reading some types opens a local transaction that writes nothing (Y.Text#toDelta does):
    // only a transaction that made structs or deletions is a change the server could refuse.
    const wrote = (tr.afterState.get(doc.clientID) || 0) > (tr.beforeState.get(doc.clientID) || 0) ||
      tr.deleteSet.clients.size > 0
    if (!wrote) return
    const outside = [...tr.changed.keys()].some(t => rootOf(t) !== ctx.comments)
    if (role !== 'commenter' || outside) return restore()
    const clock = Y.getState(doc.store, doc.clientID)
    if (clock > 0) pending.set(doc.clientID, { clock, since: pending.get(doc.clientID)?.since ?? Date.now() })
    document.body.dataset.unconfirmed = String(pending.size)
  })

  setInterval(() => {
    document.body.dataset.unconfirmed = String(pending.size) // changes the server has not kept yet
    if (!pending.size || restoring || !provider.wsconnected || !provider.synced) return
    const durable = durableStateVector(ctx.awareness)
    for (const [client, { clock, since }] of pending) {
      if (durable && (durable.get(client) || 0) >= clock) pending.delete(client)
      else if (Date.now() - since > STUCK_MS) return restore()
    }
    document.body.dataset.unconfirmed = String(pending.size)
  }, 1000)
}

/** After a reload that dropped refused changes: say why (once). */
export function showRefusedNotice (session, show) {
  let msg = null
  try { msg = sessionStorage.getItem(KEY(session)); sessionStorage.removeItem(KEY(session)) } catch { /* no storage */ }
  if (msg) {
    document.body.dataset.refused = 'true'
    show(msg)
  }
}
