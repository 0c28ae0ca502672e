#!/usr/bin/env node
// viewer.mjs — the official y-websocket client joining by share link (`params: {token}`), used by
// tests/test_access_live.py: it edits Y.Text `t` (a viewer's edit: the server must drop it) and
// claims someone else's identity in awareness, then waits for a live edit from another client.
//
// Usage: node viewer.mjs --url ws://HOST:PORT/yjs --room ID --token T --edit TEXT --expect TEXT [--timeout 30]
// Prints {"phase":"edited","client_id":N} once its edit and awareness are sent, then
// {"phase":"received",...} once `t` contains --expect; stays connected until stdin closes.
import { parseArgs } from 'node:util'
import { connect, waitSynced, waitClients } from './lib/yclient.mjs'

const { values: v } = parseArgs({
  options: {
    url: { type: 'string' }, room: { type: 'string' }, token: { type: 'string' },
    edit: { type: 'string' }, expect: { type: 'string' }, timeout: { type: 'string', default: '30' }
  }
})
const ms = Number(v.timeout) * 1000
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const c = connect(v.url, v.room, { token: v.token, name: 'viewer' })
await waitSynced([c], ms)
const t = c.doc.getText('t')
c.doc.transact(() => t.insert(t.length, v.edit))
c.provider.awareness.setLocalState({ user: { id: 'impostor', name: 'The Owner', role: 'owner' }, file: 'main.py' })
out({ phase: 'edited', client_id: c.doc.clientID })
await waitClients("the other client's live edit", [c], () => t.toString().includes(v.expect), ms)
out({ phase: 'received', text: t.toString(), connected: c.provider.wsconnected, closed: c.closed })
process.stdin.resume()
process.stdin.on('end', () => { c.provider.destroy(); c.doc.destroy(); process.exit(0) })
