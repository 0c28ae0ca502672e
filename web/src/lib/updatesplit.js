// Cut a Yjs v1 update into updates of bounded size: the page's side of backend/rooms/updatesplit.py
// (same format reading, same order: see that module's docstring). The page sends big updates in
// pieces (room/connection.js), so a client with much local work the server lacks is never closed
// for a frame over the server's limit. Structs are copied byte for byte; tests/test_updatesplit.py
// checks this port against pycrdt too.

const SECTION_OVERHEAD = 30
const MESSAGE_OVERHEAD = 20

class Reader {
  constructor (data) { this.data = data; this.pos = 0 }
  u8 () {
    if (this.pos >= this.data.length) throw new Error('update truncated')
    return this.data[this.pos++]
  }

  varUint () {
    let value = 0
    let mult = 1
    for (;;) {
      const byte = this.u8()
      value += (byte & 0x7f) * mult
      if (byte < 0x80) return value
      mult *= 128
    }
  }

  skipVarInt () { while (this.u8() >= 0x80) { /* continue */ } }
  skip (n) {
    if (this.pos + n > this.data.length) throw new Error('update truncated')
    this.pos += n
  }

  varBytes () { const n = this.varUint(); const start = this.pos; this.skip(n); return this.data.subarray(start, this.pos) }
  skipAny () {
    const kind = this.u8()
    if (kind === 127 || kind === 126 || kind === 121 || kind === 120) return
    if (kind === 125) this.skipVarInt()
    else if (kind === 124) this.skip(4)
    else if (kind === 123 || kind === 122) this.skip(8)
    else if (kind === 119 || kind === 116) this.skip(this.varUint())
    else if (kind === 118) { for (let n = this.varUint(); n > 0; n--) { this.skip(this.varUint()); this.skipAny() } } else if (kind === 117) { for (let n = this.varUint(); n > 0; n--) this.skipAny() } else throw new Error(`unknown lib0 any type ${kind}`)
  }
}

const decoder = new TextDecoder()

/** A Yjs string's length in clock ticks: UTF-16 code units (what a JS string's length is). */
const utf16Length = raw => decoder.decode(raw).length

/** Skip one struct; return its length in clock ticks; note the clocks it needs in `deps`. */
function readStruct (r, deps) {
  const info = r.u8()
  const ref = info & 0x1f
  if (ref === 0 || ref === 10) return r.varUint() // GC, Skip
  const need = () => { const c = r.varUint(); const k = r.varUint() + 1; if (k > (deps.get(c) || 0)) deps.set(c, k) }
  if (info & 0x80) need() // origin
  if (info & 0x40) need() // right origin
  if ((info & 0xc0) === 0) {
    if (r.varUint() === 1) r.skip(r.varUint()) // a root type's name
    else need()
    if (info & 0x20) r.skip(r.varUint()) // parentSub
  }
  switch (ref) {
    case 1: return r.varUint()
    case 2: { const n = r.varUint(); for (let i = 0; i < n; i++) r.skip(r.varUint()); return n }
    case 3: r.skip(r.varUint()); return 1
    case 4: return utf16Length(r.varBytes())
    case 5: r.skip(r.varUint()); return 1
    case 6: r.skip(r.varUint()); r.skip(r.varUint()); return 1
    case 7: { const type = r.varUint(); if (type === 3 || type === 5) r.skip(r.varUint()); return 1 }
    case 8: { const n = r.varUint(); for (let i = 0; i < n; i++) r.skipAny(); return n }
    case 9: r.skip(r.varUint()); r.skipAny(); return 1
    default: throw new Error(`unknown struct content type ${ref}`)
  }
}

const varUint = value => {
  const out = []
  while (value > 0x7f) { out.push(0x80 | (value % 128)); value = Math.floor(value / 128) }
  out.push(value)
  return out
}

const concat = parts => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

function readPieces (r, budget) {
  const clients = []
  const first = new Map()
  for (let c = r.varUint(); c > 0; c--) {
    const count = r.varUint(); const client = r.varUint(); const clock = r.varUint()
    first.set(client, clock)
    const pieces = []
    let piece = { client, clock, start: r.pos, end: r.pos, count: 0, endClock: clock, deps: new Map() }
    for (let i = 0; i < count; i++) {
      const start = r.pos
      const deps = new Map()
      const length = readStruct(r, deps)
      if (piece.count && r.pos - piece.start > budget) {
        pieces.push(piece)
        piece = { client, clock: piece.endClock, start, end: start, count: 0, endClock: piece.endClock, deps: new Map() }
      }
      piece.end = r.pos; piece.count++; piece.endClock += length
      for (const [c2, k] of deps) if (c2 !== client && k > (piece.deps.get(c2) || 0)) piece.deps.set(c2, k)
    }
    if (piece.count) pieces.push(piece)
    clients.push(pieces)
  }
  return { clients, first }
}

function causalOrder (clients, first) {
  const sent = new Map(first)
  const queues = clients.filter(p => p.length).map(p => [...p].reverse())
  const ready = piece => [...piece.deps].every(([c, k]) => !sent.has(c) || k <= sent.get(c))
  const order = []
  while (queues.length) {
    const pick = queues.find(q => ready(q[q.length - 1])) || queues[0]
    const piece = pick.pop()
    order.push(piece)
    sent.set(piece.client, piece.endClock)
    if (!pick.length) queues.splice(queues.indexOf(pick), 1)
  }
  return order
}

function deleteSetPieces (r, budget) {
  const out = []
  let sections = []
  let size = 0
  const flush = () => { if (sections.length) out.push(concat([Uint8Array.from(varUint(sections.length)), ...sections])); sections = []; size = 0 }
  for (let c = r.varUint(); c > 0; c--) {
    const client = r.varUint()
    const ranges = [] // each (clock, len) as its encoded bytes
    for (let n = r.varUint(); n > 0; n--) ranges.push([...varUint(r.varUint()), ...varUint(r.varUint())])
    while (ranges.length) {
      const take = []
      let taken = 0
      while (ranges.length && (!take.length || size + taken + ranges[0].length + SECTION_OVERHEAD <= budget)) {
        taken += ranges[0].length
        take.push(ranges.shift())
      }
      if (size && size + taken + SECTION_OVERHEAD > budget) flush()
      sections.push(Uint8Array.from([...varUint(client), ...varUint(take.length), ...take.flat()]))
      size += taken + SECTION_OVERHEAD
      if (ranges.length) flush()
    }
  }
  flush()
  return out
}

/** `update` as updates of at most about `maxBytes` each (one if it fits), in applying order. */
export function splitUpdate (update, maxBytes) {
  if (update.length <= maxBytes) return [update]
  const budget = Math.max(1, maxBytes - MESSAGE_OVERHEAD - SECTION_OVERHEAD)
  const r = new Reader(update)
  const { clients, first } = readPieces(r, budget)
  const deleteSets = deleteSetPieces(r, budget)
  if (r.pos !== update.length) throw new Error(`${update.length - r.pos} bytes after the delete set`)
  const out = []
  let sections = new Map()
  let size = 0
  const flush = (deleteSet = Uint8Array.of(0)) => {
    const body = [Uint8Array.from(varUint(sections.size))]
    for (const pieces of sections.values()) {
      const head = pieces[0]
      body.push(Uint8Array.from([...varUint(pieces.reduce((n, p) => n + p.count, 0)), ...varUint(head.client), ...varUint(head.clock)]))
      for (const p of pieces) body.push(update.subarray(p.start, p.end))
    }
    body.push(deleteSet)
    out.push(concat(body))
    sections = new Map(); size = 0
  }
  for (const piece of causalOrder(clients, first)) {
    let cost = piece.end - piece.start + (sections.has(piece.client) ? 0 : SECTION_OVERHEAD)
    if (sections.size && size + cost > budget) { flush(); cost = piece.end - piece.start + SECTION_OVERHEAD }
    if (!sections.has(piece.client)) sections.set(piece.client, [])
    sections.get(piece.client).push(piece)
    size += cost
  }
  for (const deleteSet of deleteSets.length ? deleteSets : [Uint8Array.of(0)]) {
    if (sections.size && size + deleteSet.length > budget) flush()
    flush(deleteSet)
  }
  return out
}
