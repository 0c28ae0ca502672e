#!/usr/bin/env node
// warm_reload.mjs — a large room with the official y-websocket client, every frame measured:
// a cold sync (empty doc), then a warm reload (a new provider on a doc that already holds the
// saved copy before it connects, as the room page does with IndexedDB since #18).
//
// Usage: node warm_reload.mjs --url ws://HOST:PORT/yjs --room NAME [--timeout 120]
// -> {cold: Stats, warm: Stats, files: N, files_sha256, doc_bytes}
//    Stats: {up_bytes, max_frame_up, down_bytes, max_frame_down, frames_down, closes: [codes], sync_ms}
import { createHash } from 'node:crypto'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { runMain, phase, remainingMs, round } from './lib/cli.mjs'
import { waitSynced, Y } from './lib/yclient.mjs'

const USAGE = 'usage: node warm_reload.mjs --url ws://HOST:PORT/yjs --room NAME [--timeout 120]'

/** A WebSocket class that counts what goes each way (frames are messages: y-websocket sends one per frame). */
const countingSocket = (stats) => class extends WebSocket {
  constructor (...args) {
    super(...args)
    this.on('message', data => {
      const n = data.byteLength ?? data.length // an ArrayBuffer: y-websocket sets binaryType
      stats.down_bytes += n
      stats.frames_down++
      stats.max_frame_down = Math.max(stats.max_frame_down, n)
    })
    this.on('close', code => { if (!stats.done) stats.closes.push(code) })
  }

  send (data, ...rest) {
    const n = data.byteLength ?? data.length
    stats.up_bytes += n
    stats.max_frame_up = Math.max(stats.max_frame_up, n)
    return super.send(data, ...rest)
  }
}

const session = async (url, room, doc) => {
  const stats = { up_bytes: 0, max_frame_up: 0, down_bytes: 0, max_frame_down: 0, frames_down: 0, closes: [], sync_ms: 0 }
  const t0 = performance.now()
  const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: countingSocket(stats), disableBc: true })
  const client = { name: 'client', doc, provider }
  await waitSynced([client], remainingMs())
  stats.sync_ms = round(performance.now() - t0)
  stats.done = true // closes from here on are our own
  provider.destroy()
  const { done, ...out } = stats
  return out
}

const digest = (doc) => {
  const files = doc.getMap('files')
  const hash = createHash('sha256')
  for (const path of [...files.keys()].sort()) hash.update(path + '\0' + files.get(path).toString() + '\0', 'utf8')
  return { files: files.size, files_sha256: hash.digest('hex') }
}

runMain(USAGE, {}, async (v) => {
  phase('cold')
  const first = new Y.Doc()
  const cold = await session(v.url, v.room, first)
  const saved = Y.encodeStateAsUpdate(first)
  const coldFiles = digest(first)
  phase('warm')
  const second = new Y.Doc()
  Y.applyUpdate(second, saved) // the local copy, in the doc before the provider connects
  const warm = await session(v.url, v.room, second)
  const warmFiles = digest(second)
  return { cold, warm, ...coldFiles, warm_files_sha256: warmFiles.files_sha256, doc_bytes: saved.length }
}, { defaultTimeout: () => 120 })
