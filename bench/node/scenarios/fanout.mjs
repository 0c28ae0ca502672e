// fanout: W writers insert unique markers "[w.seq]" into Y.Text `t` at E edits/s in total
// (one transaction, one update message per edit); R readers in the same room observe
// Y.Text delta events and match markers to their send times.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { phase, num, round, ScenarioError } from '../../../tests/node/lib/cli.mjs'
import { Y } from '../../../tests/node/lib/deps.mjs'
import { RawClient, roomUrl, closeAll } from '../lib/raw.mjs'
import { openAll } from '../lib/pool.mjs'
import { summary, tally } from '../lib/stats.mjs'

export const timeoutFor = (v) => 60 + Number(v.seconds ?? 10) + Number(v.drain ?? 5)

const MARKER = /\[([0-9a-z]+)\.([0-9a-z]+)\]/g

/**
 * The strings a Y.Text event's transaction inserted into `text`, read from the structs
 * created in that transaction (clocks in [beforeState, afterState) of each client).
 * Same information as the insert ops of `event.delta`, but O(inserted) instead of
 * yjs 13.6's O(whole text) delta computation, which would make the reader process
 * the bottleneck long before the server.
 */
const insertedStrings = (event, text) => {
  const tr = event.transaction
  const store = tr.doc.store.clients
  const out = []
  for (const [client, after] of tr.afterState) {
    const before = tr.beforeState.get(client) || 0
    if (after <= before) continue
    const structs = store.get(client)
    for (let i = Y.findIndexSS(structs, before); i < structs.length && structs[i].id.clock < after; i++) {
      const s = structs[i]
      if (!(s instanceof Y.Item) || s.parent !== text || s.deleted || !(s.content instanceof Y.ContentString)) continue
      const from = Math.max(0, before - s.id.clock)
      const to = Math.min(s.length, after - s.id.clock)
      out.push(from === 0 && to === s.length ? s.content.str : s.content.str.slice(from, to))
    }
  }
  return out
}

export const run = async (v) => {
  const w = num(v, 'writers', { min: 1, max: 1000 })
  const r = num(v, 'readers', { min: 1, max: 5000 })
  const rate = num(v, 'rate', { min: 0.1, max: 100_000, integer: false })
  const seconds = num(v, 'seconds', { min: 0.1, max: 3600, integer: false })
  const drainMs = num(v, 'drain', { min: 0, max: 600, integer: false }) * 1000
  const room = v.room ?? `fanout-${process.pid}-${Date.now().toString(36)}`
  const url = roomUrl(v.url, room, v.token)

  const sendTimes = new Map() // marker -> performance.now() at send
  const latencies = []
  let delivered = 0
  let unknown = 0
  let onDelivery = null

  const writers = Array.from({ length: w }, (_, i) => new RawClient(url, { name: `w${i}` }))
  // --reader-url: readers on another node (cross-node fan-out through the bus).
  const readerUrl = v['reader-url'] ? roomUrl(v['reader-url'], room, v.token) : url
  const readers = Array.from({ length: r }, (_, i) => new RawClient(readerUrl, { name: `r${i}`, sendLocal: false }))
  for (const rd of readers) {
    const text = rd.doc.getText('t')
    text.observe((event) => {
      const now = performance.now()
      for (const str of insertedStrings(event, text)) {
        for (const m of str.matchAll(MARKER)) {
          const sent = sendTimes.get(m[0])
          if (sent === undefined) { unknown++; continue }
          latencies.push(now - sent)
          delivered++
        }
      }
      if (onDelivery) onDelivery()
    })
  }

  phase('connect')
  const { failed } = await openAll([...writers, ...readers], { concurrency: 200, deadlineMs: 10_000 })
  if (failed.length) {
    const reasons = tally(failed.map((c) => `${c.name[0] === 'w' ? 'writer' : 'reader'}: ${c.failure}`))
    await closeAll([...writers, ...readers])
    throw new ScenarioError(`${failed.length} clients failed the handshake`, { failure_reasons: reasons })
  }
  let closedDuringRun = 0
  for (const c of [...writers, ...readers]) c.once('close', () => { closedDuringRun++ })

  phase('send')
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  const texts = writers.map((c) => c.doc.getText('t'))
  const seqs = new Array(w).fill(0)
  const total = Math.floor(rate * seconds)
  let sent = 0
  let maxLag = 0
  const t0 = performance.now()
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now()
      const due = Math.min(total, Math.floor(((now - t0) / 1000) * rate) + 1)
      while (sent < due) {
        const scheduled = t0 + (sent / rate) * 1000
        maxLag = Math.max(maxLag, now - scheduled)
        const i = sent % w
        const m = `[${i.toString(36)}.${(seqs[i]++).toString(36)}]`
        const t = texts[i]
        sendTimes.set(m, performance.now())
        writers[i].doc.transact(() => t.insert(t.length, m))
        sent++
      }
      if (sent >= total) { clearInterval(timer); resolve() }
    }
    const timer = setInterval(tick, Math.max(1, Math.min(20, 1000 / rate)))
    tick()
  })
  const sendMs = performance.now() - t0
  const expected = sent * r

  phase('drain')
  if (delivered < expected) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, drainMs)
      onDelivery = () => { if (delivered >= expected) { clearTimeout(timer); resolve() } }
    })
  }
  onDelivery = null
  loopDelay.disable()
  const result = {
    scenario: 'fanout',
    room,
    writers: w,
    readers: r,
    rate_target: rate,
    rate_achieved: round(sent / (sendMs / 1000)),
    seconds,
    sent,
    expected,
    delivered,
    missing: expected - delivered,
    unknown_markers: unknown,
    // Updates that reached a reader before an earlier update of the same writer (see RawClient).
    out_of_order: readers.reduce((n, rd) => n + rd.outOfOrder, 0),
    readers_out_of_order: readers.filter((rd) => rd.outOfOrder > 0).length,
    latency_ms: summary(latencies),
    send_lag_max_ms: round(maxLag),
    client_loop_delay_p99_ms: round(loopDelay.percentile(99) / 1e6),
    closed_during_run: closedDuringRun
  }
  phase('close')
  await closeAll([...writers, ...readers])
  return result
}

export const passed = (res) => res.missing === 0 && res.closed_during_run === 0
