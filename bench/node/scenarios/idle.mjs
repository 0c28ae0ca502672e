// idle: C clients spread over N rooms each complete the sync handshake and set an
// awareness state, then stay connected for --hold seconds.
import { execFileSync } from 'node:child_process'
import { phase, num, round, ScenarioError } from '../../../tests/node/lib/cli.mjs'
import { RawClient, roomUrl, closeAll } from '../lib/raw.mjs'
import { openAll, hold } from '../lib/pool.mjs'
import { summary, tally } from '../lib/stats.mjs'

/** The soft RLIMIT_NOFILE of this process (children inherit it, so ask a shell). */
const fdLimit = () => {
  try {
    const out = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()
    return out === 'unlimited' ? Infinity : Number(out)
  } catch {
    return null
  }
}

export const timeoutFor = (v) => 60 + Number(v.hold ?? 5) + Number(v.clients ?? 1000) / 50

export const run = async (v) => {
  const c = num(v, 'clients', { min: 1, max: 5000 })
  const n = num(v, 'rooms', { min: 1, max: c })
  const holdS = num(v, 'hold', { min: 0, max: 600, integer: false })
  const concurrency = num(v, 'concurrency', { min: 1, max: 5000 })
  const deadlineMs = num(v, 'handshake-timeout', { min: 0.1, max: 600, integer: false }) * 1000

  const limit = fdLimit()
  const needed = c + 64
  if (limit !== null && limit < needed) {
    throw new ScenarioError(`file descriptor limit too low: ulimit -n is ${limit}, ${c} clients need about ${needed}; ` +
      `raise it in the launching shell (ulimit -n ${Math.max(needed, 8192)}) — the server process needs the same`, { fd_limit: limit, fd_needed: needed })
  }

  const prefix = v.room ?? `idle-${process.pid}-${Date.now().toString(36)}`
  const clients = Array.from({ length: c }, (_, i) =>
    new RawClient(roomUrl(v.url, `${prefix}-${i % n}`, v.token), { awareness: true, applyRemote: false, sendLocal: false, name: `c${i}` }))
  for (const cl of clients) {
    cl.once('synced', () => cl.setAwareness({ user: { name: cl.name, color: '#30bced' } }))
  }

  phase('open')
  const t0 = performance.now()
  const { ok, failed } = await openAll(clients, { concurrency, deadlineMs })
  const openMs = performance.now() - t0

  phase('hold')
  let dropped = 0
  for (const cl of ok) cl.once('close', () => { dropped++ })
  const rssBefore = process.memoryUsage().rss
  await hold(holdS * 1000)
  const droppedDuringHold = dropped // before our own closes below
  const awarenessMsgs = clients.reduce((s, cl) => s + cl.awarenessReceived, 0)

  phase('close')
  await closeAll(clients)
  return {
    scenario: 'idle',
    clients: c,
    rooms: n,
    synced: ok.length,
    failures: failed.length,
    failure_reasons: tally(failed.map((cl) => cl.failure)),
    handshake_ms: summary(ok.map((cl) => cl.syncedAt - cl.startedAt)),
    open_all_ms: round(openMs),
    concurrency,
    hold_s: holdS,
    dropped_during_hold: droppedDuringHold,
    awareness_messages_received: awarenessMsgs,
    client_rss_mb: round(rssBefore / 2 ** 20, 1),
    fd_limit: limit === Infinity ? 'unlimited' : limit
  }
}

export const passed = (r) => r.failures === 0 && r.dropped_during_hold === 0
