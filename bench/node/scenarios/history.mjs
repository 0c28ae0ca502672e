// history: one writer makes N single-character edits, each its own Yjs transaction and
// its own update message, pipelined with backpressure on ws.bufferedAmount. A verifier
// then waits until the server serves the final length; finally --fresh new clients each
// measure connect -> synced with text length == N.
import { phase, num, round, remainingMs, ScenarioError } from '../../../tests/node/lib/cli.mjs'
import { Y, encoding } from '../../../tests/node/lib/deps.mjs'
import { RawClient, roomUrl, closeAll } from '../lib/raw.mjs'
import { openAll } from '../lib/pool.mjs'
import { summary } from '../lib/stats.mjs'

export const timeoutFor = (v) => 120 + Number(v.edits ?? 260_000) / 1000

const HIGH_WATER = 1 << 20 // pause sending above 1 MiB buffered
const LOW_WATER = 1 << 18 // resume below 256 KiB
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz ();=\n'

/**
 * The Yjs v1 update that appends the one-character string `ch` (ASCII) to the root
 * Y.Text `t`, as client `client` at `clock` (its clock-th character, appended after
 * its own previous one). Byte-identical to what Yjs emits for `t.insert(clock, ch)`
 * (checked by selfCheck); crafting it avoids yjs' own per-transaction cost on a long
 * merged item, which grows with the text and would make the writer the bottleneck.
 */
const appendUpdate = (client, clock, ch) => {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, 1) // one client in this update
  encoding.writeVarUint(enc, 1) // one struct
  encoding.writeVarUint(enc, client)
  encoding.writeVarUint(enc, clock)
  if (clock === 0) {
    encoding.writeUint8(enc, 4) // ContentString, no origin: parent info follows
    encoding.writeVarUint(enc, 1) // parent is a root type named by key
    encoding.writeVarString(enc, 't')
  } else {
    encoding.writeUint8(enc, 0x84) // ContentString with a left origin
    encoding.writeVarUint(enc, client)
    encoding.writeVarUint(enc, clock - 1)
  }
  encoding.writeVarString(enc, ch)
  encoding.writeVarUint(enc, 0) // empty delete set
  return encoding.toUint8Array(enc)
}

/** Fail loudly if appendUpdate ever diverges from what this yjs version emits. */
const selfCheck = () => {
  const doc = new Y.Doc()
  const t = doc.getText('t')
  const got = []
  doc.on('update', (u) => got.push(Buffer.from(u)))
  for (let i = 0; i < 5; i++) doc.transact(() => t.insert(i, ALPHABET[i]))
  for (let i = 0; i < 5; i++) {
    if (!got[i].equals(Buffer.from(appendUpdate(doc.clientID, i, ALPHABET[i])))) {
      throw new ScenarioError(`history: crafted append update ${i} differs from yjs' own encoding`)
    }
  }
  doc.destroy()
}

const expectedText = (n) => {
  const reps = Math.ceil(n / ALPHABET.length)
  return ALPHABET.repeat(reps).slice(0, n)
}

/** Wait (bounded) until `check()` holds, re-checked on `client`'s messages. */
const untilMessage = (client, label, check, timeoutMs) => new Promise((resolve, reject) => {
  if (check()) { resolve(); return }
  const onMsg = () => { if (check()) { done(); resolve() } }
  const onClose = () => { done(); reject(new ScenarioError(`${label}: ${client.name} ${client.describe()}`)) }
  const timer = setTimeout(() => { done(); reject(new ScenarioError(`timed out after ${Math.round(timeoutMs)} ms waiting for ${label} (${client.describe()})`)) }, timeoutMs)
  const done = () => { clearTimeout(timer); client.off('message', onMsg); client.off('close', onClose) }
  client.on('message', onMsg)
  client.on('close', onClose)
})

/** Resolve when the socket's buffered amount fell below LOW_WATER (polled: `ws` has no drain event). */
const drained = (client) => new Promise((resolve, reject) => {
  const poll = () => {
    if (client.closed) reject(new ScenarioError(`writer connection ${client.describe()} while sending`))
    else if (client.bufferedAmount < LOW_WATER) resolve()
    else setTimeout(poll, 1)
  }
  poll()
})

export const run = async (v) => {
  const n = num(v, 'edits', { min: 1, max: 10_000_000 })
  const fresh = num(v, 'fresh', { min: 1, max: 100 })
  const pattern = v.pattern ?? 'append'
  if (!['append', 'random'].includes(pattern)) throw new ScenarioError('--pattern must be append or random')
  const room = v.room ?? `history-${process.pid}-${Date.now().toString(36)}`
  const url = roomUrl(v.url, room, v.token)

  phase('writer-connect')
  // the writer ignores the server's echo of its own updates (applyRemote: false)
  const writer = new RawClient(url, { name: 'writer', applyRemote: false })
  const { failed } = await openAll([writer], { deadlineMs: remainingMs(10_000) })
  if (failed.length) throw new ScenarioError(`writer handshake failed: ${failed[0].failure}`)
  const base = writer.doc.getText('t').length
  if (base !== 0) throw new ScenarioError(`room ${room} is not empty (length ${base}); use a new --room`)

  phase('write')
  // append: crafted updates (see appendUpdate); random: real yjs transactions at random
  // positions (no item merging, a much larger document; yjs-bound on the client side)
  selfCheck()
  const text = writer.doc.getText('t')
  const client = writer.doc.clientID
  let seed = 12345
  const rand = (k) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % k }
  let pauses = 0
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const ch = ALPHABET[i % ALPHABET.length]
    if (pattern === 'append') writer.sendUpdate(appendUpdate(client, i, ch))
    else writer.doc.transact(() => text.insert(rand(i + 1), ch))
    if (writer.bufferedAmount > HIGH_WATER) { pauses++; await drained(writer) } else if (i % 2000 === 1999) {
      await new Promise((resolve) => setImmediate(resolve)) // let the socket read the echoes
    }
    if (writer.closed) throw new ScenarioError(`writer connection ${writer.describe()} after ${i} edits`)
  }
  await drained(writer)
  const writeMs = performance.now() - t0

  phase('confirm')
  // a second client must see the final length: the server holds all N edits
  const t1 = performance.now()
  const verifier = new RawClient(url, { name: 'verifier', sendLocal: false })
  const vt = verifier.doc.getText('t')
  await openAll([verifier], { deadlineMs: remainingMs() }).then(({ failed }) => {
    if (failed.length) throw new ScenarioError(`verifier handshake failed: ${failed[0].failure}`)
  })
  await untilMessage(verifier, `verifier to see length ${n}`, () => vt.length === n, remainingMs())
  const confirmMs = performance.now() - t1
  await closeAll([verifier])

  phase('fresh-sync')
  const runs = []
  let docBytes = null
  for (let k = 0; k < fresh; k++) {
    const c = new RawClient(url, { name: `fresh${k}`, sendLocal: false })
    const ct = c.doc.getText('t')
    const { failed: f } = await openAll([c], { deadlineMs: remainingMs() })
    if (f.length) throw new ScenarioError(`fresh client handshake failed: ${f[0].failure}`)
    await untilMessage(c, `fresh client to see length ${n}`, () => ct.length === n, remainingMs())
    const done = performance.now()
    runs.push({
      sync_ms: round(done - c.startedAt),
      connect_ms: round(c.openedAt - c.startedAt),
      first_step2_ms: round(c.step2At - c.startedAt),
      apply_ms: round(c.syncedAt - c.step2At),
      step2_bytes: c.step2Bytes
    })
    if (k === fresh - 1) {
      docBytes = Y.encodeStateAsUpdate(c.doc).length
      if (pattern === 'append' && ct.toString() !== expectedText(n)) throw new ScenarioError('fresh client text differs from what the writer sent')
    }
    await closeAll([c])
  }
  await closeAll([writer])
  const syncs = summary(runs.map((x) => x.sync_ms))
  return {
    scenario: 'history',
    room,
    edits: n,
    pattern,
    write_ms: round(writeMs),
    edits_per_s: round(n / (writeMs / 1000)),
    backpressure_pauses: pauses,
    server_confirm_ms: round(confirmMs),
    doc_bytes: docBytes,
    sync_step2_bytes: runs[runs.length - 1].step2_bytes,
    fresh_sync_ms: syncs,
    fresh_runs: runs
  }
}

export const passed = () => true
