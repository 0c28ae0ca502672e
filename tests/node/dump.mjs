#!/usr/bin/env node
// dump.mjs — connect with the official y-websocket client, wait for the sync handshake,
// print the room's document. Used by durability tests to read a room back after a restart.
//
// Usage: node dump.mjs --url ws://127.0.0.1:PORT/yjs --room NAME [--token T] [--timeout 30]
//                      [--expect-length N]   (also wait until `t` has >= N UTF-16 units)
// Prints one JSON line:
//   {"ok":true,"text_of_t":"…","files":{"src/a.py":"…"},"meta":{…},"sv_base64":"…",
//    "update_bytes":N,"sync_ms":…,"elapsed_ms":…}
import { runMain, phase, remainingMs, num, round } from './lib/cli.mjs'
import { connect, waitSynced, waitClients, Y } from './lib/yclient.mjs'

const USAGE = 'usage: node dump.mjs --url ws://HOST:PORT/yjs --room NAME [--token T] [--timeout 30] [--expect-length N]'

runMain(USAGE, { 'expect-length': { type: 'string' } }, async (v) => {
  const c = connect(v.url, v.room, { token: v.token, name: 'dump' })
  phase('sync')
  await waitSynced([c], remainingMs())
  const syncMs = performance.now() - c.openedAt
  const t = c.doc.getText('t')
  if (v['expect-length'] !== undefined) {
    const n = num(v, 'expect-length', { min: 0 })
    phase('wait-length')
    await waitClients(`text length >= ${n}`, [c], () => t.length >= n, remainingMs())
  }
  const files = {}
  for (const [path, value] of c.doc.getMap('files').entries()) {
    files[path] = value instanceof Y.AbstractType ? value.toString() : value
  }
  return {
    text_of_t: t.toString(),
    files,
    meta: c.doc.getMap('meta').toJSON(),
    sv_base64: Buffer.from(Y.encodeStateVector(c.doc)).toString('base64'),
    update_bytes: Y.encodeStateAsUpdate(c.doc).length,
    sync_ms: round(syncMs)
  }
})
