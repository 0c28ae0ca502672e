#!/usr/bin/env node
// reference-server.mjs — the reference y-websocket server (@y/websocket-server 0.1.1,
// in-memory, no persistence) on loopback, for developing and comparing against Tandem.
// Same handler as its `y-websocket` bin, but binds 127.0.0.1 and takes PORT=0 (an unused
// port, the default) and prints one JSON line once listening:
//   {"ok":true,"pid":N,"port":P,"url":"ws://127.0.0.1:P/yjs"}
// Usage: node reference-server.mjs [--port 0] [--host 127.0.0.1]    Stop it with SIGTERM/SIGINT.
// Note: the reference server names the document after the whole path ("yjs/ROOM").
import http from 'node:http'
import { parseArgs } from 'node:util'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'

const { values } = parseArgs({ options: { port: { type: 'string', default: process.env.PORT || '0' }, host: { type: 'string', default: '127.0.0.1' } } })
const wss = new WebSocketServer({ noServer: true })
wss.on('connection', setupWSConnection)
const server = http.createServer((_req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('okay') })
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)))
server.listen(Number(values.port), values.host, () => {
  const { port } = server.address()
  const host = values.host.includes(':') ? `[${values.host}]` : values.host
  process.stdout.write(JSON.stringify({ ok: true, pid: process.pid, port, url: `ws://${host}:${port}/yjs` }) + '\n')
})
const stop = () => {
  for (const ws of wss.clients) ws.terminate()
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
